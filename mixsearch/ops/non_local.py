"""Non-local (embedded Gaussian) self-attention over all H*W positions.

Wang et al., "Non-local Neural Networks", https://arxiv.org/abs/1711.07971

Variants (the `variant` parameter of `nonlocal`):
- `paper`: q, k: 1x1 conv C->C/r; v: 1x1 conv C->C; out = softmax(q^T k / sqrt(C/r)) v + x.
- `timm`: timm `NonLocalAttn` (after Chi et al., "Non-Local Neural Networks With Grouped Bilinear Attentional
  Transforms", CVPR 2020): q, k, v: 1x1 conv C->C/r (rounded to a multiple of 8), scale 1/sqrt(C), then a 1x1 conv
  C/r->C and BatchNorm initialised to zero, so the block starts as the identity. Its attention is written out in
  timm's order of operations (the `paper` form uses fused scaled-dot-product attention), so outputs match timm's.
"""

import torch
import torch.nn.functional as F
from torch import nn

from mixsearch.ops.helpers import divisible_channels, reduced_channels


class NonLocal(nn.Module):
    """Non-local block: every position adds softmax(q.k / sqrt(C/r))-weighted values of all positions."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.query = nn.Conv2d(channels, hidden, 1)
        self.key = nn.Conv2d(channels, hidden, 1)
        self.value = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B x 1 x HW x C': one head, in the 4-D layout every runtime's attention kernel takes (ONNX's too).
        query = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)
        key = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)
        value = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)
        context = F.scaled_dot_product_attention(query, key, value).squeeze(1)
        return x + context.transpose(1, 2).reshape_as(x)


class NonLocalTimm(nn.Module):
    """Non-local block as timm writes it: reduced q/k/v, output 1x1 conv and zero-initialised BatchNorm."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = divisible_channels(channels / reduction)
        self.scale = channels**-0.5
        self.query = nn.Conv2d(channels, hidden, 1)
        self.key = nn.Conv2d(channels, hidden, 1)
        self.value = nn.Conv2d(channels, hidden, 1)
        self.proj = nn.Conv2d(hidden, channels, 1)
        self.norm = nn.BatchNorm2d(channels)
        for conv in (self.query, self.key, self.value, self.proj):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        query = self.query(x).flatten(2).transpose(1, 2)
        key = self.key(x).flatten(2)
        value = self.value(x).flatten(2).transpose(1, 2)
        # Scaled in place: no second H*W x H*W buffer (the same values as timm's out-of-place product).
        attn = torch.softmax(torch.bmm(query, key).mul_(self.scale), dim=2)
        context = (
            torch.bmm(attn, value).transpose(1, 2).reshape(batch, -1, height, width)
        )
        return x + self.norm(self.proj(context))
