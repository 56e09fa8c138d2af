"""User data for classification: one sub-folder of images per class, split per class by a seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mixsearch.errors import MixsearchError
from mixsearch.proxy.splits import SPLITS, ProxyData, classification_split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


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
        [read_image(file, size) for paths in files.values() for file in paths]
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
        *(classification_split(images[indices], labels[indices]) for indices in splits),
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


def read_image(file: Path, size: int) -> np.ndarray:
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
