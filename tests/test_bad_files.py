"""Every file a user hands mixsearch or a run leaves behind, damaged or from another version: one line naming the
file and exit status 2, never a traceback (the caches that can be rebuilt are tested with their owners: latency
table in test_hardware, proxy data in test_proxy, trainings in test_trainings, DARTS checkpoint in test_darts).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from helpers import tiny_run_space
from mixsearch.arch import Arch
from mixsearch.cli import main
from mixsearch.errors import MixsearchError
from mixsearch.inputs import MAX_INPUT_BYTES
from mixsearch.proxy.yolo_format import load_yolo_folder
from mixsearch.search.engine.tracker import read_progress
from mixsearch.search.outcome.result import (
    RESULT_FORMAT,
    SearchResult,
    Trained,
    TrialRecord,
)

NODE = {"name": "chan", "op": "se", "params": {}, "from": ["input"], "residual": False}
CURRENT = RESULT_FORMAT.encode()
ARCH = {"format": "mixsearch.arch/1", "name": "m", "class_name": "M", "nodes": [NODE]}


def fails_with_one_line(args: list[str], *expected: str) -> str:
    """Run the CLI: exit status 2 and one line on stderr holding each of `expected`."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    for text in expected:
        assert text in line, line
    return line


def with_node(**changes) -> dict:
    return {**ARCH, "nodes": [{**NODE, **changes}]}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x80\x81 not text", "invalid JSON"),
        (b'{"format": "mixsearch.arch/1", "nodes": [', "invalid JSON"),
        (b"[1, 2]", "not a mixsearch architecture"),
        (
            json.dumps({**ARCH, "nodes": []}).encode(),
            '"nodes" must be a non-empty list',
        ),
        (json.dumps(with_node(op="ecaa")).encode(), "unknown op 'ecaa'"),
        (json.dumps(with_node(op="sum")).encode(), "'sum' is a fusion function"),
        (
            json.dumps(with_node(params={"reduction": "x"})).encode(),
            "reduction must be int",
        ),
        (json.dumps(with_node(name="class")).encode(), "'class' is a Python keyword"),
        (
            json.dumps(with_node(**{"from": ["elsewhere"]})).encode(),
            "not an earlier node",
        ),
        (json.dumps({**ARCH, "metrics": [1]}).encode(), '"metrics" must be an object'),
    ],
    ids=[
        "binary",
        "truncated",
        "a-list",
        "no-nodes",
        "unknown-op",
        "fusion-as-op",
        "bad-param",
        "keyword-name",
        "dangling-input",
        "bad-metrics",
    ],
)
def test_a_bad_arch_json_names_the_file(tmp_path, content, message):
    path = tmp_path / "arch.json"
    path.write_bytes(content)
    fails_with_one_line(
        ["generate", str(path), "--out", str(tmp_path / "out")], str(path), message
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x01\x02", "unreadable search result"),
        (b'{"format": "%s", "trials": [' % CURRENT, "unreadable search result"),
        (b'{"format": "%s"}' % CURRENT, "unreadable search result"),
        (b"[]", "not a mixsearch search result"),
        (b'{"format": "mixsearch.search/0"}', "not a mixsearch search result"),
    ],
    ids=["binary", "truncated", "older-version-keys", "a-list", "older-format"],
)
def test_a_bad_search_json_names_the_file(tmp_path, content, message):
    (tmp_path / "search.json").write_bytes(content)
    fails_with_one_line(
        ["export", str(tmp_path)], str(tmp_path / "search.json"), message
    )


def a_result() -> dict:
    """The search.json of a small finished run: one trial, its retraining the winner."""
    arch = Arch.from_json(ARCH)
    winner = Trained(
        "trial 0", arch, (1, 2), (0.8, 0.82), (0.79, 0.81), 1.5, 900, 80, 9.0, 0
    )
    record = TrialRecord(0, "complete", arch, {"accuracy": 0.8, "latency_ms": 1.4})
    return SearchResult(
        **dict.fromkeys(
            ("space", "name", "strategy", "sampler", "command", "device"), "x"
        ),
        budget={"name": "tiny"},
        seed=0,
        constraints={},
        objectives=("accuracy", "latency_ms"),
        trials=(record,),
        pareto=(0,),
        finalists=(winner,),
        winner=winner,
        baselines=(),
        ablation=(),
    ).to_json()


