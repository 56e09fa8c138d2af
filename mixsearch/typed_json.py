"""What a JSON file brought back, checked against the type hints of what it becomes.

A damaged or hand-edited file (a text where a number belongs, a list for an object) is refused where it is read,
with the field that is wrong, instead of failing with a traceback wherever a value is first used.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def check_type(value: Any, hint: Any, where: str = "") -> None:
    """TypeError naming the field (`winner.latency_ms`) unless `value` is of type `hint`: a dataclass (field by
    field), a TypedDict (key by key), tuple[X, ...], list[X], dict[K, V], a union, Any, or a plain type (a float
    may be written as an int; neither may be a bool)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        _check_union(value, hint, where)
    elif dataclasses.is_dataclass(hint):
        _check_instance(value, hint, where)
        fields = dataclasses.fields(hint)
        _check_members({f.name: getattr(value, f.name) for f in fields}, hint, where)
    elif typing.is_typeddict(hint):
        _check_instance(value, dict, where)
        missing = sorted(hint.__required_keys__ - value.keys())
        if missing:
            raise TypeError(f"{_join(where, missing[0])}: missing")
        _check_members(value, hint, where)
    elif origin in (tuple, list):
        _check_instance(value, origin, where)
        _check_items(value, typing.get_args(hint), where)
    elif origin is dict:
        _check_instance(value, dict, where)
        key_hint, value_hint = typing.get_args(hint)
        for key, item in value.items():
            check_type(key, key_hint, where)
            check_type(item, value_hint, _join(where, str(key)))
    else:
        _check_instance(value, hint, where)


def _check_members(values: dict[str, Any], owner: type, where: str) -> None:
    """Each of `values` that `owner` (a dataclass or TypedDict) has a hint for, against that hint."""
    hints = typing.get_type_hints(owner)
    for name in values.keys() & hints.keys():
        check_type(values[name], hints[name], _join(where, name))


def _check_items(values: tuple | list, args: tuple[Any, ...], where: str) -> None:
    """The items of a tuple or list against `args`: one hint for all (`X, ...` or a list's) or one each."""
    if len(args) == 1 or args[-1] is Ellipsis:
        args = args[:1] * len(values)
    if len(args) != len(values):
        raise TypeError(f"{where}: expected {len(args)} items, got {len(values)}")
    for i, (item, hint) in enumerate(zip(values, args)):
        check_type(item, hint, f"{where}[{i}]")


def _check_union(value: Any, hint: Any, where: str) -> None:
    """`value` against each option of a union; an optional X that is not None against X alone, so that the
    message says what in it is wrong."""
    options = typing.get_args(hint)
    if value is not None and len(options) == 2 and type(None) in options:
        check_type(value, next(o for o in options if o is not type(None)), where)
        return
    for option in options:
        try:
            check_type(value, option, where)
        except TypeError:
            continue
        return
    raise TypeError(f"{where or 'value'}: expected {hint}, got {_show(value)}")


def _check_instance(value: Any, kind: type, where: str) -> None:
    accepted = (int, float) if kind is float else kind
    if not isinstance(value, accepted) or (
        isinstance(value, bool) and kind is not bool
    ):
        name = "a number" if kind is float else kind.__name__
        raise TypeError(f"{where or 'value'}: expected {name}, got {_show(value)}")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _show(value: Any) -> str:
    """A value in an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
