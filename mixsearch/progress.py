"""Progress bars for long loops, on stderr so that tables and JSON on stdout stay clean; only on a terminal, so
that output to a log file or a pipe stays plain lines."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from rich.console import Console
from rich.progress import track

T = TypeVar("T")
_STDERR = Console(stderr=True)


def progress(items: Iterable[T], description: str, enabled: bool = True) -> Iterable[T]:
    """`items`, with a progress bar on stderr while they are consumed (none when disabled or not a terminal)."""
    return track(
        items,
        description=description,
        console=_STDERR,
        disable=not (enabled and _STDERR.is_terminal),
        transient=True,
    )
