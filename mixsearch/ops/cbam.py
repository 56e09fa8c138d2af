"""CBAM channel and spatial attention, in the variants that published code disagrees on.

Woo et al., "CBAM: Convolutional Block Attention Module", https://arxiv.org/abs/1807.06521

Variants (the `variant` parameter of `cbam_channel` / `cbam_spatial`):
- channel `paper`: shared bias-free MLP C->C/r->C over avg- and max-pool, summed, sigmoid (timm `ChannelAttn`).
- channel `light`: avg- and max-pool averaged first, then the MLP once (timm `LightChannelAttn`).
- channel `ultralytics`: avg-pool -> one 1x1 conv C->C with bias -> sigmoid (Ultralytics `ChannelAttention`).
- spatial `paper`: [mean; max] over channels -> k x k conv (no bias) -> sigmoid (also Ultralytics).
- spatial `timm`: the same with BatchNorm after the conv (timm `SpatialAttn`).
"""

import torch
from torch import nn

from mixsearch.ops.helpers import mean_max_maps, reduced_channels


class CbamChannel(nn.Module):
    """CBAM channel attention (paper): sigmoid(mlp(avgpool x) + mlp(maxpool x)) scales each channel."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = reduced_channels(channels, reduction, min_channels=1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Both pools as one B x C x 1 x 2 map, so the shared MLP runs once; then sum the pair.
        x_pool = torch.cat(
            [x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)], dim=3
        )
        x_attn = self.fc2(torch.relu(self.fc1(x_pool))).sum(3, keepdim=True)
        return x * torch.sigmoid(x_attn)


class CbamChannelLight(CbamChannel):
    """CBAM channel attention, light form: the MLP runs once on the average of avg- and max-pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_pool = (x.mean((2, 3), keepdim=True) + x.amax((2, 3), keepdim=True)) * 0.5
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x_pool))))


class CbamChannelUltralytics(nn.Module):
    """CBAM channel attention as Ultralytics writes it: avg-pool -> 1x1 conv C->C with bias -> sigmoid."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))


class CbamSpatial(nn.Module):
    """CBAM spatial attention (paper): [mean; max] over channels -> k x k conv -> sigmoid scales each position."""

    def __init__(self, channels: int, kernel: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(mean_max_maps(x)))


class CbamSpatialNorm(CbamSpatial):
    """CBAM spatial attention as timm writes it: the paper's conv followed by BatchNorm before the sigmoid."""

    def __init__(self, channels: int, kernel: int = 7):
        super().__init__(channels, kernel)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.bn(self.conv(mean_max_maps(x))))
