"""Every op of the library and every module in generated/ in the paths users deploy with: torch.compile with no
graph break, ONNX (dynamo exporter) in onnxruntime, half precision and channels-last.

Ops are checked together, one model holding each op (one-node modules) and returning every output, so that one
trace and one export cover them all and each output is compared on its own.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from helpers import ROOT, import_file
from mixsearch.arch import Arch
from mixsearch.cli import main
from mixsearch.errors import MixsearchError, SpaceError
from mixsearch.hardware.device import on_device
from mixsearch.hardware.lut import default_table_path
from mixsearch.hardware.runtime import runnable
from mixsearch.onnx_io import ONNX_TOLERANCE, run_onnx, to_onnx
from mixsearch.ops import OPS
from mixsearch.space import settings
from mixsearch.space.schema import parse_space

pytest.importorskip("onnxruntime")
CHANNELS = 16
# Half precision against float32, relative to the output's scale: float16 keeps 11 bits, bfloat16 8.
HALF_TOLERANCE = {torch.float16: 1e-2, torch.bfloat16: 6e-2}
GENERATED = sorted((ROOT / "generated").glob("*/arch.json"))


class Each(nn.Module):
    """Applies each of `modules` to the input (fusions to [x, x / 2]) and returns all their outputs."""

    def __init__(self, modules: list[nn.Module], fusions: list[bool]):
        super().__init__()
        self.parts = nn.ModuleList(modules)
        self.fusions = fusions

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for part, is_fusion in zip(self.parts, self.fusions):
            outputs.append(part([x, x * 0.5]) if is_fusion else part(x))
        return outputs


def _every_op() -> Each:
    modules, fusions = [], []
    for info in OPS:
        for variant in info.variants:
            params = {"variant": variant} if len(info.variants) > 1 else {}
            modules.append(info.build(CHANNELS, params, num_inputs=2))
            fusions.append(info.is_fusion)
    return _settled(Each(modules, fusions))


def _every_generated() -> Each:
    modules = []
    for path in GENERATED:
        arch = Arch.load(path)
        module = import_file(path.parent / f"{arch.name}.py")
        modules.append(getattr(module, arch.class_name)(CHANNELS))
    return _settled(Each(modules, [False] * len(modules)))


def _settled(model: nn.Module) -> nn.Module:
    """Eval mode with BatchNorm statistics and learned scales away from their init, so every path matters."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            if tensor.is_floating_point():
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=generator))
                if tensor.ndim == 1:
                    tensor.abs_()
    return model.eval()


MODELS = {"ops": _every_op, "generated": _every_generated}


@pytest.fixture(scope="module", params=list(MODELS))
def model(request) -> nn.Module:
    return MODELS[request.param]()


def _input(batch: int = 2, height: int = 13, width: int = 11) -> torch.Tensor:
    return torch.randn(
        batch, CHANNELS, height, width, generator=torch.Generator().manual_seed(1)
    )


def test_every_op_is_checked():
    assert len(_every_op().parts) == sum(len(info.variants) for info in OPS)


def test_traces_with_no_graph_break(model):
    explained = torch._dynamo.explain(model)(_input())
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.slow
def test_compiles_fullgraph_with_inductor_and_matches_eager(model):
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="inductor", dynamic=False)
    x = _input()
    with torch.no_grad():
        for got, expected in zip(compiled(x), model(x)):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime_with_dynamic_batch_and_size(model, tmp_path):
    path = to_onnx(model, _input(), tmp_path / "model.onnx")
    for x in (_input(), _input(batch=3, height=7, width=20), _input(1, 1, 1)):
        with torch.no_grad():
            expected = [output.numpy() for output in model(x)]
        got = run_onnx_all(path, x)
        assert len(got) == len(expected)
        for index, (a, b) in enumerate(zip(got, expected)):
            assert (
                abs(a - b).max() <= ONNX_TOLERANCE
            ), f"output {index} at {tuple(x.shape)}"


def run_onnx_all(path: Path, x: torch.Tensor) -> list:
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})


