"""The embedded classification task: one handwritten digit to classify on a cluttered colour canvas.

The default task ships with scikit-learn (its bundled 8 x 8 handwritten digits, no download ever). Each image is
one digit, upscaled and pasted at a random place on a larger noisy colour canvas among fragments of digits of
other classes (the cluttered-MNIST idea of Mnih et al., "Recurrent Models of Visual Attention",
https://arxiv.org/abs/1406.6247). By default every distractor shares one hue and the digit has another, drawn
afresh per image: which colour to look at is only known from the whole image, the kind of global context that
channel and spatial attention compute and a plain convolution stack has to learn the long way round.

Splits are fixed and disjoint by source image: train, val and test draw their digits *and* their clutter from
three contiguous blocks of the source file, so test images show only digits no training image contains. The file
carries no writer ids; contiguous blocks are the nearest to unseen writers it allows.

Generation is deterministic from `ProxyConfig.seed`, takes seconds, and is cached (`proxy.cache`): a cache file
that is corrupt, or holds arrays of other shapes, types or labels than generation makes, is regenerated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mixsearch.proxy.cache import (
    cached_arrays,
    check_array,
    check_images,
    keyed_cache_path,
)
from mixsearch.proxy.drawing import (
    background,
    inked_crops,
    palette,
    paste,
    source_pools,
    upscale,
)
from mixsearch.proxy.splits import SPLITS, ProxyData, classification_split
from mixsearch.space.sections import ProxyConfig

CACHE_FORMAT = 2  # bump whenever generation changes, so stale caches are not reused
NUM_DIGITS = 10


def cache_path(config: ProxyConfig) -> Path:
    """Where `load_proxy(config)` keeps its arrays (respects XDG_CACHE_HOME through platformdirs)."""
    return keyed_cache_path("digits", CACHE_FORMAT, config)


def load_proxy(config: ProxyConfig = ProxyConfig()) -> ProxyData:
    """The cluttered-digits task for `config`: read from the cache, or generated (seconds) and cached."""
    arrays = cached_arrays(
        cache_path(config),
        lambda: generate(config),
        lambda arrays: check_digits(arrays, config),
    )
    datasets = [
        classification_split(arrays[f"{split}_images"], arrays[f"{split}_labels"])
        for split in SPLITS
    ]
    return ProxyData(*datasets, num_classes=NUM_DIGITS, in_channels=3)


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
