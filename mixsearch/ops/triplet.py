"""Triplet attention: cross-dimension spatial gates over the (C, W), (H, C) and (H, W) planes.

Misra et al., "Rotate to Attend: Convolutional Triplet Attention Module", https://arxiv.org/abs/2010.03045

Follows the authors' code: Z-pool is [max; mean] (max first, unlike CBAM), the conv has no bias, its BatchNorm
uses momentum 0.01, and the three branch outputs are averaged.
"""

import torch
from torch import nn


class TripletGate(nn.Module):
    """One triplet branch: Z-pool ([max; mean] over dim 1) -> k x k conv + BN -> sigmoid, scales the input."""

    def __init__(self, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_pool = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(x_pool)))


class TripletAttention(nn.Module):
    """Triplet attention: Z-pool gates on the C-W, H-C (rotated views) and H-W planes, averaged."""

    def __init__(self, channels: int, kernel: int = 7):
        super().__init__()
        self.gate_cw = TripletGate(kernel)
        self.gate_hc = TripletGate(kernel)
        self.gate_hw = TripletGate(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_cw = self.gate_cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        x_hc = self.gate_hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
        x_hw = self.gate_hw(x)
        return (x_hw + x_cw + x_hc) / 3.0
