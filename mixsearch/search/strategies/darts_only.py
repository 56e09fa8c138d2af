"""darts: the architecture derived from the trained supernet is the one finalist, scored by its retraining."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mixsearch.search.darts.derive import derive
from mixsearch.search.darts.search import DartsSearch
from mixsearch.search.darts.select import importance
from mixsearch.search.engine.context import RunContext, RunOptions
from mixsearch.search.engine.final import FinalOutcome
from mixsearch.search.engine.study import predicted_costs
from mixsearch.search.engine.trials import TrialsOutcome
from mixsearch.search.outcome.result import Trained, TrialRecord, best_by_validation
from mixsearch.search.settings import DartsConfig
from mixsearch.search.strategy import DARTS_STAGE, FINAL_STAGE, LATENCY_STAGE
from mixsearch.space.sections import Budget, Constraints


@dataclass(frozen=True)
class DartsOnly:
    """Hardware-aware DARTS alone: no trials; the derived architecture is trial 0."""

    name: str = "darts"
    supernet: bool = True

    def stages(self) -> tuple[str, ...]:
        return (LATENCY_STAGE, DARTS_STAGE, FINAL_STAGE)

    def sampler(self, options: RunOptions) -> str:
        return ""

    def darts_config(
        self, config: DartsConfig, constraints: Constraints
    ) -> DartsConfig:
        """No latency term on weights that have barely trained: latency acts when deriving, as a constraint."""
        return replace(config, latency_weight=0.0)

    def trial_epochs(self, budget: Budget) -> int:
        return 0

    def finalists(self, budget: Budget) -> int:
        return 1

    def candidates(self, ctx: RunContext, search: DartsSearch | None) -> TrialsOutcome:
        """The architecture derived from what each option does for the trained supernet (`select.importance`,
        under the constraints), its predicted costs recorded (its score comes with its retraining).
        """
        graph = ctx.graph
        scores = importance(search, ctx.data.val)
        arch = derive(graph, scores, graph.space.constraints, ctx.costs)
        record = TrialRecord(0, "complete", arch, predicted_costs(ctx.costs.cost(arch)))
        return TrialsOutcome((record,), (0,), [(arch, 0, 0)])

    def scored(
        self, records: tuple[TrialRecord, ...], final: FinalOutcome
    ) -> tuple[TrialRecord, ...]:
        """Trial 0 scored by the validation accuracy of its retraining."""
        retrained: Trained = best_by_validation(final.finalists)
        values = {**records[0].values, "accuracy": retrained.val_acc}
        return (replace(records[0], values=values, seconds=retrained.seconds),)
