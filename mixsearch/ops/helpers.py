"""Small building blocks shared by several attention ops.

Everything here is emitted verbatim into generated modules, so it may use only torch and the standard library.
"""

from typing import List

import torch
from torch import nn


def divisible_channels(value: float, divisor: int = 8, min_value: int = 8) -> int:
    """Round `value` to the nearest multiple of `divisor`, never below `min_value` nor 10% under `value`."""
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def reduced_channels(channels: int, reduction: int, min_channels: int = 8) -> int:
    """Hidden width of a bottleneck C -> C/r: at least `min_channels` so small C still works."""
    return max(min_channels, channels // reduction)


def mean_max_maps(x: torch.Tensor) -> torch.Tensor:
    """[mean; max] over the channels: the B x 2 x H x W map that spatial attention convolves."""
    return torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)


def weighted_sum(xs: List[torch.Tensor], weights: List[torch.Tensor]) -> torch.Tensor:
    """xs[0] * weights[0] + xs[1] * weights[1] + ...: branches mixed by scalar or per-sample weights."""
    out = xs[0] * weights[0]
    for i in range(1, len(xs)):
        out = out + xs[i] * weights[i]
    return out


class ConvBnAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> optional ReLU, 'same' padding for odd kernels."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int = 1, act: bool = True
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, padding=kernel // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))
