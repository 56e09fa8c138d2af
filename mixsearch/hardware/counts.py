"""FLOPs and parameter counts from the framework itself (`torch.utils.flop_counter`), not hand formulas.

FlopCounterMode counts matrix multiplies and convolutions (2 FLOPs per multiply-add); element-wise work such
as sigmoid, products and pooling is not part of its count.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
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
