"""Many workers, one study: PostgreSQL (the server `.ci/run` starts) and Optuna's journal file.

Each worker is a separate `mixsearch run` process with its own run folder, as on separate machines; they share
only the storage. Skipped, with the reason, when no PostgreSQL server is reachable (CI always provides one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from helpers import Booby, tiny_run_space
from mixsearch.errors import MixsearchError
from mixsearch.search.engine.study import SoleWorkerLock, open_storage
from mixsearch.search.engine.workers import STALE, decode_state, encode_state
from mixsearch.search.outcome.result import SearchResult

POSTGRES_ENV = "MIXSEARCH_TEST_POSTGRES"


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    try:
        open_storage(url)
    except Exception:
        return None
    return url


@pytest.fixture(params=["postgres", "journal"])
def storage_url(request, tmp_path) -> str:
    if request.param == "journal":
        return f"journal:{tmp_path / 'study.journal'}"
    url = _postgres_url()
    if url is None:
        pytest.skip(
            f"no PostgreSQL server reachable ({POSTGRES_ENV} unset or unreachable; .ci/run starts one)"
        )
    return url


@pytest.fixture
def space(tmp_path) -> Path:
    path = tmp_path / "workermix.yaml"
    path.write_text(tiny_run_space("workermix"))
    return path


@pytest.fixture
def env(tmp_path, space) -> dict[str, str]:
    """One shared cache (latency table and proxy data built once, before the workers start)."""
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    subprocess.run(
        [sys.executable, "-m", "mixsearch", "profile", str(space)],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def worker(
    space: Path, out: Path, storage: str, study: str, env, *extra: str
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "mixsearch",
        "run",
        str(space),
        "--budget",
        "tiny",
        "--out",
        str(out),
    ]
    command += [
        "--storage",
        storage,
        "--study",
        study,
        "--quiet",
        "--heartbeat",
        "1",
        *extra,
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return output


@pytest.mark.slow
def test_three_workers_share_one_study(space, storage_url, env, tmp_path):
    study = f"three-{uuid.uuid4().hex[:8]}"
    workers = [
        worker(
            space,
            tmp_path / f"w{i}",
            storage_url,
            study,
            env,
            "--strategy",
            "hybrid",
            "--trials",
            "6",
        )
        for i in range(3)
    ]
    for process in workers:
        finish(process)
    storage = open_storage(storage_url)
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(
        deepcopy=False
    )
    counted = [
        t for t in trials if t.user_attrs.get("trained") or t.state == TrialState.FAIL
    ]
    assert len(counted) == 6
    for trial in trials:
        assert trial.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
        if trial.state != TrialState.COMPLETE:
            assert trial.user_attrs.get("fail_reason") or trial.user_attrs.get(
                "skipped"
            )
    # The DARTS and final stages ran once for the whole study.
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    for stage in ("darts", "final"):
        (name,) = [n for n in names if n.startswith(f"{study}:{stage}:")]
        stage_trials = optuna.load_study(study_name=name, storage=storage).get_trials(
            deepcopy=False
        )
        assert sum(t.state == TrialState.COMPLETE for t in stage_trials) == 1
    results = [SearchResult.load(tmp_path / f"w{i}") for i in range(3)]
    assert len({r.winner.arch.dumps() for r in results}) == 1
    assert len({tuple(r.pareto) for r in results}) == 1
    best = max(
        t.values["accuracy"]
        for t in results[0].trials
        if t.state == "complete" and t.reason is None and t.feasible
    )
    front_best = max(results[0].trial(n).values["accuracy"] for n in results[0].pareto)
    assert front_best == best
    assert results[0].ablated.trial in results[0].pareto


def _training_trial(storage_url: str, study: str) -> optuna.trial.FrozenTrial | None:
    """A trial in training: every parameter drawn, its architecture recorded."""
    try:
        loaded = optuna.load_study(study_name=study, storage=open_storage(storage_url))
    except KeyError:
        return None
    running = loaded.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    training = [t for t in running if "arch" in t.user_attrs]
    return training[0] if training else None


@pytest.mark.slow
def test_a_killed_worker_trial_goes_stale_and_is_retried(
    space, storage_url, env, tmp_path
):
    # Trials of a few seconds, to kill one mid-way.
    space.write_text(tiny_run_space("workermix", train_size=3000))
    subprocess.run(
        [sys.executable, "-m", "mixsearch", "profile", str(space)],
        env=env,
        check=True,
        capture_output=True,
    )
    study = f"kill-{uuid.uuid4().hex[:8]}"
    args = ("--strategy", "random", "--trials", "4")
    first = worker(space, tmp_path / "w0", storage_url, study, env, *args)
    deadline = time.monotonic() + 300
    while (
        victim := _training_trial(storage_url, study)
    ) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert victim is not None, "the first worker never started a trial"
    first.send_signal(signal.SIGKILL)
    first.wait()
    others = [
        worker(space, tmp_path / f"w{i}", storage_url, study, env, *args)
        for i in (1, 2)
    ]
    for process in others:
        finish(process)
    loaded = optuna.load_study(study_name=study, storage=open_storage(storage_url))
    killed = loaded.trials[victim.number]
    assert killed.state == TrialState.FAIL and killed.user_attrs["fail_reason"] == STALE
    retried = [
        t
        for t in loaded.trials
        if t.number > victim.number and t.params == killed.params
    ]
    assert retried and retried[0].state == TrialState.COMPLETE
    assert sum(bool(t.user_attrs.get("trained")) for t in loaded.trials) == 4


@pytest.mark.slow
def test_a_separate_darts_stage_is_reused_by_the_workers(space, env, tmp_path):
    storage = f"journal:{tmp_path / 'study.journal'}"
    study = f"stage-{uuid.uuid4().hex[:8]}"
    finish(worker(space, tmp_path / "stage", storage, study, env, "--stage", "darts"))
    assert list((tmp_path / "stage" / "darts").glob("hybrid-*/darts_checkpoint.pt"))
    finish(worker(space, tmp_path / "w1", storage, study, env, "--trials", "2"))
    # The worker took the stored supernet: it never trained one of its own.
    assert not (tmp_path / "w1" / "darts").exists()
    assert SearchResult.load(tmp_path / "w1").alpha_history


def test_a_second_worker_on_one_sqlite_file_is_warned(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first = SoleWorkerLock(url)
    second = SoleWorkerLock(url)
    assert first.sole and not second.sole
    assert "Optuna advises against SQLite for parallel workers" in caplog.text


def test_stage_state_from_shared_storage_loads_weights_only(tmp_path):
    state = {"alphas": torch.ones(3), "history": [{"epoch": 1, "loss": 0.5}]}
    decoded = decode_state(encode_state(state), "study 's:darts'")
    assert torch.equal(decoded["alphas"], state["alphas"])
    assert decoded["history"] == state["history"]
    marker = tmp_path / "PWNED"
    with pytest.raises(MixsearchError, match="^study 's:darts': .*not a weights-only"):
        decode_state(encode_state({"model": Booby(marker)}), "study 's:darts'")
    assert not marker.exists()
    with pytest.raises(MixsearchError, match="not a weights-only"):
        decode_state("not base64 at all!", "study 's:darts'")
