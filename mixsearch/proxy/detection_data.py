"""The embedded detection task: whole handwritten digits, each boxed and classed, on a cluttered colour canvas.

Each canvas holds 1 to `max_objects` digits of scikit-learn's bundled 8 x 8 set (no download ever). A digit is
cropped to its strokes and upscaled, aspect kept, until its longer side is a random size in [min_digit,
max_digit]; faint pixels below STROKE_INK are dropped, so its box is exactly the tight box of its visible ink.
A digit that would cover an earlier one (or be covered by it) by more than MAX_OVERLAP of the smaller box is
moved, up to PLACEMENT_TRIES times, then left out: an image may hold fewer digits than drawn. Under the digits lie
`clutter` fragments of digits in the distractor colour, as in the classification task
(`classification_data.generate`), and Gaussian noise over all.

Splits are disjoint by source image like the classification task's (`drawing.source_pools`): the digits and the
fragments of a split come from its own block of the source file only, so no test digit is seen in training.
Generation is deterministic from `DetectionConfig.seed` and cached like the classification task's.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from mixsearch.proxy.cache import (
    cached_arrays,
    check_array,
    check_images,
    keyed_cache_path,
)
from mixsearch.proxy.drawing import (
    background,
    blend,
    inked_crops,
    palette,
    paste,
    source_pools,
    upscale,
)
from mixsearch.proxy.splits import SPLITS, ProxyData
from mixsearch.space.sections import DetectionConfig

VERSION = 1  # bump whenever generation changes, so stale caches are not reused
NUM_CLASSES = 10
# Opacity below which an upscaled stroke pixel is dropped, so that every edge of a box lies on visible ink.
STROKE_INK = 0.1
# The most of the smaller of two boxes their intersection may cover, and the placements tried before giving up.
MAX_OVERLAP = 0.3
PLACEMENT_TRIES = 10
PAD_ROW = (-1.0, 0.0, 0.0, 0.0, 0.0)

# One placed digit: its source index, its strokes (opacity) and the top left corner (y, x) of its box.
Placed = tuple[int, np.ndarray, int, int]


def load_detection(config: DetectionConfig = DetectionConfig()) -> ProxyData:
    """The embedded detection task for `config`: read from the cache, or generated (seconds) and cached."""
    path = keyed_cache_path("detection", VERSION, config)
    arrays = cached_arrays(
        path,
        lambda: generate_detection(config),
        lambda arrays: check_detection(arrays, config),
    )
    datasets = [
        TensorDataset(
            torch.from_numpy(arrays[f"{split}_images"]).float().div_(255),
            torch.from_numpy(arrays[f"{split}_targets"]).float(),
        )
        for split in SPLITS
    ]
    return ProxyData(
        *datasets, num_classes=NUM_CLASSES, in_channels=3, task="detection"
    )


def check_detection(arrays: dict[str, np.ndarray], config: DetectionConfig) -> None:
    """ValueError unless every split holds what `generate_detection(config)` makes: uint8 canvases, and float32
    targets of at most max_objects rows per image, each a box in the canvas or PAD_ROW.
    """
    for split, count in config.sizes().items():
        check_images(arrays, split, count, config.canvas)
        targets = check_array(arrays, f"{split}_targets", (count, None, 5), np.float32)
        if targets.shape[1] > config.max_objects:
            raise ValueError(
                f"{split}_targets has {targets.shape[1]} rows per image, more than {config.max_objects}"
            )
        rows = targets.reshape(-1, 5)
        padding = (rows == PAD_ROW).all(axis=1)
        if not _boxes_fit(rows[~padding], config.canvas):
            raise ValueError(
                f"{split}_targets holds a row that is neither a digit's box in the canvas nor padding"
            )


def _boxes_fit(rows: np.ndarray, canvas: int) -> bool:
    """Whether every [class, x1, y1, x2, y2] row has a class 0..9 and a box of positive size in the canvas."""
    classes, x1, y1, x2, y2 = rows.T
    fits = np.isin(classes, np.arange(NUM_CLASSES))
    fits &= (
        (0 <= x1) & (x1 < x2) & (x2 <= canvas) & (0 <= y1) & (y1 < y2) & (y2 <= canvas)
    )
    return bool(fits.all())


def generate_detection(config: DetectionConfig) -> dict[str, np.ndarray]:
    """All three splits: uint8 images, float32 targets N x K x 5 in pixels, and each object's source index
    (N x K, -1 in padding), K the split's largest object count."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    intensities = digits.images / 16.0
    fragment_strokes = upscale(intensities, (config.min_digit + config.max_digit) // 2)
    arrays: dict[str, np.ndarray] = {}
    for i, (split, pool) in enumerate(zip(SPLITS, source_pools(len(intensities)))):
        rng = np.random.default_rng([config.seed, i])
        crops = inked_crops(fragment_strokes[pool], config.fragment_size)
        crops[:, 0] = pool[crops[:, 0]]
        rendered = [
            _render(intensities, pool, fragment_strokes, crops, config, rng)
            for _ in range(config.sizes()[split])
        ]
        images, placements = zip(*rendered)
        arrays[f"{split}_images"] = np.stack(images)
        arrays[f"{split}_targets"], arrays[f"{split}_sources"] = _targets(
            placements, digits.target
        )
    return arrays


def _render(
    intensities: np.ndarray,
    pool: np.ndarray,
    fragment_strokes: np.ndarray,
    crops: np.ndarray,
    config: DetectionConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[Placed]]:
    """One canvas: fragments (`crops` of `fragment_strokes`: source, y, x), then whole digits of `pool` on top,
    then noise."""
    target_colour, colours = palette(config, rng, config.clutter + config.max_objects)
    canvas = background(config, rng)
    size = config.fragment_size
    picks = crops[rng.integers(len(crops), size=config.clutter)]
    for (source, y, x), colour in zip(picks, colours):
        paste(canvas, fragment_strokes[source, y : y + size, x : x + size], colour, rng)
    placed = _place(intensities, pool, config, rng)
    object_colours = (
        colours[config.clutter :]
        if config.colour == "random"
        else [target_colour] * len(placed)
    )
    for (_, alpha, y, x), colour in zip(placed, object_colours):
        blend(canvas, alpha, colour, y, x)
    canvas += rng.normal(0.0, config.noise, canvas.shape)
    return np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8), placed


