"""Latency of a whole architecture: its ops' table entries plus a per-device overhead model.

Ops timed alone do not add up exactly to the module timed end to end (dispatch overhead per node, the module's
own bookkeeping, caches warm or cold between ops; in a compiling runtime, ops fused and one call instead of
one per op, and by how much differs from op to op). For each target shape we fit, on whole modules measured end
to end,  measured = sum over nodes of s_op * entry + b * (number of nodes) + c,  where each op's factor s_op is a
shared factor plus a correction ridge-shrunk towards zero, so that an op seen in few fitting modules keeps the
shared factor; unfitted tables predict the plain sum (`OverheadModel`). The fit is least squares on relative
errors (each module's equation divided by its measured latency), since a prediction is judged by how many
percent it is off. The model stays linear in the per-node entries on purpose: the DARTS search takes its
expectation over op choices (`mixsearch.search.darts.expected_cost`).

In a fusing runtime a skip (identity) node is no op of the running module and a dropped (none) branch a folded
constant: the model leaves both out, entries and node count (`runs_as_op`). A fusion's entry depends on how the
module feeds it (`fused_pattern`): branches that skip to the same tensor are
read once, and a dropped branch's zeros are constants that a compiling runtime folds away (a gate over two real
branches and a dropped one costs what a two-input gate does). So a fusion has one entry per input pattern the
space can produce.

The table entries and the fitting modules are measured in interleaved rounds (`measure_interleaved`), so that a
burst of load on the machine spoils one round of many measurements rather than one entry.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from mixsearch.arch import INPUT, Arch, ArchNode
from mixsearch.hardware.device import example_input
from mixsearch.hardware.latency import DEFAULT_ROUNDS
from mixsearch.hardware.lut import (
    PATTERN_LETTERS,
    RESIDUAL_KEY,
    ZERO_INPUT,
    LatencyTable,
    Measurement,
    OverheadModel,
    Shape,
    measure_many,
    op_key,
    op_measurement,
    prepare_module,
    residual_measurement,
    shape_key,
)
from mixsearch.hardware.runtime import runnable
from mixsearch.model import DiscreteModel
from mixsearch.progress import progress as show_progress
from mixsearch.space.graph import SpaceGraph
from mixsearch.space.sections import Target

# Whole modules measured end to end to fit the overhead model of a new table: enough for a factor per op on
# the default space (`benchmarks/latency_predictor.py` fits on as many).
OVERHEAD_FIT_ARCHS = 24
# Ridge strength on each op's correction to the shared factor, in units of squared relative error.
OP_SCALE_RIDGE = 0.1
# The structural ops that pass a tensor on unchanged or drop a branch (zeros): they decide a fusion's pattern.
SKIP_OP, DROP_OP = "identity", "none"
# The tensor a node computes: a node's name, `input`, or None for a dropped branch's zeros.
Value = str | None


def input_pattern(values: Iterable[Value]) -> str:
    """The pattern of a fusion's inputs: one letter per distinct tensor in order of first use, `0` for zeros."""
    letters: dict[str, str] = {}
    pattern = ""
    for value in values:
        if value is None:
            pattern += ZERO_INPUT
        else:
            pattern += letters.setdefault(value, PATTERN_LETTERS[len(letters)])
    return pattern


def fused_pattern(arch: Arch) -> dict[str, str]:
    """The input pattern of every fusion node of `arch`: which inputs are the same tensor (`aab`: a branch that
    skips to what another branch computes) or a dropped branch's zeros (`ab0`)."""
    values: dict[str, Value] = {INPUT: INPUT}
    patterns = {}
    for node in arch.nodes:
        if node.is_fusion:
            patterns[node.name] = input_pattern(values[name] for name in node.inputs)
        values[node.name] = _node_value(node, values)
    return patterns


def _node_value(node: ArchNode, values: dict[str, Value]) -> Value:
    if node.residual or node.is_fusion:
        return node.name
    if node.op == SKIP_OP:
        return values[node.inputs[0]]
    return None if node.op == DROP_OP else node.name


def space_patterns(graph: SpaceGraph) -> dict[str, set[str]]:
    """Every input pattern each fusion node of the space can be fed (a superset: choices taken independently)."""
    values: dict[str, set[Value]] = {INPUT: {INPUT}}
    patterns = {}
    for name in graph.order:
        spec = graph.nodes[name]
        slots = [set().union(*(values[s] for s in slot)) for slot in spec.inputs]
        if spec.is_fusion:
            patterns[name] = set(map(input_pattern, itertools.product(*slots)))
        computed = {name} if spec.is_fusion or True in spec.residual else set()
        if not spec.is_fusion and False in spec.residual:
            for option in spec.options:
                skips = {SKIP_OP: slots[0], DROP_OP: {None}}
                computed |= skips.get(option.op, {name})
        values[name] = computed
    return patterns


