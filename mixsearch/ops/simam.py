"""SimAM: parameter-free attention from a per-neuron energy function.

Yang et al., "SimAM: A Simple, Parameter-Free Attention Module for Convolutional Neural Networks", ICML 2021,
https://proceedings.mlr.press/v139/yang21o.html
"""

import torch
from torch import nn


class SimAM(nn.Module):
    """SimAM: x * sigmoid((x - mean)^2 / (4 (var + lambda)) + 1/2), mean and var per channel over H*W; no parameters."""

    def __init__(self, channels: int, e_lambda: float = 1e-4):
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        neighbours = max(x.shape[2] * x.shape[3] - 1, 1)
        deviation = (x - x.mean((2, 3), keepdim=True)).square()
        variance = deviation.sum((2, 3), keepdim=True) / neighbours
        inverse_energy = deviation / (4 * (variance + self.e_lambda)) + 0.5
        return x * torch.sigmoid(inverse_energy)
