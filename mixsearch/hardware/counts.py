"""What one forward pass costs, counted by the framework rather than by hand formulas.

- FLOPs: `torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix products, 2 per multiply-add).
- Element-wise work, which FlopCounterMode does not count: one operation per output element of every aten op
  tagged `pointwise` (sigmoid, multiply, add…) and one per input element of every op tagged `reduction`
  (mean, amax…), read from the ops' own tags while the forward runs.
- Peak activation memory: the most bytes held at once by tensors the forward pass allocated (parameters and
  the input excluded), tracked at the dispatcher as tensors are created and freed.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode


def count_flops(module: nn.Module, *inputs: Any) -> int:
    """FLOPs of one forward pass of `module` on `inputs`, as counted by torch's FlopCounterMode."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*inputs)
    return counter.get_total_flops()


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(
        parameter.numel()
        for parameter in module.parameters()
        if parameter.requires_grad
    )


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [leaf for leaf in tree_flatten(tree)[0] if isinstance(leaf, torch.Tensor)]


class _ElementwiseCounter(TorchDispatchMode):
    """Counts pointwise output elements and reduction input elements of every aten op run under it."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if torch.Tag.pointwise in func.tags:
            self.total += sum(t.numel() for t in _tensors(out))
        elif torch.Tag.reduction in func.tags:
            self.total += sum(t.numel() for t in _tensors(args)[:1])
        return out


def count_elementwise(module: nn.Module, *inputs: Any) -> int:
    """Element-wise operations of one forward pass (the work FlopCounterMode leaves out)."""
    counter = _ElementwiseCounter()
    with counter, torch.no_grad():
        module(*inputs)
    return counter.total


class _MemoryTracker(TorchDispatchMode):
    """Tracks bytes of live storages created by ops run under it; `peak` is the high-water mark."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in _tensors(out):
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key in self._seen or storage.nbytes() == 0:
                continue
            self._seen.add(key)
            self.live += storage.nbytes()
            weakref.finalize(storage, self._release, key, storage.nbytes())
        self.peak = max(self.peak, self.live)
        return out


def peak_activation_bytes(module: nn.Module, *inputs: Any) -> int:
    """Peak bytes of intermediate tensors alive at once during one inference forward pass."""
    tracker = _MemoryTracker()
    with tracker, torch.inference_mode():
        module(*inputs)
    return tracker.peak
