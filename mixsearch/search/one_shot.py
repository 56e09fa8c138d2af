"""The DARTS strategy end to end: proxy data, latency table, supernet search, derivation, retraining.

This is where the stages meet: the space's proxy section picks the data, its target and constraints drive the
hardware-aware loss and the derivation, and the derived Arch is retrained from scratch on the proxy so that its
test accuracy is measured, not inherited from the supernet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from mixsearch.arch import Arch
from mixsearch.hardware.cost import ArchCost, CostModel
from mixsearch.hardware.lut import LatencyTable
from mixsearch.hardware.predictor import fit_overhead, profile, space_measurements
from mixsearch.space.sections import Target
from mixsearch.model import DiscreteModel
from mixsearch.model.supernet import ArchParameters
from mixsearch.proxy import (
    HostNet,
    ProxyData,
    TrainConfig,
    TrainResult,
    load_imagefolder,
    load_proxy,
    train_candidate,
)
from mixsearch.search.darts import DartsConfig, DartsSearch
from mixsearch.search.derive import derive
from mixsearch.search.expected_cost import ExpectedCost
from mixsearch.space.graph import SpaceGraph
from mixsearch.space.sections import ProxySpec

OVERHEAD_FIT_ARCHS = 8


@dataclass(frozen=True)
class DartsOutcome:
    """The derived architecture, what it costs on the target, and its accuracy after retraining."""

    arch: Arch
    cost: ArchCost
    retrained: TrainResult
    epochs: int


def load_proxy_data(spec: ProxySpec, seed: int) -> ProxyData:
    """The proxy task the space asks for: the embedded cluttered digits, or the user's image folder."""
    if spec.dataset == "imagefolder":
        return load_imagefolder(spec.path, spec.image_size, seed=seed)
    return load_proxy(spec.digits)


def latency_table(
    graph: SpaceGraph,
    target: Target,
    table_path: str | Path | None,
    show_progress: bool,
) -> LatencyTable:
    """The target's latency table with every candidate of the space measured and the overhead model fitted."""
    table = LatencyTable.open(target, table_path)
    measured = profile(space_measurements(graph), target, table, progress=show_progress)
    if measured or not table.overhead:
        archs = [graph.sample(random.Random(i)) for i in range(OVERHEAD_FIT_ARCHS)]
        fit_overhead(archs, target, table, progress=show_progress)
    return table


def supernet_search(
    graph: SpaceGraph,
    target: Target,
    table: LatencyTable,
    data: ProxyData,
    darts: DartsConfig,
    run_dir: str | Path,
) -> DartsSearch:
    """The hardware-aware DARTS search of `graph` on `data`, ready to `run()`; it holds the alphas and weights.

    The latency target of the hardware loss is the space's latency constraint, else the expected latency of a
    uniform choice (so the loss pulls towards cheaper-than-average modules).
    """
    expected = ExpectedCost(graph, target, table)
    with torch.no_grad():
        uniform_latency = expected(_uniform_alphas(graph))["latency_ms"].item()
    latency_target = graph.space.constraints.latency_ms or uniform_latency
    return DartsSearch(
        graph,
        lambda attention: host_for(data, attention),
        data.train,
        darts,
        expected,
        latency_target,
        run_dir,
    )


def host_for(data: ProxyData, attention) -> HostNet:
    """The host network sized for `data` (classes, input channels), carrying `attention` after each stage."""
    return HostNet(
        attention, num_classes=data.num_classes, in_channels=data.in_channels
    )


def run_darts(
    graph: SpaceGraph,
    target: Target,
    darts: DartsConfig,
    retrain: TrainConfig,
    run_dir: str | Path,
    table_path: str | Path | None = None,
    resume: bool = False,
    show_progress: bool = True,
) -> DartsOutcome:
    """Search `graph` with DARTS on its proxy task, derive under its constraints, retrain and evaluate."""
    table = latency_table(graph, target, table_path, show_progress)
    data = load_proxy_data(graph.space.proxy, darts.seed)
    search = supernet_search(graph, target, table, data, darts, run_dir)
    search.run(resume=resume, show_progress=show_progress)
    costs = CostModel(target, table)
    arch = derive(graph, search.alphas, graph.space.constraints, costs)
    model = lambda: host_for(
        data, lambda channels: DiscreteModel(arch, channels)
    )  # noqa: E731
    retrained = train_candidate(model, data, retrain, show_progress)
    cost = costs.cost(arch)
    metrics = {
        "test_acc": retrained.test_acc,
        "latency_ms": cost.latency_ms,
        "flops": cost.flops,
        "params": cost.params,
    }
    return DartsOutcome(
        replace(arch, metrics=metrics), cost, retrained, search.state.epochs_done
    )


def _uniform_alphas(graph: SpaceGraph) -> ArchParameters:
    """Alphas that weigh every option equally: the expected cost of 'no preference yet'."""
    alphas = ArchParameters(graph)
    with torch.no_grad():
        for alpha in alphas.alphas:
            alpha.zero_()
    return alphas
