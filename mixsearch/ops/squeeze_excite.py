"""Squeeze-and-Excitation and Effective SE channel attention.

SE: Hu et al., "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507
eSE: Lee & Park, "CenterMask: Real-Time Anchor-Free Instance Segmentation", https://arxiv.org/abs/1911.06667
"""

import torch
from torch import nn

from mixsearch.ops.helpers import reduced_channels


class SqueezeExcite(nn.Module):
    """SE: global avg-pool -> 1x1 conv C->C/r -> ReLU -> 1x1 conv C/r->C -> sigmoid, scales each channel."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_se = self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(x_se)


class EffectiveSqueezeExcite(nn.Module):
    """eSE: global avg-pool -> one 1x1 conv C->C (no bottleneck, no information loss) -> hard sigmoid."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_se = self.fc(x.mean((2, 3), keepdim=True))
        return x * nn.functional.hardsigmoid(x_se)
