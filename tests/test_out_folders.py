"""Folders a user names: a run writes only into a new or empty folder or a run of the same space (or with --force),
`generate`, `export` and `sample` write over no file mixsearch did not emit, `examples --copy` keeps edited copies,
nothing is written through a symbolic link, and `status` reads only the run's own study unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from test_bad_files import fails_with_one_line
from test_report import RESULT

from helpers import tiny_run_space
from mixsearch.cli import main
from mixsearch.errors import MixsearchError
from mixsearch.outdir import write_file
from mixsearch.report import write_report
from mixsearch.search.engine.rundir import check_run_folder
from mixsearch.search.engine.study import storage_url
from mixsearch.search.engine.tracker import RunTracker, stage_units
from mixsearch.search.strategies import get_strategy
from mixsearch.space.sections import get_budget

MINE = "# my own file\n"


@pytest.fixture
def space(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "tinymix.yaml"
    path.write_text(tiny_run_space("tinymix"))
    return path


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside every folder the tests write into, that links point at."""
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir()
    path.write_text(MINE)
    return path


@pytest.fixture
def arch_json(tmp_path) -> Path:
    path = tmp_path / "arch.json"
    assert invoke("sample", "default", "--seed", "1", "--out", str(path)).exit_code == 0
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def run_args(space: Path, out: Path) -> list[str]:
    return ["run", str(space), "--budget", "tiny", "--out", str(out)]


def progress(folder: Path, space: str, storage: str) -> None:
    """A run folder's progress.json as a run of `space` with its study `tinymix-random` in `storage` writes it."""
    strategy, budget = get_strategy("random"), get_budget("tiny")
    about = {
        "space": space,
        "strategy": strategy.name,
        "budget": budget.name,
        "trial_budget": budget.trials,
        "command": "mixsearch run",
        "study": "tinymix-random",
        "storage": storage,
    }
    units = stage_units(0, 1, 5, budget, 1)
    tracker = RunTracker(folder, strategy.stages(), units, print, about)
    folder.mkdir(parents=True, exist_ok=True)
    tracker.write()


def study_with_trials(url: str, trained: int) -> None:
    study = optuna.create_study(study_name="tinymix-random", storage=url)
    for _ in range(trained):
        trial = optuna.trial.create_trial(value=0.5, user_attrs={"trained": True})
        study.add_trial(trial)


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


# --- run --out ------------------------------------------------------------------------------------------------


