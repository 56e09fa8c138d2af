"""The detection proxy: the embedded boxed digits, their YOLO export, user YOLO folders and the `proxy:` section."""

import json
import logging
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from helpers import offline_env
from mixsearch.cli import main
from mixsearch.errors import MixsearchError, SpaceError
from mixsearch.proxy import detection_data
from mixsearch.proxy.detection_data import (
    PAD_ROW,
    STROKE_INK,
    generate_detection,
    load_detection,
)
from mixsearch.proxy.drawing import source_pools
from mixsearch.proxy.splits import SPLITS
from mixsearch.proxy.yolo_format import export_yolo, load_yolo_folder
from mixsearch.space.schema import parse_space
from mixsearch.space.sections import DetectionConfig

SMALL = DetectionConfig(canvas=64, train_size=20, val_size=10, test_size=10)
# No clutter, noise or background, all white: every inked pixel belongs to a digit.
CLEAN = replace(SMALL, clutter=0, noise=0.0, colour="grey", background=0.0)
TINY = replace(SMALL, canvas=32, min_digit=12, max_digit=16, fragment_size=8)
SPACE = "name: s\ngraph:\n  a: {op: se, from: input}\n"


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def exported(tmp_path) -> Path:
    """TINY exported to the YOLO format; returns its folder."""
    data = load_detection(replace(TINY, train_size=6, val_size=4, test_size=4))
    return export_yolo(data, tmp_path / "yolo").parent


def objects(targets: torch.Tensor) -> list[torch.Tensor]:
    """Each image's rows that are objects, not padding."""
    return [rows[rows[:, 0] >= 0] for rows in targets]


# --- the embedded task ----------------------------------------------------------------------------------------


def test_boxes_are_tight_on_the_digits_ink_and_cover_all_of_it():
    arrays = generate_detection(CLEAN)
    for split in SPLITS:
        for image, rows in zip(arrays[f"{split}_images"], arrays[f"{split}_targets"]):
            ink = image.max(0)
            covered = np.zeros_like(ink, dtype=bool)
            for _, x1, y1, x2, y2 in rows[rows[:, 0] >= 0].astype(int):
                box = ink[y1:y2, x1:x2]
                edges = (box[0], box[-1], box[:, 0], box[:, -1])
                assert all(edge.max() >= round(STROKE_INK * 255) - 1 for edge in edges)
                covered[y1:y2, x1:x2] = True
            assert not ink[~covered].any(), "ink outside every box"


def test_targets_are_boxes_inside_the_canvas_then_padding():
    data = load_detection(SMALL)
    assert (data.task, data.num_classes, data.in_channels) == ("detection", 10, 3)
    for split in SPLITS:
        images, targets = getattr(data, split).tensors
        assert images.shape == (SMALL.sizes()[split], 3, 64, 64)
        assert images.dtype == targets.dtype == torch.float32
        assert 0 <= images.min() and images.max() <= 1
        counts = (targets[:, :, 0] >= 0).sum(1)
        assert 1 <= counts.min() and counts.max() == targets.shape[1] <= 4
        for rows, count in zip(targets, counts):
            boxes = rows[:count]
            assert torch.equal(boxes[:, 0], boxes[:, 0].round())
            assert ((0 <= boxes[:, 0]) & (boxes[:, 0] < 10)).all()
            x1, y1, x2, y2 = boxes[:, 1:].T
            assert ((0 <= x1) & (x1 < x2) & (x2 <= 64)).all()
            assert ((0 <= y1) & (y1 < y2) & (y2 <= 64)).all()
            assert (rows[count:] == torch.tensor(PAD_ROW)).all()


def test_box_sides_follow_the_digit_sizes():
    arrays = generate_detection(SMALL)
    rows = arrays["train_targets"].reshape(-1, 5)
    rows = rows[rows[:, 0] >= 0]
    longer = np.maximum(rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2])
    assert longer.max() <= SMALL.max_digit
    assert longer.min() >= SMALL.min_digit - 2  # faint edge pixels dropped


