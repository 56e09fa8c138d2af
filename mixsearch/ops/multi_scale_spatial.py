"""Multi-scale spatial attention: CBAM's [mean; max] channel-pooled maps seen through several kernel sizes.

Extends the spatial attention of CBAM (Woo et al., "CBAM: Convolutional Block Attention Module",
https://arxiv.org/abs/1807.06521) with parallel k x k branches (k = 3, 5, ..., max_kernel), in the spirit of the
multi-kernel branches of SKNet (Li et al., "Selective Kernel Networks", https://arxiv.org/abs/1903.06586).
"""

import torch
from torch import nn

from mixsearch.ops.helpers import ConvBnAct, mean_max_maps


class MultiScaleSpatial(nn.Module):
    """Multi-scale spatial attention: [mean; max] maps -> k x k conv+BN+ReLU per k -> 1x1 conv+BN -> sigmoid.

    Each branch widens the 2 pooled maps to 4, enough for a few edge/blob detectors per scale while keeping the
    largest branch under 400 weights; the 1x1 fusion then sees 4 maps per scale.
    """

    def __init__(self, channels: int, max_kernel: int = 7):
        super().__init__()
        kernels = range(3, max_kernel + 1, 2)
        self.branches = nn.ModuleList([ConvBnAct(2, 4, kernel) for kernel in kernels])
        self.fuse = ConvBnAct(4 * len(self.branches), 1, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_pool = mean_max_maps(x)
        scales = torch.cat([branch(x_pool) for branch in self.branches], dim=1)
        return x * torch.sigmoid(self.fuse(scales))
