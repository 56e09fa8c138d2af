"""Multi-pool channel attention: several global poolings mixed per sample, then CBAM's shared MLP.

Builds on CBAM's avg + max pooled MLP (Woo et al., "CBAM: Convolutional Block Attention Module",
https://arxiv.org/abs/1807.06521), adding a generalised-mean (Lp) pool (Radenovic et al., "Fine-tuning CNN Image
Retrieval with No Human Annotation", https://arxiv.org/abs/1711.02512) and a learned softmax attention pool as in
the global context block (Cao et al., "GCNet", https://arxiv.org/abs/1904.11492).
"""

import torch
from torch import nn

from mixsearch.ops.helpers import reduced_channels


def lp_pool(x: torch.Tensor, p: float, eps: float = 1e-6) -> torch.Tensor:
    """Global Lp (generalised-mean) pool of x clamped to >= eps, taken relative to the per-channel peak.

    Dividing by the peak keeps every term of the mean in (0, 1] with one term equal to 1, so x^p can neither
    overflow nor underflow to a zero mean (whose 1/p-th root has an infinite gradient), whatever p is.
    """
    x = x.clamp(min=eps)
    peak = x.amax((2, 3), keepdim=True)
    return peak * (x / peak).pow(p).mean((2, 3), keepdim=True).pow(1.0 / p)


class MultiPoolChannel(nn.Module):
    """Multi-pool channel attention: avg, max, Lp and attention pools mixed by per-sample softmax weights -> MLP."""

    def __init__(self, channels: int, reduction: int = 16, p: float = 3.0):
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.p = p
        self.attn_logits = nn.Conv2d(channels, 1, 1, bias=False)
        self.mixer = nn.Conv2d(4 * channels, 4, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = torch.softmax(self.attn_logits(x).flatten(2), dim=-1)
        x_attn = torch.matmul(x.flatten(2), attn.transpose(1, 2)).unsqueeze(-1)
        pools = torch.stack(
            [
                x.mean((2, 3), keepdim=True),
                x.amax((2, 3), keepdim=True),
                lp_pool(x, self.p),
                x_attn,
            ],
            dim=1,
        )
        mix = torch.softmax(self.mixer(pools.flatten(1, 2)), dim=1)
        x_pool = (pools * mix.unsqueeze(2)).sum(1)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(x_pool))))
