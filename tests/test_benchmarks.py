"""The benchmark scripts run end to end (tiny settings; no timing assertions)."""

import math

import pytest
from helpers import ROOT, import_file


@pytest.mark.slow  # about 4 s, nearly all of it importing timm (and torchvision) for the reference
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

    assert [(result.row, result.shape) for result in results] == [
        ("eca", (1, 16, 8, 8))
    ]
    (result,) = results
    for value in (result.ours_ms, result.reference_ms, result.ratio):
        assert math.isfinite(value) and value > 0
    printed = capsys.readouterr().out
    assert "command: python benchmarks/op_speed.py --quick" in printed
    assert "timm EcaModule" in printed and "1x16x8x8" in printed


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
    assert printed.count("| chan=") == 6
