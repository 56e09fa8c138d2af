"""Gather-Excite: gather context over a spatial extent, redistribute it as a gate on every position.

Hu et al., "Gather-Excite: Exploiting Feature Context in Convolutional Neural Networks",
https://arxiv.org/abs/1810.12348

Variants (the `variant` parameter of `gather_excite`), as timm `GatherExcite` computes them:
- `pool`: parameter-free gather (timm `extra_params=False`): global mean (extent 0, then with the MLP this is SE) or
  average pooling with kernel 2e-1 and stride e; then the MLP (optional: without it this is the paper's GE-theta-),
  nearest upsampling and a sigmoid.
- `conv`: learned gather (timm `extra_params=True`, the paper's GE-theta+): log2(e) depthwise 3x3 stride-2 convs,
  each with BatchNorm, ReLU between them; then the MLP, nearest upsampling and a sigmoid.
"""

import torch
import torch.nn.functional as F
from torch import nn

from mixsearch.ops.checks import gather_conv_levels
from mixsearch.ops.helpers import reduced_channels


def excite_mlp(channels: int, reduction: int) -> nn.Sequential:
    """1x1 conv C->C/r, ReLU, 1x1 conv C/r->C (both with bias)."""
    hidden = reduced_channels(channels, reduction)
    return nn.Sequential(
        nn.Conv2d(channels, hidden, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, channels, 1),
    )


class GatherExcite(nn.Module):
    """Gather-Excite: mean over the whole map or an extent-e window -> MLP -> upsample -> sigmoid scales x."""

    def __init__(
        self, channels: int, extent: int = 0, reduction: int = 16, use_mlp: bool = True
    ):
        super().__init__()
        self.extent = extent
        self.kernel = 2 * extent - 1
        self.mlp = excite_mlp(channels, reduction) if use_mlp else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.extent == 0:
            return x * torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)))
        x_ge = F.avg_pool2d(
            x, self.kernel, self.extent, self.kernel // 2, count_include_pad=False
        )
        x_ge = F.interpolate(self.mlp(x_ge), size=x.shape[-2:])
        return x * torch.sigmoid(x_ge)


class GatherExciteConv(nn.Module):
    """Gather-Excite with a learned gather: strided depthwise convs + BN down by `extent` -> MLP -> upsample -> gate."""

    def __init__(self, channels: int, extent: int = 2, reduction: int = 16):
        super().__init__()
        layers = []
        for i in range(gather_conv_levels(extent)):
            if i > 0:
                layers.append(nn.ReLU(inplace=True))
            layers.append(
                nn.Conv2d(
                    channels,
                    channels,
                    3,
                    stride=2,
                    padding=1,
                    groups=channels,
                    bias=False,
                )
            )
            layers.append(nn.BatchNorm2d(channels))
        self.gather = nn.Sequential(*layers)
        self.mlp = excite_mlp(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_ge = F.interpolate(self.mlp(self.gather(x)), size=x.shape[-2:])
        return x * torch.sigmoid(x_ge)
