"""A run a person can watch and stop: Ctrl-C or SIGTERM leaves a partial report, search.json and the best trial's
module, `mixsearch status` says where a run is, export works on an unfinished run, and misspelled option values
get a suggestion."""

from __future__ import annotations

import itertools
import os
import selectors
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import black
import pytest
import torch
from click.testing import CliRunner, Result

from helpers import import_file, tiny_run_space
from mixsearch import pipeline
from mixsearch.cli import main
from mixsearch.errors import Stopped, clear_stop, request_stop, stop_point
from mixsearch.search.engine import tracker as tracker_module
from mixsearch.search.engine.evaluate import Evaluator
from mixsearch.search.engine.study import (
    make_sampler,
    open_storage,
    open_study,
    storage_url,
)
from mixsearch.search.engine.tracker import RunTracker
from mixsearch.search.outcome.result import SearchResult

# Larger proxy splits than the other run tests: each training takes a second or two, time enough to stop it.
SPACE = tiny_run_space("stoppable", train_size=2048)


@pytest.fixture
def space(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "stoppable.yaml"
    path.write_text(SPACE)
    return path


def _default_sigint() -> None:
    """In the child: Ctrl-C's default, even when pytest runs as a background job (which ignores SIGINT, and
    children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(space: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "mixsearch", "run", str(space), "--budget", "tiny"]
    command += ["--strategy", "random", "--out", str(out), "--quiet", *extra]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        preexec_fn=_default_sigint,
    )


def stop_when(
    process: subprocess.Popen, marker: str, signum: int, timeout: float = 240
) -> str:
    """Read the run's stderr until a line holds `marker`, send `signum`, and return everything it printed."""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=1) and (line := process.stderr.readline()):
            seen.append(line)
            if marker in line:
                process.send_signal(signum)
                break
        elif process.poll() is not None:
            break
    rest, errors = process.communicate(timeout=120)
    return "".join(seen) + errors


def check_module(path: Path) -> None:
    """The checks of a finished run's module: black-formatted, importable, scriptable, shape-preserving."""
    text = path.read_text()
    assert black.format_str(text, mode=black.Mode()) == text
    module = import_file(path)
    cls = next(value for name, value in vars(module).items() if name == "Stoppable")
    model = cls(16).eval()
    x = torch.randn(2, 16, 8, 8)
    assert torch.jit.script(model)(x).shape == x.shape


@pytest.mark.slow
@pytest.mark.parametrize(
    "marker, signum, code, stage",
    [
        ("trial 1 [", signal.SIGINT, 130, "trials"),
        ("final training 1/", signal.SIGTERM, 143, "final training"),
    ],
    ids=["sigint-during-trials", "sigterm-during-final-trainings"],
)
def test_a_stopped_run_leaves_a_partial_report_its_result_and_a_module(
    space, tmp_path, marker, signum, code, stage
):
    out = tmp_path / "run"
    process = start_run(space, out, "--trials", "4")
    printed = stop_when(process, marker, signum)
    assert process.returncode == code, printed
    assert f"stopped during the {stage} stage" in printed and "To resume:" in printed
    assert "Traceback" not in printed
    result = SearchResult.load(out)
    assert result.partial and result.stopped == stage and result.winner is None
    assert result.best_trial is not None
    report = (out / "report.md").read_text()
    assert report.startswith("# Search report: stoppable (partial)")
    assert f"stopped during its {stage} stage" in report and "Not retrained" in report
    check_module(out / "stoppable.py")
    assert (
        "The best trial so far of a search stopped"
        in (out / "stoppable.py").read_text()
    )
    # Export works on the unfinished run, and says what it exports.
    exported = CliRunner().invoke(main, ["export", str(out)])
    assert exported.exit_code == 0, exported.output
    assert (
        "best trial so far"
        in (out / "export" / "best-trial" / "stoppable.py").read_text()
    )
    # Status says where it stopped; running the same command again finishes it.
    status = CliRunner().invoke(main, ["status", str(out)])
    assert (
        status.exit_code == 0 and f"stopped during the {stage} stage" in status.output
    )
    again = start_run(space, out, "--trials", "4")
    again.communicate(timeout=600)
    assert again.returncode == 0
    finished = SearchResult.load(out)
    assert not finished.partial and finished.winner is not None
    counted = [t for t in finished.trials if t.state == "complete" and t.reason is None]
    assert len(counted) == 4
    assert all("interrupted" in t.reason for t in finished.trials if t.state == "fail")
    assert CliRunner().invoke(main, ["status", str(out)]).output.startswith("finished")


@pytest.mark.slow
def test_status_of_a_running_run_shows_its_stages_and_trials(space, tmp_path):
    out = tmp_path / "run"
    process = start_run(space, out, "--trials", "6")
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if selector.select(timeout=1) and "trial 2 [" in process.stderr.readline():
            break
    status = CliRunner().invoke(main, ["status", str(out)])
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert "latency table: done" in lines[0] and "trials: running" in status.output
    assert "final training: pending" in status.output
    assert any(line.startswith("trials: ") and "of 6 counted" in line for line in lines)
    assert "running: last update" in status.output


def test_status_of_a_folder_without_a_run_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert result.exit_code == 2 and "no run here" in result.output


@pytest.mark.slow
def test_stage_lines_say_where_the_run_is_and_what_is_left(space, tmp_path):
    process = start_run(
        space, tmp_path / "run", "--trials", "3", "--strategy", "hybrid"
    )
    _, printed = process.communicate(timeout=600)
    assert process.returncode == 0, printed
    for position, stage in enumerate(
        ("latency table", "DARTS", "trials", "final training"), 1
    ):
        assert f"[{position}/4] {stage}" in printed
    assert "DARTS epoch 2/2: loss" in printed and "train accuracy" in printed
    assert "left in the run)" in printed  # an estimate once a stage that trains is done
    assert "\x1b[" not in printed and "\r" not in printed  # plain lines into a pipe


@pytest.mark.parametrize(
    "args, suggestion",
    [
        (["run", "default", "--strategy", "hybird"], "did you mean 'hybrid'?"),
        (["run", "default", "--budget", "quik"], "did you mean 'quick'?"),
        (["run", "default", "--objectives", "flop"], "did you mean 'flops'?"),
    ],
)
def test_a_misspelled_option_value_gets_a_suggestion(args, suggestion):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and suggestion in result.output


@pytest.fixture
def ctrl_c():
    """Ctrl-C's Python default in this process, even when pytest runs as a background job (which ignores
    SIGINT, and a run leaves an ignored signal ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def stop_at_call(monkeypatch, target, name: str, signum: int, call: int) -> None:
    """Make `target.name` send this process `signum` on its `call`-th call, before it does its work."""
    original = getattr(target, name)
    calls = itertools.count(1)

    def stopping(*args, **kwargs):
        if next(calls) == call:
            signal.raise_signal(signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, stopping)


def run_in_process(space: Path, out: Path) -> Result:
    args = ["run", str(space), "--budget", "tiny", "--strategy", "random"]
    return CliRunner().invoke(main, [*args, "--trials", "3", "--out", str(out)])


@pytest.mark.parametrize(
    "signum, code",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["ctrl-c", "sigterm"],
)
def test_a_stop_during_a_trial_saves_the_run_without_a_traceback(
    space, tmp_path, monkeypatch, ctrl_c, optuna_logs, signum, code
):
    stop_at_call(monkeypatch, Evaluator, "training", signum, call=2)
    out = tmp_path / "run"
    result = run_in_process(space, out)
    assert result.exit_code == code, result.output
    assert "stopped during the trials stage" in result.output
    assert "Traceback" not in result.output and not optuna_logs
    assert SearchResult.load(out).stopped == "trials" and (out / "report.md").exists()


def test_a_second_stop_while_saving_names_the_stage_and_leaves_the_report(
    space, tmp_path, monkeypatch, ctrl_c
):
    stop_at_call(monkeypatch, Evaluator, "training", signal.SIGINT, call=2)
    stop_at_call(monkeypatch, pipeline, "emit", signal.SIGINT, call=1)
    out = tmp_path / "run"
    result = run_in_process(space, out)
    assert result.exit_code == 130, result.output
    assert "still saving the run so far" in result.output
    assert "stopped during the trials stage" in result.output
    report = (out / "report.md").read_text()
    assert report.startswith("# Search report: stoppable (partial)")


def test_the_estimate_takes_the_current_stage_at_its_own_pace(tmp_path, monkeypatch):
    """Trials at 1 s an epoch; the final stage's first half took 40 s of its 10 units: its rest is 40 s more,
    whatever the trials' pace says (issue: estimates that did not move between stages).
    """
    now = [0.0]
    monkeypatch.setattr(tracker_module.time, "perf_counter", lambda: now[0])
    units = {"latency table": 0.0, "trials": 100.0, "final training": 10.0}
    tracker = RunTracker(tmp_path, tuple(units), units, lambda line: None)
    tracker.seconds = {"latency table": 1.0, "trials": 100.0}
    tracker.start("final training")
    assert tracker.estimate_left() == pytest.approx(10.0)
    now[0] = 40.0
    tracker.advance(0.5)
    assert tracker.estimate_left() == pytest.approx(40.0)


def test_a_study_names_its_objectives_for_the_dashboard(tmp_path):
    storage = open_storage(storage_url(tmp_path))
    sampler = make_sampler("random", 0, 4)
    study = open_study("s", storage, ("accuracy", "latency_ms"), sampler)
    assert study.metric_names == ["accuracy", "latency_ms"]


def test_a_stop_python_dropped_is_raised_at_the_next_stop_point():
    """A signal handler's exception inside a weakref callback (SQLAlchemy's clean-ups) is printed and dropped;
    the stop is raised again where the run can stop."""

    class Resource:
        pass

    resource = Resource()
    dropped = weakref.ref(resource, lambda ref: request_stop(143))
    del resource
    assert dropped() is None
    try:
        with pytest.raises(Stopped) as stop:
            stop_point()
        assert stop.value.exit_code == 143
    finally:
        clear_stop()
    stop_point()
