"""optuna: TPE or NSGA-II over the whole space, each trial the start of a final training, scored at its rung."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mixsearch.arch import Arch
from mixsearch.search.darts.search import DartsSearch
from mixsearch.search.engine.context import RunContext, RunOptions
from mixsearch.search.engine.final import FinalOutcome
from mixsearch.search.engine.rungs import Rungs
from mixsearch.search.engine.trials import TrialsOutcome, study_stage
from mixsearch.search.outcome.result import TrialRecord
from mixsearch.search.settings import DartsConfig
from mixsearch.search.strategy import FINAL_STAGE, LATENCY_STAGE, TRIALS_STAGE
from mixsearch.space.graph import Choice
from mixsearch.space.sections import Budget, Constraints


@dataclass(frozen=True)
class OptunaSearch:
    """An Optuna study over the space with the run's sampler; each trial scored at the rung (`rungs.Rungs`)."""

    name: str = "optuna"
    supernet: bool = False

    def stages(self) -> tuple[str, ...]:
        return (LATENCY_STAGE, TRIALS_STAGE, FINAL_STAGE)

    def sampler(self, options: RunOptions) -> str:
        return options.sampler

    def darts_config(
        self, config: DartsConfig, constraints: Constraints
    ) -> DartsConfig:
        return config

    def trial_epochs(self, budget: Budget) -> int:
        return budget.rung_epoch

    def finalists(self, budget: Budget) -> int:
        return budget.finalists

    def candidates(self, ctx: RunContext, search: DartsSearch | None) -> TrialsOutcome:
        with ctx.stage(TRIALS_STAGE):
            return study_stage(
                ctx,
                self.sampler(ctx.options),
                self.choices(ctx, search),
                self.score(ctx, search),
            )

    def choices(self, ctx: RunContext, search: DartsSearch | None) -> list[Choice]:
        """The choices its study draws from: the whole space."""
        return list(ctx.graph.choices)

    def score(
        self, ctx: RunContext, search: DartsSearch | None
    ) -> Callable[[Arch], float]:
        """A trial's score: its validation score at the rung of the final schedule (`rungs.Rungs`)."""
        return Rungs(ctx).score

    def scored(
        self, records: tuple[TrialRecord, ...], final: FinalOutcome
    ) -> tuple[TrialRecord, ...]:
        return records
