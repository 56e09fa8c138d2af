"""Proxy datasets: the embedded cluttered-digits task, and class-per-folder images for user data.

The default task ships with scikit-learn (its bundled 8 x 8 handwritten digits, no download ever). Each image is
one digit, upscaled and pasted at a random place on a larger noisy colour canvas among fragments of digits of
other classes (the cluttered-MNIST idea of Mnih et al., "Recurrent Models of Visual Attention",
https://arxiv.org/abs/1406.6247). By default every distractor shares one hue and the digit has another, drawn
afresh per image: which colour to look at is only known from the whole image, the kind of global context that
channel and spatial attention compute and a plain convolution stack has to learn the long way round.

Splits are fixed and disjoint by source image: train, val and test draw their digits *and* their clutter from
three contiguous blocks of the source file, so test images show only digits no training image contains. The file
carries no writer ids; contiguous blocks are the nearest to unseen writers it allows.

Generation is deterministic from `ProxyConfig.seed`, takes seconds, and is cached as one .npz per configuration
under the user cache directory; a cache file that is corrupt, or holds arrays of other shapes, types or labels
than generation makes, is ignored with a warning and regenerated.
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from mixsearch.errors import MixsearchError
from mixsearch.space.sections import DetectionConfig, ProxyConfig, ProxySpec

logger = logging.getLogger(__name__)

CACHE_FORMAT = 2  # bump whenever generation changes, so stale caches are not reused
SPLITS = ("train", "val", "test")
# Share of the 1797 source digits each split draws from, in file order.
SOURCE_FRACTIONS = (0.6, 0.2, 0.2)
# Mean intensity a clutter fragment must reach, so that it shows a stroke and not blank paper.
MIN_FRAGMENT_INK = 0.15
NUM_DIGITS = 10
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class ProxyData:
    """A proxy task in three fixed splits of float images in [0, 1] (N x C x H x W, one size per split).

    Classification: each split pairs the images with int64 labels. Detection: with float32 targets N x K x 5,
    rows [class, x1, y1, x2, y2] in pixels (x1 < x2, y1 < y2, inside the image), padded up to the split's
    largest object count K with rows of class -1 and zeros.
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_classes: int
    in_channels: int
    task: str = "classification"


def cache_path(config: ProxyConfig) -> Path:
    """Where `load_proxy(config)` keeps its arrays (respects XDG_CACHE_HOME through platformdirs)."""
    return keyed_cache_path("digits", CACHE_FORMAT, config)


def keyed_cache_path(kind: str, version: int, config: object) -> Path:
    """A cache file named by `kind` and a hash of every field of the dataclass `config` and the generator's
    `version`."""
    fields = {"format": version, **dataclasses.asdict(config)}
    key = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return platformdirs.user_cache_path("mixsearch") / "proxy" / f"{kind}-{key}.npz"


def load_proxy(config: ProxyConfig = ProxyConfig()) -> ProxyData:
    """The cluttered-digits task for `config`: read from the cache, or generated (seconds) and cached."""
    arrays = cached_arrays(
        cache_path(config),
        lambda: generate(config),
        lambda arrays: check_digits(arrays, config),
    )
    datasets = [
        _dataset(arrays[f"{split}_images"], arrays[f"{split}_labels"])
        for split in SPLITS
    ]
    return ProxyData(*datasets, num_classes=NUM_DIGITS, in_channels=3)


def cached_arrays(
    path: Path,
    generate_arrays: Callable[[], dict[str, np.ndarray]],
    check: Callable[[dict[str, np.ndarray]], None],
) -> dict[str, np.ndarray]:
    """The arrays cached at `path` if `check` (a ValueError for what is wrong) passes them, else generated
    and cached there."""
    arrays = _read_cache(path, check)
    if arrays is None:
        arrays = generate_arrays()
        _write_cache(path, arrays)
    return arrays


def _read_cache(
    path: Path, check: Callable[[dict[str, np.ndarray]], None]
) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
        check(arrays)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.warning("ignoring proxy cache %s (%s); regenerating it", path, error)
        return None
    return arrays


def check_digits(arrays: dict[str, np.ndarray], config: ProxyConfig) -> None:
    """ValueError unless every split holds the images and labels `generate(config)` makes: uint8 canvases, and
    int64 labels of the ten digits."""
    for split, count in config.sizes().items():
        check_images(arrays, split, count, config.canvas)
        labels = check_array(arrays, f"{split}_labels", (count,), np.int64)
        if labels.size and not 0 <= labels.min() <= labels.max() < NUM_DIGITS:
            raise ValueError(
                f"{split}_labels holds classes outside 0..{NUM_DIGITS - 1}"
            )


def check_images(
    arrays: dict[str, np.ndarray], split: str, count: int, canvas: int
) -> None:
    """ValueError unless the split's images are `count` uint8 RGB canvases of `canvas` pixels a side."""
    check_array(arrays, f"{split}_images", (count, 3, canvas, canvas), np.uint8)


