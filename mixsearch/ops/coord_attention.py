"""Coordinate attention: channel attention factorised into two 1-D encodings along height and width.

Hou et al., "Coordinate Attention for Efficient Mobile Network Design", https://arxiv.org/abs/2103.02907

Variants (the `variant` parameter of `coord`):
- `paper`: the authors' code: 1x1 convs with bias, hidden width max(8, C // r) with r = 32.
- `timm`: timm `CoordAttn`: bias-free convs, hidden width C/r * 2/3 (r = 16; the 2/3 keeps the parameter count
  near SE's) rounded to the nearest multiple of 8, at least 8.
Both: shared 1x1 conv -> BN -> hard-swish on the concatenated strip pools, then a 1x1 conv and sigmoid per axis.
"""

import torch
import torch.nn.functional as F
from torch import nn

from mixsearch.ops.helpers import reduced_channels


def timm_coord_channels(channels: int, reduction: int) -> int:
    """timm's CoordAttn hidden width: C/r * 2/3 rounded to the nearest multiple of 8 (half up), at least 8."""
    return max(8, int(channels / reduction * (2 / 3) + 4) // 8 * 8)


class CoordGates(nn.Module):
    """What both variants compute: H and W strip pools -> shared 1x1 conv+BN+h-swish -> a sigmoid gate per axis."""

    def __init__(self, channels: int, hidden: int, bias: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv_h = nn.Conv2d(hidden, channels, 1, bias=bias)
        self.conv_w = nn.Conv2d(hidden, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height = x.shape[2]
        x_h = x.mean(3, keepdim=True)
        x_w = x.mean(2, keepdim=True).transpose(2, 3)
        y = F.hardswish(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        a_h = torch.sigmoid(self.conv_h(y[:, :, :height]))
        a_w = torch.sigmoid(self.conv_w(y[:, :, height:].transpose(2, 3)))
        return x * a_w * a_h


class CoordAttention(CoordGates):
    """Coordinate attention (paper): H and W strip pools -> shared 1x1 conv+BN+h-swish -> sigmoid gate per axis."""

    def __init__(self, channels: int, reduction: int = 32):
        super().__init__(channels, reduced_channels(channels, reduction), bias=True)


class CoordAttentionTimm(CoordGates):
    """Coordinate attention as timm writes it: bias-free convs, hidden width C/r * 2/3 rounded to a multiple of 8."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__(channels, timm_coord_channels(channels, reduction), bias=False)
