"""Detection data in the Ultralytics YOLO format: export a detection `ProxyData`, and load a user's dataset.

A dataset is a folder with `data.yaml` naming the image folders (or .txt lists of images) of `train`, `val` and
optionally `test`, and the classes (`names`, a list or a dict by id, or `nc`). Each image's labels are in the
file its path gives with the last `/images/` replaced by `/labels/` and the suffix by `.txt`: one line
`class cx cy w h` per object, the box normalised to [0, 1].

Where Ultralytics' own loader warns and skips, loading here refuses with one message naming the file and line, so
that a search never trains on silently dropped data: a line that is not 5 numbers, a class outside `names`, a
coordinate outside [0, 1], and an image without a label file (Ultralytics reads it as background; here an empty
.txt says so). Without `test:`, the val images (sorted by path) are cut in two contiguous halves: the first
stays val, the second becomes test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import TensorDataset

from mixsearch.errors import MixsearchError
from mixsearch.proxy.image_folder import IMAGE_SUFFIXES, read_image
from mixsearch.proxy.splits import SPLITS, ProxyData

DATA_YAML = "data.yaml"
PAD_ROW = (-1.0, 0.0, 0.0, 0.0, 0.0)


# --- export ---------------------------------------------------------------------------------------------------


def export_yolo(data: ProxyData, directory: Path) -> Path:
    """Write detection `data` into the new or empty `directory` in the YOLO format; returns its data.yaml.

    Images go to images/{split}/NNNNNN.png, their labels to labels/{split}/NNNNNN.txt (6 decimals; empty for
    an image without objects)."""
    from PIL import Image

    if data.task != "detection":
        raise MixsearchError(
            f"only detection data exports to the YOLO format, not {data.task}"
        )
    root = export_folder(directory)
    for split in SPLITS:
        images, targets = getattr(data, split).tensors
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        pixels = (images * 255).round().clamp(0, 255).to(torch.uint8)
        for n, (image, rows) in enumerate(zip(pixels, targets)):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(
                root / "images" / split / f"{n:06d}.png"
            )
            height, width = image.shape[1:]
            (root / "labels" / split / f"{n:06d}.txt").write_text(
                _label_text(rows, width, height)
            )
    names = {i: str(i) for i in range(data.num_classes)}
    layout = {"path": str(root), **{split: f"images/{split}" for split in SPLITS}}
    data_yaml = root / DATA_YAML
    data_yaml.write_text(yaml.safe_dump({**layout, "names": names}, sort_keys=False))
    return data_yaml


def export_folder(directory: Path) -> Path:
    """`directory` made absolute, if it is new or an empty folder: an export never mixes with other files."""
    root = Path(directory).resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise MixsearchError(f"{root}: not an empty folder; export into a new one")
    return root


def _label_text(rows: torch.Tensor, width: int, height: int) -> str:
    """The YOLO label lines of one image's targets ([class, x1, y1, x2, y2] in pixels, padding skipped)."""
    lines = []
    for label, x1, y1, x2, y2 in rows.tolist():
        if label < 0:
            continue
        box = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height)
        box += ((x2 - x1) / width, (y2 - y1) / height)
        lines.append(f"{int(label)} " + " ".join(f"{v:.6f}" for v in box) + "\n")
    return "".join(lines)


# --- load -----------------------------------------------------------------------------------------------------


def load_yolo_folder(path: str | Path, image_size: int) -> ProxyData:
    """The YOLO dataset in folder `path` as detection ProxyData, every image resized to image_size square (boxes
    scaled with it); any problem raises MixsearchError naming the file (and line)."""
    data_yaml = Path(path) / DATA_YAML
    layout = _read_layout(data_yaml)
    num_classes = _class_count(layout, data_yaml)
    root = _dataset_root(layout, data_yaml)
    files = {
        split: _split_images(layout[split], root, data_yaml, split)
        for split in ("train", "val", "test")
        if layout.get(split)
    }
    if "test" not in files:
        files["val"], files["test"] = _halves(files["val"], data_yaml)
    datasets = [_load_split(files[split], image_size, num_classes) for split in SPLITS]
    return ProxyData(
        *datasets, num_classes=num_classes, in_channels=3, task="detection"
    )