def space_measurements(graph: SpaceGraph) -> list[Measurement]:
    """Every op configuration (with its input count and, for fusions, each input pattern) any architecture of
    the space can use, and the residual. A fusion always has its entry for distinct inputs too: DARTS' expected
    cost uses it."""
    patterns = space_patterns(graph)
    measurements = {}
    for name, node in graph.nodes.items():
        for option in node.options:
            for pattern in [None, *sorted(patterns.get(name, ()))]:
                measurement = op_measurement(
                    option.op, option.param_dict, len(node.inputs), pattern
                )
                measurements.setdefault(measurement.key, measurement)
    if any(True in node.residual for node in graph.nodes.values()):
        measurements[RESIDUAL_KEY] = residual_measurement()
    return list(measurements.values())


def missing_entries(
    measurements: list[Measurement], target: Target, table: LatencyTable
) -> list[tuple[Shape, Measurement]]:
    """The (shape, measurement) pairs the table has no entry for yet."""
    return [
        (shape, m)
        for shape in target.shapes
        for m in measurements
        if not table.has(shape, m.key)
    ]


def profile(
    measurements: list[Measurement],
    target: Target,
    table: LatencyTable,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
    rounds: int = DEFAULT_ROUNDS,
) -> int:
    """Measure every (shape, measurement) the table lacks, save the table, and return how many were measured.

    They are measured together in interleaved rounds (`measure_interleaved`).
    """
    missing = missing_entries(measurements, target, table)
    times = measure_many(
        [measurement.build(target, shape) for shape, measurement in missing],
        target,
        repeats,
        warmup,
        rounds,
        lambda jobs: show_progress(
            jobs, "profiling ops", enabled=progress and bool(missing)
        ),
    )
    for (shape, measurement), ms in zip(missing, times):
        table.put(shape, measurement.key, ms)
    if missing:
        table.save()
    return len(missing)


def predict_latency(arch: Arch, target: Target, table: LatencyTable) -> float:
    """Predicted ms of one forward pass at each target shape, summed over the shapes.

    Never below what the module must cost (`latency_floor`), where the fitted model, extrapolated to a module
    far smaller than those it was fitted on (one identity node), can fall below zero."""
    total = 0.0
    for shape in target.shapes:
        entries = node_entries(arch, shape, table, target.runtime)
        model = table.overhead_model(shape)
        fitted = model.predict(entries, running_nodes(arch, target.runtime))
        total += max(fitted, latency_floor(entries, target.runtime))
    return total


def latency_floor(entries: Sequence[tuple[str, float]], runtime: str) -> float:
    """The least ms a module with these table `entries` can take: in eager PyTorch their sum (each op runs as
    it was timed alone); a compiling runtime (compile, onnxruntime) fuses ops, so a module there can cost less
    than its ops timed apart, one call each, but not less than its costliest op (none, for a module of skips).
    """
    times = [ms for _, ms in entries]
    return sum(times) if runtime == "eager" else max(times, default=0.0)


def node_entries(
    arch: Arch, shape: Shape, table: LatencyTable, runtime: str = "eager"
) -> list[tuple[str, float]]:
    """(op, table entry) of each node of `arch` that runs as an op in `runtime` (`runs_as_op`), a fusion's for
    its input pattern; then one (`residual`, entry) per residual add."""
    patterns = fused_pattern(arch)
    ops = [
        (
            node.op,
            table.get(
                shape,
                op_key(node.op, node.params, len(node.inputs), patterns.get(node.name)),
            ),
        )
        for node in arch.nodes
        if runs_as_op(node.op, node.residual, runtime)
    ]
    residuals = [
        (RESIDUAL_KEY, table.get(shape, RESIDUAL_KEY))
        for node in arch.nodes
        if node.residual
    ]
    return ops + residuals


def runs_as_op(op: str, residual: bool, runtime: str) -> bool:
    """Whether a node with `op` is an op of the running module. In eager PyTorch every node is a call; in a
    fusing runtime (compile, onnxruntime) a skip is no op at all and a dropped branch's zeros a folded constant,
    unless a residual add makes the node compute."""
    return runtime == "eager" or residual or op not in (SKIP_OP, DROP_OP)


def running_nodes(arch: Arch, runtime: str) -> int:
    """How many of `arch`'s nodes run as ops in `runtime` (`runs_as_op`)."""
    return sum(runs_as_op(node.op, node.residual, runtime) for node in arch.nodes)


def arch_calls(archs: list[Arch], target: Target) -> list[Callable[[], object]]:
    """One forward pass of each arch's module at each target shape (arch-major), ready to time."""
    calls = []
    for arch in archs:
        for shape in target.shapes:
            model = prepare_module(DiscreteModel(arch, shape[1]), target)
            calls.append(runnable(model, example_input(target, shape), target))
    return calls


