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
