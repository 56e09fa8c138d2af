"""What both embedded digit tasks share: the blocks of source digits each split draws from, and drawing digits
and fragments of digits on a noisy colour canvas.
"""

from __future__ import annotations

import colorsys

import numpy as np
import torch
import torch.nn.functional as F

from mixsearch.proxy.splits import SPLITS
from mixsearch.space.sections import DetectionConfig, ProxyConfig

# Share of the 1797 source digits each split draws from, in file order.
SOURCE_FRACTIONS = (0.6, 0.2, 0.2)
# Mean intensity a clutter fragment must reach, so that it shows a stroke and not blank paper.
MIN_FRAGMENT_INK = 0.15


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


def inked_crops(strokes: np.ndarray, size: int) -> np.ndarray:
    """(digit, y, x) of every size x size window of `strokes` with at least MIN_FRAGMENT_INK mean intensity."""
    windows = np.lib.stride_tricks.sliding_window_view(
        strokes, (size, size), axis=(1, 2)
    )
    ink = windows.mean((-2, -1))
    return np.argwhere(ink >= min(MIN_FRAGMENT_INK, ink.max()))


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
