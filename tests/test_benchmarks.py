"""The benchmark scripts run end to end (tiny settings; no timing assertions)."""

import math
import re

import filelock
import pytest

from helpers import ROOT, import_file, tiny_run_space
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import load_space


@pytest.mark.slow  # about 12 s: importing timm for the reference, compiling both, exporting ours to ONNX
def test_op_speed_benchmark_runs_quickly(capsys):
    op_speed = import_file(ROOT / "benchmarks" / "op_speed.py")
    argv = [
        "--quick",
        "--only",
        "eca",
        "--shapes",
        "1x16x8x8",
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--threads",
        "1",
    ]

    results = op_speed.main(argv)

    assert [(result.row, result.shape, result.runtime) for result in results] == [
        ("eca", (1, 16, 8, 8), runtime) for runtime in op_speed.RUNTIMES
    ]
    for result in results:
        for value in (result.ours_ms, result.reference_ms, result.ratio):
            assert math.isfinite(value) and value > 0
    printed = capsys.readouterr().out
    assert "command: python benchmarks/op_speed.py --quick" in printed
    assert "timm EcaModule" in printed and "1x16x8x8" in printed
    assert all(title in printed for title in op_speed.TITLES.values())
    assert "ort/eager" in printed


def test_latency_predictor_benchmark_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    latency_predictor = import_file(ROOT / "benchmarks" / "latency_predictor.py")
    table = tmp_path / "table.json"
    argv = [
        "--quick",
        "--shapes",
        "1x8x4x4",
        "1x16x2x2",
        "--archs",
        "6",
        "--fit",
        "4",
        "--repeats",
        "3",
        "--warmup",
        "1",
        "--rounds",
        "2",
        "--threads",
        "1",
        "--table",
        str(table),
        "--markdown",
    ]

    summary = latency_predictor.main(argv)

    assert table.exists()
    for accuracy in (summary.predictor, summary.plain, summary.remeasured):
        assert accuracy.count == 6 and 0 <= accuracy.within <= 6
        for value in (accuracy.median_error, accuracy.p90_error, accuracy.tau):
            assert math.isfinite(value)
    printed = capsys.readouterr().out
    assert "command: `python benchmarks/latency_predictor.py --quick" in printed
    for row in (
        "table + overhead model",
        "plain sum of table entries",
        "re-measurement",
    ):
        assert f"| {row}" in printed
    assert len(re.findall(r"^\| \d+ \| (chan|spat)=", printed, re.M)) == 6


@pytest.mark.slow  # 40-60 s: four tiny searches, a random probe, the regret space trained and searched
def test_search_quality_benchmark_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    search_quality = import_file(ROOT / "benchmarks" / "search_quality.py")
    argv = ["--quick", "--equal-time", "--trials", "6", "--finalists", "2"]
    argv += ["--reference-ms", "50", "--first-seed", "2", "--markdown"]

    summary, regret = search_quality.main(argv)

    strategies = ["hybrid", "random", "optuna", "darts"]
    assert [row.strategy for row in summary.rows] == strategies
    assert {row.seed for row in summary.rows} == {2}
    for row in summary.rows:
        for value in (row.winner_test_acc, row.search_seconds, row.winner_latency_ms):
            assert math.isfinite(value) and value >= 0
        assert 0 <= row.hypervolume <= 1
    (share,) = summary.equal_time
    assert summary.of("random")[0].trials == summary.of("optuna")[0].trials
    assert summary.of("random")[0].trials == share.trials >= 1
    # The regret space was trained exhaustively (33 distinct modules) and searched by every strategy.
    assert len(regret.truth) == 33
    for row in regret.summary.rows:
        assert row.winner_key in regret.truth
        assert 0 <= regret.regret(row) and 1 <= regret.rank(row) <= 33
    printed = capsys.readouterr().out
    assert "command: `python benchmarks/search_quality.py --quick" in printed
    for strategy in strategies:
        # The first row naming the strategy is its line of the mean ± std table: numbers only.
        line = next(
            line for line in printed.splitlines() if line.startswith(f"| {strategy} |")
        )
        cells = [cell.strip() for cell in line.strip("|").split("|")][1:]
        assert len(cells) == 7
        for cell in cells:
            assert re.fullmatch(
                r"-|\d+(/\d+)?|\d+/\d+/\d+/\d+|\d+\.\d+( ± \d+(\.\d+)?)?|\d+ ± \d+",
                cell,
            ), cell
    assert "2 promoted" in printed and "reference (1, 50.000 ms)" in printed
    assert "seeds 2..2;" in printed and "paired against random, same seeds:" in printed
    assert "regret on tiny_exhaustive.yaml" in printed
    for goal in ("goal dominance", "goal hybrid vs random", "goal regret"):
        assert goal in printed


