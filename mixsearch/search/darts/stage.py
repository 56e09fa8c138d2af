"""The run's DARTS stage: the supernet search the strategy needs (`darts_config`), run once per study and shared
with its other workers through the study's storage (`workers.run_once`), its checkpoint in the run folder.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

from mixsearch.model.supernet import ArchParameters
from mixsearch.proxy.tasks import task_of
from mixsearch.search.darts.expected_cost import ExpectedCost
from mixsearch.search.darts.search import DartsSearch
from mixsearch.search.engine.context import RunContext, RunOptions
from mixsearch.search.engine.rundir import DARTS_DIR
from mixsearch.search.engine.study import option_label
from mixsearch.search.engine.trainings import json_digest
from mixsearch.search.engine.workers import decode_state, encode_state, run_once
from mixsearch.search.settings import DartsConfig
from mixsearch.search.strategy import Strategy
from mixsearch.space.graph import SpaceGraph
from mixsearch.space.sections import Constraints


def darts_stage(ctx: RunContext) -> DartsSearch:
    """The study's DARTS search: run (or resumed) here, or loaded from the worker that ran it."""
    config = darts_config(
        ctx.strategy, ctx.options, ctx.graph.space.constraints, ctx.device
    )
    digest = json_digest(asdict(config))[:12]
    search = supernet_search(
        ctx, config, ctx.folder.path / DARTS_DIR / f"{ctx.strategy.name}-{digest}"
    )

    def compute() -> str:
        search.run(
            resume=True, show_progress=ctx.options.show_progress, on_epoch=ctx.report
        )
        return encode_state(
            {
                "model": search.model.state_dict(),
                "alphas": search.alphas.state_dict(),
                "history": search.state.history,
            }
        )

    stage = f"{ctx.folder.study_name}:darts:{digest}"
    state = decode_state(
        run_once(
            ctx.folder.storage,
            stage,
            compute,
            ctx.options.heartbeat_seconds,
            lambda: ctx.report("waiting for the worker running the DARTS stage"),
            ctx.folder.lock.sole,
        ),
        f"study {stage!r}",
    )
    search.model.load_state_dict(state["model"])
    search.alphas.load_state_dict(state["alphas"])
    search.state.history = state["history"]
    return search


def supernet_search(
    ctx: RunContext, config: DartsConfig, folder: Path | None = None
) -> DartsSearch:
    """The hardware-aware DARTS search of the run's space on its proxy data, ready to `run()`; its checkpoint
    goes to `folder` (none without one).

    The latency target of the hardware loss is the space's latency constraint, else the expected latency of a
    uniform choice (so the loss pulls towards cheaper-than-average modules).
    """
    graph, data = ctx.graph, ctx.data
    task = task_of(data)
    expected = ExpectedCost(graph, ctx.target, ctx.costs.table)
    with torch.no_grad():
        uniform_latency = expected(_uniform_alphas(graph))["latency_ms"].item()
    return DartsSearch(
        graph,
        lambda attention: task.host(attention, data),
        data.train,
        config,
        expected,
        graph.space.constraints.latency_ms or uniform_latency,
        folder,
        task,
    )


def darts_config(
    strategy: Strategy,
    options: RunOptions,
    constraints: Constraints,
    device: torch.device,
) -> DartsConfig:
    """The budget's DARTS search on `device` as `strategy` needs it, with `options.darts` overrides."""
    budget = options.budget
    config = DartsConfig(
        epochs=budget.darts_epochs,
        warmup_epochs=min(budget.darts_warmup_epochs, budget.darts_epochs - 1),
        max_steps_per_epoch=budget.darts_steps_per_epoch,
        seed=options.seed,
        device=str(device),
    )
    return replace(strategy.darts_config(config, constraints), **options.darts)


def alpha_option_labels(alphas: ArchParameters) -> dict[str, list[str]]:
    """The option labels of every choice with alphas, for the plots."""
    return {
        choice.key: [str(option_label(option)) for option in choice.options]
        for choice in alphas.choices
    }


def _uniform_alphas(graph: SpaceGraph) -> ArchParameters:
    """Alphas that weigh every option equally: the expected cost of 'no preference yet'."""
    alphas = ArchParameters(graph)
    with torch.no_grad():
        for alpha in alphas.alphas:
            alpha.zero_()
    return alphas
