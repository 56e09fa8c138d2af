"""User-facing errors: each carries the place it points at, and the CLI prints it as one line (exit 2)."""

from __future__ import annotations

from pathlib import Path


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