def _read_layout(data_yaml: Path) -> dict[str, Any]:
    """data.yaml as a mapping holding at least `train` and `val`."""
    if not data_yaml.is_file():
        raise MixsearchError(
            f"{data_yaml}: no such file (a YOLO dataset folder holds data.yaml beside images/ and labels/)"
        )
    try:
        layout = yaml.safe_load(data_yaml.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise MixsearchError(f"{data_yaml}: cannot read ({error})") from None
    if not isinstance(layout, dict):
        raise MixsearchError(
            f"{data_yaml}: must be a mapping with train, val and names"
        )
    for key in ("train", "val"):
        if not layout.get(key):
            raise MixsearchError(
                f"{data_yaml}: '{key}:' is missing (train and val are required)"
            )
    return layout


def _class_count(layout: dict[str, Any], data_yaml: Path) -> int:
    """How many classes `names` (a list, or a dict by ids 0..n-1) or `nc` declare; both must agree."""
    names, count = layout.get("names"), layout.get("nc")
    if names is not None and not isinstance(names, (list, dict)):
        raise MixsearchError(
            f"{data_yaml}: names must be a list or a mapping of id to name"
        )
    if isinstance(names, dict) and set(names) != set(range(len(names))):
        raise MixsearchError(
            f"{data_yaml}: names must be keyed by the ids 0, 1, ..., got {list(names)}"
        )
    if count is not None and (
        not isinstance(count, int) or isinstance(count, bool) or count < 1
    ):
        raise MixsearchError(
            f"{data_yaml}: nc must be a whole number above 0, got {count!r}"
        )
    if names is not None and count is not None and len(names) != count:
        raise MixsearchError(
            f"{data_yaml}: names holds {len(names)} classes but nc is {count}"
        )
    if names is None and count is None:
        raise MixsearchError(f"{data_yaml}: needs 'names:' (or 'nc:') for the classes")
    if names is not None and not names:
        raise MixsearchError(f"{data_yaml}: names is empty")
    return len(names) if names is not None else count


def _dataset_root(layout: dict[str, Any], data_yaml: Path) -> Path:
    """The folder split paths are relative to: `path:` (itself relative to data.yaml's folder), else that
    folder."""
    root = data_yaml.parent / str(layout.get("path") or ".")
    if not root.is_dir():
        raise MixsearchError(
            f"{data_yaml}: path {layout['path']!r} is not a folder ({root})"
        )
    return root.resolve()


def _split_images(entry: Any, root: Path, data_yaml: Path, split: str) -> list[Path]:
    """The image files a split names: folders (searched recursively) or .txt lists of images, one or a list."""
    entries = entry if isinstance(entry, list) else [entry]
    files: list[Path] = []
    for item in entries:
        location = root / str(item)
        if location.is_dir():
            files += sorted(
                p
                for p in location.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
        elif location.suffix == ".txt" and location.is_file():
            files += _listed_images(location)
        else:
            raise MixsearchError(
                f"{data_yaml}: {split} {item!r} is not a folder or .txt list ({location})"
            )
    if not files:
        raise MixsearchError(f"{data_yaml}: {split} {entry!r} holds no images")
    return files


def _listed_images(listing: Path) -> list[Path]:
    """The images a .txt list names, one per line, relative paths taken from the list's folder (a binary file, or
    a line no path can hold, is a MixsearchError naming it)."""
    try:
        lines = [line.strip() for line in listing.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise MixsearchError(
            f"{listing}: cannot read it as a list of images ({error})"
        ) from None
    for number, line in enumerate(lines, 1):
        if "\0" in line:
            raise MixsearchError(
                f"{listing}:{number}: a NUL character where an image path should be; is it a text file?"
            )
    return [(listing.parent / line).resolve() for line in lines if line]


def _halves(val: list[Path], data_yaml: Path) -> tuple[list[Path], list[Path]]:
    """Val and test when data.yaml names no test: val's images in order, cut in two contiguous halves."""
    if len(val) < 2:
        raise MixsearchError(
            f"{data_yaml}: without 'test:' half of val becomes test, but val holds {len(val)} image"
        )
    middle = (len(val) + 1) // 2
    return val[:middle], val[middle:]


def label_path(image: Path) -> Path:
    """Where Ultralytics looks for an image's labels: the last /images/ of its path replaced by /labels/, and
    the suffix by .txt."""
    images, labels = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    text = str(image)
    if images in text:
        head, tail = text.rsplit(images, 1)
        text = head + labels + tail
    return Path(text).with_suffix(".txt")


def _load_split(files: list[Path], size: int, num_classes: int) -> TensorDataset:
    """Images resized to size x size in [0, 1], with targets N x K x 5 in pixels padded to K rows (K >= 1)."""
    images = np.stack([read_image(file, size) for file in files])
    labels = [_read_labels(file, num_classes) for file in files]
    most = max(1, *map(len, labels))
    targets = np.tile(np.array(PAD_ROW, dtype=np.float32), (len(files), most, 1))
    for n, rows in enumerate(labels):
        targets[n, : len(rows), 0] = rows[:, 0]
        targets[n, : len(rows), 1:] = rows[:, 1:] * size
    return TensorDataset(
        torch.from_numpy(images).float().div_(255), torch.from_numpy(targets)
    )


def _read_labels(image: Path, num_classes: int) -> np.ndarray:
    """The labels of `image` as rows [class, x1, y1, x2, y2] normalised to [0, 1] (clipped to the image)."""
    file = label_path(image)
    if not file.is_file():
        raise MixsearchError(
            f"{image}: no label file {file}; an image without objects needs an empty .txt there"
        )
    try:
        lines = file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise MixsearchError(f"{file}: cannot read labels ({error})") from None
    rows = [
        _parse_line(line, f"{file}:{number}", num_classes)
        for number, line in enumerate(lines, 1)
        if line.strip()
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def _parse_line(line: str, where: str, num_classes: int) -> list[float]:
    """One `class cx cy w h` line as [class, x1, y1, x2, y2]; `where` (file:line) names it in errors."""
    fields = line.split()
    try:
        values = [float(field) for field in fields]
    except ValueError:
        values = []
    if len(fields) != 5 or len(values) != 5:
        raise MixsearchError(
            f"{where}: expected 5 numbers 'class cx cy w h', got {line.strip()!r}"
        )
    label, cx, cy, width, height = values
    if not 0 <= label < num_classes or label != int(label):
        raise MixsearchError(
            f"{where}: class {fields[0]} is not an id of names (0 to {num_classes - 1})"
        )
    for name, field, value in zip(("cx", "cy", "w", "h"), fields[1:], values[1:]):
        if not 0 <= value <= 1:
            raise MixsearchError(f"{where}: {name} {field} is outside [0, 1]")
    if width == 0 or height == 0:
        raise MixsearchError(
            f"{where}: the box has no area (w {fields[3]}, h {fields[4]})"
        )
    corners = np.clip(
        [cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2], 0, 1
    )
    return [label, *corners]
