"""Optuna over the discrete space: storage, samplers, how a trial proposes an `Arch`, and the trial loop.

Each choice of the space is one categorical parameter (op configurations by their label). A trial whose
*predicted* cost breaks a hard constraint is recorded with its constraint values (`trial.set_constraint`,
positive = violated) and never trained; a trial whose architecture was already trained copies its values.
Neither counts towards the trial budget. A trial that fails (diverged, out of memory) is recorded as FAIL
with its reason in the `fail_reason` attribute and the loop goes on.

The study lives in a SQLite file in the run folder unless `storage` names another URL (`postgresql://…`,
or `journal:PATH` for Optuna's journal file). A run started again resumes: finished trials stay, and a trial
left RUNNING by a killed process is marked failed and queued again with the same parameters -- at once when
this process is the SQLite study's only worker, else when its heartbeat goes stale (see `workers`). Several
workers share the budget: a worker starts a trial only while finished plus running trials are short of it,
so the study ends with exactly the requested number of counted trials.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from mixsearch.arch import Arch
from mixsearch.errors import MixsearchError, first_line, stop_point
from mixsearch.hardware.cost import ArchCost, CostModel, check_constraints
from mixsearch.search.engine.evaluate import CandidateFailed
from mixsearch.search.engine.workers import (
    BASELINE_ATTR,
    KEPT_ATTRS,
    STALE,
    fail_stale,
    fail_trial,
    heartbeat,
    queue_again,
    trial_id,
)
from mixsearch.search.outcome.result import TrialRecord
from mixsearch.search.settings import HEARTBEAT_SECONDS
from mixsearch.space.graph import Choice, SpaceGraph
from mixsearch.space.schema import OpConfig
from mixsearch.space.sections import OBJECTIVES, Constraints

logger = logging.getLogger(__name__)

STUDY_FILE = "study.db"
JOURNAL_PREFIX = "journal:"
INTERRUPTED = "interrupted (the process stopped during the trial); queued again"
SURPLUS = "not needed: enough trials were already finished or running"
# Seconds between looks at the study while other workers' trials finish.
POLL_SECONDS = 1.0
# Proposals in a row that need no training (infeasible or already trained) before the loop gives up.
MAX_UNTRAINED_IN_A_ROW = 200


def storage_url(run_dir: str | Path, storage: str | None = None) -> str:
    """`storage` when given, else a SQLite file in the run folder."""
    if storage:
        return storage
    return f"sqlite:///{(Path(run_dir) / STUDY_FILE).resolve()}"


def open_storage(url: str) -> BaseStorage:
    """`journal:PATH` is Optuna's journal file (several processes, shared file systems); anything else an RDB URL."""
    optuna.logging.set_verbosity(logging.WARNING)
    if url.startswith(JOURNAL_PREFIX):
        path = url[len(JOURNAL_PREFIX) :]
        if not path:
            raise MixsearchError("--storage journal:PATH needs a file path")
        journal = optuna.storages.journal
        try:
            return journal.JournalStorage(journal.JournalFileBackend(path))
        except OSError as error:  # a missing folder, a file where a folder should be
            raise MixsearchError(
                f"storage {url}: cannot open the journal file {path} ({error.strerror})"
            ) from None
    try:
        return optuna.storages.RDBStorage(_with_driver(url))
    # A missing driver (ImportError) or any of SQLAlchemy's: bad URL, server unreachable, authentication.
    except Exception as error:
        raise MixsearchError(f"storage {url}: {first_line(error)}") from None


def _with_driver(url: str) -> str:
    """`postgresql://` means psycopg2 to SQLAlchemy; use psycopg 3 (the `postgres` extra) when that is what exists."""
    if (
        url.startswith("postgresql://")
        and importlib.util.find_spec("psycopg2") is None
        and importlib.util.find_spec("psycopg") is not None
    ):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class SoleWorkerLock:
    """An advisory lock beside a SQLite study file: held means no other mixsearch process uses the study.

    Optuna advises against SQLite for parallel workers; a second worker on the same file is warned, and only
    the sole worker may fail the trials it finds RUNNING at start (no one else can be running them).
    """

    def __init__(self, url: str):
        self.lock: filelock.FileLock | None = None
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///") :]).with_suffix(".lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            self.lock = filelock.FileLock(path)
            try:
                self.lock.acquire(timeout=0)
            except filelock.Timeout:
                self.lock = None
                logger.warning(
                    f"another worker already uses {url}; Optuna advises against SQLite for parallel workers: "
                    "use --storage postgresql://... or --storage journal:PATH"
                )

    @property
    def sole(self) -> bool:
        return self.lock is not None