def edited(data: dict, path: tuple, value) -> dict:
    """`data` with the item at `path` (keys and indices) replaced by `value`."""
    *parents, last = path
    inner = data
    for key in parents:
        inner = inner[key]
    inner[last] = value
    return data


@pytest.mark.parametrize("command", ["status", "export"])
@pytest.mark.parametrize(
    "path, value, message",
    [
        (("winner", "latency_ms"), "fast", "winner.latency_ms: expected a number"),
        (("winner", "val_accs"), "ab", "winner.val_accs[0]: expected a number"),
        (("winner", "test_accs"), [0.5], "trial 0: not one score per seed"),
        (("winner",), None, "winner: missing from a run that did not stop"),
        (("date",), 5, "date: expected str, got 5"),
        (("space",), ["a"], "space: expected str"),
        (("pareto",), "0", "pareto[0]: expected int, got '0'"),
        (("stopped",), 1, "stopped: expected str, got 1"),
        (("trials", 0, "values"), "x", "trials[0].values: expected dict"),
        (("finalists", 0, "flops"), 1.5, "finalists[0].flops: expected int, got 1.5"),
        (
            ("stage_seconds",),
            {"trials": "x"},
            "stage_seconds.trials: expected a number, got 'x'",
        ),
        (("trials", 0, "state"), "done", "trial 0: unknown state 'done'"),
    ],
    ids=[
        "text-latency",
        "text-scores",
        "scores-per-seed",
        "no-winner",
        "number-date",
        "list-space",
        "text-pareto",
        "number-stage",
        "text-values",
        "float-flops",
        "text-stage-seconds",
        "unknown-state",
    ],
)
def test_a_search_json_of_wrong_types_is_one_line_in_status_and_export(
    tmp_path, command, path, value, message
):
    result = tmp_path / "search.json"
    result.write_text(json.dumps(a_result()))
    assert CliRunner().invoke(main, ["status", str(tmp_path)]).exit_code == 0
    result.write_text(json.dumps(edited(a_result(), path, value)))
    fails_with_one_line(
        [command, str(tmp_path)], f"{result}: unreadable search result", message
    )


PROGRESS = {
    "command": "mixsearch run x.yaml",
    "strategy": "random",
    "budget": "tiny",
    "trial_budget": 3,
    "stages": [{"name": "trials", "state": "done", "seconds": 4.7}],
    "detail": "",
    "stopped": None,
    "estimate_left_s": 0.0,
    "started": 1.0,
    "updated": 2.0,
    "pid": 2**22 + 1,
    "host": "elsewhere",
}


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "JSONDecodeError"),
        ("[]", "expected dict, got []"),
        (json.dumps({**PROGRESS, "stages": 5}), "stages: expected list, got 5"),
        (
            json.dumps({**PROGRESS, "stages": [{"name": "trials", "state": "done"}]}),
            "stages[0].seconds: missing",
        ),
        (json.dumps({**PROGRESS, "updated": "now"}), "updated: expected a number"),
        (json.dumps({**PROGRESS, "pid": "1"}), "pid: expected int, got '1'"),
        (json.dumps({**PROGRESS, "pid": 10**20}), "pid: 1000"),
        (json.dumps({**PROGRESS, "storage": 5}), "storage: expected str, got 5"),
        (
            json.dumps({k: v for k, v in PROGRESS.items() if k != "command"}),
            "command: missing",
        ),
    ],
    ids=[
        "not-json",
        "a-list",
        "stages-number",
        "stage-without-seconds",
        "text-time",
        "text-pid",
        "huge-pid",
        "number-storage",
        "no-command",
    ],
)
def test_a_bad_progress_json_is_one_line_in_status(tmp_path, content, message):
    progress = tmp_path / "progress.json"
    progress.write_text(json.dumps(PROGRESS))
    assert CliRunner().invoke(main, ["status", str(tmp_path)]).exit_code == 0
    progress.write_text(content)
    fails_with_one_line(
        ["status", str(tmp_path)], f"{progress}: unreadable progress file", message
    )


