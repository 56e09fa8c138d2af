"""The search strategies, by name (`search.strategy.Strategy` is their interface).

Adding one: a module here with a class implementing `Strategy`, its entry in `STRATEGIES`, and its name in
`space.sections.STRATEGIES` (which the DSL and the CLI accept without importing the search).
"""

from __future__ import annotations

from mixsearch.errors import MixsearchError, unknown
from mixsearch.search.strategies.darts_only import DartsOnly
from mixsearch.search.strategies.hybrid import Hybrid
from mixsearch.search.strategies.optuna_search import OptunaSearch
from mixsearch.search.strategies.random_search import RandomSearch
from mixsearch.search.strategy import Strategy

STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (Hybrid(), OptunaSearch(), RandomSearch(), DartsOnly())
}


def get_strategy(name: str) -> Strategy:
    """The strategy called `name` (MixsearchError naming the known ones otherwise)."""
    if name not in STRATEGIES:
        raise MixsearchError(unknown("strategy", name, STRATEGIES))
    return STRATEGIES[name]
