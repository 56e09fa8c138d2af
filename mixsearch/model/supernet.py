"""`Supernet`: every architecture of a space at once, mixed by architecture weights (DARTS).

Each choice of the space with more than one option gets a vector of architecture weights alpha; its options are
mixed by softmax(alpha):
- an op or fusion choice runs every candidate (built from the op library, like DiscreteModel) and mixes outputs;
- an input choice mixes the candidate inputs;
- a residual choice adds `p(on) * gamma * x`;
- an output choice mixes the candidate output nodes.
`ArchParameters` holds the alphas apart from the weights so that several supernets (one per host stage) can share
them and the two sets can be optimised separately.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mixsearch.arch import INPUT, RESIDUAL_INIT, RESIDUAL_PREFIX, Arch
from mixsearch.ops import OPS
from mixsearch.ops.helpers import weighted_sum
from mixsearch.space.graph import SpaceGraph


class ArchParameters(nn.Module):
    """One alpha vector per open choice of a space (a choice with a single option has none)."""

    def __init__(self, graph: SpaceGraph):
        super().__init__()
        self.choices = [choice for choice in graph.choices if len(choice.options) > 1]
        self.alphas = nn.ParameterList(
            [nn.Parameter(1e-3 * torch.randn(len(c.options))) for c in self.choices]
        )
        self._index = {choice.key: i for i, choice in enumerate(self.choices)}

    def weights(self, key: str) -> torch.Tensor | None:
        """softmax(alpha) of the choice `key`, or None when the choice has one option."""
        index = self._index.get(key)
        return None if index is None else torch.softmax(self.alphas[index], dim=0)

    def probabilities(self) -> dict[str, list[float]]:
        """softmax(alpha) of every open choice, as plain numbers (for history, reports, plots)."""
        with torch.no_grad():
            return {
                c.key: torch.softmax(a, 0).tolist()
                for c, a in zip(self.choices, self.alphas)
            }

    def argmax(self) -> dict[str, Any]:
        """The most likely option of every open choice."""
        return {
            c.key: c.options[int(a.argmax())] for c, a in zip(self.choices, self.alphas)
        }


def _mix(values: list[torch.Tensor], weights: torch.Tensor | None) -> torch.Tensor:
    """The options' outputs mixed by softmax(alpha); the only one when the choice is fixed."""
    return values[0] if weights is None else weighted_sum(values, weights.unbind(0))


class Supernet(nn.Module):
    """The space's mixed module for `channels` channels, weighted by shared `ArchParameters`."""

    def __init__(
        self, graph: SpaceGraph, channels: int, arch_parameters: ArchParameters
    ):
        super().__init__()
        self.graph = graph
        self.choices = {choice.key: choice for choice in graph.choices}
        # A list, so that the shared alphas are not this module's parameters.
        self.arch_parameters = [arch_parameters]
        self.candidates = nn.ModuleDict()
        self.gammas = nn.ParameterDict()
        for name in graph.order:
            node = graph.nodes[name]
            self.candidates[name] = nn.ModuleList(
                OPS.get(option.op).build(
                    channels, option.param_dict, num_inputs=len(node.inputs)
                )
                for option in node.options
            )
            if True in node.residual:
                self.gammas[name] = nn.Parameter(torch.tensor(RESIDUAL_INIT))

    def _weights(self, key: str) -> torch.Tensor | None:
        return self.arch_parameters[0].weights(key)

    def _input(self, values: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        return _mix(
            [values[name] for name in self.choices[key].options], self._weights(key)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x}
        for name in self.graph.order:
            node = self.graph.nodes[name]
            if node.is_fusion:
                inputs = [
                    self._input(values, f"{name}.from[{i}]")
                    for i in range(len(node.inputs))
                ]
                outs = [candidate(inputs) for candidate in self.candidates[name]]
                out = _mix(outs, self._weights(f"{name}.fuse"))
            else:
                node_input = self._input(values, f"{name}.from")
                out = _mix(
                    [candidate(node_input) for candidate in self.candidates[name]],
                    self._weights(f"{name}.op"),
                )
            if name in self.gammas:
                residual = self._weights(f"{name}.residual")
                p_on = 1.0 if residual is None else residual[node.residual.index(True)]
                out = out + p_on * self.gammas[name] * x
            values[name] = out
        return self._input(values, "output")

    def discrete_state(self, arch: Arch) -> dict[str, torch.Tensor]:
        """The weights of `arch`'s chosen candidates, keyed like `DiscreteModel(arch)`'s state_dict."""
        state = {}
        for node in arch.nodes:
            spec = self.graph.nodes[node.name]
            index = next(
                i
                for i, option in enumerate(spec.options)
                if option.op == node.op and option.param_dict == node.params
            )
            for key, value in self.candidates[node.name][index].state_dict().items():
                state[f"{node.name}.{key}"] = value
            if node.residual:
                state[RESIDUAL_PREFIX + node.name] = (
                    self.gammas[node.name].detach().clone()
                )
        return state
