"""Bottleneck spatial attention: a per-position gate computed from all channels through a 1x1 bottleneck.

A reduced form of the spatial branch of BAM (Park et al., "BAM: Bottleneck Attention Module",
https://arxiv.org/abs/1807.06514): BAM's 1x1 reduction C->C/r with BN + ReLU, then a single 3x3 conv to one map
(BAM uses two dilated 3x3 convs and a final 1x1) and a sigmoid of its own (BAM applies the sigmoid only after
adding its channel branch).
"""

import torch
from torch import nn

from mixsearch.ops.helpers import ConvBnAct, reduced_channels


class BottleneckSpatial(nn.Module):
    """Bottleneck spatial attention: 1x1 conv C->C/r + BN + ReLU -> 3x3 conv -> sigmoid scales each position."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.reduce = ConvBnAct(channels, hidden, 1)
        self.conv = nn.Conv2d(hidden, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(self.reduce(x)))
