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
from mixsearch.cli import main
from mixsearch.errors import MixsearchError
from mixsearch.proxy.yolo_format import load_yolo_folder
from mixsearch.search.result import RESULT_FORMAT

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


def test_export_of_a_folder_without_a_run_says_so(tmp_path):
    fails_with_one_line(["export", str(tmp_path)], "search.json: no such file")


def test_a_damaged_study_database_names_the_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_run_space("tiny"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
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
