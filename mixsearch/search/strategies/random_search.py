"""random: the optuna strategy's loop with uniform sampling, the baseline every strategy is judged against."""

from __future__ import annotations

from dataclasses import dataclass

from mixsearch.search.engine.context import RunOptions
from mixsearch.search.strategies.optuna_search import OptunaSearch


@dataclass(frozen=True)
class RandomSearch(OptunaSearch):
    """Uniformly drawn trials over the whole space, each scored at the rung."""

    name: str = "random"

    def sampler(self, options: RunOptions) -> str:
        return "random"
