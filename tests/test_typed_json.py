"""Checking what a JSON file brought back against type hints: the field that is wrong, named."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pytest

from mixsearch.typed_json import check_type


class Point(TypedDict):
    x: float
    label: str | int


@dataclass
class Record:
    points: tuple[Point, ...]
    pair: tuple[int, str]
    scores: dict[str, list[float]] = field(default_factory=dict)
    note: str | None = None
    extra: Any = None


def good(**changes) -> Record:
    fields = dict(points=({"x": 1, "label": "a"},), pair=(1, "b"), scores={"a": [0.5]})
    return Record(**{**fields, **changes})


def test_a_value_of_its_hints_passes():
    check_type(good(note="n", extra=object()), Record)
    check_type(good(points=({"x": 1.5, "label": 3, "other": []},)), Record)


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            dict(points=({"x": True, "label": "a"},)),
            "points[0].x: expected a number, got True",
        ),
        (dict(points=({"label": "a"},)), "points[0].x: missing"),
        (dict(points=({"x": 1, "label": 1.5},)), "points[0].label: expected str | int"),
        (dict(pair=(1, "b", 2)), "pair: expected 2 items, got 3"),
        (dict(pair=(1, 2)), "pair[1]: expected str, got 2"),
        (dict(scores={"a": ["0.5"]}), "scores.a[0]: expected a number, got '0.5'"),
        (dict(scores={1: [0.5]}), "scores: expected str, got 1"),
        (dict(note=["n"]), "note: expected str, got ['n']"),
    ],
    ids=["bool", "missing", "union", "length", "item", "nested", "key", "optional"],
)
def test_the_first_wrong_field_is_named(changes, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        check_type(good(**changes), Record)
