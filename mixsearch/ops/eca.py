"""Efficient Channel Attention: a 1-D conv across channels instead of an MLP.

Wang et al., "ECA-Net: Efficient Channel Attention for Deep CNNs", https://arxiv.org/abs/1910.03151
"""

import math

import torch
from torch import nn


def eca_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    """The paper's adaptive kernel: the odd number nearest |log2(C) + b| / gamma, at least 3."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


class EfficientChannelAttention(nn.Module):
    """ECA: global avg-pool -> 1-D conv over channels (kernel from C; gamma=2, b=1) -> sigmoid, scales x."""

    def __init__(self, channels: int, gamma: int = 2, beta: int = 1):
        super().__init__()
        kernel = eca_kernel_size(channels, gamma, beta)
        self.conv = nn.Conv1d(1, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean((2, 3)).unsqueeze(1)
        y = self.conv(y).transpose(1, 2).unsqueeze(-1)
        return x * torch.sigmoid(y)
