"""Ultralytics export: the emitted module inside YOLOv8, built, run and trained by the real ultralytics package.

The layer-table tests (insertion, index shifting, channel counts, the DSL and CLI) need no ultralytics; the
tests that build models skip without it (`pip install -e .[ultralytics]`). Everything runs offline on the CPU.
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
import textwrap
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from helpers import ROOT, import_file, offline_env
from mixsearch.arch import Arch
from mixsearch.cli import main
from mixsearch.codegen.emit import emit
from mixsearch.codegen.ultralytics import model_file_name
from mixsearch.errors import ExportError
from mixsearch.names import library_names
from mixsearch.resources import yolo_table_copy
from mixsearch.space.schema import parse_space
from mixsearch.stock_weights import transfer_stock_weights
from mixsearch.yolo import (
    DEFAULT_POSITIONS,
    Layer,
    UltralyticsExport,
    insert_layers,
    load_table,
    moved_layers,
    plan_model,
    table_file,
)

ARCHS = [Arch.load(path) for path in sorted((ROOT / "generated").glob("*/arch.json"))]
SCALES = ("n", "s", "m")
# make_divisible(min(C, max_channels) * width, 8) for the P3/P4/P5 C2f blocks (C = 256, 512, 1024).
BACKBONE_CHANNELS = {"n": [64, 128, 256], "s": [128, 256, 512], "m": [192, 384, 576]}
# After layers 4, 6 and 8, each insertion pushing the later ones one row down.
BACKBONE_INDICES = [5, 8, 11]
IMAGE_SIZE = 640


def sources(layers: list[Layer]) -> list:
    return [layer.source for layer in layers]


# --- inserting into layer tables: no ultralytics needed -------------------------------------------------


def small_table() -> list[Layer]:
    """A, B, Concat(B, A), C reading B two rows back, Detect(A, Concat, C)."""
    rows = [(-1, "A"), (-1, "B"), ((-1, 0), "Concat"), (-2, "C"), ((0, 2, 3), "Detect")]
    return [Layer(source, 1, module, (), "backbone") for source, module in rows]


def inserted(name: str) -> Layer:
    return Layer(-1, 1, name, (), "")


def test_an_insertion_replaces_its_layer_for_every_later_reader():
    layers = insert_layers(small_table(), {0: inserted("X"), 1: inserted("Y")})
    assert [layer.module for layer in layers] == "A X B Y Concat C Detect".split()
    # Concat reads Y (was B) and X (was A); C still reads two rows back, now Y; Detect reads X, Concat, C.
    assert sources(layers) == [-1, -1, -1, -1, (-1, 1), -2, (1, 4, 5)]


def test_relative_indices_that_cross_an_insertion_are_recomputed():
    layers = insert_layers(small_table(), {2: inserted("X")})
    assert [layer.module for layer in layers][3] == "X"
    assert sources(layers) == [-1, -1, (-1, 0), -1, -3, (0, 3, 4)]


def test_an_inserted_layer_joins_the_section_of_the_layer_it_follows():
    table = load_table()
    layers, _ = plan_model(table, "n", ["backbone.sppf", "neck.p4_td"], "Attn")
    assert [layer.section for layer in layers].count("backbone") == 11
    assert layers[10].module == "Attn" and layers[14].module == "Attn"
    assert layers[14].section == "head"


def test_default_positions_follow_the_backbone_c2f_blocks():
    table = load_table()
    for scale in SCALES:
        layers, insertions = plan_model(table, scale, DEFAULT_POSITIONS, "Attn")
        assert [i.after for i in insertions] == [4, 6, 8]
        assert [i.index for i in insertions] == BACKBONE_INDICES
        assert [i.channels for i in insertions] == BACKBONE_CHANNELS[scale]
        assert [layers[i.index].args for i in insertions] == [
            (c,) for c in BACKBONE_CHANNELS[scale]
        ]
    # The head's Concats read the P4 and P3 attention outputs; Detect reads the same neck blocks as before.
    assert layers[14].source == (-1, 8) and layers[17].source == (-1, 5)
    assert layers[-1].source == (18, 21, 24)


def test_neck_positions_become_the_detect_inputs():
    table = load_table()
    positions = ["neck.p3_out", "neck.p4_out", "neck.p5_out"]
    layers, insertions = plan_model(table, "s", positions, "Attn")
    assert [i.index for i in insertions] == [16, 20, 24]
    assert [i.channels for i in insertions] == [128, 256, 512]
    assert layers[-1].source == (16, 20, 24)
    # The bottom-up Concats still read the top-down P4 (12) and SPPF (9), which did not move.
    assert layers[18].source == (-1, 12) and layers[22].source == (-1, 9)


def test_raw_layer_indices_shift_absolute_sources():
    table = load_table()
    layers, insertions = plan_model(table, "n", [12, "0"], "Attn")
    assert [(i.position, i.after, i.index) for i in insertions] == [
        ("0", 0, 1),
        ("12", 12, 14),
    ]
    assert insertions[0].channels == 16  # make_divisible(64 * 0.25, 8)
    assert layers[16].source == (-1, 5)  # cat backbone P3, was (-1, 4) as layer 14
    assert layers[19].source == (-1, 14)  # cat head P4: now the module after layer 12
    assert layers[-1].source == (17, 20, 23)


def test_a_concat_position_gets_the_summed_channels():
    _, insertions = plan_model(load_table(), "n", [11], "Attn")
    assert insertions[0].channels == 256 + 128  # SPPF upsampled + backbone P4


@pytest.mark.parametrize(
    "scale,positions,message",
    [
        ("n", ["backbone.p9"], "unknown position 'backbone.p9'; accepted: backbone.p2"),
        ("n", [22], r"unknown position 22; .* or a layer index 0-21"),
        ("n", [True], "unknown position True"),
        ("n", ["backbone.p3", 4], "positions 'backbone.p3' and '4' are both layer 4"),
        ("n", [], "no positions given"),
        ("q", ["backbone.p3"], "unknown scale 'q'; accepted: n, s, m, l, x"),
    ],
)
def test_bad_positions_and_scales_are_named(scale, positions, message):
    with pytest.raises(ExportError, match=message):
        plan_model(load_table(), scale, positions, "Attn")


def test_emission_without_ultralytics_uses_the_templates_copy(tmp_path, monkeypatch):
    arch = ARCHS[0]
    export = UltralyticsExport(scales=SCALES)
    with_package = emit(arch, tmp_path / "with", export, with_arch=False)
    # `import ultralytics` now fails.
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    assert table_file(load_table().base) == yolo_table_copy("yolov8")
    without = emit(arch, tmp_path / "without", export, with_arch=False)
    assert [path.name for path in without] == [path.name for path in with_package]
    for ours, theirs in zip(without, with_package):
        assert ours.read_text() == theirs.read_text(), ours.name


def test_templates_copy_matches_the_installed_table(monkeypatch):
    pytest.importorskip("ultralytics")
    installed = load_table()
    assert Path(installed.origin) != yolo_table_copy("yolov8")
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    copy = load_table()
    assert (copy.settings, copy.scales, copy.layers) == (
        installed.settings,
        installed.scales,
        installed.layers,
    )


def test_emitted_files_are_named_for_ultralytics_scale_guess(tmp_path):
    arch = ARCHS[0]
    paths = emit(arch, tmp_path, UltralyticsExport(scales=("n", "s")), with_arch=False)
    assert [path.name for path in paths] == [
        f"{arch.name}.py",
        f"yolov8n-{arch.name}.yaml",
        f"yolov8s-{arch.name}.yaml",
        f"train_{arch.name}.py",
    ]


def test_train_scripts_pass_black_check():
    scripts = sorted(str(path) for path in (ROOT / "generated").glob("*/train_*.py"))
    assert len(scripts) == len(ARCHS)
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", *scripts],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


# --- the DSL's export section and the generate command ---------------------------------------------------

SPACE = "name: tiny\ngraph:\n  c: {op: se, from: input}\n"


def test_export_section_parses_positions_and_scales():
    text = SPACE + textwrap.dedent("""\
        export:
          ultralytics:
            base: yolov8
            scales: [s, m]
            positions: [backbone.p3, neck.p3_out, 12]
        """)
    assert parse_space(text).export == UltralyticsExport(
        "yolov8", ("s", "m"), ("backbone.p3", "neck.p3_out", "12")
    )


def test_export_section_defaults():
    assert parse_space(SPACE).export == UltralyticsExport()
    assert parse_space(SPACE + "export: {ultralytics: {scales: [x]}}\n").export == (
        UltralyticsExport(scales=("x",))
    )


def test_generate_writes_the_module_yamls_and_train_script(tmp_path):
    arch_path = ROOT / "generated" / "serial_cbam" / "arch.json"
    args = ["generate", str(arch_path), "--out", str(tmp_path)]
    result = CliRunner().invoke(
        main, [*args, "--scales", "n,m", "--positions", "neck.p3_out, 12"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "serial_cbam.py",
        "train_serial_cbam.py",
        "yolov8m-serial_cbam.yaml",
        "yolov8n-serial_cbam.yaml",
    ]
    text = (tmp_path / "yolov8m-serial_cbam.yaml").read_text()
    assert (
        "SerialCbam (serial_cbam.py), emitted by mixsearch, after layer 12, neck.p3_out."
        in text
    )
    assert "- [-1, 1, SerialCbam, [384]] # 13 SerialCbam after layer 12" in text
    assert "- [[17, 20, 23], 1, Detect, [nc]] # 24" in text


def test_generate_no_ultralytics_writes_only_the_module(tmp_path):
    arch_path = ROOT / "generated" / "serial_cbam" / "arch.json"
    args = ["generate", str(arch_path), "--out", str(tmp_path), "--no-ultralytics"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert [path.name for path in tmp_path.iterdir()] == ["serial_cbam.py"]


def test_generate_bad_position_is_one_error_line_and_writes_nothing(tmp_path):
    arch_path = ROOT / "generated" / "serial_cbam" / "arch.json"
    args = ["generate", str(arch_path), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*args, "--positions", "backbone.p3,neck.p6"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown position 'neck.p6'")
    assert not (tmp_path / "out").exists()


# --- the real ultralytics package -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tasks():
    return pytest.importorskip("ultralytics.nn.tasks")


@pytest.fixture(scope="module")
def one_thread():
    """Whole detectors on one thread: on a shared 2-core machine two threads can run 20 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> dict[str, Path]:
    """Every generated architecture's module and model YAMLs at scales n, s, m: {arch name: folder}."""
    root = tmp_path_factory.mktemp("ultralytics")
    folders = {}
    for arch in ARCHS:
        folders[arch.name] = root / arch.name
        emit(
            arch, folders[arch.name], UltralyticsExport(scales=SCALES), with_arch=False
        )
    return folders


