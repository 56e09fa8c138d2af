"""Fusion functions G(A1..An): how a node combines the outputs of several branches.

Each takes `(channels, num_inputs, **params)` and maps a list of n B x C x H x W tensors to one.
"""

from typing import List, Tuple

import torch
from torch import nn

from mixsearch.ops.checks import fixed_weight_values
from mixsearch.ops.helpers import ConvBnAct, reduced_channels, weighted_sum


class Sum(nn.Module):
    """Element-wise sum of the branches."""

    def __init__(self, channels: int, num_inputs: int):
        super().__init__()

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Mean(nn.Module):
    """Element-wise mean of the branches."""

    def __init__(self, channels: int, num_inputs: int):
        super().__init__()
        self.scale = 1.0 / num_inputs

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out * self.scale


class Last(nn.Module):
    """Only the last branch: with the branches chained, this is plain serial composition."""

    def __init__(self, channels: int, num_inputs: int):
        super().__init__()

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        return xs[-1]


class FixedWeights(nn.Module):
    """Weighted sum with fixed weights (normalised to sum 1): given, or a task preset for two branches."""

    def __init__(
        self,
        channels: int,
        num_inputs: int,
        weights: Tuple[float, ...] = (),
        preset: str = "equal",
    ):
        super().__init__()
        values = fixed_weight_values(num_inputs, weights, preset)
        # A buffer, so that it follows the module's device and dtype; not in the state_dict: it is no weight.
        normalised = torch.tensor([v / sum(values) for v in values])
        self.register_buffer("weights", normalised, persistent=False)

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        return weighted_sum(xs, self.weights.unbind(0))


class SoftmaxWeights(nn.Module):
    """Learned static weights: softmax over one parameter per branch, then the weighted sum."""

    def __init__(self, channels: int, num_inputs: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_inputs))

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        return weighted_sum(xs, torch.softmax(self.logits, dim=0).unbind(0))


class DynamicWeights(nn.Module):
    """Content-aware weights: pooled sum of branches -> conv MLP -> softmax over branches, per sample."""

    def __init__(self, channels: int, num_inputs: int, reduction: int = 4):
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, num_inputs, 1)

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        pooled = xs[0].mean((2, 3), keepdim=True)
        for x in xs[1:]:
            pooled = pooled + x.mean((2, 3), keepdim=True)
        weights = torch.softmax(self.fc2(self.act(self.fc1(pooled))), dim=1)
        return weighted_sum(xs, weights.split(1, dim=1))


class Gate(nn.Module):
    """Gated fusion: g = sigmoid(sum_i W_i A_i + b) with 1x1 convs W_i; out = g * A_1 + (1 - g) * mean(A_2..A_n)."""

    def __init__(self, channels: int, num_inputs: int):
        super().__init__()
        self.projections = nn.ModuleList(
            [nn.Conv2d(channels, channels, 1, bias=i == 0) for i in range(num_inputs)]
        )
        self.rest_scale = 1.0 / (num_inputs - 1)

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        logits = torch.zeros_like(xs[0])
        rest = torch.zeros_like(xs[0])
        for i, projection in enumerate(self.projections):
            logits = logits + projection(xs[i])
            if i > 0:
                rest = rest + xs[i]
        gate = torch.sigmoid(logits)
        return gate * xs[0] + (1.0 - gate) * rest * self.rest_scale


class Product(nn.Module):
    """Element-wise product of the branches."""

    def __init__(self, channels: int, num_inputs: int):
        super().__init__()

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Max(nn.Module):
    """Element-wise maximum of the branches."""

    def __init__(self, channels: int, num_inputs: int):
        super().__init__()

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = torch.maximum(out, x)
        return out


class ConcatConv(nn.Module):
    """Concatenate the branches and project back with a 1x1 conv (optionally with BN + ReLU)."""

    def __init__(self, channels: int, num_inputs: int, norm_act: bool = False):
        super().__init__()
        if norm_act:
            self.proj = ConvBnAct(channels * num_inputs, channels, 1)
        else:
            self.proj = nn.Conv2d(channels * num_inputs, channels, 1)

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        return self.proj(torch.cat(xs, dim=1))


class CrossLevel(nn.Module):
    """Cross-level fusion: softmax level weights predicted from all levels, blended with a 1x1 alignment conv."""

    def __init__(self, channels: int, num_inputs: int, blend: float = 0.7):
        super().__init__()
        self.level_logits = nn.Conv2d(channels * num_inputs, num_inputs, 1)
        self.align = nn.Conv2d(channels * num_inputs, channels, 1)
        self.blend = blend

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        levels = torch.cat(xs, dim=1)
        weights = torch.softmax(
            self.level_logits(levels.mean((2, 3), keepdim=True)), dim=1
        )
        mixed = weighted_sum(xs, weights.split(1, dim=1))
        return self.blend * mixed + (1.0 - self.blend) * self.align(levels)
