"""`mixsearch validate` on broken spaces: exit status 2 and one clean `error: FILE:LINE: message` line.

Each file in tests/broken_spaces/ holds one mistake; its first line says where and what the error must be:
`# expect: LINE: <regex searched in the message>`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import ROOT
from mixsearch.cli import main
from mixsearch.space import sections, settings

BROKEN = sorted((ROOT / "tests" / "broken_spaces").glob("*.yaml"))
EXPECT = re.compile(r"# expect: (\d+): (.+)")


def expectation(path: Path) -> tuple[int, str]:
    first_line = path.read_text().splitlines()[0]
    match = EXPECT.fullmatch(first_line.strip())
    assert (
        match
    ), f"{path.name}: first line must be '# expect: LINE: <regex>', got {first_line!r}"
    return int(match.group(1)), match.group(2)


def check_error_output(stderr: str, shown_path: str, line: int, pattern: str) -> None:
    """Exactly one line `error: FILE:LINE: message` whose message matches `pattern`; no traceback."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    prefix = f"error: {shown_path}:{line}: "
    assert lines[0].startswith(prefix), f"expected {prefix!r}..., got {lines[0]!r}"
    message = lines[0][len(prefix) :]
    assert re.search(pattern, message), f"{message!r} does not match {pattern!r}"


def run_validate(path: str):
    return CliRunner().invoke(main, ["validate", path])


def test_every_error_class_has_a_broken_space():
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_space_gives_one_located_error_line(path):
    line, pattern = expectation(path)
    result = run_validate(str(path))
    assert result.exit_code == 2, result.output
    # A clean exit, not an escaped exception.
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    check_error_output(result.stderr, str(path), line, pattern)


def test_broken_space_error_in_a_real_process():
    """The same contract through `python -m mixsearch`, with the path as the user typed it (relative)."""
    path = ROOT / "tests" / "broken_spaces" / "cycle.yaml"
    shown = str(path.relative_to(ROOT))
    line, pattern = expectation(path)
    process = subprocess.run(
        [sys.executable, "-m", "mixsearch", "validate", shown],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2, process.stderr
    assert process.stdout == ""
    check_error_output(process.stderr, shown, line, pattern)


def test_missing_file_gives_one_clean_line(tmp_path):
    missing = tmp_path / "no_such_space.yaml"
    result = run_validate(str(missing))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {missing}: no such file (or give a shipped example")
    assert "default" in line


def test_directory_instead_of_file_is_a_usage_error(tmp_path):
    """Caught by click's argument check: its usage message, exit 2, no traceback."""
    result = run_validate(str(tmp_path))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert "is a directory" in result.stderr


def write_space(tmp_path: Path, proxy: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(f"name: s\nproxy: {proxy}\ngraph:\n  a: {{op: se, from: input}}\n")
    return path


@pytest.mark.parametrize(
    "proxy",
    ["{dataset: yolo, path: data}", "{task: detection}"],
    ids=["yolo", "digits"],
)
def test_a_detection_proxy_without_the_detection_extra_is_refused_at_its_line(
    tmp_path, monkeypatch, proxy
):
    monkeypatch.setattr(settings, "DETECTION_PACKAGES", ("no_such_package",))
    path = write_space(tmp_path, proxy)
    result = run_validate(str(path))
    assert result.exit_code == 2
    pattern = r"proxy task detection needs the no_such_package package: pip install 'mixsearch\[detection\]'"
    check_error_output(result.stderr, str(path), 2, pattern)


@pytest.mark.parametrize(
    "target, message",
    [
        ("shapes: [[1, 64, 2048, 2048]]", "inputs of 1 x 64 x 2048 x 2048 take 1 GiB"),
        ("shapes: [[1, 32768, 1, 1]]", "32768 x 32768 weights take 4 GiB"),
    ],
    ids=["input", "weights"],
)
def test_shapes_are_bounded_by_this_machines_memory(
    tmp_path, monkeypatch, target, message
):
    monkeypatch.setattr(sections, "machine_memory", lambda: 2 * 2**30)
    path = tmp_path / "space.yaml"
    path.write_text(
        f"name: s\ntarget: {{{target}}}\ngraph:\n  a: {{op: se, from: input}}\n"
    )
    result = run_validate(str(path))
    assert result.exit_code == 2
    pattern = f"{re.escape(message)} as float32, more than a quarter of this machine's 2 GiB of memory"
    check_error_output(result.stderr, str(path), 2, pattern)


def test_the_proxy_digits_are_bounded_by_this_machines_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(sections, "machine_memory", lambda: 2 * 2**30)
    path = write_space(
        tmp_path,
        "{canvas: 512, digit_size: 512, train_size: 8, val_size: 8, test_size: 8}",
    )
    result = run_validate(str(path))
    assert result.exit_code == 2
    check_error_output(
        result.stderr,
        str(path),
        2,
        r"proxy digits \(1,797 upscaled to 512 x 512\) take 1.75 GiB",
    )
