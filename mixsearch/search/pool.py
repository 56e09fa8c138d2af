"""The final trainings, each on one CPU thread: in worker processes (one per core) or in this process.

One thread per training makes its result independent of how many run at once (the CPU kernels are deterministic
for a fixed thread count, so the trainings cache stays valid), and on a small CPU two one-thread trainings side
by side finish sooner than two in a row on two threads. On a GPU the trainings run here, one after the other.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace

import torch

from mixsearch.arch import Arch
from mixsearch.hardware.latency import fixed_threads
from mixsearch.proxy import TrainConfig, TrainResult, load_proxy_data
from mixsearch.search.evaluate import CandidateFailed, Evaluator, capped
from mixsearch.space.sections import Budget, ProxySpec

FINAL_THREADS = 1


@dataclass(frozen=True)
class TrainingJob:
    """One from-scratch training: a module (by its label) with one of the final seeds."""

    label: str
    arch: Arch
    seed: int


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs to rebuild the run's evaluator: the proxy data's source and the recipe."""

    proxy: ProxySpec
    data_seed: int
    budget: Budget
    recipe: TrainConfig


_worker_evaluator: Evaluator | None = None


def _start_worker(setup: WorkerSetup) -> None:
    """A worker process's start: one thread, and the run's proxy data rebuilt from its (cached) source."""
    global _worker_evaluator
    torch.set_num_threads(FINAL_THREADS)
    data = capped(load_proxy_data(setup.proxy, setup.data_seed), setup.budget)
    _worker_evaluator = Evaluator(data, setup.recipe)


def _train(evaluator: Evaluator, job: TrainingJob, epochs: int) -> TrainResult:
    seeded = replace(evaluator, config=replace(evaluator.config, seed=job.seed))
    return seeded.from_scratch(job.arch, epochs)


def _train_in_worker(job: TrainingJob, epochs: int) -> TrainResult:
    return _train(_worker_evaluator, job, epochs)


def available_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class TrainingPool:
    """Runs `TrainingJob`s `workers` at a time: in processes built from `setup` when more than one, else with
    `evaluator` here."""

    def __init__(self, evaluator: Evaluator, setup: WorkerSetup, workers: int):
        self.evaluator, self.setup, self.workers = evaluator, setup, max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> TrainingPool:
        return self

    def __exit__(self, *exc) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)

    def run(
        self, jobs: list[TrainingJob], epochs: int
    ) -> Iterator[tuple[TrainingJob, TrainResult | CandidateFailed]]:
        """Each job with its result or its failure, as they finish."""
        if self.workers == 1 or len(jobs) < 2:
            for job in jobs:
                with fixed_threads(FINAL_THREADS):
                    try:
                        yield job, _train(self.evaluator, job, epochs)
                    except CandidateFailed as error:
                        yield job, error
            return
        futures: dict[Future, TrainingJob] = {
            self._pool().submit(_train_in_worker, job, epochs): job for job in jobs
        }
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except CandidateFailed as error:
                yield futures[future], error

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.setup,),
            )
        return self._executor
