"""`mixsearch run`: a strategy's stages end to end, from a compiled space to a `SearchResult`.

Stages: latency table (cached per device) and the rest of the run's context (`context.RunContext`) -> DARTS
supernet (strategies that use one) -> the strategy's candidates (a study's trials: `trials`) -> the final stage
(finalists, baselines and ablations retrained and measured, the winner chosen: `final`). Every stage resumes: the
DARTS checkpoint and the Optuna study live in the run folder and the from-scratch trainings in the user's cache
(`trainings`), so running the same command again continues where a killed run stopped.

Several workers (processes or machines) can run the same command against one storage: the DARTS stage and the
final stage run once per study (`workers.run_once`; their results are stored with the study), the trials are
shared out, and every worker ends with the same `SearchResult`. The strategies themselves are in `strategies/`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

from mixsearch.errors import MixsearchError, Stopped
from mixsearch.hardware.device import torch_device
from mixsearch.proxy.tasks import task_of
from mixsearch.search.darts.search import DartsSearch
from mixsearch.search.darts.stage import alpha_option_labels, darts_stage
from mixsearch.search.engine.context import (
    Report,
    RunContext,
    RunOptions,
    latency_stage,
    load_data,
    open_run_folder,
    timed_stage,
)
from mixsearch.search.engine.final import choose_winner, final_stage, may_win
from mixsearch.search.engine.trials import study_snapshot
from mixsearch.search.outcome.result import SearchResult, TrialRecord
from mixsearch.search.strategies import get_strategy
from mixsearch.search.strategy import (
    DARTS_STAGE,
    FINAL_STAGE,
    LATENCY_STAGE,
)
from mixsearch.space.graph import SpaceGraph
from mixsearch.space.sections import Target


class RunStopped(Exception):
    """A run stopped before its end (Ctrl-C, SIGTERM); `result` is what it had, `exit_code` the shell's."""

    def __init__(self, result: SearchResult, exit_code: int):
        super().__init__(f"stopped during the {result.stopped} stage")
        self.result, self.exit_code = result, exit_code


def run_search(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: str | Path,
    report: Report = lambda line: None,
) -> SearchResult:
    """Search `graph` with `options.strategy`, writing resumable state into `run_dir`.

    Stopped (KeyboardInterrupt, `errors.Stopped`) after its context is built, it raises RunStopped with the
    partial result: the trials so far and the best of them, not retrained."""
    ctx = run_context(graph, target, options, run_dir, report)
    done: dict[str, DartsSearch] = {}
    try:
        return _search(ctx, done)
    except KeyboardInterrupt as stop:
        code = stop.exit_code if isinstance(stop, Stopped) else 130
        raise RunStopped(_partial(ctx, done.get("search")), code) from None


def run_context(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: str | Path,
    report: Report = lambda line: None,
) -> RunContext:
    """What the stages read, made in order: the run folder and the study's storage, the latency table (the first
    stage), the proxy data."""
    strategy, device = get_strategy(options.strategy), torch_device(target)
    folder = open_run_folder(graph, options, run_dir, strategy, device, report)
    with timed_stage(LATENCY_STAGE, folder.tracker):
        costs = latency_stage(graph, target, options, report)
    data = load_data(graph, options)
    return RunContext(
        graph, target, device, options, strategy, report, folder, costs, data
    )


def _search(ctx: RunContext, done: dict[str, DartsSearch]) -> SearchResult:
    """The strategy's stages in order; `done` receives the DARTS search when it finishes (a stopped run reports
    it)."""
    strategy = ctx.strategy
    search = None
    if strategy.supernet:
        with ctx.stage(DARTS_STAGE):
            search = done["search"] = darts_stage(ctx)
    trials = strategy.candidates(ctx, search)
    with ctx.stage(FINAL_STAGE):
        final = final_stage(ctx, trials.candidates)
    records = strategy.scored(trials.records, final)
    return replace(
        _result(ctx, search, records, trials.pareto),
        promoted=tuple((number, rank) for _, number, rank in trials.candidates),
        finalists=final.finalists,
        winner=choose_winner(final, lambda arch: may_win(ctx, arch), records),
        baselines=final.baselines,
        ablation=final.ablation,
    )


def _result(
    ctx: RunContext,
    search: DartsSearch | None,
    records: tuple[TrialRecord, ...],
    pareto: tuple[int, ...],
) -> SearchResult:
    """The run's result without its final stage (`_search` adds it; a stopped run has none)."""
    options, graph = ctx.options, ctx.graph
    return SearchResult(
        space=graph.space.path,
        name=graph.space.name,
        strategy=ctx.strategy.name,
        sampler=ctx.strategy.sampler(options),
        budget=asdict(options.budget),
        seed=options.seed,
        command=options.command,
        device=str(ctx.device),
        constraints=graph.space.constraints.limits(),
        objectives=options.objectives,
        trials=records,
        pareto=pareto,
        finalists=(),
        winner=None,
        baselines=(),
        ablation=(),
        alpha_history=tuple(search.state.history) if search is not None else (),
        alpha_options=alpha_option_labels(search.alphas) if search else {},
        stage_seconds=ctx.stage_seconds,
        task=ctx.data.task,
        metric=task_of(ctx.data).metric,
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _partial(ctx: RunContext, search: DartsSearch | None) -> SearchResult:
    """What a stopped run has: the study's trials so far and the most accurate trained one."""
    snapshot = study_snapshot(ctx)
    result = _result(ctx, search, snapshot.records, snapshot.pareto)
    return replace(result, stopped=ctx.tracker.stopped, best_trial=snapshot.best)


def run_darts_stage(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: str | Path,
    report: Report = lambda line: None,
) -> None:
    """Only the DARTS stage of the study (`--stage darts`): later workers of the study reuse its result."""
    if not get_strategy(options.strategy).supernet:
        raise MixsearchError(
            f"--stage darts: the {options.strategy} strategy has no DARTS stage"
        )
    ctx = run_context(graph, target, options, run_dir, report)
    with ctx.stage(DARTS_STAGE):
        darts_stage(ctx)
