"""`DiscreteModel(arch, channels)`: the nn.Module of one resolved architecture.

Its submodules are named after the Arch's nodes and its residual weights `gamma_<node>`, exactly like the class
the code generator emits, so the two share `state_dict` keys and compute the same function.
"""

from __future__ import annotations

import torch
from torch import nn

from mixsearch.arch import INPUT, RESIDUAL_INIT, RESIDUAL_PREFIX, Arch, ArchNode
from mixsearch.ops import OPS


def build_node(node: ArchNode, channels: int) -> nn.Module:
    """The op (or fusion function) module of one node."""
    return OPS.get(node.op).build(channels, node.params, num_inputs=len(node.inputs))


class DiscreteModel(nn.Module):
    """Runs the Arch's nodes in order; a node with a residual adds `gamma_<node> * x` (x = module input)."""

    def __init__(self, arch: Arch, channels: int):
        super().__init__()
        self.arch = arch
        for node in arch.nodes:
            self.add_module(node.name, build_node(node, channels))
            if node.residual:
                self.register_parameter(
                    RESIDUAL_PREFIX + node.name,
                    nn.Parameter(torch.tensor(RESIDUAL_INIT)),
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x}
        for node in self.arch.nodes:
            module = getattr(self, node.name)
            if node.is_fusion:
                out = module([values[name] for name in node.inputs])
            else:
                out = module(values[node.inputs[0]])
            if node.residual:
                out = out + getattr(self, RESIDUAL_PREFIX + node.name) * x
            values[node.name] = out
        return values[self.arch.output]