def test_search_quality_labels_tell_a_serial_module_from_a_parallel_one():
    search_quality = import_file(ROOT / "benchmarks" / "search_quality.py")
    space = ROOT / "search_spaces" / "tiny_exhaustive.yaml"
    labels = {
        search_quality.module_label(arch)
        for arch in compile_space(load_space(space)).enumerate()
    }
    assert "chan=eca spat=coord out=sum" in labels  # coord reads chan: serial
    # coord reads x: parallel.
    assert "chan=eca spat=coord(from input) out=sum" in labels


def test_proxy_fidelity_benchmark_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_run_space("tiny"))
    proxy_fidelity = import_file(ROOT / "benchmarks" / "proxy_fidelity.py")
    argv = ["--space", str(space), "--budget", "tiny", "--archs", "3"]
    argv += ["--reference-epochs", "1", "--threads", "1"]

    measured = proxy_fidelity.main(argv)

    assert len(measured) == 3
    for item in measured:
        assert set(item.scores) == {"inherited", "scratch"}
        assert all(0 <= value <= 1 for value in [*item.scores.values(), item.reference])
    printed = capsys.readouterr().out
    assert "command: `python benchmarks/proxy_fidelity.py --space" in printed
    assert printed.count("| chan=") == 3
    for score in ("inherited", "scratch"):
        line = next(
            line for line in printed.splitlines() if line.startswith(f"| {score} |")
        )
        cells = [cell.strip() for cell in line.strip("|").split("|")][1:]
        assert len(cells) == 5 and all(
            re.fullmatch(r"-?\d+\.\d+|nan", c) for c in cells
        ), cells


def test_darts_quality_benchmark_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_run_space("tiny"))
    darts_quality = import_file(ROOT / "benchmarks" / "darts_quality.py")

    rows = darts_quality.main([str(space), "--quick"])

    assert [row["name"] for row in rows] == [
        "none",
        "se",
        "eca",
        "cbam",
        "coord",
        "darts",
    ]
    for row in rows:
        assert len(row["acc"]) == 1 and 0 <= row["acc"][0] <= 1
        assert row["latency"][0] > 0
    printed = capsys.readouterr().out
    assert printed.count("| darts |") == 1 and "seed 0: darts derived chan=" in printed


