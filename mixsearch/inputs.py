"""Reading what a user hands mixsearch (a space, an ARCH.json) and what a run folder gives back (search.json,
progress.json, cache entries): files refused over a stated size, JSON checked against the type it becomes.

Parsing takes time in proportion to the text (a dense 1 MB space takes several seconds of YAML), so a file over
MAX_INPUT_BYTES is refused after reading that much of it, before any parsing: no file can keep a command busy.
"""

from __future__ import annotations

import functools
import reprlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import TypeAdapter
    from pydantic_core import ErrorDetails

# About a hundred times the largest shipped space (2.6 KB) or ARCH.json (1.4 KB); parsing this much takes
# about 2 s at most.
MAX_INPUT_BYTES = 256_000


class InputTooLarge(Exception):
    """A file over MAX_INPUT_BYTES, refused unparsed; the message says so and gives the limit."""


def read_input(path: str | Path) -> str:
    """The UTF-8 text of `path` (InputTooLarge over MAX_INPUT_BYTES; OSError or UnicodeDecodeError as reading
    raises them)."""
    with open(path, "rb") as file:
        data = file.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InputTooLarge(
            f"larger than {MAX_INPUT_BYTES:,} bytes, the most a space or architecture file may have "
            "(the shipped ones have under 3,000); refused before parsing"
        )
    return data.decode()


# pydantic's reasons for a value of the wrong type, in mixsearch's words; any other keeps pydantic's own.
TYPE_REASONS = {
    "missing": "missing",
    "float_type": "expected a number",
    "int_type": "expected int",
    "bool_type": "expected bool",
    "string_type": "expected str",
    "list_type": "expected list",
    "tuple_type": "expected tuple",
    "dict_type": "expected dict",
}


def check_type(value: Any, hint: Any) -> None:
    """TypeError naming the first field of `value` that is not of type `hint` (`winner.latency_ms: expected a
    number, got 'fast'`): pydantic's strict mode (a float may be written as an int, no number as a bool), a
    dataclass field by field, a TypedDict key by key."""
    # Imported here, not above: the command line starts without pydantic.
    from pydantic import ValidationError

    try:
        _adapter(hint).validate_python((value,))
    except ValidationError as error:
        raise TypeError(_describe(error.errors()[0])) from None


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    """A strict validator of `(value,)`: pydantic takes a dataclass instance as it is unless the config says to
    revalidate it, and a plain dataclass takes that config only from what holds it."""
    from pydantic import ConfigDict, TypeAdapter

    config = ConfigDict(strict=True, revalidate_instances="always")
    return TypeAdapter(tuple[hint], config=config)


def _describe(error: ErrorDetails) -> str:
    """`points[0].x: expected a number, got True` for an error in validating `(value,)`."""
    loc = error["loc"][1:]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    reason = TYPE_REASONS.get(error["type"], error["msg"])
    got = "" if error["type"] == "missing" else f", got {reprlib.repr(error['input'])}"
    return f"{path.lstrip('.') or 'value'}: {reason}{got}"