def measure_archs(
    archs: list[Arch],
    target: Target,
    repeats: int = 30,
    warmup: int = 5,
    rounds: int = DEFAULT_ROUNDS,
    progress: bool = True,
    description: str = "measuring architectures",
) -> np.ndarray:
    """Measured ms of each arch at each target shape (archs x shapes), all of them in interleaved rounds."""
    times = measure_many(
        arch_calls(archs, target),
        target,
        repeats,
        warmup,
        rounds,
        lambda jobs: show_progress(jobs, description, enabled=progress),
    )
    return np.array(times).reshape(len(archs), len(target.shapes))


def measure_arch_total(
    arch: Arch,
    target: Target,
    repeats: int = 30,
    warmup: int = 5,
    rounds: int = DEFAULT_ROUNDS,
) -> float:
    """Measured ms summed over the target shapes (what `predict_latency` predicts)."""
    return float(
        measure_archs([arch], target, repeats, warmup, rounds, progress=False).sum()
    )


def profiled_table(
    graph: SpaceGraph,
    target: Target,
    path: str | Path | None = None,
    fit_archs: int | None = None,
    repeats: int = 30,
    seed: int = 0,
    progress: bool = True,
) -> tuple[LatencyTable, int]:
    """The target's table (cached per device) with every candidate of `graph` measured, and the overhead model
    fitted on `fit_archs` random architectures (default `OVERHEAD_FIT_ARCHS`) when anything was new; also how
    many entries were measured.
    """
    table = LatencyTable.open(target, path)
    measured = profile(
        space_measurements(graph), target, table, repeats=repeats, progress=progress
    )
    if measured or not table.overhead:
        rng = random.Random(seed)
        archs = [graph.sample(rng) for _ in range(fit_archs or OVERHEAD_FIT_ARCHS)]
        fit_overhead(archs, target, table, repeats=repeats, progress=progress)
    return table, measured


def check_predictions(
    graph: SpaceGraph,
    target: Target,
    table: LatencyTable,
    count: int,
    seed: int,
    repeats: int = 30,
) -> list[tuple[Arch, float, float]]:
    """(arch, predicted ms, measured ms) of `count` random architectures, each measured end to end."""
    rng = random.Random(seed)
    archs = [graph.sample(rng) for _ in range(count)]
    return [
        (
            arch,
            predict_latency(arch, target, table),
            measure_arch_total(arch, target, repeats),
        )
        for arch in show_progress(archs, "checking predictions")
    ]


def fit_overhead(
    archs: list[Arch],
    target: Target,
    table: LatencyTable,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
    rounds: int = DEFAULT_ROUNDS,
) -> None:
    """Measure `archs` end to end, then fit and save the overhead model to them (`fit_overhead_model`)."""
    if len(archs) < 3:
        raise ValueError(
            f"fitting the overhead model needs at least 3 architectures, got {len(archs)}"
        )
    measured = measure_archs(
        archs, target, repeats, warmup, rounds, progress, "fitting overhead model"
    )
    fit_overhead_model(archs, measured, target, table)


def fit_overhead_model(
    archs: list[Arch], measured: np.ndarray, target: Target, table: LatencyTable
) -> None:
    """Fit and save the per-shape overhead model to `archs` measured end to end (ms, archs x shapes).

    Least squares on relative errors (each arch's equation divided by its measured latency), since what matters
    is how far off a prediction is in percent, not in milliseconds; each op's correction to the shared factor
    carries a ridge penalty (`OP_SCALE_RIDGE`), so an op that few fitting modules use keeps the shared factor.
    """
    if len(archs) < 3:
        raise ValueError(
            f"fitting the overhead model needs at least 3 architectures, got {len(archs)}"
        )
    for s, shape in enumerate(target.shapes):
        entries = [node_entries(arch, shape, table, target.runtime) for arch in archs]
        ops = sorted({op for items in entries for op, _ in items})
        rows = np.array(
            [
                [sum(ms for name, ms in items if name == op) for op in ops]
                + [sum(ms for _, ms in items), running_nodes(arch, target.runtime), 1.0]
                for arch, items in zip(archs, entries)
            ]
        )
        ridge = np.hstack(
            [np.sqrt(OP_SCALE_RIDGE) * np.eye(len(ops)), np.zeros((len(ops), 3))]
        )
        system = np.vstack([rows / measured[:, s, None], ridge])
        target_values = np.concatenate([np.ones(len(archs)), np.zeros(len(ops))])
        *corrections, scale, per_node, constant = np.linalg.lstsq(
            system, target_values, rcond=None
        )[0]
        table.overhead[shape_key(shape)] = OverheadModel(
            float(scale),
            {op: float(scale + c) for op, c in zip(ops, corrections)},
            float(per_node),
            float(constant),
        )
    table.save()
