"""Latency of a whole architecture: its ops' table entries plus a per-device overhead model.

Ops timed alone do not add up exactly to the module timed end to end (dispatch overhead per node, the module's
own bookkeeping, caches warm or cold between ops; in a compiling runtime, ops fused and one call instead of
one per op). For each target shape we fit, on a few whole modules measured
end to end,  measured = a * (sum of the nodes' table entries) + b * (number of nodes) + c,  and store (a, b, c)
with the table; unfitted tables predict the plain sum. The fit is least squares on relative errors (each
module's equation divided by its measured latency), since a prediction is judged by how many percent it is off.
The model stays linear in the per-node entries on purpose: the DARTS search takes its expectation over op
choices (`mixsearch.search.expected_cost`).

The table entries and the fitting modules are measured in interleaved rounds (`measure_interleaved`), so that a
burst of load on the machine spoils one round of many measurements rather than one entry.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mixsearch.arch import Arch
from mixsearch.hardware.device import example_input
from mixsearch.hardware.latency import DEFAULT_ROUNDS
from mixsearch.hardware.lut import (
    RESIDUAL_KEY,
    LatencyTable,
    Measurement,
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

IDENTITY_MODEL = [1.0, 0.0, 0.0]
# Whole modules measured end to end to fit the overhead model of a new table.
OVERHEAD_FIT_ARCHS = 8


def space_measurements(graph: SpaceGraph) -> list[Measurement]:
    """Every op configuration (with its input count) any architecture of the space can use, and the residual."""
    measurements = {}
    for node in graph.nodes.values():
        for option in node.options:
            measurement = op_measurement(option.op, option.param_dict, len(node.inputs))
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


def features(arch: Arch, shape: Shape, table: LatencyTable) -> tuple[float, int]:
    """(sum of the nodes' table entries, number of nodes) of `arch` at `shape`."""
    return sum(_node_entries(arch, shape, table)), len(arch.nodes)


def predict_latency(arch: Arch, target: Target, table: LatencyTable) -> float:
    """Predicted ms of one forward pass at each target shape, summed over the shapes.

    Never below what the module must cost (`latency_floor`), where the fitted line, extrapolated to a module
    far smaller than those it was fitted on (one identity node), can fall below zero."""
    total = 0.0
    for shape in target.shapes:
        entries = _node_entries(arch, shape, table)
        a, b, c = table.overhead.get(shape_key(shape), IDENTITY_MODEL)
        fitted = a * sum(entries) + b * len(entries) + c
        total += max(fitted, latency_floor(entries, target.runtime))
    return total


def latency_floor(entries: list[float], runtime: str) -> float:
    """The least ms a module of ops with these table `entries` can take: in eager PyTorch their sum (each op
    runs as it was timed alone); a compiling runtime (compile, onnxruntime) fuses ops, so a module there can
    cost less than its ops timed apart, one call each, but not less than its costliest op.
    """
    return sum(entries) if runtime == "eager" else max(entries)


def _node_entries(arch: Arch, shape: Shape, table: LatencyTable) -> list[float]:
    """The table entry of each node of `arch` at `shape`, its residual add included."""
    return [
        table.get(shape, op_key(node.op, node.params, len(node.inputs)))
        + (table.get(shape, RESIDUAL_KEY) if node.residual else 0.0)
        for node in arch.nodes
    ]


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
    fit_archs: int = OVERHEAD_FIT_ARCHS,
    repeats: int = 30,
    seed: int = 0,
    progress: bool = True,
) -> tuple[LatencyTable, int]:
    """The target's table (cached per device) with every candidate of `graph` measured, and the overhead model
    fitted on `fit_archs` random architectures when anything was new; also how many entries were measured.
    """
    table = LatencyTable.open(target, path)
    measured = profile(
        space_measurements(graph), target, table, repeats=repeats, progress=progress
    )
    if measured or not table.overhead:
        rng = random.Random(seed)
        archs = [graph.sample(rng) for _ in range(fit_archs)]
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
    is how far off a prediction is in percent, not in milliseconds.
    """
    if len(archs) < 3:
        raise ValueError(
            f"fitting the overhead model needs at least 3 architectures, got {len(archs)}"
        )
    for s, shape in enumerate(target.shapes):
        rows = np.array([[*features(arch, shape, table), 1.0] for arch in archs])
        coefficients = np.linalg.lstsq(
            rows / measured[:, s, None], np.ones(len(archs)), rcond=None
        )[0]
        table.overhead[shape_key(shape)] = [float(c) for c in coefficients]
    table.save()
