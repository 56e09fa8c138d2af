"""From-scratch trainings kept on disk and reused by every run that would repeat one.

A final training (finalist, baseline, ablation) is a function of what the architecture computes, the epochs,
the recipe and seed, the proxy data, torch's thread count, the machine (device and torch version), and the code
that trains (`TRAINING_CODE`: ops, models, the proxy, not the search). The cache key hashes all of them, so a
second run on the same proxy and machine reuses the baselines (and any architecture) an earlier run trained, and
a killed run resumes without training one twice. Only the training's outcome is kept, with its validation score
after every epoch (a trial's rung score can be read from it): latency is measured afresh by every run, all its
modules in the same rounds. One JSON file per training, written atomically, so concurrent workers never clash; a
file that is damaged or holds other types or numbers than a training returns is ignored with a warning and
trained again."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import platformdirs

import mixsearch
from mixsearch.arch import Arch, function_key
from mixsearch.hardware.lut import fingerprint
from mixsearch.inputs import check_type
from mixsearch.proxy import ProxyData, TrainConfig, TrainResult
from mixsearch.space.sections import Target

logger = logging.getLogger(__name__)

# What of the target's fingerprint a training depends on; the rest (measurement threads, dtype, memory format)
# only changes latency, which every run measures itself.
TRAINING_MACHINE = ("device", "device_type", "torch")


def default_cache_dir() -> Path:
    """Under the user's cache directory (XDG_CACHE_HOME moves it, through platformdirs)."""
    return platformdirs.user_cache_path("mixsearch") / "trainings"


# What a training computes with: the ops, the models, the proxy (data, hosts, training loop), and what an
# architecture is. The search's own code (strategies, the engine, the report) changes no training.
TRAINING_CODE = ("arch.py", "ops", "model", "proxy")


@cache
def code_digest() -> str:
    """A hash of the source a training depends on (`TRAINING_CODE`): a change to an op, a host or the training
    loop starts afresh; a change to the search keeps every cached training."""
    digest = hashlib.sha1()
    package = Path(mixsearch.__file__).parent
    for part in TRAINING_CODE:
        paths = (
            [package / part] if part.endswith(".py") else (package / part).rglob("*.py")
        )
        for path in sorted(paths):
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def data_digest(data: ProxyData) -> str:
    """A hash of the proxy splits' contents, whatever their source (embedded digits, an image folder, caps)."""
    digest = hashlib.sha1(f"{data.task}|{data.num_classes}|{data.in_channels}".encode())
    for split in (data.train, data.val, data.test):
        for tensor in split.tensors:
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def json_digest(value: Any) -> str:
    """A stable hash of a JSON-able value (keys sorted; anything else as its string)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


class TrainingCache:
    """The from-scratch trainings of one setting (data, recipe, threads, machine, code) in `directory`, keyed by
    what the architecture computes (`baselines.function_key`: node names and skipped nodes do not matter), the
    epochs and the seed."""

    def __init__(
        self,
        directory: Path,
        data: ProxyData,
        recipe: TrainConfig,
        target: Target,
        threads: int,
    ):
        self.directory = directory
        machine = fingerprint(target)
        recipe_fields = {k: v for k, v in asdict(recipe).items() if k != "seed"}
        self.setting = json_digest(
            {
                "code": code_digest(),
                "data": data_digest(data),
                "recipe": recipe_fields,
                "torch_threads": threads,
                "machine": {key: machine[key] for key in TRAINING_MACHINE},
            }
        )

    def _path(self, arch: Arch, epochs: int, seed: int) -> Path:
        key = json_digest([self.setting, function_key(arch), epochs, seed])[:20]
        return self.directory / f"{key}.json"

    def get(self, arch: Arch, epochs: int, seed: int) -> TrainResult | None:
        """The outcome of an earlier training of `arch` for `epochs` with `seed`, if one was kept."""
        path = self._path(arch, epochs, seed)
        if not path.exists():
            return None
        try:
            stored = json.loads(path.read_text())
            stored["val_curve"] = tuple(stored.get("val_curve", ()))
            return _checked(TrainResult(**stored), epochs)
        except (OSError, ValueError, TypeError) as error:
            logger.warning(
                "ignoring cached training %s (%s); training it again", path, error
            )
            return None

    def put(self, arch: Arch, seed: int, result: TrainResult) -> None:
        """Keep `result` (a training of `arch` for `result.epochs` with `seed`); written whole or not at all."""
        path = self._path(arch, result.epochs, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(result)))
        temporary.replace(path)


def _checked(result: TrainResult, epochs: int) -> TrainResult:
    """`result` if it is what a training of `epochs` epochs returns (its fields' types, finite numbers), else
    TypeError or ValueError saying what is not."""
    check_type(result, TrainResult)
    if result.epochs != epochs:
        raise ValueError(f"epochs is {result.epochs}, not {epochs}")
    if len(result.val_curve) != epochs:
        raise ValueError(f"val_curve has {len(result.val_curve)} scores, not {epochs}")
    numbers = {
        k: v for k, v in asdict(result).items() if k not in ("epochs", "val_curve")
    }
    for name, value in [
        *numbers.items(),
        *(("val_curve", v) for v in result.val_curve),
    ]:
        if not math.isfinite(value):
            raise ValueError(f"{name} is {value}")
    if result.seconds < 0:
        raise ValueError(f"seconds is {result.seconds}")
    return result
