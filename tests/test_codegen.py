"""Emitted modules are the product: standalone, formatted, scriptable, exportable, and equal to DiscreteModel."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import ROOT, import_file, sampled_archs
from mixsearch.arch import Arch
from mixsearch.codegen.emit import emit
from mixsearch.codegen.render import render_module
from mixsearch.model import DiscreteModel

ARCHS = sampled_archs(per_space=3)
IDS = [arch_id for arch_id, _ in ARCHS]
ARCH_LIST = [arch for _, arch in ARCHS]


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory):
    """Every sampled arch's module file, each written to its own folder."""
    root = tmp_path_factory.mktemp("generated")
    return {
        arch_id: emit(arch, root / arch_id, export=None, with_arch=False)[0]
        for arch_id, arch in ARCHS
    }


def test_there_are_shipped_spaces_to_check():
    assert len(ARCHS) >= 3 * 8


def emitted_class(generated_dir, arch_id, arch):
    return getattr(import_file(generated_dir[arch_id]), arch.class_name)


@pytest.mark.parametrize("arch_id,arch", ARCHS, ids=IDS)
@pytest.mark.parametrize("channels", [16, 64, 256])
def test_emitted_module_equals_discrete_model(generated_dir, arch_id, arch, channels):
    reference = DiscreteModel(arch, channels).eval()
    emitted = emitted_class(generated_dir, arch_id, arch)(channels).eval()
    assert list(emitted.state_dict()) == list(reference.state_dict())
    emitted.load_state_dict(reference.state_dict())
    x = torch.randn(2, channels, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), reference(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch_id,arch", ARCHS, ids=IDS)
def test_emitted_module_scripts_and_exports(generated_dir, arch_id, arch):
    model = emitted_class(generated_dir, arch_id, arch)(32).eval()
    x = torch.randn(1, 32, 20, 20)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), expected)
        torch.testing.assert_close(
            torch.export.export(model, (x,)).module()(x), expected
        )


def test_emitted_files_pass_black_check(generated_dir):
    paths = [str(path) for path in generated_dir.values()]
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", *paths],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_emitted_files_import_without_mixsearch(generated_dir):
    """A fresh interpreter where `import mixsearch` fails can import and run every emitted file."""
    script = textwrap.dedent("""
        import importlib.util, sys
        sys.modules["mixsearch"] = None
        import torch
        for path, class_name in zip(sys.argv[1::2], sys.argv[2::2]):
            spec = importlib.util.spec_from_file_location("emitted", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            allowed = {"torch", "math", "typing", "builtins"}
            imported = {m.__name__.split(".")[0] for m in vars(module).values() if type(m) is type(sys)}
            assert imported <= allowed, (path, imported)
            assert getattr(module, class_name)(16)(torch.randn(1, 16, 8, 8)).shape == (1, 16, 8, 8)
        print("ok")
        """)
    args = [
        item
        for arch_id, arch in ARCHS
        for item in (str(generated_dir[arch_id]), arch.class_name)
    ]
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, *args], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("arch_id,arch", ARCHS[:6], ids=IDS[:6])
def test_emitted_file_holds_only_the_ops_it_uses(arch_id, arch):
    code = render_module(arch)
    from mixsearch.ops import OPS

    used = {
        OPS.get(node.op).class_name(OPS.get(node.op).resolve(node.params)[0])
        for node in arch.nodes
    }
    every = {info.class_name(variant) for info in OPS for variant in info.variants}
    defined = {name for name in every if f"class {name}(" in code}
    assert defined == used


def test_arch_json_round_trips():
    for _, arch in ARCHS:
        assert Arch.from_json(arch.to_json()) == arch


GENERATED = sorted((ROOT / "generated").glob("*/arch.json"))
RUN_FILES = ("search.json", "report.md", "pareto.png", "alphas.png")


@pytest.mark.parametrize(
    "arch_path", GENERATED, ids=[path.parent.name for path in GENERATED]
)
def test_checked_in_generated_folders_are_up_to_date(arch_path, tmp_path):
    """Each folder holds exactly what `mixsearch generate` writes: the module, model YAMLs, train script (and,
    for the output of a `mixsearch run`, the run's result, report and plots)."""
    arch = Arch.load(arch_path)
    emitted = emit(arch, tmp_path, with_arch=False)
    checked_in = sorted(
        path.name
        for path in arch_path.parent.iterdir()
        if path.is_file() and path.name not in ("arch.json", *RUN_FILES)
    )
    hint = f"regenerate with: mixsearch generate {arch_path} --out {arch_path.parent}"
    assert checked_in == sorted(path.name for path in emitted), hint
    for path in emitted:
        assert (arch_path.parent / path.name).read_text() == path.read_text(), hint


def test_generated_folder_covers_every_seed_family():
    assert len(GENERATED) >= 9
