"""A module made ready to time in the target's runtime: eager PyTorch, `torch.compile`, or ONNX Runtime.

Every latency mixsearch measures (table entries, the predictor's fitting modules, the final modules) goes through
`runnable`, so the latency a search optimises is the latency of the runtime the module ships in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from mixsearch.hardware.device import measurement_threads, torch_device
from mixsearch.onnx_io import feeds, session, to_onnx
from mixsearch.space.sections import Target

Inputs = torch.Tensor | list[torch.Tensor]

# Dynamo recompiles a forward per new instance of a class (its attributes are guarded) and, past its limit of 8,
# fails a fullgraph compile. A latency table compiles one instance per (op, params, shape) entry: dozens.
RECOMPILE_LIMIT = 4096


def runnable(module: nn.Module, inputs: Inputs, target: Target) -> Callable[[], object]:
    """One forward pass of `module` (prepared for the target) on `inputs`, in the target's runtime."""
    if target.runtime == "compile":
        compiled = compiled_module(module, target)
        return lambda: compiled(inputs)
    if target.runtime == "onnxruntime":
        return _onnxruntime_call(module, inputs, target)
    return lambda: module(inputs)


def compiled_module(module: nn.Module, target: Target) -> Callable[..., object]:
    """`module` under `torch.compile(fullgraph=True)`, with CUDA graphs on the GPU (launches set its latency)."""
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    config.accumulated_recompile_limit = max(
        config.accumulated_recompile_limit, RECOMPILE_LIMIT
    )
    mode = "reduce-overhead" if torch_device(target).type == "cuda" else None
    return torch.compile(module, fullgraph=True, dynamic=False, mode=mode)


def _onnxruntime_call(
    module: nn.Module, inputs: Inputs, target: Target
) -> Callable[[], object]:
    tensors = inputs if isinstance(inputs, list) else [inputs]
    with tempfile.TemporaryDirectory() as folder:
        path = to_onnx(module, inputs, Path(folder) / "module.onnx", dynamic=False)
        model = session(path, measurement_threads(target))
    bound = feeds(model, [tensor.contiguous() for tensor in tensors])
    return lambda: model.run(None, bound)
