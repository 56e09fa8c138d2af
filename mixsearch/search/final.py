"""The final stage: finalists, baselines and ablations retrained from scratch, measured together, and the winner.

Every module the report compares is trained with the final budget and a seed no trial trains with
(`evaluate.final_seed`), or taken from an earlier run's identical training (`trainings.TrainingCache`). Their
latency is then measured end to end on the target, all of them in the same interleaved rounds, so that a burst of
load on the machine cannot favour the winner over a baseline or the reverse. The winner is the best on validation
of the finalists and of those ablations of the best finalist that the space holds and that meet its constraints:
they are trained anyway, and on the default space the sum fusion often beats the learned one it replaces.

The stage runs once per study: the first worker to get here trains, the others wait for its stored result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from mixsearch.arch import Arch
from mixsearch.errors import MixsearchError
from mixsearch.hardware.cost import check_constraints
from mixsearch.hardware.predictor import measure_archs
from mixsearch.proxy import TrainResult
from mixsearch.search.context import RunContext
from mixsearch.search.evaluate import CandidateFailed, ablations, baseline_archs
from mixsearch.search.result import Trained, TrialRecord, best_by_validation
from mixsearch.search.trainings import json_digest
from mixsearch.search.workers import run_once

GROUPS = ("finalists", "baselines", "ablation")
# Part of the stage's name in the study: bump it when FinalOutcome's JSON changes, so that a study written by an
# older mixsearch trains its final stage again instead of reading a result it cannot parse.
FINAL_FORMAT = 1


@dataclass(frozen=True)
class FinalOutcome:
    """The final stage's trainings with their measured latency; `ablation` varies the best finalist."""

    finalists: tuple[Trained, ...]
    baselines: tuple[Trained, ...]
    ablation: tuple[Trained, ...]

    def to_json(self) -> dict[str, Any]:
        return {group: [t.to_json() for t in getattr(self, group)] for group in GROUPS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FinalOutcome:
        return cls(**{g: tuple(map(Trained.from_json, data[g])) for g in GROUPS})


@dataclass(frozen=True)
class _Training:
    """A final training before its latency is measured (`_measured` makes it a `Trained`)."""

    label: str
    arch: Arch
    result: TrainResult
    trial: int | None = None

    @property
    def val_acc(self) -> float:
        return self.result.val_acc


def final_stage(ctx: RunContext, candidates: list[tuple[Arch, int]]) -> FinalOutcome:
    """Finalists (`candidates`: arch and trial number), baselines and ablations, trained once per study."""

    def compute() -> dict[str, Any]:
        finalists = _finalists(ctx, candidates)
        ablated = best_by_validation(finalists)
        groups = [
            finalists,
            _train_all(ctx, baseline_archs()),
            _train_all(ctx, ablations(ablated.arch)),
        ]
        measured = iter(_measured(ctx, [t for group in groups for t in group]))
        return FinalOutcome(
            *(tuple(next(measured) for _ in group) for group in groups)
        ).to_json()

    key = json_digest(
        [[arch.dumps(), number] for arch, number in candidates]
        + [asdict(ctx.budget), ctx.options.seed, FINAL_FORMAT]
    )[:12]
    stored = run_once(
        ctx.storage,
        f"{ctx.study_name}:final:{key}",
        compute,
        ctx.options.heartbeat_seconds,
        lambda: ctx.report("waiting for the worker training the finalists"),
        ctx.lock.sole,
    )
    return FinalOutcome.from_json(stored)


def choose_winner(
    outcome: FinalOutcome,
    may_win: Callable[[Arch], bool],
    trials: tuple[TrialRecord, ...],
) -> Trained:
    """The best on validation of the finalists and of the ablations `may_win` admits (a finalist on a tie).

    An ablation that wins is labelled with the finalist it varies ("trial 3, without ctx") and with the trial
    that trained the same architecture, if one did.
    """
    ablated = best_by_validation(outcome.finalists)
    admitted = [
        replace(
            item,
            label=f"{ablated.label}, {item.label}",
            trial=_trial_of(item.arch, trials),
        )
        for item in outcome.ablation
        if may_win(item.arch)
    ]
    return best_by_validation([*outcome.finalists, *admitted])


def may_win(ctx: RunContext, arch: Arch) -> bool:
    """Whether an ablation may be the winner: the space holds it and its predicted cost meets the constraints."""
    if not ctx.graph.contains(arch):
        return False
    return check_constraints(ctx.costs.cost(arch), ctx.graph.space.constraints).feasible


def _finalists(ctx: RunContext, candidates: list[tuple[Arch, int]]) -> list[_Training]:
    finalists = []
    for arch, number in candidates:
        try:
            finalists.append(_final(ctx, f"trial {number}", arch, number))
        except CandidateFailed as error:
            ctx.report(f"finalist trial {number} failed in retraining: {error}")
    if not finalists:
        raise MixsearchError("every finalist failed when retrained from scratch")
    return finalists


def _train_all(ctx: RunContext, archs: dict[str, Arch]) -> list[_Training]:
    trained = []
    for label, arch in archs.items():
        try:
            trained.append(_final(ctx, label, arch))
        except CandidateFailed as error:
            ctx.report(f"{label} failed in training: {error}")
    return trained


def _final(
    ctx: RunContext, label: str, arch: Arch, trial: int | None = None
) -> _Training:
    """`arch` trained from scratch with the final budget (or an earlier run's training of it)."""
    epochs = ctx.budget.final_epochs
    result = ctx.trainings.get(arch, epochs)
    reused = result is not None
    if result is None:
        result = ctx.final_evaluator.from_scratch(arch, epochs)
        ctx.trainings.put(arch, result)
    ctx.report(
        f"{label}: test {result.test_acc:.2%}, val {result.val_acc:.2%}"
        + (" (trained by an earlier run)" if reused else "")
    )
    return _Training(label, arch, result, trial)


def _measured(ctx: RunContext, trainings: list[_Training]) -> list[Trained]:
    """The trainings with their latency on the target, all measured in the same interleaved rounds."""
    latencies = measure_archs(
        [training.arch for training in trainings],
        ctx.target,
        progress=ctx.options.show_progress,
        description="measuring the trained modules",
    ).sum(axis=1)
    measured = []
    for training, latency in zip(trainings, latencies):
        cost = ctx.counts.cost(training.arch)
        measured.append(
            Trained(
                label=training.label,
                arch=training.arch,
                val_acc=training.result.val_acc,
                test_acc=training.result.test_acc,
                latency_ms=float(latency),
                flops=cost.flops,
                params=cost.params,
                seconds=training.result.seconds,
                trial=training.trial,
            )
        )
    ctx.report(
        "latency measured (ms): "
        + ", ".join(f"{t.label} {t.latency_ms:.3f}" for t in measured)
    )
    return measured


def _trial_of(arch: Arch, trials: tuple[TrialRecord, ...]) -> int | None:
    """The first trial with architecture `arch`, if any."""
    text = arch.dumps()
    return next(
        (t.number for t in trials if t.arch is not None and t.arch.dumps() == text),
        None,
    )
