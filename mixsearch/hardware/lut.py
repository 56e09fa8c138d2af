"""Latency lookup table: every candidate op of a space measured at every target shape, cached per device.

The table lives in one JSON file per device fingerprint (device name, torch version, dtype, threads, memory
format) under the user's cache directory, or at a path the user gives. Entries are keyed by input shape and op
(with its parameters and input count), so a second profile of the same space measures nothing, and spaces that
share ops share measurements. A file that is corrupt, from another format version or from another device is
ignored with a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
import torch
from torch import nn

from mixsearch.arch import op_label
from mixsearch.hardware.device import (
    device_name,
    example_input,
    measurement_threads,
    memory_format,
    torch_device,
    torch_dtype,
)
from mixsearch.hardware.latency import (
    DEFAULT_ROUNDS,
    measure_interleaved,
    measure_latency,
)
from mixsearch.hardware.runtime import runnable
from mixsearch.ops import OPS
from mixsearch.space.sections import Shape, Target

logger = logging.getLogger(__name__)

# Bumped whenever entries stop being comparable: how they are measured, or how their keys are written.
TABLE_FORMAT = 5
RESIDUAL_KEY = "residual"


def op_key(op: str, params: dict[str, Any], num_inputs: int) -> str:
    """Table key of one op configuration: name, parameters (sorted) and, for fusions, the input count."""
    key = op_label(op, {name: params[name] for name in sorted(params)})
    return f"{key} x{num_inputs}" if OPS.get(op).is_fusion else key


def shape_key(shape: Iterable[int]) -> str:
    return "x".join(map(str, shape))


def fingerprint(target: Target) -> dict[str, Any]:
    """What makes latencies comparable: device name, torch version, dtype, threads, memory format, runtime."""
    device = torch_device(target)
    return {
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "dtype": target.dtype,
        "threads": measurement_threads(target),
        "channels_last": target.channels_last,
        "runtime": _runtime_version(target.runtime),
    }


def _runtime_version(runtime: str) -> str:
    """The runtime and, beyond torch's own, its package version: `onnxruntime 1.30.0`."""
    if runtime != "onnxruntime":
        return runtime
    return f"onnxruntime {importlib.metadata.version('onnxruntime')}"


def default_table_path(target: Target) -> Path:
    """The cache file for the target's fingerprint under the user's cache directory."""
    digest = hashlib.sha1(
        json.dumps(fingerprint(target), sort_keys=True).encode()
    ).hexdigest()[:16]
    return platformdirs.user_cache_path("mixsearch") / "latency" / f"{digest}.json"


@dataclass
class LatencyTable:
    """Median latencies (ms) per (shape, op) on one device, plus the fitted whole-module overhead model."""

    fingerprint: dict[str, Any]
    path: Path
    entries: dict[str, dict[str, float]] = field(default_factory=dict)
    overhead: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def open(cls, target: Target, path: str | Path | None = None) -> LatencyTable:
        """The cached table for `target` (at `path` or the default location), or an empty one."""
        path = Path(path) if path is not None else default_table_path(target)
        expected = fingerprint(target)
        table = cls(expected, path)
        if not path.exists():
            return table
        try:
            data = json.loads(path.read_text())
            if data.get("format") != TABLE_FORMAT:
                raise ValueError(
                    f"format {data.get('format')!r}, expected {TABLE_FORMAT}"
                )
            if data.get("fingerprint") != expected:
                raise ValueError(
                    f"measured on {data.get('fingerprint')}, not {expected}"
                )
            table.entries = {
                s: {k: float(v) for k, v in ops.items()}
                for s, ops in data["entries"].items()
            }
            table.overhead = {
                s: [float(c) for c in coefficients]
                for s, coefficients in data["overhead"].items()
            }
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            UnicodeDecodeError,
        ) as error:
            logger.warning(
                "ignoring latency table %s (%s); it will be rebuilt", path, error
            )
            return cls(expected, path)
        return table

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": TABLE_FORMAT,
            "fingerprint": self.fingerprint,
            "entries": self.entries,
            "overhead": self.overhead,
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        temporary.replace(self.path)

    def has(self, shape: Shape, key: str) -> bool:
        return key in self.entries.get(shape_key(shape), {})

    def get(self, shape: Shape, key: str) -> float:
        try:
            return self.entries[shape_key(shape)][key]
        except KeyError:
            raise KeyError(
                f"no latency for {key} at {shape_key(shape)}; run `mixsearch profile` on the space"
            ) from None

    def put(self, shape: Shape, key: str, milliseconds: float) -> None:
        self.entries.setdefault(shape_key(shape), {})[key] = milliseconds