def make_sampler(kind: str, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """TPE, NSGA-II (population sized to the budget) or uniform random sampling, seeded."""
    if kind == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=max(2, min(10, trials // 3))
        )
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, trials // 3))
        )
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise MixsearchError(f"unknown sampler {kind!r}; choose tpe, nsga2 or random")


def open_study(
    name: str,
    storage: BaseStorage,
    objectives: tuple[str, ...],
    sampler: optuna.samplers.BaseSampler,
) -> optuna.Study:
    """Create the study, or load it when it exists (then its objectives must match)."""
    url = getattr(storage, "url", "the journal")
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            directions=[OBJECTIVES[o] for o in objectives],
            load_if_exists=True,
        )
    except ValueError as error:
        raise MixsearchError(f"study {name!r} at {url}: {error}") from None
    saved = study.user_attrs.get("objectives")
    if saved is None:
        study.set_user_attr("objectives", list(objectives))
        # What optuna-dashboard and `study.trials_dataframe()` call the values (experimental since Optuna 3.2).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(objectives))
    elif tuple(saved) != objectives:
        raise MixsearchError(
            f"study {name!r} at {url} optimises {', '.join(saved)}, not {', '.join(objectives)}; "
            "use another --out or --study"
        )
    return study


def option_label(option: Any) -> Any:
    """The Optuna-storable form of a choice option (op configurations by their label)."""
    return option.label() if isinstance(option, OpConfig) else option


def suggest_arch(trial: optuna.Trial, graph: SpaceGraph, choices: list[Choice]) -> Arch:
    """One categorical parameter per choice; `choices` may be narrowed (hybrid) from the graph's own."""
    assignment = {}
    for choice in choices:
        labels = {option_label(option): option for option in choice.options}
        assignment[choice.key] = labels[
            trial.suggest_categorical(choice.key, list(labels))
        ]
    return graph.resolve(assignment)


def recover_interrupted(study: optuna.Study, storage: BaseStorage) -> int:
    """Mark trials a killed process left RUNNING as failed and queue their parameters again.

    Only valid when this process is the study's only worker (`SoleWorkerLock`).
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        fail_trial(storage, study, trial.number, INTERRUPTED)
        queue_again(study, trial)
    return len(stale)


def enqueue_baselines(study: optuna.Study, params: dict[str, dict[str, Any]]) -> int:
    """Queue each hand-designed module (name -> its trial parameters) as a trial marked with its name, ahead of
    any sampled one; a resumed study does not queue them again. Returns how many were queued.
    """
    queued = {t.user_attrs.get(BASELINE_ATTR) for t in study.get_trials(deepcopy=False)}
    fresh = {name: p for name, p in params.items() if name not in queued}
    for name, trial_params in fresh.items():
        study.enqueue_trial(trial_params, user_attrs={BASELINE_ATTR: name})
    return len(fresh)


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial used the budget: trained (complete), or failed in training (diverged, out of memory).

    Trials failed because their worker stopped are queued again and do not count.
    """
    if trial.state == TrialState.FAIL:
        return trial.user_attrs.get("fail_reason") not in (INTERRUPTED, STALE, None)
    return trial.state == TrialState.COMPLETE and trial.user_attrs.get("trained", False)