def test_splits_are_disjoint_by_source_digit_and_classes_are_the_digits():
    from sklearn.datasets import load_digits

    labels = load_digits().target
    arrays = generate_detection(SMALL)
    pools = source_pools(len(labels))
    used = {}
    for split, pool in zip(SPLITS, pools):
        sources = arrays[f"{split}_sources"]
        targets = arrays[f"{split}_targets"]
        assert ((sources >= 0) == (targets[:, :, 0] >= 0)).all()
        assert (labels[sources[sources >= 0]] == targets[:, :, 0][sources >= 0]).all()
        used[split] = set(sources[sources >= 0].tolist())
        assert used[split] <= set(pool.tolist())
    assert not used["test"] & (used["train"] | used["val"])
    assert not used["train"] & used["val"]


def test_same_seed_same_data_another_seed_other_data():
    first, again = generate_detection(SMALL), generate_detection(SMALL)
    other = generate_detection(replace(SMALL, seed=1))
    for name in first:
        assert np.array_equal(first[name], again[name])
    assert not np.array_equal(first["train_images"], other["train_images"])


def test_second_load_reads_the_cache(monkeypatch):
    first = load_detection(SMALL)
    monkeypatch.setattr(detection_data, "generate_detection", pytest.fail)
    second = load_detection(SMALL)
    assert all(
        torch.equal(a, b) for a, b in zip(first.test.tensors, second.test.tensors)
    )


def _with_target(arrays, row, values):
    """The arrays with train image 0's target row `row` set to `values`."""
    targets = arrays["train_targets"].copy()
    targets[0, row] = values
    return {**arrays, "train_targets": targets}


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda a: _with_target(a, 0, [3, 10, 10, 70, 20]), "neither a digit's box"),
        (lambda a: _with_target(a, 0, [12, 10, 10, 20, 20]), "neither a digit's box"),
        (lambda a: _with_target(a, 0, [3, 20, 10, 10, 20]), "neither a digit's box"),
        (lambda a: _with_target(a, 0, [np.nan] * 5), "neither a digit's box"),
        (
            lambda a: {**a, "val_targets": a["val_targets"][..., :4]},
            "expected float32 10 x K x 5",
        ),
        (
            lambda a: {**a, "test_targets": np.zeros((10, 9, 5), np.float32)},
            "test_targets has 9 rows per image, more than 4",
        ),
    ],
    ids=["box-outside", "class-11", "empty-box", "nan", "four-columns", "too-many"],
)
def test_a_cache_of_wrong_boxes_or_shapes_is_regenerated_with_a_warning(
    caplog, edit, problem
):
    expected = load_detection(SMALL)
    path = detection_data.keyed_cache_path("detection", detection_data.VERSION, SMALL)
    with np.load(path) as stored:
        arrays = dict(stored)
    np.savez(path, **edit(arrays))

    with caplog.at_level(logging.WARNING):
        task = load_detection(SMALL)

    assert f"ignoring proxy cache {path}" in caplog.text and problem in caplog.text
    for split in SPLITS:
        for a, b in zip(getattr(task, split).tensors, getattr(expected, split).tensors):
            assert torch.equal(a, b)


# --- YOLO format ----------------------------------------------------------------------------------------------


def test_export_then_load_gives_the_same_images_boxes_and_classes(tmp_path):
    data = load_detection(SMALL)
    data_yaml = export_yolo(data, tmp_path / "yolo")
    loaded = load_yolo_folder(data_yaml.parent, 64)
    assert (loaded.task, loaded.num_classes) == ("detection", 10)
    for split in SPLITS:
        (images, targets), (again, read) = (
            getattr(d, split).tensors for d in (data, loaded)
        )
        assert torch.equal(images, again)
        assert read.shape == targets.shape
        for rows, read_rows in zip(objects(targets), objects(read)):
            assert torch.equal(rows[:, 0], read_rows[:, 0])
            assert torch.allclose(rows[:, 1:], read_rows[:, 1:], atol=1e-3)


def test_loading_resizes_images_and_scales_boxes(exported):
    small, large = (load_yolo_folder(exported, size) for size in (32, 96))
    assert large.train.tensors[0].shape[-2:] == (96, 96)
    assert torch.allclose(
        small.train.tensors[1][..., 1:] * 3, large.train.tensors[1][..., 1:], atol=1e-3
    )


