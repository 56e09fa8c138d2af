"""Structural ops: identity, none (zero) and a plain conv block.

`identity` and `none` are the skip and drop candidates a DARTS search needs; `conv` lets a space build the
convolution stages of the recursive / hierarchical family.
"""

import torch
from torch import nn

from mixsearch.ops.helpers import ConvBnAct


class Identity(nn.Module):
    """Returns the input unchanged (the 'skip' candidate)."""

    def __init__(self, channels: int):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """Returns zeros shaped like the input (the 'none' candidate: drops a branch)."""

    def __init__(self, channels: int):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class ConvStage(nn.Module):
    """k x k conv + BN + ReLU keeping the channel count: a level of the recursive / hierarchical family."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.block = ConvBnAct(channels, channels, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)
