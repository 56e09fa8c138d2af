"""The final stage: finalists, baselines and ablations trained with the final recipe, measured together, and the winner.

Every module the report compares is trained with the final budget once per final seed, the same seeds for every
module (`evaluate.final_seeds`), or taken from an earlier run's identical training (`trainings.TrainingCache`);
a module a trial trained to its rung continues from its rung state for the first seed (`rungs.Rungs`), as it
would have trained anyway. The trainings run side by side on the CPU's cores (`pool`). Their latency is then
measured end to end on the target, all of them in the same interleaved rounds, so that a burst of load on the
machine cannot favour the winner over a baseline or the reverse. The winner is the best on validation of the
finalists (the candidates promoted at the rung), of the baselines the space holds, and of those ablations of the
best finalist that the space holds; all must meet the space's constraints.

The stage runs once per study: the first worker to get here trains, the others wait for its stored result.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from mixsearch.arch import Arch, function_key
from mixsearch.errors import MixsearchError, stop_point
from mixsearch.hardware.cost import check_constraints
from mixsearch.hardware.predictor import measure_archs
from mixsearch.proxy import TrainResult
from mixsearch.search.engine.baselines import baseline_archs
from mixsearch.search.engine.context import RunContext
from mixsearch.search.engine.evaluate import CandidateFailed, ablations
from mixsearch.search.engine.pool import TrainingJob, TrainingPool
from mixsearch.search.engine.rungs import Rungs
from mixsearch.search.engine.trainings import json_digest
from mixsearch.search.engine.workers import run_once
from mixsearch.search.outcome.result import (
    Trained,
    TrialRecord,
    best_by_validation,
)

GROUPS = ("finalists", "baselines", "ablation")
# Part of the stage's name in the study: bump it when FinalOutcome's JSON changes, so that a study written by an
# older mixsearch trains its final stage again instead of reading a result it cannot parse.
FINAL_FORMAT = 2


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
    """A module trained with every final seed, before its latency is measured (`_measured` makes it a `Trained`)."""

    label: str
    arch: Arch
    results: tuple[TrainResult, ...]  # one per final seed, in seed order
    trial: int | None = None

    @property
    def val_acc(self) -> float:
        return statistics.fmean(result.val_acc for result in self.results)


def final_stage(
    ctx: RunContext, candidates: list[tuple[Arch, int, int]]
) -> FinalOutcome:
    """Finalists (`candidates`: arch, trial number, Pareto rank), baselines and ablations, trained once per
    study."""

    def compute() -> dict[str, Any]:
        with TrainingPool(ctx.final_evaluator, ctx.workers, ctx.final_workers) as pool:
            trainer = _Trainer(ctx, pool, Rungs(ctx))
            named = {
                f"trial {number}": (arch, number) for arch, number, _ in candidates
            }
            hand_designed = {n: (a, None) for n, a in baseline_archs().items()}
            first = trainer.train({**named, **hand_designed})
            finalists = [t for t in first if t.label in named]
            baselines = [t for t in first if t.label in hand_designed]
            if not finalists:
                raise MixsearchError("every finalist failed in its final training")
            ablated = best_by_validation(finalists)
            variants = ablations(ablated.arch, ctx.budget.branch_ablations)
            ablation = trainer.train(
                {label: (a, None) for label, a in variants.items()}
            )
        groups = [finalists, baselines, ablation]
        measured = iter(_measured(ctx, [t for group in groups for t in group]))
        return FinalOutcome(
            *(tuple(next(measured) for _ in group) for group in groups)
        ).to_json()

    key = json_digest(
        [[arch.dumps(), number] for arch, number, _ in candidates]
        + [asdict(ctx.budget), ctx.options.seed, FINAL_FORMAT]
    )[:12]
    stored = run_once(
        ctx.folder.storage,
        f"{ctx.folder.study_name}:final:{key}",
        compute,
        ctx.options.heartbeat_seconds,
        lambda: ctx.report("waiting for the worker training the finalists"),
        ctx.folder.lock.sole,
    )
    return FinalOutcome.from_json(stored)


class _Trainer:
    """Trains modules with every final seed (an earlier run's identical training reused), reporting each; the
    trainings it ran are the stage's progress (the first group's, and about one ablation's, are expected).
    """

    def __init__(self, ctx: RunContext, pool: TrainingPool, rungs: Rungs):
        self.ctx, self.pool, self.rungs = ctx, pool, rungs
        self.ran, self.expected = 0, 0

    def _job(self, label: str, arch: Arch, seed: int) -> TrainingJob:
        """The training of `arch` with `seed`: continued from its rung state when a trial left one."""
        path = self.rungs.state_path(arch)
        resume = path if seed == self.rungs.seed and path.exists() else None
        return TrainingJob(label, arch, seed, resume)

    def train(self, modules: dict[str, tuple[Arch, int | None]]) -> list[_Training]:
        """The modules (label -> arch, trial) trained with every seed; one that fails is reported and left out.

        Modules computing the same function (`function_key`: a finalist that is a baseline, say) share their
        trainings."""
        ctx, epochs = self.ctx, self.ctx.budget.final_epochs
        keys = {label: function_key(arch) for label, (arch, _) in modules.items()}
        results: dict[tuple[str, int], TrainResult] = {}
        jobs: dict[tuple[str, int], TrainingJob] = {}
        for label, (arch, _) in modules.items():
            for seed in ctx.final_seeds:
                slot = (keys[label], seed)
                cached = ctx.trainings.get(arch, epochs, seed)
                if cached is not None:
                    results[slot] = cached
                elif slot not in jobs:
                    jobs[slot] = self._job(label, arch, seed)
        if results:
            ctx.report(
                f"{len(results)} of {len(results) + len(jobs)} trainings done by an earlier run"
            )
        failed = set()
        self.expected = self.expected or len(jobs) + len(ctx.final_seeds)
        for done, (job, outcome) in enumerate(
            self.pool.run(list(jobs.values()), epochs), 1
        ):
            stop_point()
            self.ran += 1
            ctx.tracker.advance(self.ran / max(self.expected, self.ran))
            where = f"{done}/{len(jobs)} ({job.label}, seed {ctx.final_seeds.index(job.seed) + 1})"
            if isinstance(outcome, CandidateFailed):
                failed.add(keys[job.label])
                ctx.report(f"final training {where}: failed: {outcome}")
                continue
            ctx.trainings.put(job.arch, job.seed, outcome)
            ctx.tracker.note(f"final trainings of this group: {done}/{len(jobs)}")
            results[keys[job.label], job.seed] = outcome
            ctx.report(
                f"final training {where}: test {outcome.test_acc:.2%}, val {outcome.val_acc:.2%}"
            )
        trained = []
        for label, (arch, trial) in modules.items():
            if keys[label] in failed:
                continue
            per_seed = tuple(results[keys[label], seed] for seed in ctx.final_seeds)
            trained.append(_Training(label, arch, per_seed, trial))
            accuracies = ", ".join(f"{r.test_acc:.2%}" for r in per_seed)
            mean = statistics.fmean(r.test_acc for r in per_seed)
            ctx.report(f"{label}: test {accuracies} (mean {mean:.2%})")
        return trained


def choose_winner(
    outcome: FinalOutcome,
    may_win: Callable[[Arch], bool],
    trials: tuple[TrialRecord, ...],
) -> Trained:
    """The best on validation (the mean over the final seeds, the same for all) of the finalists and of the
    baselines and ablations `may_win` admits (a finalist on a tie, then a baseline): a hand-designed module the
    space holds races like any candidate and can win.

    An ablation that wins is labelled with the finalist it varies ("trial 3, without ctx"); an ablation or a
    baseline with the trial that trained the same architecture, if one did.
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
    baselines = [
        replace(item, trial=_trial_of(item.arch, trials))
        for item in outcome.baselines
        if may_win(item.arch)
    ]
    return best_by_validation([*outcome.finalists, *baselines, *admitted])


def may_win(ctx: RunContext, arch: Arch) -> bool:
    """Whether a baseline or an ablation may be the winner: the space holds it and its predicted cost meets the
    constraints."""
    if not ctx.graph.contains(arch):
        return False
    return check_constraints(ctx.costs.cost(arch), ctx.graph.space.constraints).feasible


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
                seeds=ctx.final_seeds,
                val_accs=tuple(result.val_acc for result in training.results),
                test_accs=tuple(result.test_acc for result in training.results),
                latency_ms=float(latency),
                flops=cost.flops,
                params=cost.params,
                seconds=sum(result.seconds for result in training.results),
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
