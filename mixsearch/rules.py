"""What the fields of a settings dataclass must hold, checked in one style: a table maps each field to a `Rule`,
and the first field that breaks its rule is one MixsearchError saying what it must be and what it is
(`proxy colour must be one of odd, random, grey, got 'blue'`). The DSL reports the same text at the field's line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from mixsearch.errors import MixsearchError, short_repr


@dataclass(frozen=True)
class Rule:
    """What a value must be: `holds(value)` says whether it is, `expected` says it in an error (`a number > 0`)."""

    holds: Callable[[Any], bool]
    expected: str

    def problem(self, name: str, value: Any) -> str | None:
        """`<name> must be <expected>, got <value>` when `value` breaks the rule, else None."""
        if self.holds(value):
            return None
        return f"{name} must be {self.expected}, got {short_repr(value)}"


def check_fields(settings: object, rules: Mapping[str, Rule], prefix: str = "") -> None:
    """MixsearchError for the first field of `settings` (in `rules` order) that breaks its rule, named with
    `prefix` (`proxy `)."""
    for name, rule in rules.items():
        if problem := rule.problem(prefix + name, getattr(settings, name)):
            raise MixsearchError(problem)


def is_number(value: Any) -> bool:
    """Whether `value` is an int or a float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value: Any, minimum: int) -> bool:
    """Whether `value` is an int (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_positive_number(value: Any) -> bool:
    """Whether `value` is a finite number (not a bool) above zero."""
    return is_number(value) and 0 < value < math.inf


POSITIVE_NUMBER = Rule(is_positive_number, "a number > 0")
# A device as `hardware.device.torch_device` resolves a target's (`auto` resolved, the GPU index checked).
TORCH_DEVICE = Rule(
    lambda value: isinstance(value, str)
    and re.fullmatch(r"cpu|cuda(:\d{1,4})?", value) is not None,
    "cpu, cuda or cuda:N",
)


def whole_number(minimum: int) -> Rule:
    """The rule of a count: an int of at least `minimum`."""
    return Rule(partial(is_whole, minimum=minimum), f"a whole number >= {minimum}")


def one_of(*choices: Any) -> Rule:
    """The rule of a setting with named `choices`."""
    return Rule(choices.__contains__, f"one of {', '.join(map(str, choices))}")


def between(low: float, high: float, low_field: str = "", high_field: str = "") -> Rule:
    """The rule of a number from `low` to `high` (inclusive), each named by the field it comes from, if any
    (`between 0 and epochs (6)`)."""
    expected = f"between {_bound(low, low_field)} and {_bound(high, high_field)}"
    return Rule(lambda value: is_number(value) and low <= value <= high, expected)


def _bound(value: float, field: str) -> str:
    return f"{field} ({value})" if field else str(value)