def check_array(
    arrays: dict[str, np.ndarray],
    name: str,
    shape: tuple[int | None, ...],
    dtype: type[np.generic],
) -> np.ndarray:
    """`arrays[name]` if it has `shape` (None: any length) and `dtype`, else ValueError (KeyError if absent)."""
    array = arrays[name]
    if (
        array.dtype != dtype
        or array.ndim != len(shape)
        or any(n is not None and n != got for n, got in zip(shape, array.shape))
    ):
        expected = " x ".join("K" if n is None else str(n) for n in shape)
        raise ValueError(
            f"{name} is {array.dtype} {' x '.join(map(str, array.shape))}, expected "
            f"{np.dtype(dtype)} {expected}"
        )
    return array


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file first, so that an interrupted or concurrent run never leaves a partial cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(temporary, **arrays)
    temporary.replace(path)


def generate(config: ProxyConfig) -> dict[str, np.ndarray]:
    """All three splits as uint8 images, labels and the source index of each image's digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    strokes = upscale(digits.images / 16.0, config.digit_size)
    arrays: dict[str, np.ndarray] = {}
    for i, (split, pool) in enumerate(zip(SPLITS, source_pools(len(strokes)))):
        rng = np.random.default_rng([config.seed, i])
        images, sources = _render_split(
            strokes, digits.target, pool, config.sizes()[split], config, rng
        )
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = digits.target[sources].astype(np.int64)
        arrays[f"{split}_sources"] = sources
    return arrays


def source_pools(count: int) -> list[np.ndarray]:
    """The source indices train, val and test draw from: three disjoint contiguous blocks of `count` digits."""
    bounds = np.cumsum((0,) + SOURCE_FRACTIONS) * count
    return [
        np.arange(round(bounds[i]), round(bounds[i + 1])) for i in range(len(SPLITS))
    ]


def upscale(images: np.ndarray, size: int) -> np.ndarray:
    """N x 8 x 8 intensities -> N x size x size, bilinear with antialiasing, clipped to [0, 1]."""
    tensor = torch.from_numpy(images).float().unsqueeze(1)
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
    return resized.squeeze(1).clamp(0, 1).numpy()


def _render_split(
    strokes: np.ndarray,
    labels: np.ndarray,
    pool: np.ndarray,
    count: int,
    config: ProxyConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """`count` canvases: one digit of `pool` on top of decoys and fragments of digits of other classes of `pool`."""
    crops = inked_crops(strokes[pool], config.fragment_size)
    sources = rng.choice(pool, size=count)
    images = np.empty((count, 3, config.canvas, config.canvas), dtype=np.uint8)
    size = config.fragment_size
    for n, source in enumerate(sources):
        target_colour, colours = palette(config, rng, config.clutter + config.decoys)
        canvas = background(config, rng)
        fragments = _other_class(
            crops, pool[crops[:, 0]], labels, source, config.clutter, rng
        )
        for (digit, y, x), colour in zip(fragments, colours):
            paste(canvas, strokes[pool[digit], y : y + size, x : x + size], colour, rng)
        decoys = _other_class(pool, pool, labels, source, config.decoys, rng)
        for digit, colour in zip(decoys, colours[config.clutter :]):
            paste(canvas, strokes[digit], colour, rng)
        paste(canvas, strokes[source], target_colour, rng)
        canvas += rng.normal(0.0, config.noise, canvas.shape)
        images[n] = np.round(np.clip(canvas, 0, 1) * 255)
    return images, sources


def inked_crops(strokes: np.ndarray, size: int) -> np.ndarray:
    """(digit, y, x) of every size x size window of `strokes` with at least MIN_FRAGMENT_INK mean intensity."""
    windows = np.lib.stride_tricks.sliding_window_view(
        strokes, (size, size), axis=(1, 2)
    )
    ink = windows.mean((-2, -1))
    return np.argwhere(ink >= min(MIN_FRAGMENT_INK, ink.max()))


def _other_class(
    items: np.ndarray,
    item_sources: np.ndarray,
    labels: np.ndarray,
    source: int,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """`count` random items whose source digit's class differs from `source`'s (redrawn until they do)."""
    picks = rng.integers(len(items), size=count)
    same = labels[item_sources[picks]] == labels[source]
    while same.any():
        picks[same] = rng.integers(len(items), size=int(same.sum()))
        same = labels[item_sources[picks]] == labels[source]
    return items[picks]


def background(
    config: ProxyConfig | DetectionConfig, rng: np.random.Generator
) -> np.ndarray:
    """A flat dark canvas, coloured unless the task is grey."""
    shade = rng.uniform(0, config.background, 1 if config.colour == "grey" else 3)
    return np.broadcast_to(
        shade[:, None, None], (3, config.canvas, config.canvas)
    ).copy()


def palette(
    config: ProxyConfig | DetectionConfig, rng: np.random.Generator, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The digit's colour and `count` distractor colours (count x 3), RGB in [0, 1] at full brightness.

    "odd": all distractors share one hue, a quarter to three quarters of a turn from the digit's; "random": every
    hue independent; "grey": all white.
    """
    if config.colour == "grey":
        return np.ones(3), np.ones((count, 3))
    hue = rng.uniform()
    if config.colour == "odd":
        distractor_hues = np.full(count, hue + rng.uniform(0.25, 0.75))
    else:
        distractor_hues = rng.uniform(size=count)
    saturations = rng.uniform(0.6, 1.0, count + 1)
    distractors = [_rgb(h, s) for h, s in zip(distractor_hues, saturations[1:])]
    return _rgb(hue, saturations[0]), np.array(distractors).reshape(count, 3)


