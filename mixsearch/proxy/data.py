"""The proxy task a space's `proxy:` section asks for, by dataset and task: a table names each one's loader."""

from __future__ import annotations

from collections.abc import Callable

from mixsearch.proxy.classification_data import load_proxy
from mixsearch.proxy.detection_data import load_detection
from mixsearch.proxy.image_folder import load_imagefolder
from mixsearch.proxy.splits import ProxyData
from mixsearch.proxy.yolo_format import load_yolo_folder
from mixsearch.space.sections import ProxySpec

# The loader of every (dataset, task) the DSL accepts, given the section and the search's seed: the embedded
# digits (classification or detection), the user's class folders or the user's YOLO dataset.
LOADERS: dict[tuple[str, str], Callable[[ProxySpec, int], ProxyData]] = {
    ("digits", "classification"): lambda spec, seed: load_proxy(spec.digits),
    ("digits", "detection"): lambda spec, seed: load_detection(spec.detection),
    ("imagefolder", "classification"): lambda spec, seed: load_imagefolder(
        spec.path, spec.image_size, seed=seed
    ),
    ("yolo", "detection"): lambda spec, seed: load_yolo_folder(
        spec.path, spec.image_size
    ),
}


def load_proxy_data(spec: ProxySpec, seed: int) -> ProxyData:
    """The proxy task `spec` asks for, split by `seed` where the data has no fixed splits (image folders)."""
    return LOADERS[spec.dataset, spec.task](spec, seed)
