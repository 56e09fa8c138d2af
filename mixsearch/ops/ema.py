"""Efficient Multi-scale Attention (EMA) with cross-spatial learning.

Ouyang et al., "Efficient Multi-Scale Attention Module with Cross-Spatial Learning", ICASSP 2023,
https://arxiv.org/abs/2305.13563
"""

import torch
from torch import nn


def group_count(channels: int, groups: int) -> int:
    """The largest divisor of `channels` not above `groups`."""
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


class EfficientMultiScaleAttention(nn.Module):
    """EMA: per channel group, a 1x1 branch (X/Y pooling) and a 3x3 branch weight each other's positions."""

    def __init__(self, channels: int, groups: int = 8):
        super().__init__()
        self.groups = group_count(channels, groups)
        width = channels // self.groups
        self.conv1x1 = nn.Conv2d(width, width, 1)
        self.conv3x3 = nn.Conv2d(width, width, 3, padding=1)
        self.norm = nn.GroupNorm(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        group_x = x.reshape(batch * self.groups, channels // self.groups, height, width)
        pooled_h = group_x.mean(3, keepdim=True)
        pooled_w = group_x.mean(2, keepdim=True).transpose(2, 3)
        gate_h, gate_w = torch.split(
            self.conv1x1(torch.cat([pooled_h, pooled_w], dim=2)), [height, width], dim=2
        )
        branch_1x1 = self.norm(
            group_x * torch.sigmoid(gate_h) * torch.sigmoid(gate_w.transpose(2, 3))
        ).flatten(2)
        branch_3x3 = self.conv3x3(group_x).flatten(2)
        descriptor_1x1 = torch.softmax(branch_1x1.mean(2), dim=-1).unsqueeze(1)
        descriptor_3x3 = torch.softmax(branch_3x3.mean(2), dim=-1).unsqueeze(1)
        weights = descriptor_1x1 @ branch_3x3 + descriptor_3x3 @ branch_1x1
        weights = weights.reshape(batch * self.groups, 1, height, width)
        return (group_x * torch.sigmoid(weights)).reshape_as(x)
