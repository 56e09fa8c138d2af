"""Where a run is: its stages in order, an estimate of what is left, and `progress.json` in the run folder.

Each stage announces itself with its place in the run (`[3/4] final training`) and, once a stage with training
has finished, an estimate of the time left in the whole run: the seconds per unit of work of the stages done so
far, times the units still to come. A unit is one epoch of training on the proxy's training split; a DARTS epoch
counts `DARTS_EPOCH_UNITS` (it trains the supernet, every candidate at once, on half the split, and steps the
alphas on the other half), final trainings are shared out over the processes that run them side by side.

`progress.json` is rewritten at every stage and final training, so that `mixsearch status RUN_DIR` can say what
a run has done and what remains, from another terminal or machine, while it runs and after it stopped.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from mixsearch.errors import MixsearchError, first_line
from mixsearch.inputs import check_type
from mixsearch.outdir import write_file
from mixsearch.search.strategy import (
    DARTS_STAGE,
    FINAL_STAGE,
    LATENCY_STAGE,
    TRIALS_STAGE,
)
from mixsearch.space.sections import Budget

PROGRESS_FILE = "progress.json"
DARTS_EPOCH_UNITS = 2.0


def stage_units(
    trial_epochs: int, finalists: int, baselines: int, budget: Budget, workers: int
) -> dict[str, float]:
    """The work of each stage in training epochs (the latency table counts none: it measures, briefly), for a
    strategy whose trials train `trial_epochs` each and which hands `finalists` to the final stage, beside
    `baselines` hand-designed modules."""
    # Finalists, baselines and about one ablation, each trained with every final seed, `workers` at a time.
    trainings = (finalists + baselines + 1) * budget.final_seeds
    return {
        LATENCY_STAGE: 0.0,
        DARTS_STAGE: DARTS_EPOCH_UNITS * budget.darts_epochs,
        TRIALS_STAGE: float(budget.trials * trial_epochs),
        FINAL_STAGE: trainings * budget.final_epochs / max(workers, 1),
    }


@dataclass
class RunTracker:
    """The run's stages, timed; each change is reported and written to `progress.json`.

    `units` is each stage's work (`stage_units`); `about` what `status` and a resumed run need (space, strategy,
    budget, command, study, storage)."""

    run_dir: Path
    stages: tuple[str, ...]
    units: dict[str, float]
    report: Callable[[str], None]
    about: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    current: str | None = None
    # The stage a Ctrl-C or SIGTERM cut short.
    stopped: str | None = None
    detail: str = ""
    # The current stage's share of its work done (0..1), and when it started.
    fraction: float = 0.0
    stage_started: float = 0.0
    started: float = field(default_factory=time.time)

    def start(self, stage: str) -> None:
        self.current, self.detail, self.fraction = stage, "", 0.0
        self.stage_started = time.perf_counter()
        position = f"[{self.stages.index(stage) + 1}/{len(self.stages)}]"
        left = self.estimate_left()
        estimate = (
            f" (about {_minutes(left)} left in the run)" if left is not None else ""
        )
        self.report(f"{position} {stage}{estimate}")
        self.write()

    def finish(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.current = None
        self.write()

    def note(self, detail: str) -> None:
        """What the current stage is at (`final trainings 4/12`), for `status`."""
        self.detail = detail
        self.write()

    def advance(self, fraction: float) -> None:
        """The current stage has done `fraction` (0..1) of its work: its own pace then estimates its rest."""
        self.fraction = min(max(fraction, 0.0), 1.0)
        self.write()

    def estimate_left(self) -> float | None:
        """Seconds left in the run: the current stage's rest at its own pace once it has done some work, the
        stages to come at the pace of the work done so far (None before any training work is done).
        """
        pace = self._pace()
        if pace is None:
            return None
        left = sum(
            pace * self.units[s]
            for s in self.stages
            if s not in self.seconds and s != self.current
        )
        if self.current is not None:
            left += self._current_left(pace)
        return left

    def _pace(self) -> float | None:
        """Seconds per unit of work over the finished stages and the current stage's done part."""
        done = [s for s in self.stages if s in self.seconds and self.units[s] > 0]
        seconds = sum(self.seconds[s] for s in done)
        units = sum(self.units[s] for s in done)
        if self.current is not None and self.fraction > 0:
            seconds += time.perf_counter() - self.stage_started
            units += self.fraction * self.units[self.current]
        return seconds / units if units > 0 else None

    def _current_left(self, pace: float) -> float:
        """The current stage's rest: from its own pace once it has done some work, else the run's pace."""
        work = self.units[self.current]
        if self.fraction > 0:
            elapsed = time.perf_counter() - self.stage_started
            return elapsed / self.fraction * (1 - self.fraction)
        return pace * work

    def write(self) -> None:
        """`progress.json`, written whole or not at all."""
        states = {stage: _state(stage, self) for stage in self.stages}
        data = {
            **self.about,
            "stages": [
                {
                    "name": s,
                    "state": states[s],
                    "seconds": round(self.seconds.get(s, 0.0), 1),
                }
                for s in self.stages
            ],
            "detail": self.detail,
            "stopped": self.stopped,
            "estimate_left_s": self.estimate_left(),
            "started": self.started,
            "updated": time.time(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        write_file(self.run_dir / PROGRESS_FILE, json.dumps(data, indent=1))


def _state(stage: str, tracker: RunTracker) -> str:
    if stage == tracker.stopped:
        return "stopped"
    if stage == tracker.current:
        return "running"
    return "done" if stage in tracker.seconds else "pending"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


class StageProgress(TypedDict):
    """One stage in `progress.json`: its name, state (pending, running, done, stopped) and seconds so far."""

    name: str
    state: str
    seconds: float


class _RunProgress(TypedDict):
    strategy: str
    budget: str
    trial_budget: int
    stages: list[StageProgress]
    detail: str
    stopped: str | None
    estimate_left_s: float | None
    started: float
    updated: float
    pid: int
    host: str
    command: str


class Progress(_RunProgress, total=False):
    """`progress.json` as `RunTracker.write` writes it and `status` reads it (study and storage: the run's
    study, once it has one)."""

    study: str
    storage: str


def read_progress(run_dir: str | Path) -> Progress | None:
    """A run folder's `progress.json`, or None when it has none; a MixsearchError naming the file when it is
    unreadable or not what a run writes."""
    path = Path(run_dir) / PROGRESS_FILE
    try:
        progress = json.loads(path.read_text())
        check_type(progress, Progress)
        if not 0 < progress["pid"] < 2**31:
            raise ValueError(f"pid: {progress['pid']} is not a process id")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        raise MixsearchError(
            f"{path}: unreadable progress file ({type(error).__name__}: {first_line(error)}); "
            "a run rewrites it at its next step"
        ) from None
    return progress