def test_export_writes_the_layout_and_refuses_a_used_folder(exported):
    layout = yaml.safe_load((exported / "data.yaml").read_text())
    assert layout == {
        "path": str(exported),
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "names": {i: str(i) for i in range(10)},
    }
    assert len(list((exported / "images" / "val").glob("*.png"))) == 4
    line = (exported / "labels" / "train" / "000000.txt").read_text().splitlines()[0]
    label, *box = line.split()
    assert label.isdigit() and all(len(v.split(".")[1]) == 6 for v in box)
    with pytest.raises(MixsearchError, match="not an empty folder"):
        export_yolo(load_detection(SMALL), exported)


# Run in a fresh interpreter: importing Ultralytics patches PIL.Image.open for the whole process. Any attempt to
# reach the network fails it (a BaseException, which Ultralytics' `except Exception` cannot swallow).
ULTRALYTICS_LOAD = """
import json, socket, sys

class NetworkAttempt(BaseException):
    pass

def refuse(*args, **kwargs):
    raise NetworkAttempt(f"network access attempted: {args!r}")

socket.getaddrinfo = socket.create_connection = socket.socket.connect = refuse
import ultralytics.data.utils as data_utils
from ultralytics.data.dataset import YOLODataset

data = data_utils.check_det_dataset(sys.argv[1])
dataset = YOLODataset(img_path=data["train"], data=data, task="detect", imgsz=32, augment=False)
labels = [[label["cls"].ravel().tolist(), label["bboxes"].tolist()] for label in dataset.labels]
print(json.dumps({"nc": data["nc"], "names": data["names"], "labels": labels}))
"""


def test_exported_dataset_loads_in_ultralytics(exported, tmp_path):
    env = offline_env(tmp_path / "config")
    done = subprocess.run(
        [sys.executable, "-c", ULTRALYTICS_LOAD, str(exported / "data.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert read["nc"] == 10 and read["names"] == {str(i): str(i) for i in range(10)}
    ours = objects(load_yolo_folder(exported, 32).train.tensors[1])
    assert len(read["labels"]) == len(ours) == 6
    for (classes, bboxes), rows in zip(read["labels"], ours):
        assert classes == rows[:, 0].tolist()
        x1, y1, x2, y2 = (rows[:, 1:] / 32).T.numpy()
        xywh = np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)
        assert np.allclose(bboxes, xywh, atol=1e-5)


def test_without_test_split_val_is_cut_in_two_halves(exported):
    original = load_yolo_folder(exported, 32)
    data_yaml = exported / "data.yaml"
    layout = yaml.safe_load(data_yaml.read_text())
    del layout["test"]
    layout["names"] = [str(i) for i in range(10)]
    data_yaml.write_text(yaml.safe_dump(layout))
    halved = load_yolo_folder(exported, 32)
    images = original.val.tensors[0]
    assert torch.equal(halved.val.tensors[0], images[:2])
    assert torch.equal(halved.test.tensors[0], images[2:])


@pytest.mark.parametrize(
    "line, message",
    [
        ("0 0.5 0.5 0.2", "expected 5 numbers 'class cx cy w h', got '0 0.5 0.5 0.2'"),
        ("0 0.5 x 0.2 0.2", "expected 5 numbers"),
        ("12 0.5 0.5 0.2 0.2", r"class 12 is not an id of names \(0 to 9\)"),
        ("1.5 0.5 0.5 0.2 0.2", "class 1.5 is not an id"),
        ("3 0.5 1.25 0.2 0.2", r"cy 1.25 is outside \[0, 1\]"),
        ("3 0.5 0.5 0 0.2", "the box has no area"),
    ],
)
def test_bad_label_line_is_named_by_file_and_line(exported, line, message):
    label = exported / "labels" / "train" / "000003.txt"
    label.write_text(label.read_text().splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(MixsearchError, match=f"^{re.escape(str(label))}:2: {message}"):
        load_yolo_folder(exported, 32)


def test_image_without_labels_is_named_with_the_fix(exported):
    (exported / "labels" / "val" / "000001.txt").unlink()
    image = exported / "images" / "val" / "000001.png"
    with pytest.raises(
        MixsearchError, match=f"^{re.escape(str(image))}: no label .*empty .txt"
    ):
        load_yolo_folder(exported, 32)


def test_empty_label_file_is_an_image_without_objects(exported):
    (exported / "labels" / "val" / "000001.txt").write_text("")
    targets = load_yolo_folder(exported, 32).val.tensors[1]
    assert (targets[1] == torch.tensor(PAD_ROW)).all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"names": None}, "needs 'names:'"),
        ({"names": None, "nc": 10}, None),
        ({"nc": 9}, "names holds 10 classes but nc is 9"),
        ({"names": {0: "a", 2: "b"}}, "names must be keyed by the ids"),
        ({"val": None}, "'val:' is missing"),
        ({"train": "pictures"}, "train 'pictures' is not a folder"),
    ],
)
def test_bad_data_yaml_names_the_file(exported, change, message):
    data_yaml = exported / "data.yaml"
    layout = {**yaml.safe_load(data_yaml.read_text()), **change}
    data_yaml.write_text(yaml.safe_dump({k: v for k, v in layout.items() if v}))
    if message is None:
        assert load_yolo_folder(exported, 32).num_classes == 10
        return
    with pytest.raises(
        MixsearchError, match=f"^{re.escape(str(data_yaml))}: {message}"
    ):
        load_yolo_folder(exported, 32)


