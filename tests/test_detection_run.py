"""`mixsearch run` on the embedded detection proxy: every strategy end to end at the tiny budget, scored by
mAP50-95 from torchmetrics, with the report, status and CLI naming that metric."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import tiny_run_space
from mixsearch.arch import Arch
from mixsearch.cli import main
from mixsearch.search.outcome.result import SearchResult

pytest.importorskip("torchvision")
pytest.importorskip("torchmetrics")
pytest.importorskip("faster_coco_eval")

DETECTION_PROXY = (
    "proxy: {task: detection, canvas: 64, min_digit: 12, max_digit: 24, max_objects: 2, clutter: 2,"
    " fragment_size: 6, train_size: 48, val_size: 24, test_size: 24}\n"
)
SPACE = "\n".join(
    line
    for line in tiny_run_space("tinydet").splitlines()
    if not line.startswith("proxy:")
) + ("\n" + DETECTION_PROXY)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One cache for the module's runs: the latency table and the detection set are built once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def space(tmp_path, monkeypatch, cache_dir) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_dir))
    path = tmp_path / "tinydet.yaml"
    path.write_text(SPACE)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["hybrid", "optuna", "random", "darts"])
def test_every_strategy_runs_on_the_detection_proxy(space, tmp_path, strategy):
    out = tmp_path / "run"
    args = ["run", str(space), "--budget", "tiny", "--strategy", strategy]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "test mAP50-95" in result.output
    run = SearchResult.load(out)
    assert (run.task, run.metric) == ("detection", "mAP50-95")
    assert all(0.0 <= item.test_acc <= 1.0 for item in (*run.finalists, *run.baselines))
    report = (out / "report.md").read_text()
    assert "proxy task: detection, scored by mAP50-95" in report
    assert "test accuracy" not in report
    emitted = Arch.load(out / "arch.json")
    assert emitted.metrics["test_acc"] == pytest.approx(run.winner.test_acc, abs=1e-4)
    status = CliRunner().invoke(main, ["status", str(out)])
    assert "test mAP50-95" in status.output
