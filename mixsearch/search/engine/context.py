"""`RunContext`: what every stage of one `mixsearch run` reads, built once before the first stage.

The options say how to search (`RunOptions`); the context adds what the options and the space resolve to: the
profiled latency table and the cost models, the proxy data cut to the budget, the evaluators of trials and of
the final trainings, the cache of from-scratch trainings, and the study's storage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from mixsearch.hardware.cost import CostModel, format_limits, require_feasible
from mixsearch.hardware.lut import LatencyTable
from mixsearch.hardware.predictor import profiled_table
from mixsearch.outdir import make_folder
from mixsearch.proxy import ProxyData, TrainConfig, load_proxy_data
from mixsearch.search.engine.baselines import BASELINES
from mixsearch.search.engine.evaluate import Evaluator, capped, final_seeds
from mixsearch.search.engine.pool import FINAL_THREADS, WorkerSetup, available_cores
from mixsearch.search.engine.rundir import check_run_folder
from mixsearch.search.engine.study import SoleWorkerLock, open_storage, storage_url
from mixsearch.search.engine.tracker import RunTracker, stage_units
from mixsearch.search.engine.trainings import TrainingCache, default_cache_dir
from mixsearch.search.settings import HEARTBEAT_SECONDS
from mixsearch.search.strategy import LATENCY_STAGE, Strategy
from mixsearch.space.graph import SpaceGraph
from mixsearch.space.sections import Budget, Target

Report = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    """How to search: strategy, sampler, budget and objectives, where the study lives, what to show.

    cache_dir: where from-scratch trainings are kept for reuse (`trainings.TrainingCache`; default the user's
    cache directory). darts: DartsConfig fields to override (`mixsearch darts`' options). force: write into a run
    folder that holds something other than a run of this space (`rundir.check_run_folder`).
    """

    strategy: str
    sampler: str
    budget: Budget
    objectives: tuple[str, ...]
    keep: int = 2
    seed: int = 0
    device: str = "cpu"
    storage: str | None = None
    study_name: str | None = None
    table_path: str | Path | None = None
    cache_dir: str | Path | None = None
    command: str = ""
    show_progress: bool = True
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    darts: dict[str, Any] = field(default_factory=dict)
    force: bool = False


@dataclass(frozen=True)
class RunContext:
    """One run's settings and the shared state its stages read (`RunContext.build` makes it)."""

    graph: SpaceGraph
    target: Target
    options: RunOptions
    strategy: Strategy
    run_dir: Path
    report: Report
    table: LatencyTable
    costs: CostModel  # counts and predicted latency: the space's candidates
    counts: CostModel  # counts only: baselines and ablations use ops the table need not hold
    data: ProxyData
    trial_evaluator: Evaluator
    # The final recipe; each final training takes one of `final_seeds`.
    final_evaluator: Evaluator
    final_seeds: tuple[int, ...]
    workers: WorkerSetup  # how a process training finals rebuilds the data and recipe
    final_workers: int  # processes training the finals side by side
    trainings: TrainingCache
    storage: optuna.storages.BaseStorage
    lock: SoleWorkerLock
    study_name: str
    tracker: RunTracker

    @classmethod
    def build(
        cls,
        graph: SpaceGraph,
        target: Target,
        options: RunOptions,
        run_dir: str | Path,
        strategy: Strategy,
        report: Report = lambda line: None,
    ) -> RunContext:
        """Check the run folder, profile the latency table and check the constraints, load the proxy data, open the
        study's storage."""
        run_dir = Path(run_dir)
        check_run_folder(run_dir, graph.space.name, options.force)
        make_folder(run_dir)
        url = storage_url(run_dir, options.storage)
        # The storage first: a bad one fails before anything is measured.
        storage = open_storage(url)
        study_name = options.study_name or f"{graph.space.name}-{strategy.name}"
        workers = final_workers(options)
        budget = options.budget
        units = stage_units(
            strategy.trial_epochs(budget),
            strategy.finalists(budget),
            len(BASELINES),
            budget,
            workers,
        )
        about = {
            "space": graph.space.name,
            "strategy": strategy.name,
            "budget": budget.name,
            "trial_budget": budget.trials,
            "command": options.command,
            "study": study_name,
            "storage": url,
        }
        tracker = RunTracker(run_dir, strategy.stages(), units, report, about)
        with timed_stage(LATENCY_STAGE, tracker):
            table, _ = profiled_table(
                graph, target, options.table_path, progress=options.show_progress
            )
            costs = CostModel(target, table)
            constraints = graph.space.constraints
            if constraints.limits():
                feasibility = require_feasible(graph, costs, constraints)
                report(
                    f"constraints ({format_limits(constraints)}): {feasibility.fraction:.0%} of the space "
                    "feasible (predicted)"
                )
        data = capped(load_proxy_data(graph.space.proxy, options.seed), options.budget)
        trial_config = TrainConfig(seed=options.seed, device=options.device)
        seeds = final_seeds(options.seed, options.budget.final_seeds)
        final_config = replace(trial_config, seed=seeds[0])
        return cls(
            graph=graph,
            target=target,
            options=options,
            strategy=strategy,
            run_dir=run_dir,
            report=report,
            table=table,
            costs=costs,
            counts=CostModel(target),
            data=data,
            trial_evaluator=Evaluator(data, trial_config, options.show_progress),
            final_evaluator=Evaluator(data, final_config, options.show_progress),
            final_seeds=seeds,
            workers=WorkerSetup(
                graph.space.proxy, options.seed, options.budget, final_config
            ),
            trainings=TrainingCache(
                Path(options.cache_dir or default_cache_dir()),
                data,
                final_config,
                target,
                FINAL_THREADS,
            ),
            storage=storage,
            lock=SoleWorkerLock(url),
            study_name=study_name,
            final_workers=workers,
            tracker=tracker,
        )

    @property
    def budget(self) -> Budget:
        return self.options.budget

    @property
    def stage_seconds(self) -> dict[str, float]:
        return self.tracker.seconds

    def stage(self, name: str):
        """A block timed as stage `name` (announced with its place in the run, its seconds recorded)."""
        return timed_stage(name, self.tracker)


def final_workers(options: RunOptions) -> int:
    """Processes for the final trainings: the budget's, else one per core on the CPU; one on a GPU."""
    if options.device != "cpu":
        return 1
    return options.budget.final_workers or available_cores()


@contextmanager
def timed_stage(name: str, tracker: RunTracker) -> Iterator[None]:
    """Stage `name`: announced, its wall time recorded, also when it is cut short."""
    tracker.start(name)
    start = time.perf_counter()
    try:
        yield
    except KeyboardInterrupt:
        tracker.stopped = name
        raise
    finally:
        tracker.finish(name, time.perf_counter() - start)
