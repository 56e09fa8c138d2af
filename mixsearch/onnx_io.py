"""ONNX in and out, shared by the code generator (`--onnx`) and the latency measurement (`runtime: onnxruntime`):
torch.onnx's dynamo exporter, `onnx.checker`, onnxruntime sessions on the CPU. The packages are optional
(`pip install 'mixsearch[deploy]'`); without them each entry point says so in one line.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from mixsearch.errors import MixsearchError

QUIET_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")
DEPLOY_EXTRA = "pip install 'mixsearch[deploy]'"
# onnxruntime against eager float32: kernels differ in summation order, never by more than this.
ONNX_TOLERANCE = 1e-4
# Batch, height and width of the export example; all three stay dynamic.
EXAMPLE_SIZE = (2, 20, 20)


def require(package: str) -> ModuleType:
    """Import an optional deployment package, or say in one line what to install."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MixsearchError(
            f"ONNX export needs the {package} package: {DEPLOY_EXTRA}"
        ) from None


def to_onnx(model: Any, example: Any, path: Path, dynamic: bool = True) -> Path:
    """Export `model` (eval mode) for inputs shaped like `example` (a tensor, or a list of them for a fusion
    function), batch, height and width dynamic when `dynamic` (one tensor only); checked by onnx.
    """
    import torch

    onnx = require("onnx")
    require("onnxscript")
    shapes = None
    if dynamic:
        dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height")}
        dims[3] = torch.export.Dim("width")
        shapes = (dims,)
    # The exporter narrates each of its steps on stdout, its optimiser passes on the log (warnings included,
    # about its own choices: not the user's to act on).
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(
            model, (example,), dynamo=True, dynamic_shapes=shapes, verbose=False
        )
    program.save(str(path))
    onnx.checker.check_model(str(path), full_check=True)
    return path


def session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime session for the model at `path` on the CPU (`threads` intra-op threads: None, its own)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def feeds(session: Any, tensors: list[Any]) -> dict[str, Any]:
    """The session's inputs, in order, bound to torch CPU tensors as numpy arrays."""
    return {
        spec.name: tensor.numpy() for spec, tensor in zip(session.get_inputs(), tensors)
    }


def run_onnx(path: Path, x: Any) -> Any:
    """The model at `path` run in onnxruntime on the CPU, for a torch tensor `x`; its first output (numpy)."""
    model = session(path)
    return model.run(None, feeds(model, [x]))[0]