def test_a_progress_json_with_keys_of_a_later_version_is_read(tmp_path):
    progress = {**PROGRESS, "study": "s", "gpu": "h100"}
    (tmp_path / "progress.json").write_text(json.dumps(progress))
    assert read_progress(tmp_path) == progress


def test_export_of_a_folder_without_a_run_says_so(tmp_path):
    fails_with_one_line(["export", str(tmp_path)], "search.json: no such file")


def test_a_damaged_study_database_names_the_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_run_space("tiny"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "progress.json").write_text(json.dumps({"space": "tiny"}))  # a run
    (run_dir / "study.db").write_bytes(b"this is not an SQLite database" * 100)
    args = ["run", str(space), "--budget", "tiny", "--out", str(run_dir), "--quiet"]
    fails_with_one_line(
        args, f"storage sqlite:///{(run_dir / 'study.db').resolve()}", "not a database"
    )


def test_an_unreachable_storage_url_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_run_space("tiny"))
    args = ["run", str(space), "--budget", "tiny", "--out", str(tmp_path / "run")]
    fails_with_one_line([*args, "--storage", "nosuchdb://x"], "storage nosuchdb://x")


def test_a_space_that_is_a_binary_file_names_it(tmp_path):
    path = Path(tmp_path / "space.yaml")
    path.write_bytes(b"\xff\xfe\x00binary")
    fails_with_one_line(["validate", str(path)], str(path), "cannot read")


def padded_to(text: str, size: int, comment: str) -> bytes:
    """`text` followed by comment lines up to exactly `size` bytes."""
    padding = size - len(text.encode()) - 1
    return (text + comment + "x" * (padding - len(comment)) + "\n").encode()


def test_a_space_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "space.yaml"
    space = "name: big\ngraph: {chan: {op: se, from: input}}\n"
    path.write_bytes(padded_to(space, MAX_INPUT_BYTES, "# "))
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0
    path.write_bytes(padded_to(space, MAX_INPUT_BYTES + 1, "# "))
    fails_with_one_line(["validate", str(path)], str(path), "larger than 256,000 bytes")


def test_an_arch_json_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "arch.json"
    path.write_bytes(json.dumps(ARCH).encode() + b" " * MAX_INPUT_BYTES)
    fails_with_one_line(
        ["generate", str(path), "--out", str(tmp_path / "out")],
        str(path),
        "larger than 256,000 bytes",
    )


def test_a_journal_storage_in_a_missing_folder_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_run_space("tiny"))
    args = ["run", str(space), "--budget", "tiny", "--out", str(tmp_path / "run")]
    journal = tmp_path / "missing" / "study.log"
    fails_with_one_line(
        [*args, "--storage", f"journal:{journal}"],
        f"storage journal:{journal}: cannot open the journal file",
        "No such file or directory",
    )


def yolo_dataset(root: Path, train: str = "images/train") -> Path:
    """A two-image YOLO dataset in `root` whose data.yaml names `train` for its training images."""
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for n in range(2):
            Image.new("RGB", (32, 32)).save(root / "images" / split / f"{n}.png")
            (root / "labels" / split / f"{n}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text(f"train: {train}\nval: images/val\nnames: [a]\n")
    return root


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe\x8f binary", "train.txt: cannot read it as a list of images"),
        (b"images/train/0.png\n\x00\x01", "train.txt:2: a NUL character"),
    ],
    ids=["not-utf8", "nul"],
)
def test_a_binary_image_list_names_the_file(tmp_path, content, message):
    (tmp_path / "train.txt").write_bytes(content)
    with pytest.raises(MixsearchError, match=re.escape(message)):
        load_yolo_folder(yolo_dataset(tmp_path, "train.txt"), 32)


def test_an_image_with_more_pixels_than_pillow_decodes_names_the_file(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a 32 x 32 image is a bomb
    with pytest.raises(MixsearchError, match=r"0\.png: cannot read image .*pixels"):
        load_yolo_folder(yolo_dataset(tmp_path), 32)
