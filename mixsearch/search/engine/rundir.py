"""Whether a folder may hold a run: new or empty, or a run of the same space (resumed), or any with --force; and
never one where a file the run opens in place (the study, the DARTS checkpoints) is a link out of the folder.

A run folder says which space it holds a run of: `progress.json` (written from the run's first stage on) names
the space, and so does a saved `search.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

from mixsearch.errors import MixsearchError
from mixsearch.outdir import within
from mixsearch.search.engine.study import STUDY_FILE
from mixsearch.search.engine.tracker import PROGRESS_FILE
from mixsearch.search.outcome.result import RESULT_FILE, RESULT_FORMAT

DARTS_DIR = "darts"
# The trials' rung states (`rungs.Rungs`).
RUNGS_DIR = "rungs"
# What SQLite, the sole-worker lock and the DARTS checkpoints open in place, and the folders of the rung states
# (other files are renamed over).
IN_PLACE = (
    *(STUDY_FILE + suffix for suffix in ("", "-journal", "-wal", "-shm")),
    Path(STUDY_FILE).with_suffix(".lock").name,
    DARTS_DIR,
    RUNGS_DIR,
)


def check_run_folder(folder: Path, space: str, force: bool = False) -> None:
    """Refuse `folder` for a run of `space` when it holds anything but a run of that space (unless `force`), or
    when a file the run opens in place leads out of it."""
    if folder.exists() and not folder.is_dir():
        raise MixsearchError(f"{folder}: a file, not a folder")
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    held = run_space(folder)
    if entries and held != space and not force:
        what = (
            f"holds a run of the space {held!r}, not of {space!r}"
            if held is not None
            else f"holds no mixsearch run but other files ({entries[0].name} first)"
        )
        raise MixsearchError(
            f"{folder}: {what}; choose a new or empty --out folder, or --force to write into it"
        )
    for name in IN_PLACE:
        path = folder / name
        inner = path.rglob("*") if path.is_dir() and not path.is_symlink() else ()
        for each in (path, *inner):
            within(folder, each)


def run_space(folder: Path) -> str | None:
    """The space whose run `folder` holds, from its progress.json or search.json (None: it holds no run)."""
    for name, key in ((PROGRESS_FILE, "space"), (RESULT_FILE, "name")):
        try:
            data = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        run = isinstance(data, dict) and (
            name == PROGRESS_FILE or data.get("format") == RESULT_FORMAT
        )
        if run and isinstance(data.get(key), str):
            return data[key]
    return None
