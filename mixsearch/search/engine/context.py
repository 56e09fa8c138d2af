"""`RunContext`: what every stage of one `mixsearch run` reads.

The options say how to search (`RunOptions`); `search.run` then opens the run folder (`open_run_folder`: the
checked folder, the study's storage, the tracker), runs the first stage (`latency_stage`: the latency table and
the cost model), loads the proxy data, and holds the three in the context, from which the evaluators of trials
and of the final trainings, the final seeds and the cache of from-scratch trainings follow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
import torch

from mixsearch.hardware.cost import CostModel, format_limits, require_feasible
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
from mixsearch.search.strategy import Strategy
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
class RunFolder:
    """Where a run keeps its state: the checked folder, the study's storage and name, and its stages' tracker."""

    path: Path
    storage: optuna.storages.BaseStorage
    lock: SoleWorkerLock
    study_name: str
    tracker: RunTracker


def open_run_folder(
    graph: SpaceGraph,
    options: RunOptions,
    run_dir: str | Path,
    strategy: Strategy,
    device: torch.device,
    report: Report,
) -> RunFolder:
    """Check and make the run folder and open the study's storage (a bad one fails before anything is
    measured); the tracker knows the strategy's stages and their work."""
    path = Path(run_dir)
    check_run_folder(path, graph.space.name, options.force)
    make_folder(path)
    url = storage_url(path, options.storage)
    storage = open_storage(url)
    study_name = options.study_name or f"{graph.space.name}-{strategy.name}"
    budget = options.budget
    units = stage_units(
        strategy.trial_epochs(budget),
        strategy.finalists(budget),
        len(BASELINES),
        budget,
        final_workers(budget, device),
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
    tracker = RunTracker(path, strategy.stages(), units, report, about)
    return RunFolder(path, storage, SoleWorkerLock(url), study_name, tracker)


@dataclass(frozen=True)
class RunContext:
    """One run's settings and what its first steps made (the folder, the latency table's cost model, the proxy
    data); the evaluators, final seeds and trainings cache follow from them."""

    graph: SpaceGraph
    target: Target
    # The target's device, resolved once (`hardware.device.torch_device`).
    device: torch.device
    options: RunOptions
    strategy: Strategy
    report: Report
    folder: RunFolder
    # Counts and predicted latency: the space's candidates.
    costs: CostModel
    data: ProxyData

    @property
    def budget(self) -> Budget:
        return self.options.budget

    @property
    def tracker(self) -> RunTracker:
        return self.folder.tracker

    @property
    def stage_seconds(self) -> dict[str, float]:
        return self.tracker.seconds

    def stage(self, name: str):
        """A block timed as stage `name` (announced with its place in the run, its seconds recorded)."""
        return timed_stage(name, self.tracker)

    @cached_property
    def counts(self) -> CostModel:
        """Counts only: baselines and ablations use ops the latency table need not hold."""
        return CostModel(self.target)

    @cached_property
    def final_seeds(self) -> tuple[int, ...]:
        return final_seeds(self.options.seed, self.budget.final_seeds)

    @cached_property
    def trial_config(self) -> TrainConfig:
        return TrainConfig(seed=self.options.seed, device=str(self.device))

    @cached_property
    def final_config(self) -> TrainConfig:
        """The final recipe; each final training takes one of `final_seeds`."""
        return replace(self.trial_config, seed=self.final_seeds[0])

    @cached_property
    def trial_evaluator(self) -> Evaluator:
        return Evaluator(self.data, self.trial_config, self.options.show_progress)

    @cached_property
    def final_evaluator(self) -> Evaluator:
        return Evaluator(self.data, self.final_config, self.options.show_progress)

    @cached_property
    def workers(self) -> WorkerSetup:
        """How a process training finals rebuilds the data and recipe."""
        proxy, options = self.graph.space.proxy, self.options
        return WorkerSetup(proxy, options.seed, options.budget, self.final_config)

    @cached_property
    def final_workers(self) -> int:
        """Processes training the finals side by side."""
        return final_workers(self.budget, self.device)

    @cached_property
    def trainings(self) -> TrainingCache:
        folder = Path(self.options.cache_dir or default_cache_dir())
        return TrainingCache(
            folder, self.data, self.final_config, self.target, FINAL_THREADS
        )


def latency_stage(
    graph: SpaceGraph, target: Target, options: RunOptions, report: Report
) -> CostModel:
    """The run's first stage: the latency table of the space's ops on the target (measured, or read from its
    cache), and the constraints checked against the costs it predicts."""
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
    return costs


def load_data(graph: SpaceGraph, options: RunOptions) -> ProxyData:
    """The space's proxy data, its splits cut to the budget."""
    return capped(load_proxy_data(graph.space.proxy, options.seed), options.budget)


def final_workers(budget: Budget, device: torch.device) -> int:
    """Processes for the final trainings: the budget's, else one per core on the CPU; one on a GPU."""
    if device.type != "cpu":
        return 1
    return budget.final_workers or available_cores()


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
