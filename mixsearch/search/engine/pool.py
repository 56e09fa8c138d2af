"""The final trainings, each on one CPU thread: in worker processes (one per core) or in this process.

One thread per training makes its result independent of how many run at once (the CPU kernels are deterministic
for a fixed thread count, so the trainings cache stays valid), and on a small CPU two one-thread trainings side
by side finish sooner than two in a row on two threads. On a GPU the trainings run here, one after the other.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from mixsearch.arch import Arch
from mixsearch.hardware.latency import fixed_threads
from mixsearch.proxy import TrainConfig, TrainResult, load_proxy_data
from mixsearch.search.engine.evaluate import CandidateFailed, Evaluator, capped
from mixsearch.search.engine.weights import DAMAGED_FILE_ERRORS, load_weights
from mixsearch.space.sections import Budget, ProxySpec

FINAL_THREADS = 1
PARENT_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class TrainingJob:
    """One final training: a module (by its label) with one of the final seeds, from scratch or continued from
    a saved rung state (`resume`)."""

    label: str
    arch: Arch
    seed: int
    resume: Path | None = None


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs to rebuild the run's evaluator: the proxy data's source and the recipe."""

    proxy: ProxySpec
    data_seed: int
    budget: Budget
    recipe: TrainConfig


_worker_evaluator: Evaluator | None = None


def exit_with_parent() -> None:
    """Make this worker process exit as soon as its parent is gone: a parent killed outright (SIGKILL) cannot
    stop its workers, which would otherwise finish trainings no one collects, on the cores a resumed run
    measures latency on."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(setup: WorkerSetup) -> None:
    """A worker process's start: one thread, the run's proxy data rebuilt from its (cached) source, Ctrl-C
    left to the parent, which stops the workers itself, and an exit of its own if the parent dies.
    """
    global _worker_evaluator
    exit_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(FINAL_THREADS)
    data = capped(load_proxy_data(setup.proxy, setup.data_seed), setup.budget)
    _worker_evaluator = Evaluator(data, setup.recipe)


def _train(evaluator: Evaluator, job: TrainingJob, epochs: int) -> TrainResult:
    seeded = replace(evaluator, config=replace(evaluator.config, seed=job.seed))
    if job.resume is not None:
        try:
            state = load_weights(job.resume)
        except DAMAGED_FILE_ERRORS:
            # A rung state gone bad since the trial: the same training from scratch.
            return seeded.from_scratch(job.arch, epochs)
        return seeded.continued(job.arch, epochs, state)
    return seeded.from_scratch(job.arch, epochs)


def _train_in_worker(
    task: tuple[TrainingJob, int],
) -> tuple[TrainingJob, TrainResult | CandidateFailed]:
    job, epochs = task
    try:
        return job, _train(_worker_evaluator, job, epochs)
    except CandidateFailed as error:
        return job, error


def available_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class TrainingPool:
    """Runs `TrainingJob`s `workers` at a time: in processes built from `setup` when more than one, else with
    `evaluator` here. Leaving the pool (a finished stage, or Ctrl-C) stops its processes at once.
    """

    def __init__(self, evaluator: Evaluator, setup: WorkerSetup, workers: int):
        self.evaluator, self.setup, self.workers = evaluator, setup, max(1, workers)
        self._processes: multiprocessing.pool.Pool | None = None

    def __enter__(self) -> TrainingPool:
        return self

    def __exit__(self, *exc) -> None:
        if self._processes is not None:
            self._processes.terminate()
            self._processes.join()

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
        tasks = [(job, epochs) for job in jobs]
        yield from self._pool().imap_unordered(_train_in_worker, tasks)

    def _pool(self) -> multiprocessing.pool.Pool:
        if self._processes is None:
            self._processes = multiprocessing.get_context("spawn").Pool(
                self.workers, initializer=_start_worker, initargs=(self.setup,)
            )
        return self._processes
