"""Reading the files a user hands mixsearch to parse (a space, an ARCH.json), refused over a stated size.

Parsing takes time in proportion to the text (a dense 1 MB space takes several seconds of YAML), so a file over
MAX_INPUT_BYTES is refused after reading that much of it, before any parsing: no file can keep a command busy.
"""

from __future__ import annotations

from pathlib import Path

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