def _place(
    intensities: np.ndarray,
    pool: np.ndarray,
    config: DetectionConfig,
    rng: np.random.Generator,
) -> list[Placed]:
    """1 to max_objects digits of `pool`, each at a random place where it overlaps no earlier one too much."""
    placed: list[Placed] = []
    count = rng.integers(1, config.max_objects + 1)
    for source in rng.choice(pool, size=count):
        side = rng.integers(config.min_digit, config.max_digit + 1)
        alpha = _digit_strokes(intensities[source], int(side))
        height, width = alpha.shape
        for _ in range(PLACEMENT_TRIES):
            y = int(rng.integers(0, config.canvas - height + 1))
            x = int(rng.integers(0, config.canvas - width + 1))
            box = (x, y, x + width, y + height)
            if all(_overlap(box, _box(other)) <= MAX_OVERLAP for other in placed):
                placed.append((int(source), alpha, y, x))
                break
    return placed


def _digit_strokes(image: np.ndarray, side: int) -> np.ndarray:
    """An 8 x 8 digit cropped to its strokes, upscaled (aspect kept) to `side` on its longer side, with pixels
    fainter than STROKE_INK dropped and the result cropped to what remains."""
    rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
    cropped = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = side / max(cropped.shape)
    shape = tuple(max(1, round(length * scale)) for length in cropped.shape)
    tensor = torch.from_numpy(cropped).float()[None, None]
    resized = F.interpolate(tensor, size=shape, mode="bilinear", antialias=True)
    alpha = resized[0, 0].clamp(0, 1).numpy()
    alpha = np.where(alpha >= STROKE_INK, alpha, 0.0)
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    return alpha[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _box(placed: Placed) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) in pixels of a placed digit."""
    _, alpha, y, x = placed
    return x, y, x + alpha.shape[1], y + alpha.shape[0]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The share of the smaller of boxes `a` and `b` their intersection covers."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller


def _targets(
    placements: tuple[list[Placed], ...], labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Targets N x K x 5 ([class, x1, y1, x2, y2], PAD_ROW in padding) and sources N x K (-1 in padding)."""
    most = max(map(len, placements))
    targets = np.tile(np.array(PAD_ROW, dtype=np.float32), (len(placements), most, 1))
    sources = np.full((len(placements), most), -1, dtype=np.int64)
    for n, placed in enumerate(placements):
        for k, item in enumerate(placed):
            targets[n, k] = (labels[item[0]], *_box(item))
            sources[n, k] = item[0]
    return targets, sources
