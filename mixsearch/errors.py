"""User-facing errors: each carries the place it points at, and the CLI prints it as one line (exit 2)."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """`did you mean 'eca'? ` for the closest of `choices` to a misspelled `name` (empty when none is close)."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def unknown(
    what: str,
    name: object,
    choices: Iterable[str],
    listing: str = "known",
    where: str = "",
) -> str:
    """`unknown op 'ecaa'; did you mean 'eca'? known: se, eca, ...`: the message for a name that is not one of
    `choices` (`where`: ` in top level`, ` for se`)."""
    choices = list(choices)
    return (
        f"unknown {what} {name!r}{where}; {did_you_mean(name, choices)}"
        f"{listing}: {', '.join(choices) or 'none'}"
    )


class _ShortRepr(reprlib.Repr):
    """reprlib that also abbreviates list and dict subclasses (YAML's located containers)."""

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, list):
            return self.repr_list(x, level)
        if isinstance(x, dict):
            return self.repr_dict(x, level)
        return super().repr1(x, level)


_SHORT_REPR = _ShortRepr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxdict = 3, 4, 4
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 40


def short_repr(value: Any) -> str:
    """A repr short enough for a one-line error, cheap even for huge nested values (YAML alias bombs)."""
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line (library errors often add lines of background)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class MixsearchError(Exception):
    """An error caused by the user's input, printed without a traceback."""


class SpaceError(MixsearchError):
    """A problem in a search-space file, located as `FILE:LINE: message`."""

    def __init__(
        self, message: str, path: str | Path | None = None, line: int | None = None
    ):
        self.message = message
        self.path = str(path) if path is not None else "<space>"
        self.line = line
        super().__init__(
            f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}"
        )


class ArchError(MixsearchError):
    """A problem in a resolved architecture (ARCH.json), located by node."""


class ExportError(MixsearchError):
    """A problem with what to export: an unknown base model, scale or insertion position."""


class Stopped(KeyboardInterrupt):
    """The run was asked to stop (Ctrl-C, or SIGTERM): it saves what it has, then exits with `exit_code`."""

    def __init__(self, exit_code: int = 130):
        super().__init__(exit_code)
        self.exit_code = exit_code


# The exit code of a stop a signal asked for, until the run has stopped (see `request_stop`).
_pending_stops: list[int] = []


def request_stop(exit_code: int) -> NoReturn:
    """Stop the run now (a signal handler's call), and remember it: Python prints and drops an exception a handler
    raises inside a finalizer or a weakref callback, so `stop_point` raises it again where the run can stop.
    """
    _pending_stops[:] = [exit_code]
    raise Stopped(exit_code)


def stop_point() -> None:
    """Raise a stop whose first raise was dropped; the training loops call this between steps."""
    if _pending_stops:
        raise Stopped(_pending_stops[0])


def clear_stop() -> None:
    """Forget an asked-for stop: the run it was for has stopped."""
    _pending_stops.clear()
