"""The cache of the generated proxy tasks: one .npz per configuration under the user cache directory, written
whole, and checked on reading (a file that is corrupt or holds other arrays than generation makes is ignored with
a warning and regenerated).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import platformdirs

logger = logging.getLogger(__name__)


def keyed_cache_path(kind: str, version: int, config: object) -> Path:
    """A cache file named by `kind` and a hash of every field of the dataclass `config` and the generator's
    `version`."""
    fields = {"format": version, **dataclasses.asdict(config)}
    key = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return platformdirs.user_cache_path("mixsearch") / "proxy" / f"{kind}-{key}.npz"


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
