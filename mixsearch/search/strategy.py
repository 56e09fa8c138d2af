"""What a search strategy is to a run: the stages it runs and how it turns the space into finalists.

As Optuna keeps its samplers, mixsearch keeps each strategy behind this one small interface (the implementations
and their table are in `strategies/`): `search.run` runs the stages a strategy names, in order, and knows no
strategy by name. A strategy that trains a DARTS supernet first (`supernet`) gets the finished search in
`candidates`; the others get None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mixsearch.search.darts.search import DartsSearch
    from mixsearch.search.engine.context import RunContext, RunOptions
    from mixsearch.search.engine.final import FinalOutcome
    from mixsearch.search.engine.trials import TrialsOutcome
    from mixsearch.search.outcome.result import TrialRecord
    from mixsearch.search.settings import DartsConfig
    from mixsearch.space.sections import Budget, Constraints

LATENCY_STAGE = "latency table"
DARTS_STAGE = "DARTS"
TRIALS_STAGE = "trials"
FINAL_STAGE = "final training"


class Strategy(Protocol):
    """A search strategy: its stages, how it proposes and narrows candidates, and which it hands to the finals."""

    name: str
    supernet: bool

    def stages(self) -> tuple[str, ...]:
        """The run's stages in order, from the latency table to the final training."""
        ...

    def sampler(self, options: RunOptions) -> str:
        """The Optuna sampler its trials draw with (`make_sampler`'s kind; empty when it has no trials)."""
        ...

    def darts_config(
        self, config: DartsConfig, constraints: Constraints
    ) -> DartsConfig:
        """The budget's DARTS search as this strategy needs it (only asked when `supernet`)."""
        ...

    def trial_epochs(self, budget: Budget) -> int:
        """Epochs of training one trial costs (0 without trials): the unit of the trials stage's work."""
        ...

    def finalists(self, budget: Budget) -> int:
        """How many candidates it hands to the final stage."""
        ...

    def candidates(self, ctx: RunContext, search: DartsSearch | None) -> TrialsOutcome:
        """Its trials (timed as the trials stage when it has one) and the finalists among them."""
        ...

    def scored(
        self, records: tuple[TrialRecord, ...], final: FinalOutcome
    ) -> tuple[TrialRecord, ...]:
        """The trial records as the result shows them, once the final stage has trained the finalists."""
        ...
