"""The trials stage: an Optuna (or random) study over the space's choices, and the finalists it hands to the final
stage. The strategy says which choices (the whole space, or narrowed by DARTS' alphas: `narrowed_choices`) and how
a trial is scored (at the rung of the final recipe: `rungs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import optuna
from optuna import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from mixsearch.arch import Arch, function_key
from mixsearch.errors import MixsearchError
from mixsearch.model.supernet import ArchParameters
from mixsearch.search.engine.baselines import contained_baselines
from mixsearch.search.engine.context import Report, RunContext
from mixsearch.search.engine.study import (
    TrialLoop,
    counted,
    enqueue_baselines,
    make_sampler,
    open_study,
    option_label,
    recover_interrupted,
    trial_record,
)
from mixsearch.search.engine.tracker import RunTracker
from mixsearch.search.outcome.result import TrialRecord
from mixsearch.space.graph import Choice, SpaceGraph

# How far the strongest option's probability must rise above uniform before hybrid narrows a choice.
NARROW_MARGIN = 0.05


@dataclass(frozen=True)
class TrialsOutcome:
    """Every trial's record, the Pareto front's trial numbers, and the finalists: the candidates promoted at the
    rung (arch, trial number, Pareto rank; rank 0 when no study ranked them)."""

    records: tuple[TrialRecord, ...]
    pareto: tuple[int, ...]
    candidates: list[tuple[Arch, int, int]]


def study_stage(
    ctx: RunContext,
    sampler: str,
    choices: list[Choice],
    score: Callable[[Arch], float],
) -> TrialsOutcome:
    """Run the study over `choices` to the budget's trial count (resuming it), each trial scored by `score`;
    the hand-designed modules the space holds are queued first."""
    options, budget = ctx.options, ctx.budget
    study = open_study(
        ctx.folder.study_name,
        ctx.folder.storage,
        options.objectives,
        make_sampler(sampler, options.seed, budget.trials),
    )
    if ctx.folder.lock.sole:
        recovered = recover_interrupted(study, ctx.folder.storage)
        if recovered:
            ctx.report(f"re-queued {recovered} trial(s) a stopped run left unfinished")
    choices, params = baseline_trials(
        ctx.graph, choices, contained_baselines(ctx.graph)
    )
    # Counted in the budget like any trial; a budget smaller than the baselines trains the first of them.
    params = dict(list(params.items())[: budget.trials])
    if enqueue_baselines(study, params):
        ctx.report(
            f"queued the hand-designed modules the space holds: {', '.join(params)}"
        )
    loop = TrialLoop(
        study=study,
        storage=ctx.folder.storage,
        graph=ctx.graph,
        choices=choices,
        costs=ctx.costs,
        constraints=ctx.graph.space.constraints,
        objectives=options.objectives,
        score=score,
        on_trial=_TrialReporter(budget.trials, ctx.report, ctx.tracker),
        heartbeat_seconds=options.heartbeat_seconds,
    )
    loop.run(budget.trials)
    # A trial still WAITING was queued but never run: the budget was spent first.
    records = tuple(
        trial_record(t, options.objectives)
        for t in study.trials
        if t.state != TrialState.WAITING
    )
    front = [t for t in study.best_trials if t.user_attrs.get("trained")]
    if not front:
        raise MixsearchError(
            "no trained trial meets the constraints; relax them or raise the budget"
        )
    pareto = tuple(sorted(t.number for t in front))
    return TrialsOutcome(
        records, pareto, finalist_candidates(study, records, budget.finalists)
    )


@dataclass(frozen=True)
class Snapshot:
    """A study as it stands: its trials' records, its trained Pareto front, its most accurate trained trial."""

    records: tuple[TrialRecord, ...]
    pareto: tuple[int, ...]
    best: int | None


def study_snapshot(ctx: RunContext) -> Snapshot:
    """The run's study as it stands now (empty before the trials stage made it)."""
    try:
        study = optuna.load_study(
            study_name=ctx.folder.study_name, storage=ctx.folder.storage
        )
    except KeyError:
        return Snapshot((), (), None)
    objectives = ctx.options.objectives
    records = tuple(
        trial_record(t, objectives)
        for t in study.trials
        if t.state != TrialState.WAITING
    )
    trained = _feasible_trained(study)
    front = [t.number for t in study.best_trials if t.user_attrs.get("trained")]
    best = max(trained, key=lambda t: t.values[0]).number if trained else None
    return Snapshot(records, tuple(sorted(front)), best)