@pytest.mark.parametrize("dtype", list(HALF_TOLERANCE), ids=str)
def test_half_precision_and_channels_last_stay_close_to_float32(model, dtype):
    x = _input()
    with torch.no_grad():
        expected = model(x)
        half = model.to(dtype=dtype, memory_format=torch.channels_last)
        try:
            got = half(x.to(dtype=dtype, memory_format=torch.channels_last))
        finally:
            model.to(dtype=torch.float32, memory_format=torch.contiguous_format)
    for index, (a, b) in enumerate(zip(got, expected)):
        scale = b.abs().max().clamp_min(1.0)
        error = ((a.float() - b).abs().max() / scale).item()
        assert error <= HALF_TOLERANCE[dtype], f"output {index}: {error:.3g}"


def test_channels_last_float32_matches_exactly_enough(model):
    x = _input()
    with torch.no_grad():
        expected = model(x)
        model.to(memory_format=torch.channels_last)
        try:
            got = model(x.to(memory_format=torch.channels_last))
        finally:
            model.to(memory_format=torch.contiguous_format)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_onnx_without_the_package_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MixsearchError, match=r"pip install 'mixsearch\[deploy\]'"):
        to_onnx(nn.Identity(), torch.zeros(1, 8, 2, 2), tmp_path / "m.onnx")
    arch = str(ROOT / "generated" / "default" / "arch.json")
    args = [
        "generate",
        arch,
        "--out",
        str(tmp_path),
        "--no-ultralytics",
        "--onnx",
        "16",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: ONNX export needs")


@pytest.mark.slow
def test_generate_writes_the_onnx_file_on_request(tmp_path):
    arch = str(ROOT / "generated" / "default" / "arch.json")
    args = [
        "generate",
        arch,
        "--out",
        str(tmp_path),
        "--no-ultralytics",
        "--onnx",
        "24",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'mixattn.onnx'}" in result.output
    assert run_onnx(tmp_path / "mixattn.onnx", torch.randn(2, 24, 6, 6)).shape == (
        2,
        24,
        6,
        6,
    )


# --- latency in the runtime that ships ----------------------------------------------------------------------

RUNTIME_SPACE = """
name: rt
target: {device: cpu, runtime: RUNTIME, shapes: [[1, 16, 12, 12]]}
graph:
  chan: {op: [se, eca], from: input}
  spat: {op: [cbam_spatial, identity], from: chan}
  out: {fuse: [sum, softmax_weights], from: [chan, spat], residual: [false, true]}
"""


@pytest.mark.slow
def test_profile_measures_in_onnxruntime_and_keys_the_table_by_runtime(tmp_path):
    space = tmp_path / "rt.yaml"
    space.write_text(RUNTIME_SPACE.replace("RUNTIME", "onnxruntime"))
    table = tmp_path / "table.json"
    args = [
        "profile",
        str(space),
        "--table",
        str(table),
        "--fit",
        "3",
        "--repeats",
        "3",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    saved = json.loads(table.read_text())
    assert saved["fingerprint"]["runtime"].startswith("onnxruntime ")
    assert all(
        ms > 0 for entries in saved["entries"].values() for ms in entries.values()
    )
    eager = parse_space(RUNTIME_SPACE.replace("RUNTIME", "eager")).target
    onnx = parse_space(space.read_text()).target
    assert default_table_path(eager) != default_table_path(onnx)


def test_a_runtime_without_its_package_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(
        settings.RUNTIME_PACKAGES, "onnxruntime", ("no_such_package", "pip install x")
    )
    with pytest.raises(SpaceError, match="needs the no_such_package package: pip"):
        parse_space(RUNTIME_SPACE.replace("RUNTIME", "onnxruntime"), "rt.yaml")


def test_onnxruntime_latency_needs_the_cpu_and_no_bfloat16():
    target = parse_space(RUNTIME_SPACE.replace("RUNTIME", "onnxruntime")).target
    with pytest.raises(MixsearchError, match="bfloat16"):
        on_device(replace(target, dtype="bfloat16"))


def test_compile_runtime_compiles_more_instances_of_one_op_than_dynamos_limit(
    monkeypatch,
):
    """A latency table compiles one instance per entry; dynamo's recompile limit must not fail the later ones."""
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 2)
    monkeypatch.setattr(torch._dynamo.config, "accumulated_recompile_limit", 2)
    torch._dynamo.reset()
    target = parse_space(RUNTIME_SPACE.replace("RUNTIME", "compile")).target
    eca = OPS.get("eca")
    for channels in (8, 16, 32):
        module = eca.build(channels, {}, num_inputs=1).eval()
        x = torch.randn(1, channels, 4, 4)
        with torch.inference_mode():
            torch.testing.assert_close(runnable(module, x, target)(), module(x))