def _rgb(hue: float, saturation: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, 1.0))


def paste(
    canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray, rng: np.random.Generator
) -> None:
    """Blend `colour` into `canvas` at a random place, with `alpha` (strokes) as opacity."""
    height, width = alpha.shape
    y = rng.integers(0, canvas.shape[1] - height + 1)
    x = rng.integers(0, canvas.shape[2] - width + 1)
    blend(canvas, alpha, colour, y, x)


def blend(
    canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray, y: int, x: int
) -> None:
    """Blend `colour` into `canvas` with its top left corner at (y, x), with `alpha` (strokes) as opacity."""
    height, width = alpha.shape
    region = canvas[:, y : y + height, x : x + width]
    region += alpha * (colour[:, None, None] - region)


def load_proxy_data(spec: ProxySpec, seed: int) -> ProxyData:
    """The proxy task a space's `proxy:` section asks for: the embedded digits (classification or detection),
    the user's class folders or the user's YOLO dataset."""
    if spec.dataset == "imagefolder":
        return load_imagefolder(spec.path, spec.image_size, seed=seed)
    if spec.dataset == "yolo":
        from mixsearch.proxy.yolo_format import load_yolo_folder

        return load_yolo_folder(spec.path, spec.image_size)
    if spec.task == "detection":
        from mixsearch.proxy.detection_data import load_detection

        return load_detection(spec.detection)
    return load_proxy(spec.digits)


def load_imagefolder(
    path: str | Path,
    size: int = 32,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> ProxyData:
    """User data: one sub-folder of images per class, resized to size x size RGB, split per class by `seed`.

    Problems (missing or empty folder, fewer than two classes, an unreadable image, splits left empty) raise
    MixsearchError naming the path.
    """
    root = Path(path)
    if (
        not 0 <= val_fraction < 1
        or not 0 <= test_fraction < 1
        or val_fraction + test_fraction >= 1
    ):
        raise MixsearchError(
            f"{root}: val and test fractions must be in [0, 1) with a sum below 1, got {val_fraction}, {test_fraction}"
        )
    files = _class_files(root)
    images = np.stack(
        [_read_image(file, size) for paths in files.values() for file in paths]
    )
    labels = np.concatenate(
        [np.full(len(paths), label) for label, paths in enumerate(files.values())]
    )
    splits = _stratified_split(labels, val_fraction, test_fraction, seed)
    for split, indices in zip(SPLITS, splits):
        if not len(indices):
            raise MixsearchError(
                f"{root}: too few images to fill the {split} split; add images or change the fractions"
            )
    return ProxyData(
        *(_dataset(images[indices], labels[indices]) for indices in splits),
        num_classes=len(files),
        in_channels=3,
    )


def _stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, val and test indices: each class shuffled by `seed` and cut by the fractions (rounded)."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = round(len(members) * val_fraction)
        n_test = round(len(members) * test_fraction)
        cuts = [len(members) - n_val - n_test, len(members) - n_test]
        for part, indices in zip(parts, np.split(members, cuts)):
            part.append(indices)
    return tuple(np.concatenate(part) for part in parts)


def _class_files(root: Path) -> dict[str, list[Path]]:
    """Class name -> its image files, for every sub-folder holding images (sorted, hidden ones skipped)."""
    if not root.is_dir():
        raise MixsearchError(
            f"{root}: no such folder (expected one sub-folder of images per class)"
        )
    files = {}
    for folder in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        images = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        if images:
            files[folder.name] = images
    if not files:
        raise MixsearchError(
            f"{root}: no images found (expected one sub-folder of images per class)"
        )
    if len(files) < 2:
        raise MixsearchError(
            f"{root}: only one class folder with images ({next(iter(files))}); need at least 2"
        )
    return files


def _read_image(file: Path, size: int) -> np.ndarray:
    """One image as 3 x size x size uint8 RGB."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise MixsearchError(
            "reading an image folder needs Pillow: pip install pillow"
        ) from None
    try:
        with Image.open(file) as image:
            resized = image.convert("RGB").resize(
                (size, size), Image.Resampling.BILINEAR
            )
    except (
        OSError,
        UnidentifiedImageError,
        ValueError,
        Image.DecompressionBombError,  # more pixels than Pillow decodes
    ) as error:
        raise MixsearchError(f"{file}: cannot read image ({error})") from None
    return np.asarray(resized).transpose(2, 0, 1)


def _dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    """uint8 images -> float in [0, 1], labels -> int64."""
    return TensorDataset(
        torch.from_numpy(images).float().div_(255), torch.from_numpy(labels).long()
    )