def finalist_candidates(
    study: Study, records: tuple[TrialRecord, ...], count: int
) -> list[tuple[Arch, int, int]]:
    """The `count` candidates promoted at the rung (arch, trial number, Pareto rank): distinct modules of the
    feasible trained trials, by their Pareto rank over the study's objectives (rung score, predicted latency,
    ...), then by rung score within a rank. A fast module within the noise of a slower, slightly better one is
    on the first front with it, so it survives."""
    trained = _feasible_trained(study)
    signs = [1 if d == StudyDirection.MINIMIZE else -1 for d in study.directions]
    ranks = pareto_ranks([[s * v for s, v in zip(signs, t.values)] for t in trained])
    order = sorted(
        range(len(trained)),
        key=lambda i: (ranks[i], -trained[i].values[0], trained[i].number),
    )
    by_number = {record.number: record for record in records}
    candidates: dict[str, tuple[Arch, int, int]] = {}
    for i in order:
        arch = by_number[trained[i].number].arch
        candidates.setdefault(function_key(arch), (arch, trained[i].number, ranks[i]))
    return list(candidates.values())[:count]


def pareto_ranks(points: list[list[float]]) -> list[int]:
    """Each point's Pareto rank, all coordinates minimised: 1 for the non-dominated front, 2 for the front once
    the first is removed, and so on."""
    ranks = [0] * len(points)
    left = set(range(len(points)))
    rank = 0
    while left:
        rank += 1
        front = {
            i for i in left if not any(_dominates(points[j], points[i]) for j in left)
        }
        for i in front:
            ranks[i] = rank
        left -= front
    return ranks


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def baseline_trials(
    graph: SpaceGraph,
    choices: list[Choice],
    contained: dict[str, tuple[dict[str, Any], Arch]],
) -> tuple[list[Choice], dict[str, dict[str, Any]]]:
    """The trial parameters of each contained baseline, and `choices` widened to hold them.

    A choice the baseline's architecture uses keeps the baseline's option (hybrid's narrowing never drops a
    hand-designed module); one it does not use (a dropped branch's op) takes the choice's first option.
    """
    needed: dict[str, set[Any]] = {}
    params: dict[str, dict[str, Any]] = {}
    for name, (assignment, arch) in contained.items():
        used = {node.name for node in arch.nodes}
        trial: dict[str, Any] = {}
        for choice in choices:
            if choice.key == "output" or choice.node in used:
                value = assignment[choice.key]
                needed.setdefault(choice.key, set()).add(value)
            else:
                value = choice.options[0]
            trial[choice.key] = option_label(value)
        params[name] = trial
    full = {choice.key: choice for choice in graph.choices}
    widened = []
    for choice in choices:
        keep = set(choice.options) | needed.get(choice.key, set())
        options = tuple(o for o in full[choice.key].options if o in keep)
        widened.append(replace(choice, options=options))
    return widened, params


def narrowed_choices(
    graph: SpaceGraph, alphas: ArchParameters, keep: int
) -> list[Choice]:
    """Each choice the supernet is confident about cut to its `keep` most likely options under softmax(alpha), in
    their original order; a choice whose probabilities stay near uniform (its strongest option within
    `NARROW_MARGIN` of 1/n: alphas that did not move) keeps every option."""
    probabilities = alphas.probabilities()
    choices = []
    for choice in graph.choices:
        weights = probabilities.get(choice.key)
        if weights is None or len(choice.options) <= keep or not _confident(weights):
            choices.append(choice)
            continue
        strongest = sorted(range(len(weights)), key=lambda i: -weights[i])[:keep]
        options = tuple(choice.options[i] for i in sorted(strongest))
        choices.append(replace(choice, options=options))
    return choices


def _confident(weights: list[float]) -> bool:
    """Whether softmax(alpha) of a choice has moved from uniform enough to narrow it."""
    return max(weights) - 1 / len(weights) >= NARROW_MARGIN


class _TrialReporter:
    """One line per finished trial (state, accuracy, predicted latency, feasibility, best so far); the count of
    finished trials is the stage's progress."""

    def __init__(self, total: int, report: Report, tracker: RunTracker):
        self.total, self.report, self.tracker = total, report, tracker

    def __call__(self, record: TrialRecord, study: Study) -> None:
        done = sum(map(counted, study.get_trials(deepcopy=False)))
        self.tracker.advance(done / self.total)
        trained = [t.values[0] for t in _feasible_trained(study)]
        best = f"best {max(trained):.2%}" if trained else "no feasible trial yet"
        if record.state == "fail":
            summary = f"failed: {record.reason}"
        else:
            latency = record.values.get("latency_ms", float("nan"))
            accuracy = record.values.get("accuracy", float("nan"))
            state = {"complete": "", "infeasible": " (infeasible, not trained)"}.get(
                record.state, f" ({record.reason})"
            )
            summary = f"acc {accuracy:.2%}, {latency:.3f} ms predicted{state}"
        self.report(f"trial {record.number} [{done}/{self.total}] {summary} | {best}")


def _feasible_trained(study: Study) -> list[FrozenTrial]:
    """The complete, trained trials whose predicted cost meets every constraint."""
    return [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trial.user_attrs.get("trained")
        and all(value <= 0 for value in trial.constraints.values())
    ]
