"""hybrid: DARTS keeps the `keep` strongest options of each choice, then Optuna searches the narrowed space, each
trial scored at the rung like optuna's (inheriting the supernet's weights ranked every module within a few points,
`none` first: benchmarks/results/proxy_fidelity.md).

Its DARTS stage narrows by accuracy alone unless latency is constrained: latency is the Optuna stage's second
objective, and alphas pulled towards cheap options by the hardware loss would narrow away the accurate but slower
options its Pareto front needs. Under a latency constraint the hardware loss stays, so that the narrowed space can
meet it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mixsearch.search.darts.search import DartsSearch
from mixsearch.search.engine.context import RunContext
from mixsearch.search.engine.trials import narrowed_choices
from mixsearch.search.settings import DartsConfig
from mixsearch.search.strategies.optuna_search import OptunaSearch
from mixsearch.search.strategy import (
    DARTS_STAGE,
    FINAL_STAGE,
    LATENCY_STAGE,
    TRIALS_STAGE,
)
from mixsearch.space.graph import Choice
from mixsearch.space.sections import Constraints


@dataclass(frozen=True)
class Hybrid(OptunaSearch):
    """Optuna over the space narrowed by DARTS' alphas."""

    name: str = "hybrid"
    supernet: bool = True

    def stages(self) -> tuple[str, ...]:
        return (LATENCY_STAGE, DARTS_STAGE, TRIALS_STAGE, FINAL_STAGE)

    def darts_config(
        self, config: DartsConfig, constraints: Constraints
    ) -> DartsConfig:
        if constraints.latency_ms is None:
            return replace(config, latency_weight=0.0)
        return config

    def choices(self, ctx: RunContext, search: DartsSearch | None) -> list[Choice]:
        """Each choice cut to its `keep` most likely options under the supernet's alphas."""
        return narrowed_choices(ctx.graph, search.alphas, ctx.options.keep)
