"""The emitted module as an ONNX file (`--onnx`), exported from the written `.py` itself (the product, not the
library's classes) with dynamic batch and spatial size, and run once in onnxruntime against eager PyTorch
before the file is kept.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mixsearch.errors import MixsearchError
from mixsearch.onnx_io import ONNX_TOLERANCE, run_onnx, to_onnx
from mixsearch.outdir import staged

# Batch, height and width of the export example; all three stay dynamic.
EXAMPLE_SIZE = (2, 20, 20)


def load_emitted(path: Path, class_name: str) -> type:
    """The class `class_name` of an emitted module file, imported from that file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def write_onnx(module_path: Path, class_name: str, channels: int) -> Path:
    """`<name>.onnx` beside the emitted `<name>.py`, for `channels` input channels, checked against eager
    PyTorch in onnxruntime at a size other than the export's (MixsearchError if they differ) before it replaces
    the file there (never written through a link).
    """
    import torch

    model = load_emitted(module_path, class_name)(channels).eval()
    batch, height, width = EXAMPLE_SIZE
    path = module_path.with_suffix(".onnx")
    with staged(path) as temporary:
        to_onnx(model, torch.randn(batch, channels, height, width), temporary)
        x = torch.randn(batch + 1, channels, height - 7, width + 3)
        with torch.no_grad():
            expected = model(x).numpy()
        error = abs(run_onnx(temporary, x) - expected).max()
        if not error <= ONNX_TOLERANCE:
            raise MixsearchError(
                f"{path}: onnxruntime differs from PyTorch by {error:.2g} (> {ONNX_TOLERANCE}); not written"
            )
    return path
