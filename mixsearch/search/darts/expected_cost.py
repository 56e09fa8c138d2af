"""Expected hardware cost of the supernet under softmax(alpha), differentiable in alpha.

Latency (from the latency table and its overhead model: each op's entry scaled by its op's factor; a fusion's
entry for distinct inputs, since which branches skip or drop depends on other choices) and FLOPs (from the
framework's counter) are known per op option; the expectation weights each node's expected cost by the
probability that the node is used at all, which input and output choices decide. With independent choices, a
node is used unless every consumer slot that could read it does not (noisy-or), computed from the output back
to the input.
"""

from __future__ import annotations

import torch

from mixsearch.arch import ArchNode
from mixsearch.hardware.cost import CostModel
from mixsearch.hardware.lut import RESIDUAL_KEY, LatencyTable, op_key
from mixsearch.hardware.predictor import runs_as_op
from mixsearch.model.supernet import ArchParameters
from mixsearch.space.graph import SpaceGraph
from mixsearch.space.sections import Target


class ExpectedCost:
    """E[latency_ms] and E[flops] of the module over the target shapes, as functions of the alphas."""

    def __init__(
        self, graph: SpaceGraph, target: Target, table: LatencyTable | None = None
    ):
        self.graph = graph
        self.target = target
        self.table = table
        counts = CostModel(target)
        self.flops: dict[str, torch.Tensor] = {}
        self.latency: dict[str, torch.Tensor] = {}
        self.skips: dict[str, torch.Tensor] = {}
        for name in graph.order:
            node = graph.nodes[name]
            nodes = [
                ArchNode(
                    name,
                    o.op,
                    o.param_dict,
                    tuple(s[0] for s in node.inputs),
                    is_fusion=node.is_fusion,
                )
                for o in node.options
            ]
            self.flops[name] = torch.tensor(
                [float(counts.cost_of_node(n)[0]) for n in nodes]
            )
            self.skips[name] = torch.tensor(
                [float(not runs_as_op(n.op, False, target.runtime)) for n in nodes]
            )
            if table is not None:
                self.latency[name] = torch.tensor(
                    [
                        [
                            table.overhead_model(shape).op_scale(n.op)
                            * table.get(shape, op_key(n.op, n.params, len(n.inputs)))
                            for n in nodes
                        ]
                        for shape in target.shapes
                    ]
                )

    def _weights(self, alphas: ArchParameters, key: str, count: int) -> torch.Tensor:
        weights = alphas.weights(key)
        return weights if weights is not None else torch.ones(count)

    def usage(self, alphas: ArchParameters) -> dict[str, torch.Tensor]:
        """Probability that each node is part of the sampled architecture."""
        unused = {name: torch.tensor(1.0) for name in self.graph.order}
        for name, p in zip(
            self.graph.outputs, self._weights(alphas, "output", len(self.graph.outputs))
        ):
            unused[name] = unused[name] * (1 - p)
        used = {}
        for name in reversed(self.graph.order):
            used[name] = 1 - unused[name]
            node = self.graph.nodes[name]
            for i, slot in enumerate(node.inputs):
                key = f"{name}.from[{i}]" if node.is_fusion else f"{name}.from"
                for source, q in zip(slot, self._weights(alphas, key, len(slot))):
                    if source in unused:
                        unused[source] = unused[source] * (1 - used[name] * q)
        return used

    def __call__(self, alphas: ArchParameters) -> dict[str, torch.Tensor]:
        used = self.usage(alphas)
        flops = torch.tensor(0.0)
        latency = torch.tensor(0.0)
        for name in self.graph.order:
            node = self.graph.nodes[name]
            p_op = self._weights(
                alphas,
                f"{name}.{'fuse' if node.is_fusion else 'op'}",
                len(node.options),
            )
            flops = flops + used[name] * (p_op * self.flops[name]).sum()
            if self.table is not None:
                p_residual = self._residual_probability(alphas, name)
                # an option that is no op in the runtime (a skip, a drop) counts only with its residual add
                p_runs = p_op * (1 - self.skips[name] * (1 - p_residual))
                for s, shape in enumerate(self.target.shapes):
                    model = self.table.overhead_model(shape)
                    node_ms = (p_runs * self.latency[name][s]).sum()
                    node_ms = node_ms + model.per_node * p_runs.sum()
                    if True in node.residual:
                        node_ms = node_ms + p_residual * model.op_scale(
                            RESIDUAL_KEY
                        ) * self.table.get(shape, RESIDUAL_KEY)
                    latency = latency + used[name] * node_ms
        if self.table is not None:
            latency = latency + sum(
                self.table.overhead_model(s).constant for s in self.target.shapes
            )
        costs = {"flops": flops}
        if self.table is not None:
            costs["latency_ms"] = latency
        return costs

    def _residual_probability(
        self, alphas: ArchParameters, name: str
    ) -> torch.Tensor | float:
        options = self.graph.nodes[name].residual
        if True not in options:
            return 0.0
        return self._weights(alphas, f"{name}.residual", len(options))[
            options.index(True)
        ]
