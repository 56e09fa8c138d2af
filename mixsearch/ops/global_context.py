"""Global Context (GC) block: one softmax-pooled context vector per image, transformed and fused into every position.

Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond", https://arxiv.org/abs/1904.11492

Variants (the `variant` parameter of `global_context`), both as timm `GlobalContext` computes them:
- `add`: x + transform(context), the paper's choice (timm `fuse_add=True, fuse_scale=False`); as in timm the
  last conv's weight starts at zero (its bias does not), so the block starts as x plus a constant per channel.
- `scale`: x * sigmoid(transform(context)) (timm's default, `fuse_scale=True`).
"""

import torch
from torch import nn

from mixsearch.ops.helpers import reduced_channels


class ContextPool(nn.Module):
    """Attention pooling: a 1x1 conv scores each position, softmax over H*W, weighted sum -> B x C x 1 x 1."""

    def __init__(self, channels: int):
        super().__init__()
        self.score = nn.Conv2d(channels, 1, 1)
        nn.init.kaiming_normal_(self.score.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x).flatten(2), dim=-1)
        return (x.flatten(2) @ weights.transpose(1, 2)).unsqueeze(-1)


class ContextTransform(nn.Module):
    """Bottleneck transform of a B x C x 1 x 1 context: 1x1 conv C->C', LayerNorm, ReLU, 1x1 conv C'->C."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.norm = nn.LayerNorm(hidden, eps=1e-6)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        hidden = self.norm(self.fc1(context).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.fc2(self.act(hidden))


class GlobalContext(nn.Module):
    """GC block (add fusion): softmax-pooled context -> conv, LayerNorm, ReLU, conv -> added to every position."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        self.pool = ContextPool(channels)
        self.transform = ContextTransform(
            channels, reduced_channels(channels, reduction)
        )
        nn.init.zeros_(self.transform.fc2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.transform(self.pool(x))


class GlobalContextScale(nn.Module):
    """GC block (scale fusion): the transformed softmax-pooled context, through a sigmoid, scales each channel."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        self.pool = ContextPool(channels)
        self.transform = ContextTransform(
            channels, reduced_channels(channels, reduction)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.transform(self.pool(x)))
