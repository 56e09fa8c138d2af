"""What an architecture costs on the target, and whether that meets the space's constraints.

FLOPs, element-wise work and parameters add up exactly over nodes (nothing happens between ops), so they are
counted once per (shape, op) and summed; latency comes from the table and the overhead model. Every number is
summed over the target shapes: the module is inserted once per shape.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from mixsearch.arch import Arch, ArchNode
from mixsearch.errors import SpaceError
from mixsearch.hardware.counts import count_elementwise, count_flops, count_params
from mixsearch.hardware.device import torch_device
from mixsearch.hardware.lut import LatencyTable, Shape, op_key
from mixsearch.hardware.predictor import (
    missing_entries,
    predict_latency,
    space_measurements,
)
from mixsearch.model import build_node
from mixsearch.ops import OpInfo
from mixsearch.space.graph import SpaceGraph
from mixsearch.space.sections import Constraints, Target


@dataclass(frozen=True)
class ArchCost:
    """Totals over the target shapes; latency is None when no latency table was given."""

    flops: int
    elementwise: int
    params: int
    latency_ms: float | None = None

    def value(self, metric: str) -> float | None:
        return getattr(self, metric)

    def summary(self) -> str:
        """`1.234 ms, 0.52 MFLOPs, 1,234 params` (latency left out when unknown)."""
        latency = f"{self.latency_ms:.3f} ms, " if self.latency_ms is not None else ""
        return f"{latency}{self.flops / 1e6:.2f} MFLOPs, {self.params:,} params"


@dataclass(frozen=True)
class Feasibility:
    """Whether a cost meets the constraints; `ratios` is value / limit per constrained metric (> 1 misses)."""

    ratios: dict[str, float]

    @property
    def feasible(self) -> bool:
        return all(ratio <= 1.0 for ratio in self.ratios.values())

    @property
    def worst(self) -> float:
        """The largest value / limit ratio: how far the cost is from the constraints (<= 1 is feasible)."""
        return max(self.ratios.values(), default=0.0)

    def misses(self) -> dict[str, float]:
        """By how much each missed constraint is missed, as a fraction over its limit."""
        return {
            metric: ratio - 1.0 for metric, ratio in self.ratios.items() if ratio > 1.0
        }


def check_constraints(cost: ArchCost, constraints: Constraints) -> Feasibility:
    """Feasibility of `cost`; a latency limit with no measured latency raises ValueError."""
    ratios = {}
    for metric, limit in constraints.limits().items():
        value = cost.value(metric)
        if value is None:
            raise ValueError(
                f"a {metric} constraint needs measured latencies: run `mixsearch profile` first"
            )
        ratios[metric] = value / limit
    return Feasibility(ratios)


@dataclass
class CostModel:
    """Costs of architectures at one target; per-op counts are cached, so costing many archs is cheap."""

    target: Target
    table: LatencyTable | None = None
    _counts: dict[tuple[Shape, str], tuple[int, int, int]] = field(default_factory=dict)

    def _node_counts(self, shape: Shape, node) -> tuple[int, int, int]:
        key = (shape, op_key(node.op, node.params, len(node.inputs)))
        if key not in self._counts:
            module = build_node(node, shape[1]).eval()
            x = torch.randn(shape)
            inputs = ([x] * len(node.inputs),) if node.is_fusion else (x,)
            self._counts[key] = (
                count_flops(module, *inputs),
                count_elementwise(module, *inputs),
                count_params(module),
            )
        return self._counts[key]

    def cost_of_node(self, node: ArchNode) -> tuple[int, int, int]:
        """(FLOPs, element-wise operations, parameters) of one node, summed over the target shapes."""
        totals = [0, 0, 0]
        for shape in self.target.shapes:
            flops, elementwise, params = self._node_counts(shape, node)
            if node.residual:
                elementwise, params = elementwise + 2 * math.prod(shape), params + 1
            totals = [totals[0] + flops, totals[1] + elementwise, totals[2] + params]
        return totals[0], totals[1], totals[2]

    def cost(self, arch: Arch) -> ArchCost:
        flops, elementwise, params = (
            sum(column) for column in zip(*map(self.cost_of_node, arch.nodes))
        )
        latency = (
            predict_latency(arch, self.target, self.table)
            if self.table is not None
            else None
        )
        return ArchCost(flops, elementwise, params, latency)


@dataclass(frozen=True)
class SpaceFeasibility:
    """How much of a space meets the constraints, from `checked` architectures (all of them when exhaustive)."""

    feasible: int
    checked: int
    exhaustive: bool
    cheapest: Arch
    cheapest_cost: ArchCost
    cheapest_feasibility: Feasibility

    @property
    def fraction(self) -> float:
        return self.feasible / self.checked


def estimate_feasibility(
    graph: SpaceGraph,
    model: CostModel,
    constraints: Constraints,
    samples: int = 1000,
    seed: int = 0,
) -> SpaceFeasibility:
    """Feasible share of the space: every architecture when the space has at most `samples`, else a sample."""
    exhaustive = graph.size <= samples
    archs = (
        list(graph.enumerate())
        if exhaustive
        else [graph.sample(random.Random(seed + i)) for i in range(samples)]
    )
    feasible, best = 0, None
    for arch in archs:
        cost = model.cost(arch)
        verdict = check_constraints(cost, constraints)
        feasible += verdict.feasible
        if best is None or verdict.worst < best[2].worst:
            best = (arch, cost, verdict)
    return SpaceFeasibility(feasible, len(archs), exhaustive, *best)


def require_feasible(
    graph: SpaceGraph, model: CostModel, constraints: Constraints
) -> SpaceFeasibility:
    """`estimate_feasibility`, or a SpaceError at the constraints line when no architecture is feasible."""
    result = estimate_feasibility(graph, model, constraints)
    if result.feasible == 0:
        how = "all" if result.exhaustive else "a sample of"
        misses = ", ".join(
            f"{name} {over:+.0%}"
            for name, over in result.cheapest_feasibility.misses().items()
        )
        raise SpaceError(
            f"no architecture meets the constraints ({format_limits(constraints)}; checked {how} "
            f"{result.checked}); the cheapest, {result.cheapest_cost.summary()}, misses by {misses}",
            graph.space.path,
            graph.space.constraints_line,
        )
    return result


def feasibility_note(
    graph: SpaceGraph, target: Target, table_path: str | Path | None = None
) -> str | None:
    """The feasible share of the space under its constraints, as a sentence (None when it has none).

    The latency constraint is checked only when the target's table holds every candidate (`mixsearch
    profile`); a space with no feasible architecture raises SpaceError at its constraints line.
    """
    constraints = graph.space.constraints
    table = None
    unchecked = ""
    if constraints.latency_ms is not None:
        table = LatencyTable.open(target, table_path)
        if missing_entries(space_measurements(graph), target, table):
            unchecked = (
                f"latency_ms constraint not checked: no latency table for {table.fingerprint['device']} "
                f"yet (run `mixsearch profile {graph.space.path}`)"
            )
            constraints = replace(constraints, latency_ms=None)
            table = None
    if not constraints.limits():
        return unchecked or None
    result = require_feasible(graph, CostModel(target, table), constraints)
    how = "all" if result.exhaustive else "a sample of"
    note = (
        f"constraints ({format_limits(constraints)}): {result.fraction:.0%} feasible ({result.feasible} of "
        f"{how} {result.checked} architectures on {torch_device(target)})."
    )
    return f"{unchecked}\n{note}" if unchecked else note


def op_costs(
    info: OpInfo, channels: int, height: int, width: int
) -> tuple[int, int, int]:
    """Parameters, FLOPs and element-wise operations of an op with default parameters (fusions: 2 inputs)."""
    module = info.build(channels, {}, num_inputs=2).eval()
    x = torch.randn(1, channels, height, width)
    inputs = ([x, x],) if info.is_fusion else (x,)
    return (
        count_params(module),
        count_flops(module, *inputs),
        count_elementwise(module, *inputs),
    )


def format_limits(constraints: Constraints) -> str:
    return ", ".join(
        f"{name} <= {limit:g}" for name, limit in constraints.limits().items()
    )
