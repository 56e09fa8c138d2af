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
from mixsearch.space.sections import Budget

PROGRESS_FILE = "progress.json"
DARTS_EPOCH_UNITS = 2.0
HAND_DESIGNED = 5  # baselines a final stage trains
STAGES = {
    "hybrid": ("latency table", "DARTS", "trials", "final training"),
    "darts": ("latency table", "DARTS", "final training"),
    "optuna": ("latency table", "trials", "final training"),
    "random": ("latency table", "trials", "final training"),
}


def stage_units(strategy: str, budget: Budget, workers: int) -> dict[str, float]:
    """The work of each stage in training epochs (the latency table counts none: it measures, briefly)."""
    trial_epochs = (
        budget.finetune_epochs if strategy == "hybrid" else budget.trial_epochs
    )
    finalists = 1 if strategy == "darts" else budget.finalists
    final = (finalists + HAND_DESIGNED + 1) * budget.final_seeds * budget.final_epochs
    return {
        "latency table": 0.0,
        "DARTS": DARTS_EPOCH_UNITS * budget.darts_epochs,
        "trials": float(budget.trials * trial_epochs),
        "final training": final / max(workers, 1),
    }


@dataclass
class RunTracker:
    """The run's stages, timed; each change is reported and written to `progress.json`."""

    run_dir: Path
    strategy: str
    budget: Budget
    workers: int
    report: Callable[[str], None]
    about: dict[str, Any] = field(
        default_factory=dict
    )  # space, command, study, storage: what `status` and a resumed run need
    seconds: dict[str, float] = field(default_factory=dict)
    current: str | None = None
    stopped: str | None = None  # the stage a Ctrl-C or SIGTERM cut short
    detail: str = ""
    started: float = field(default_factory=time.time)

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES[self.strategy]

    def start(self, stage: str) -> None:
        self.current, self.detail = stage, ""
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

    def estimate_left(self) -> float | None:
        """Seconds left in the run, from the rate of the stages done (None before one that trains is done)."""
        units = stage_units(self.strategy, self.budget, self.workers)
        done = [s for s in self.stages if s in self.seconds and units[s] > 0]
        if not done:
            return None
        rate = sum(self.seconds[s] for s in done) / sum(units[s] for s in done)
        return rate * sum(units[s] for s in self.stages if s not in self.seconds)

    def write(self) -> None:
        """`progress.json`, written whole or not at all."""
        states = {stage: _state(stage, self) for stage in self.stages}
        data = {
            **self.about,
            "strategy": self.strategy,
            "budget": self.budget.name,
            "trial_budget": self.budget.trials,
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
