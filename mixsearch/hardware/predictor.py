"""Latency of a whole architecture: its ops' table entries plus a per-device overhead model.

Ops timed alone do not add up exactly to the module timed end to end (launch and dispatch overhead per node,
caches warm or cold between ops). For each target shape we fit, by least squares on a few whole modules measured
end to end,  measured = a * (sum of the nodes' table entries) + b * (number of nodes) + c,  and store (a, b, c)
with the table. Unfitted tables predict the plain sum.
"""

from __future__ import annotations

import numpy as np

from mixsearch.arch import Arch
from mixsearch.progress import progress as show_progress
from mixsearch.hardware.lut import (
    RESIDUAL_KEY,
    LatencyTable,
    Measurement,
    Shape,
    prepare_module,
    measure,
    op_key,
    op_measurement,
    residual_measurement,
    shape_key,
)
from mixsearch.hardware.target import Target
from mixsearch.model import DiscreteModel
from mixsearch.space.graph import SpaceGraph

IDENTITY_MODEL = [1.0, 0.0, 0.0]


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


def profile(
    measurements: list[Measurement],
    target: Target,
    table: LatencyTable,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
) -> int:
    """Measure every (shape, measurement) the table lacks, save the table, and return how many were measured."""
    missing = [
        (shape, m)
        for shape in target.shapes
        for m in measurements
        if not table.has(shape, m.key)
    ]
    jobs = show_progress(missing, "profiling ops", enabled=progress and bool(missing))
    for shape, measurement in jobs:
        table.put(
            shape,
            measurement.key,
            measure(measurement.build(target, shape), target, repeats, warmup),
        )
    if missing:
        table.save()
    return len(missing)


def features(arch: Arch, shape: Shape, table: LatencyTable) -> tuple[float, int]:
    """(sum of the nodes' table entries, number of nodes) of `arch` at `shape`."""
    total = 0.0
    for node in arch.nodes:
        total += table.get(shape, op_key(node.op, node.params, len(node.inputs)))
        if node.residual:
            total += table.get(shape, RESIDUAL_KEY)
    return total, len(arch.nodes)


def predict_latency(arch: Arch, target: Target, table: LatencyTable) -> float:
    """Predicted ms of one forward pass at each target shape, summed over the shapes."""
    total = 0.0
    for shape in target.shapes:
        lut_sum, nodes = features(arch, shape, table)
        a, b, c = table.overhead.get(shape_key(shape), IDENTITY_MODEL)
        total += a * lut_sum + b * nodes + c
    return total


def measure_arch(
    arch: Arch, target: Target, shape: Shape, repeats: int = 30, warmup: int = 5
) -> float:
    """Measured ms of the whole module at one shape, under the shared protocol."""
    model = prepare_module(DiscreteModel(arch, shape[1]), target)
    x = target.example_input(shape)
    return measure(lambda: model(x), target, repeats, warmup)


def measure_arch_total(
    arch: Arch, target: Target, repeats: int = 30, warmup: int = 5
) -> float:
    """Measured ms summed over the target shapes (what `predict_latency` predicts)."""
    return sum(
        measure_arch(arch, target, shape, repeats, warmup) for shape in target.shapes
    )


def fit_overhead(
    archs: list[Arch],
    target: Target,
    table: LatencyTable,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
) -> None:
    """Fit and save the per-shape overhead model from `archs` measured end to end (needs >= 3 archs)."""
    if len(archs) < 3:
        raise ValueError(
            f"fitting the overhead model needs at least 3 architectures, got {len(archs)}"
        )
    for shape in target.shapes:
        rows, measured = [], []
        for arch in show_progress(
            archs, f"fitting overhead {shape_key(shape)}", enabled=progress
        ):
            lut_sum, nodes = features(arch, shape, table)
            rows.append([lut_sum, nodes, 1.0])
            measured.append(measure_arch(arch, target, shape, repeats, warmup))
        coefficients = np.linalg.lstsq(np.array(rows), np.array(measured), rcond=None)[
            0
        ]
        table.overhead[shape_key(shape)] = [float(c) for c in coefficients]
    table.save()