@pytest.mark.slow  # about a minute: three 1-epoch YOLOv8n trainings in fresh processes
def test_transfer_benchmark_trains_yolov8_with_the_emitted_files(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    transfer = import_file(ROOT / "benchmarks" / "transfer.py")
    argv = ["--quick", "--baselines", "none,eca", "--sampled", "1", "--seeds", "1"]

    found = transfer.main([*argv, "--threads", "1"])

    assert [m.arch.name for m in found] == ["none", "eca", "sampled1"]
    for module in found:
        assert set(module.scores) == set(transfer.SCORES)
        assert all(0 <= v[0] <= 1 for v in module.scores.values())
    printed = capsys.readouterr().out
    assert "command: `python benchmarks/transfer.py --quick" in printed
    assert "ultralytics 8." in printed
    assert "Spearman with YOLOv8n mAP50-95 (over 3 module means)" in printed
    assert "YOLOv8n seed noise" in printed and "sampled1: " in printed


@pytest.mark.parametrize("task", ["classification", "detection"])
def test_proxy_discrimination_benchmark_runs_on_either_task(
    capsys, tmp_path, monkeypatch, task
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    discrimination = import_file(ROOT / "benchmarks" / "proxy_discrimination.py")
    sizes = ["train_size=32", "val_size=16", "test_size=16"]
    argv = ["--task", task, "--seeds", "2", "--epochs", "1", "--threads", "1"]
    argv += ["--baselines", "none,eca", *(f"--proxy={size}" for size in sizes)]

    rows = discrimination.main(argv)

    assert [row.baseline for row in rows] == ["none", "eca"]
    assert all(len(row.runs) == 2 and 0 <= row.mean <= 1 for row in rows)
    printed = capsys.readouterr().out
    metric = {"classification": "acc", "detection": "mAP50-95"}[task]
    assert f"| baseline | test {metric} % (mean ± std)" in printed
    assert f"proxy: {task}, " in printed and "verdict: " in printed


def test_proxy_discrimination_names_a_field_the_task_lacks(capsys):
    discrimination = import_file(ROOT / "benchmarks" / "proxy_discrimination.py")
    with pytest.raises(SystemExit) as exit_info:
        discrimination.main(["--task", "detection", "--proxy", "digit_size=20"])
    assert exit_info.value.code == 2
    assert "KEY one of canvas, min_digit" in capsys.readouterr().err


@pytest.mark.slow  # 5-15 s: one tiny random search, read back, then run again
def test_search_quality_resumes_from_its_scratch_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    search_quality = import_file(ROOT / "benchmarks" / "search_quality.py")
    argv = ["--quick", "--strategies", "random", "--trials", "3", "--finalists", "1"]
    argv += ["--regret-seeds", "0", "--scratch", str(tmp_path / "sq")]

    first, _ = search_quality.main(argv)
    (row,) = first.rows
    again, _ = search_quality.main(argv)
    # A finished run is read back: the very same seconds, not a second measurement.
    assert again.rows == first.rows

    (run_dir,) = (tmp_path / "sq" / "main").glob("seed0-random-*")
    (run_dir / "search.json").unlink()
    (run_dir / "leftover").write_text("a run cut short")
    redone, _ = search_quality.main(argv)
    # A run cut short is discarded and run again from its start.
    assert not (run_dir / "leftover").exists() and (run_dir / "search.json").is_file()
    assert redone.rows[0].winner_key == row.winner_key
    assert redone.rows[0].winner_test_acc == row.winner_test_acc

    # --report reads finished runs back and trains nothing: a seed that has not run is an error.
    reported, _ = search_quality.main([*argv, "--report"])
    assert reported.rows == redone.rows
    with pytest.raises(SystemExit, match="has not finished: --report"):
        search_quality.main([*argv, "--report", "--first-seed", "1"])
    assert not list((tmp_path / "sq" / "main").glob("seed1-*"))

    # A second benchmark on a scratch folder in use is refused (it would discard the runs being written).
    with filelock.FileLock(tmp_path / "sq" / "benchmark.lock"):
        with pytest.raises(SystemExit, match="in use by another search_quality run"):
            search_quality.main(argv)
        assert search_quality.main([*argv, "--report"])[0].rows == redone.rows


def test_rung_fidelity_benchmark_trains_each_module_once(capsys, tmp_path):
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_run_space("tiny", train_size=64))
    rung_fidelity = import_file(ROOT / "benchmarks" / "rung_fidelity.py")
    argv = ["--space", str(space), "--budget", "tiny", "--seeds", "2"]
    argv += ["--scratch", str(tmp_path / "scratch"), "--workers", "1", "--markdown"]

    modules = rung_fidelity.main(argv)

    assert sum(module.baseline for module in modules) == 5 and len(modules) > 5
    assert all(
        len(m.results) == 2 and len(m.results[0].val_curve) == 1 for m in modules
    )
    printed = capsys.readouterr().out
    assert "| epoch | Spearman, baselines | Spearman, all modules |" in printed
    reported = rung_fidelity.main([*argv, "--report"])
    assert [m.results for m in reported] == [m.results for m in modules]