@dataclass(frozen=True)
class Measurement:
    """One thing to time: its table key, and how to build the callable on a target at a shape."""

    key: str
    build: Callable[[Target, Shape], Callable[[], object]]


def prepare_module(module: nn.Module, target: Target) -> nn.Module:
    """The module in eval mode on the target device, dtype and memory format."""
    return module.eval().to(
        torch_device(target), torch_dtype(target), memory_format=memory_format(target)
    )


def op_measurement(op: str, params: dict[str, Any], num_inputs: int) -> Measurement:
    """Timing of one op configuration: the module alone, on inputs of the target shape."""

    def build(target: Target, shape: Shape) -> Callable[[], object]:
        module = prepare_module(
            OPS.get(op).build(shape[1], params, num_inputs=num_inputs), target
        )
        x = example_input(target, shape)
        if OPS.get(op).is_fusion:
            xs = [x] + [example_input(target, shape) for _ in range(num_inputs - 1)]
            return runnable(module, xs, target)
        return runnable(module, x, target)

    return Measurement(op_key(op, params, num_inputs), build)


def op_latency(op: str, target: Target, shape: Shape, table: LatencyTable) -> float:
    """Measured ms of an op with default parameters (fusions: 2 inputs) at `shape`, through the latency table."""
    measurement = op_measurement(op, OPS.get(op).canonical_params({}), 2)
    if not table.has(shape, measurement.key):
        callable_ = measurement.build(target, shape)
        table.put(shape, measurement.key, measure(callable_, target, 30, warmup=5))
    return table.get(shape, measurement.key)


def residual_measurement() -> Measurement:
    """Timing of the learned residual `out + gamma * x`."""

    def build(target: Target, shape: Shape) -> Callable[[], object]:
        inputs = [example_input(target, shape), example_input(target, shape)]
        return runnable(prepare_module(_Residual(), target), inputs, target)

    return Measurement(RESIDUAL_KEY, build)


class _Residual(nn.Module):
    """`out + gamma * x` for [out, x], as a module so that every runtime can run it."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.tensor(0.1))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return xs[0] + self.gamma * xs[1]


def measure(
    build: Callable[[], object], target: Target, repeats: int, warmup: int
) -> float:
    """Latency in ms (`Latency.ms`) of a prepared callable under the shared protocol, on the target's device."""
    return measure_latency(
        build,
        torch_device(target),
        warmup=warmup,
        repeats=repeats,
        threads=measurement_threads(target),
    ).ms


T = TypeVar("T")


def measure_many(
    fns: Sequence[Callable[[], object]],
    target: Target,
    repeats: int,
    warmup: int,
    rounds: int = DEFAULT_ROUNDS,
    progress: Callable[[Iterable[T]], Iterable[T]] = iter,
) -> list[float]:
    """Latency in ms (`Latency.ms`) of each prepared callable, in interleaved rounds (`measure_interleaved`)."""
    latencies = measure_interleaved(
        fns,
        torch_device(target),
        warmup=warmup,
        repeats=repeats,
        threads=measurement_threads(target),
        rounds=rounds,
        progress=progress,
    )
    return [latency.ms for latency in latencies]