@dataclass
class TrialLoop:
    """Runs trials until `trials` of them count (see `counted`), reporting each finished one."""

    study: optuna.Study
    storage: BaseStorage
    graph: SpaceGraph
    choices: list[Choice]
    costs: CostModel
    constraints: Constraints
    objectives: tuple[str, ...]
    score: Callable[[Arch], float]
    on_trial: Callable[[TrialRecord, optuna.Study], None] = lambda record, study: None
    heartbeat_seconds: float = HEARTBEAT_SECONDS

    def run(self, trials: int) -> None:
        untrained_in_a_row = 0
        while self.done() < trials:
            stop_point()
            fail_stale(self.study, self.storage, grace=3 * self.heartbeat_seconds)
            if self.done() + self.running() >= trials:
                # Other workers' trials will finish or go stale.
                time.sleep(POLL_SECONDS)
                continue
            before = self.done()
            last = self._run_trial(trials)
            if last.user_attrs.get("skipped") == SURPLUS:
                continue
            self.on_trial(trial_record(last, self.objectives), self.study)
            untrained_in_a_row = 0 if self.done() > before else untrained_in_a_row + 1
            if untrained_in_a_row >= MAX_UNTRAINED_IN_A_ROW:
                raise MixsearchError(
                    f"the last {MAX_UNTRAINED_IN_A_ROW} proposals were all infeasible or already trained "
                    f"({self.done()} of {trials} trials done): the feasible part of the space looks exhausted; "
                    "ask for fewer trials or relax the constraints"
                )
        finished = [t for t in self.study.trials if counted(t)]
        if finished and all(t.state == TrialState.FAIL for t in finished):
            reasons = {t.user_attrs.get("fail_reason", "unknown") for t in finished}
            raise MixsearchError(
                f"every trial failed ({len(finished)}): {'; '.join(sorted(reasons))}"
            )

    def done(self) -> int:
        return sum(counted(t) for t in self.study.get_trials(deepcopy=False))

    def running(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

    def _run_trial(self, trials: int) -> FrozenTrial:
        """Ask the study for a trial, run it and tell its outcome; Optuna logs nothing (`on_trial` reports it)."""
        trial = self.study.ask()
        try:
            values = self._objective(trial, trials)
        except optuna.TrialPruned:
            return self.study.tell(trial, state=TrialState.PRUNED)
        except CandidateFailed:
            return self.study.tell(trial, state=TrialState.FAIL)
        except (Exception, KeyboardInterrupt):
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        return self.study.tell(trial, values)

    def _objective(self, trial: optuna.Trial, trials: int) -> tuple[float, ...]:
        ahead = [
            t
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number < trial.number
        ]
        if self.done() + len(ahead) >= trials:
            trial.set_user_attr("skipped", SURPLUS)
            raise optuna.TrialPruned(SURPLUS)
        identifier = trial_id(self.storage, self.study, trial.number)
        try:
            with heartbeat(self.storage, identifier, self.heartbeat_seconds):
                return self._evaluate(trial)
        except KeyboardInterrupt:
            # `_run_trial` fails the trial; the run that resumes trains it again, first.
            trial.set_user_attr("fail_reason", INTERRUPTED)
            kept = {k: trial.user_attrs[k] for k in KEPT_ATTRS if k in trial.user_attrs}
            self.study.enqueue_trial(
                trial.params, user_attrs=kept, skip_if_exists=False
            )
            raise

    def _evaluate(self, trial: optuna.Trial) -> tuple[float, ...]:
        arch = suggest_arch(trial, self.graph, self.choices)
        trial.set_user_attr("arch", arch.to_json())
        cost = self.costs.cost(arch)
        predicted = predicted_costs(cost)
        trial.set_user_attr("predicted", predicted)
        verdict = check_constraints(cost, self.constraints)
        for metric, ratio in verdict.ratios.items():
            trial.set_constraint(metric, ratio - 1.0)
        feasible = verdict.feasible
        duplicate = self._trained_twin(arch) if feasible else None
        if not feasible:
            accuracy = 0.0
            trial.set_user_attr(
                "skipped", "infeasible: predicted cost breaks a constraint"
            )
        elif duplicate is not None:
            accuracy = duplicate.values[0]
            trial.set_user_attr("skipped", f"duplicate of trial {duplicate.number}")
        else:
            start = time.perf_counter()
            try:
                accuracy = self.score(arch)
            except CandidateFailed as error:
                trial.set_user_attr("fail_reason", str(error))
                raise
            trial.set_user_attr("seconds", time.perf_counter() - start)
            trial.set_user_attr("trained", True)
        values = {"accuracy": accuracy, **predicted}
        return tuple(values[o] for o in self.objectives)

    def _trained_twin(self, arch: Arch) -> FrozenTrial | None:
        text = arch.dumps()
        for trial in self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE,)
        ):
            if (
                trial.user_attrs.get("trained")
                and Arch.from_json(trial.user_attrs["arch"]).dumps() == text
            ):
                return trial
        return None


def predicted_costs(cost: ArchCost) -> dict[str, float]:
    """Latency (from the table and overhead model), FLOPs and parameters, summed over the shapes."""
    return {
        "latency_ms": cost.latency_ms,
        "flops": float(cost.flops),
        "params": float(cost.params),
    }


def trial_record(trial: FrozenTrial, objectives: tuple[str, ...]) -> TrialRecord:
    """A study trial as the run's record (see TrialRecord for the states)."""
    arch_json = trial.user_attrs.get("arch")
    arch = Arch.from_json(arch_json, f"trial {trial.number}") if arch_json else None
    state, reason = _state(trial)
    values = dict(trial.user_attrs.get("predicted", {}))
    if trial.values is not None:
        values.update(zip(objectives, trial.values))
    if state == "infeasible":
        values.pop("accuracy", None)
    return TrialRecord(
        number=trial.number,
        state=state,
        arch=arch,
        values=values,
        constraints={key: value + 1.0 for key, value in trial.constraints.items()},
        reason=reason,
        seconds=trial.user_attrs.get("seconds"),
        baseline=trial.user_attrs.get(BASELINE_ATTR),
    )


def _state(trial: FrozenTrial) -> tuple[str, str | None]:
    if trial.state == TrialState.FAIL:
        return "fail", trial.user_attrs.get("fail_reason", STALE)
    if trial.state == TrialState.PRUNED:
        return "surplus", SURPLUS
    if trial.state == TrialState.RUNNING:
        return "running", None
    skipped = trial.user_attrs.get("skipped")
    if skipped is None:
        return "complete", None
    return ("infeasible" if skipped.startswith("infeasible") else "duplicate"), skipped