@pytest.fixture(scope="module")
def base_model(tasks, one_thread):
    """The unmodified YOLOv8 model at a scale, with its Detect head's input shapes."""

    @cache
    def build(scale: str) -> tuple[torch.nn.Module, list[tuple[int, ...]]]:
        model = tasks.DetectionModel(f"yolov8{scale}.yaml", verbose=False).eval()
        return model, record_inputs(model, [])[HEAD]

    return build


HEAD = -1


def record_inputs(model: torch.nn.Module, watched: list[int]) -> dict[int, object]:
    """Forward one image; the input shape of each layer in `watched`, and under HEAD the Detect head's."""
    seen: dict[int, object] = {}

    def recorder(index: int):
        def hook(module, args):
            seen[index] = tuple(args[0].shape)

        return hook

    def record_head(module, args):
        seen[HEAD] = [tuple(x.shape) for x in args[0]]

    hooks = [
        model.model[index].register_forward_pre_hook(recorder(index))
        for index in watched
    ]
    hooks.append(model.model[-1].register_forward_pre_hook(record_head))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def structure(
    layers: torch.nn.Sequential, skipped: set[int]
) -> list[tuple[str, tuple]]:
    """(type, absolute sources) per layer, leaving out `skipped` and mapping indices as if they were gone.

    A source that is a skipped layer maps to the layer before it, so this undoes an insertion exactly.
    """
    kept: dict[int, int] = {}
    rows = []
    for index, layer in enumerate(layers):
        if index in skipped:
            kept[index] = kept[index - 1]
            continue
        refs = layer.f if isinstance(layer.f, list) else [layer.f]
        absolute = [ref if ref >= 0 else index + ref for ref in refs]
        rows.append((layer.type, tuple(kept.get(ref, ref) for ref in absolute)))
        kept[index] = len(rows) - 1
    return rows


