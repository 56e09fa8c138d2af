"""Folders a user names: a run writes only into a new or empty folder or a run of the same space (or with --force),
`generate`, `export` and `sample` write over no file mixsearch did not emit, `examples --copy` keeps edited copies,
nothing is written through a symbolic link, and `status` reads only the run's own study unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report import RESULT

from mixsearch.outdir import write_file
from mixsearch.report import write_report
from mixsearch.search.study import storage_url
from mixsearch.search.tracker import RunTracker
from mixsearch.space.sections import get_budget

MINE = "# my own file\n"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside every folder the tests write into, that links point at."""
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir()
    path.write_text(MINE)
    return path


def progress(folder: Path, space: str, storage: str) -> None:
    """A run folder's progress.json as a run of `space` with its study `tinymix-random` in `storage` writes it."""
    about = {"space": space, "command": "mixsearch run", "study": "tinymix-random"}
    tracker = RunTracker(
        folder, "random", get_budget("tiny"), 1, print, {**about, "storage": storage}
    )
    folder.mkdir(parents=True, exist_ok=True)
    tracker.write()


# --- files ----------------------------------------------------------------------------------------------------


def test_run_files_replace_links_instead_of_writing_through_them(tmp_path, outside):
    folder = tmp_path / "run"
    folder.mkdir()
    names = ("search.json", "report.md", "pareto.png", "alphas.png", "progress.json")
    for name in names:
        (folder / name).symlink_to(outside)
    RESULT.save(folder)
    write_report(RESULT, folder)
    progress(folder, "mixattn", storage_url(folder))
    assert outside.read_text() == MINE
    for name in names:
        assert not (folder / name).is_symlink() and (folder / name).stat().st_size > 0
    assert not [path for path in folder.iterdir() if path.name.startswith(".")]


def test_a_file_is_written_whole_over_a_link_and_never_through_it(tmp_path, outside):
    link = tmp_path / "module.py"
    link.symlink_to(outside)
    write_file(link, "x = 1\n")
    assert outside.read_text() == MINE
    assert not link.is_symlink() and link.read_text() == "x = 1\n"
