"""The emitted module as an ONNX file, exported from the written `.py` itself (the product, not the library's
classes): torch.onnx's dynamo exporter with dynamic batch and spatial size, accepted by `onnx.checker` and run
once in onnxruntime against eager PyTorch before the file is kept.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
from pathlib import Path
from types import ModuleType
from typing import Any

from mixsearch.errors import MixsearchError

DEPLOY_EXTRA = "pip install 'mixsearch[deploy]'"
# onnxruntime against eager float32: kernels differ in summation order, never by more than this.
ONNX_TOLERANCE = 1e-4
EXAMPLE_SIZE = (
    2,
    20,
    20,
)  # batch, height, width of the export example; all three stay dynamic


def require(package: str) -> ModuleType:
    """Import an optional deployment package, or say in one line what to install."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MixsearchError(
            f"ONNX export needs the {package} package: {DEPLOY_EXTRA}"
        ) from None


def load_emitted(path: Path, class_name: str) -> type:
    """The class `class_name` of an emitted module file, imported from that file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def to_onnx(model: Any, example: Any, path: Path) -> Path:
    """Export `model` (eval mode) for inputs shaped like `example`, batch, height and width dynamic; checked."""
    import torch

    onnx = require("onnx")
    require("onnxscript")
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height")}
    dims[3] = torch.export.Dim("width")
    with contextlib.redirect_stdout(
        io.StringIO()
    ):  # the exporter narrates each of its steps
        program = torch.onnx.export(
            model, (example,), dynamo=True, dynamic_shapes=(dims,), verbose=False
        )
    program.save(str(path))
    onnx.checker.check_model(str(path), full_check=True)
    return path


def run_onnx(path: Path, x: Any) -> Any:
    """The model at `path` run in onnxruntime on the CPU, for a torch tensor `x`; a numpy array."""
    ort = require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def write_onnx(module_path: Path, class_name: str, channels: int) -> Path:
    """`<name>.onnx` beside the emitted `<name>.py`, for `channels` input channels, checked against eager
    PyTorch in onnxruntime at a size other than the export's (MixsearchError if they differ).
    """
    import torch

    model = load_emitted(module_path, class_name)(channels).eval()
    batch, height, width = EXAMPLE_SIZE
    path = to_onnx(
        model,
        torch.randn(batch, channels, height, width),
        module_path.with_suffix(".onnx"),
    )
    x = torch.randn(batch + 1, channels, height - 7, width + 3)
    with torch.no_grad():
        expected = model(x).numpy()
    error = abs(run_onnx(path, x) - expected).max()
    if not error <= ONNX_TOLERANCE:
        path.unlink()
        raise MixsearchError(
            f"{path}: onnxruntime differs from PyTorch by {error:.2g} (> {ONNX_TOLERANCE}); not written"
        )
    return path