def emitted_names(module) -> dict[str, object]:
    """The classes and functions an emitted file defines (not those it imports)."""
    return {
        name: value
        for name, value in vars(module).items()
        if (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


def test_no_library_name_shadows_an_ultralytics_name(tasks):
    modules = pytest.importorskip("ultralytics.nn.modules")
    taken = {
        name for name in (*vars(tasks), *vars(modules)) if not name.startswith("_")
    }
    assert sorted(library_names() & taken) == []


def test_register_refuses_to_replace_an_ultralytics_module(
    tasks, tmp_path, monkeypatch
):
    # A space whose class_name is Ultralytics' Conv: registering it would make every Conv of the model this module.
    arch = replace(ARCHS[0], name="shadows_conv", class_name="Conv")
    emit(arch, tmp_path, UltralyticsExport(scales=("n",)), with_arch=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    script = import_file(tmp_path / "train_shadows_conv.py")
    original = tasks.Conv
    with pytest.raises(
        RuntimeError, match=r"already has a Conv \(from ultralytics\.nn\."
    ):
        script.register()
    assert tasks.Conv is original


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("arch", ARCHS, ids=[arch.name for arch in ARCHS])
def test_emitted_yaml_builds_and_runs_in_ultralytics(
    tasks, one_thread, emitted, base_model, monkeypatch, arch, scale
):
    folder = emitted[arch.name]
    module = import_file(folder / f"{arch.name}.py")
    # As users do: the file pasted into ultralytics/nn/modules/ and every name it defines imported into tasks.
    for name, value in emitted_names(module).items():
        monkeypatch.setattr(tasks, name, value, raising=False)
    cls = getattr(module, arch.class_name)
    yaml_path = folder / model_file_name(arch, scale)
    model = tasks.DetectionModel(str(yaml_path), verbose=False).eval()
    assert model.yaml["scale"] == scale  # taken from the file name

    positions = [i for i, layer in enumerate(model.model) if isinstance(layer, cls)]
    assert positions == BACKBONE_INDICES
    seen = record_inputs(model, positions)
    assert [seen[i][1] for i in positions] == BACKBONE_CHANNELS[scale]
    base, base_head_inputs = base_model(scale)
    assert seen[HEAD] == base_head_inputs
    assert structure(model.model, set(positions)) == structure(base.model, set())


# --- one short training run -------------------------------------------------------------------------------

# Run first in each subprocess: any attempt to reach the network fails the run (a BaseException, so
# Ultralytics' `except Exception` cannot swallow it); then run a script the way `python SCRIPT ARGS` would.
NO_NETWORK = """
import runpy, socket, sys
from pathlib import Path

class NetworkAttempt(BaseException):
    pass

def refuse(*args, **kwargs):
    raise NetworkAttempt(f"network access attempted: {args!r}")

socket.getaddrinfo = socket.socket.connect = socket.create_connection = refuse
"""
RUN_SCRIPT = NO_NETWORK + """
sys.argv = sys.argv[1:]
sys.path.insert(0, str(Path(sys.argv[0]).parent))
runpy.run_path(sys.argv[0], run_name="__main__")
"""
RELOAD_AND_VALIDATE = NO_NETWORK + """
import inspect
import json
folder, script, class_name, weights, data, project = sys.argv[1:]
sys.path.insert(0, folder)
register = __import__(script).register  # as the train script's docstring shows
from ultralytics import YOLO

register()
model = YOLO(weights)
inserted = [
    (i, type(layer).__module__) for i, layer in enumerate(model.model.model)
    if type(layer).__name__ == class_name
]
metrics = model.val(
    data=data, imgsz=64, batch=4, workers=0, plots=False, device="cpu", project=project, name="val"
)
print(json.dumps({"inserted": inserted, "metrics": metrics.results_dict}))
"""


def write_dataset(root: Path, images: int = 8) -> Path:
    """A tiny YOLO-format dataset: one bright rectangle per grey 64 x 64 image, labelled class 0."""
    from PIL import Image, ImageDraw

    generator = torch.Generator().manual_seed(0)
    for folder in ("images/train", "labels/train"):
        (root / folder).mkdir(parents=True)
    for index in range(images):
        x0, y0 = torch.randint(4, 28, (2,), generator=generator).tolist()
        w, h = torch.randint(12, 30, (2,), generator=generator).tolist()
        image = Image.new("RGB", (64, 64), (90, 90, 90))
        ImageDraw.Draw(image).rectangle([x0, y0, x0 + w, y0 + h], fill=(240, 200, 40))
        image.save(root / "images/train" / f"{index}.png")
        box = ((x0 + w / 2) / 64, (y0 + h / 2) / 64, (w + 1) / 64, (h + 1) / 64)
        label = "0 " + " ".join(f"{v:.6f}" for v in box)
        (root / "labels/train" / f"{index}.txt").write_text(label + "\n")
    data = root / "data.yaml"
    data.write_text(
        f"path: {root}\ntrain: images/train\nval: images/train\nnames:\n  0: box\n"
    )
    return data


@pytest.mark.slow
def test_train_script_trains_and_the_checkpoint_reloads_in_a_fresh_process(
    tasks, tmp_path
):
    arch = next(arch for arch in ARCHS if arch.name == "mixattn")
    folder = tmp_path / "model"
    emit(arch, folder, UltralyticsExport(scales=("n",)), with_arch=False)
    data = write_dataset(tmp_path / "data")
    env = offline_env(tmp_path / "config")
    project = tmp_path / "runs"
    train = [
        str(folder / f"train_{arch.name}.py"),
        str(data),
        *("epochs=1", "imgsz=64", "batch=4", "workers=0", "plots=False"),
        *("device=cpu", f"project={project}", "name=train", "exist_ok=True"),
    ]
    run = subprocess.run(
        [sys.executable, "-c", RUN_SCRIPT, *train],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    weights = project / "train" / "weights" / "last.pt"
    assert weights.is_file()

    reload = [str(folder), f"train_{arch.name}", arch.class_name, str(weights)]
    run = subprocess.run(
        [sys.executable, "-c", RELOAD_AND_VALIDATE, *reload, str(data), str(project)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["inserted"] == [[i, arch.name] for i in BACKBONE_INDICES]
    metrics = result["metrics"]
    assert {"metrics/precision(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)"} <= set(
        metrics
    )
    assert all(math.isfinite(value) for value in metrics.values())


@pytest.fixture(scope="module")
def stock_checkpoint(tasks, one_thread, tmp_path_factory):
    """A stock YOLOv8n checkpoint as Ultralytics' trainer saves one (built here: no download), and its model."""

    def save(scale: str) -> tuple[Path, torch.nn.Module]:
        model = tasks.DetectionModel(f"yolov8{scale}.yaml", verbose=False).eval()
        path = tmp_path_factory.mktemp("stock") / f"yolov8{scale}.pt"
        torch.save({"model": model, "train_args": {}}, path)
        return path, model

    return save


def test_a_stock_checkpoint_transfers_whole_into_the_model_with_attention(
    tasks, one_thread, emitted, stock_checkpoint, monkeypatch
):
    arch = next(a for a in ARCHS if a.name == "mixattn")
    folder = emitted[arch.name]
    module = import_file(folder / f"{arch.name}.py")
    monkeypatch.setattr(
        tasks, arch.class_name, getattr(module, arch.class_name), raising=False
    )
    ours = tasks.DetectionModel(str(folder / model_file_name(arch, "n")), verbose=False)
    path, stock = stock_checkpoint("n")
    moved = moved_layers(load_table(), DEFAULT_POSITIONS)

    line = transfer_stock_weights(ours.eval(), path, moved, "yolov8n")

    total = len(stock.state_dict())
    new = len(ours.state_dict()) - total
    assert (
        line
        == f"transferred {total}/{total} stock tensors; {new} new tensors initialised"
    )
    # The layers before the first insertion (after layer 4) compute exactly what the stock ones do.
    x_stock = x_ours = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for index in range(5):
            x_stock, x_ours = stock.model[index](x_stock), ours.model[index](x_ours)
    assert torch.equal(x_stock, x_ours)
    script = (folder / f"train_{arch.name}.py").read_text()
    assert inspect.getsource(transfer_stock_weights) in script


def test_a_checkpoint_of_another_scale_or_an_unreadable_one_is_refused(
    tasks, one_thread, stock_checkpoint, tmp_path
):
    model = tasks.DetectionModel("yolov8n.yaml", verbose=False)
    path, _ = stock_checkpoint("s")
    with pytest.raises(
        ValueError, match=r"yolov8s\.pt: a yolov8s detect checkpoint; .* yolov8n"
    ):
        transfer_stock_weights(model, path, {}, "yolov8n")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(
        ValueError, match=r"broken\.pt: not a readable Ultralytics checkpoint"
    ):
        transfer_stock_weights(model, broken, {}, "yolov8n")