def test_a_run_refuses_a_folder_holding_other_files(space, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text(MINE)
    fails_with_one_line(
        run_args(space, out),
        str(out),
        "report.md first",
        "holds no mixsearch run",
        "--force",
    )
    assert (out / "report.md").read_text() == MINE
    assert sorted(path.name for path in out.iterdir()) == ["report.md"]


def test_a_run_refuses_the_run_folder_of_another_space(space, tmp_path):
    out = tmp_path / "other"
    progress(out, "otherspace", storage_url(out))
    fails_with_one_line(
        run_args(space, out), str(out), "a run of the space 'otherspace'"
    )


def test_a_run_folder_may_be_new_empty_the_same_space_or_forced(tmp_path):
    check_run_folder(tmp_path / "new", "tinymix")
    check_run_folder(tmp_path, "tinymix")
    resumed = tmp_path / "resumed"
    progress(resumed, "tinymix", storage_url(resumed))
    check_run_folder(resumed, "tinymix")
    finished = tmp_path / "finished"
    RESULT.save(finished)
    check_run_folder(finished, RESULT.name)
    (tmp_path / "notes.txt").write_text(MINE)
    check_run_folder(tmp_path, "tinymix", force=True)


@pytest.mark.parametrize("link", ["study.db", "study.lock", "darts", "darts/hybrid-0"])
def test_a_run_never_opens_a_link_out_of_its_folder(tmp_path, outside, link):
    folder = tmp_path / "run"
    progress(folder, "tinymix", storage_url(folder))
    (folder / link).parent.mkdir(parents=True, exist_ok=True)
    target = outside if "." in link else outside.parent
    (folder / link).symlink_to(target)
    with pytest.raises(MixsearchError, match="symbolic link leads out of"):
        check_run_folder(folder, "tinymix", force=True)


# --- generate, export, sample ---------------------------------------------------------------------------------


def test_generate_refuses_to_write_over_a_module_it_did_not_emit(tmp_path, arch_json):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mixattn.py").write_text(MINE)
    fails_with_one_line(
        ["generate", str(arch_json), "--out", str(out)],
        str(out / "mixattn.py"),
        "not a file mixsearch emitted",
        "--force",
    )
    assert sorted(path.name for path in out.iterdir()) == ["mixattn.py"]
    assert (out / "mixattn.py").read_text() == MINE
    forced = invoke("generate", str(arch_json), "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert "emitted by mixsearch" in (out / "mixattn.py").read_text()


def test_generate_writes_over_what_it_emitted_beside_other_files(tmp_path, arch_json):
    out = arch_json.parent
    (out / "notes.txt").write_text(MINE)
    for _ in range(2):
        result = invoke("generate", str(arch_json), "--out", str(out))
        assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == MINE


def test_generate_replaces_a_link_only_with_force(tmp_path, arch_json, outside):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mixattn.py").symlink_to(outside)
    fails_with_one_line(["generate", str(arch_json), "--out", str(out)], "mixattn.py")
    assert (
        invoke("generate", str(arch_json), "--out", str(out), "--force").exit_code == 0
    )
    assert outside.read_text() == MINE
    assert not (out / "mixattn.py").is_symlink()


def test_export_never_writes_through_a_link_out_of_the_run_folder(tmp_path, outside):
    run = tmp_path / "run"
    RESULT.save(run)
    (run / "export").symlink_to(outside.parent)
    fails_with_one_line(
        ["export", str(run), "--trial", "2"], "symbolic link leads out of"
    )
    assert sorted(path.name for path in outside.parent.iterdir()) == ["precious.txt"]


def test_export_refuses_to_write_over_a_file_it_did_not_emit(tmp_path):
    run, out = tmp_path / "run", tmp_path / "out"
    RESULT.save(run)
    out.mkdir()
    (out / "arch.json").write_text(MINE)
    fails_with_one_line(
        ["export", str(run), "--trial", "2", "--out", str(out)], "arch.json"
    )
    assert (out / "arch.json").read_text() == MINE
    again = invoke("export", str(run), "--trial", "2", "--out", str(out), "--force")
    assert again.exit_code == 0, again.output


def test_sample_writes_over_an_arch_json_but_no_other_file(tmp_path, arch_json):
    assert invoke("sample", "default", "--out", str(arch_json)).exit_code == 0
    mine = tmp_path / "mine.json"
    mine.write_text(MINE)
    fails_with_one_line(["sample", "default", "--out", str(mine)], str(mine), "--force")
    assert mine.read_text() == MINE


# --- examples --copy ------------------------------------------------------------------------------------------


def test_examples_copy_keeps_an_edited_copy_unless_forced(tmp_path):
    folder = tmp_path / "spaces"
    assert invoke("examples", "--copy", str(folder)).exit_code == 0
    assert invoke("examples", "--copy", str(folder)).exit_code == 0  # unedited: same
    edited = folder / "default.yaml"
    edited.write_text(edited.read_text() + "# mine\n")
    fails_with_one_line(
        ["examples", "--copy", str(folder)], str(edited), "edited", "--force"
    )
    assert edited.read_text().endswith("# mine\n")
    assert invoke("examples", "--copy", str(folder), "--force").exit_code == 0
    assert not edited.read_text().endswith("# mine\n")


# --- status ---------------------------------------------------------------------------------------------------


def test_status_reads_the_study_in_the_run_folder(tmp_path):
    folder = tmp_path / "run"
    progress(folder, "tinymix", storage_url(folder))
    study_with_trials(storage_url(folder), 2)
    result = invoke("status", str(folder))
    assert result.exit_code == 0, result.output
    assert "trials: 2 of 3 counted" in result.output


def test_status_never_opens_a_storage_that_progress_json_names(tmp_path):
    folder, foreign = tmp_path / "run", tmp_path / "foreign.db"
    progress(folder, "tinymix", f"sqlite:///{foreign}")
    result = invoke("status", str(folder))
    assert result.exit_code == 0, result.output
    assert (
        "the study is not in this folder" in result.output
        and "--storage" in result.output
    )
    assert not foreign.exists()


def test_status_reads_the_storage_it_is_given(tmp_path):
    folder, url = tmp_path / "run", f"sqlite:///{tmp_path / 'shared.db'}"
    progress(folder, "tinymix", "postgresql://somebody@db-host/mixsearch")
    study_with_trials(url, 1)
    result = invoke("status", str(folder), "--storage", url)
    assert result.exit_code == 0, result.output
    assert "trials: 1 of 3 counted" in result.output


def test_an_output_path_through_a_file_is_one_line(space, tmp_path, arch_json):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    out = blocker / "sub"
    message = "cannot make this folder"
    fails_with_one_line(
        ["sample", str(space), "--out", str(out)], str(blocker), message
    )
    fails_with_one_line(
        ["generate", str(arch_json), "--out", str(out)], str(out), message
    )
    fails_with_one_line(run_args(space, out), str(out), message)


def test_sample_makes_a_missing_folder(space, tmp_path):
    out = tmp_path / "missing" / "a.json"
    assert invoke("sample", str(space), "--out", str(out)).exit_code == 0
    assert out.exists()