def test_missing_data_yaml_is_named(tmp_path):
    missing = re.escape(str(tmp_path / "data.yaml"))
    with pytest.raises(MixsearchError, match=f"^{missing}: no such file"):
        load_yolo_folder(tmp_path, 32)


# --- the proxy section and the command line -------------------------------------------------------------------


def test_proxy_section_sets_up_detection():
    spec = parse_space(SPACE + "proxy: {task: detection, canvas: 64}\n").proxy
    assert (spec.dataset, spec.task) == ("digits", "detection")
    assert spec.detection == DetectionConfig(canvas=64)
    folder = parse_space(SPACE + "proxy: {dataset: yolo, path: d}\n", "sp/s.yaml")
    assert folder.proxy.task == "detection" and folder.proxy.path.endswith("sp/d")


@pytest.mark.parametrize(
    "bad, message",
    [
        ("proxy: {dataset: yolo}", "proxy dataset yolo needs 'path: DIR'"),
        (
            "proxy: {task: detection, decoys: 2}",
            "decoys applies to task classification",
        ),
        ("proxy: {max_objects: 2}", "max_objects applies to task detection"),
        (
            "proxy: {task: detection, max_objects: 0}",
            "max_objects must be a whole number >= 1, got 0",
        ),
        (
            "proxy: {task: segmentation}",
            "task must be one of classification, detection",
        ),
        (
            "proxy: {dataset: yolo, path: d, task: classification}",
            "holds detection data",
        ),
        (
            "proxy: {task: detection, min_digit: 40}",
            r"min_digit must be between fragment_size \(12\) and max_digit \(32\), got 40",
        ),
    ],
)
def test_bad_detection_proxy_is_located(bad, message):
    with pytest.raises(SpaceError, match=message) as error:
        parse_space(SPACE + bad + "\n", "s.yaml")
    assert error.value.line == 4


def test_export_yolo_command_writes_the_spaces_detection_set(tmp_path):
    space = tmp_path / "s.yaml"
    proxy = "canvas: 32, min_digit: 12, max_digit: 16, fragment_size: 8"
    sizes = "train_size: 6, val_size: 2, test_size: 2"
    space.write_text(SPACE + f"proxy: {{task: detection, {proxy}, {sizes}}}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["proxy", "export-yolo", str(out), "--space", str(space)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'data.yaml'} (6 train, 2 val, 2 test images)" in result.output
    assert len(list((out / "labels" / "train").glob("*.txt"))) == 6

    again = CliRunner().invoke(main, ["proxy", "export-yolo", str(out)])
    assert again.exit_code == 2 and "not an empty folder" in again.output


def test_export_yolo_command_refuses_a_classification_space(tmp_path):
    space = tmp_path / "s.yaml"
    space.write_text(SPACE + "proxy: {canvas: 40}\n")
    result = CliRunner().invoke(
        main, ["proxy", "export-yolo", str(tmp_path / "out"), "--space", str(space)]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {space}: its proxy is the digits dataset for classification, not the embedded "
        "detection digits (proxy: {task: detection})"
    )
