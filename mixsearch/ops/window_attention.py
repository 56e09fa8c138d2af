"""Window (local) multi-head self-attention: attention among the positions of each non-overlapping window.

Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", https://arxiv.org/abs/2103.14030
(window attention without the shift and without the relative position bias).

The map is padded to whole windows; padded positions are masked out as keys, so every output depends only on the
real positions of its window. A window larger than the map shrinks to the map (plain global self-attention).
"""

import torch
import torch.nn.functional as F
from torch import nn


def head_count(channels: int, head_dim: int) -> int:
    """The divisor of `channels` nearest to channels / head_dim (the smaller on a tie), so at least 1."""
    target = channels / head_dim
    divisors = [d for d in range(1, channels + 1) if channels % d == 0]
    return min(divisors, key=lambda d: abs(d - target))


def window_partition(x: torch.Tensor, window_h: int, window_w: int) -> torch.Tensor:
    """B x C x H x W (H, W multiples of the window) -> (B * windows) x (window_h * window_w) x C."""
    batch, channels, height, width = x.shape
    x = x.reshape(
        batch, channels, height // window_h, window_h, width // window_w, window_w
    )
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window_h * window_w, channels)


def window_merge(
    windows: torch.Tensor, window_h: int, window_w: int, height: int, width: int
) -> torch.Tensor:
    """Inverse of `window_partition`: (B * windows) x (window_h * window_w) x C -> B x C x H x W."""
    channels = windows.shape[-1]
    x = windows.reshape(
        -1, height // window_h, width // window_w, window_h, window_w, channels
    )
    return x.permute(0, 5, 1, 3, 2, 4).reshape(-1, channels, height, width)


class WindowSelfAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping windows, then a 1x1 projection added to x."""

    def __init__(self, channels: int, window: int = 7, head_dim: int = 32):
        super().__init__()
        self.window = window
        self.heads = head_count(channels, head_dim)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        window_h, window_w = min(self.window, height), min(self.window, width)
        pad_h, pad_w = (window_h - height % window_h) % window_h, (
            window_w - width % window_w
        ) % window_w
        padding = [0, pad_w, 0, pad_h]
        qkv = window_partition(F.pad(self.qkv(x), padding), window_h, window_w)
        query, key, value = (
            qkv.unflatten(2, [3, self.heads, -1]).permute(2, 0, 3, 1, 4).unbind(0)
        )
        key_mask = F.pad(
            x.new_zeros([batch, 1, height, width]), padding, value=float("-inf")
        )
        key_mask = (
            window_partition(key_mask, window_h, window_w).transpose(1, 2).unsqueeze(1)
        )
        windows = (
            F.scaled_dot_product_attention(query, key, value, attn_mask=key_mask)
            .transpose(1, 2)
            .flatten(2)
        )
        out = window_merge(windows, window_h, window_w, height + pad_h, width + pad_w)
        return x + self.proj(out[:, :, :height, :width])
