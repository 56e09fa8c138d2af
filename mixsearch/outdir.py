"""Writing into folders the user names, without harm to what they hold.

`generate`, `export` and `sample` write over a file only when mixsearch emitted it (or with --force); a run folder
is checked by `search.rundir`. Every file is written whole into a new temporary file beside it and renamed over
it: a symbolic link in its place is replaced, never written through, and a reader never sees half a file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mixsearch.errors import MixsearchError

# What the first bytes of an emitted file say: the module, model YAMLs and train script; arch.json.
EMITTED_MARKS = ("emitted by mixsearch", '"format": "mixsearch.arch/')
HEAD_BYTES = 512
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


@contextmanager
def staged(path: Path) -> Iterator[Path]:
    """A new temporary file beside `path` for the block to write; it then replaces `path` (a link there too),
    or is removed if the block fails."""
    make_folder(path.parent)
    temporary = path.parent / f".{secrets.token_hex(6)}.{path.name}"
    try:
        os.close(os.open(temporary, NEW_FILE, 0o666))
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise MixsearchError(f"{path}: cannot write it ({error.strerror})") from None
    finally:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)


def make_folder(folder: Path) -> Path:
    """`folder`, made with its parents if missing (one message when a file stands in the way or it may not be
    made)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MixsearchError(
            f"{folder}: cannot make this folder ({error.strerror}: {error.filename})"
        ) from None
    return folder


def write_file(path: Path, data: str | bytes) -> Path:
    """Write `data` as the whole of `path`, never through a link there; return `path`."""
    with staged(path) as temporary:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            temporary.write_text(data)
    return path


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, its symbolic links followed, lies in the folder `root`."""
    return path.resolve().is_relative_to(root.resolve())


def within(root: Path, path: Path) -> Path:
    """`path`, refused when a symbolic link leads it out of the folder `root`."""
    if not inside(root, path):
        raise MixsearchError(
            f"{path}: a symbolic link leads out of {root}; mixsearch never writes through one (remove it)"
        )
    return path


def is_emitted(path: Path) -> bool:
    """Whether `path` is a plain file mixsearch emitted (a module, model YAML, train script or arch.json)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as file:
            head = file.read(HEAD_BYTES).decode(errors="ignore")
    except OSError:
        return False
    return any(mark in head for mark in EMITTED_MARKS)


def refuse_overwrites(paths: Iterable[Path], force: bool) -> None:
    """Refuse to write over a file mixsearch did not emit (a person's own module, a link), unless `force`."""
    if force:
        return
    for path in paths:
        if os.path.lexists(path) and not is_emitted(path):
            raise MixsearchError(
                f"{path}: exists and is not a file mixsearch emitted; write elsewhere, or --force to write over it"
            )
