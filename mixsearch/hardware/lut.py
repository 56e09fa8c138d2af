"""Latency lookup table: every candidate op of a space measured at every target shape, cached per device.

The table lives in one JSON file per device fingerprint (device name, torch version, dtype, threads, memory
format) under the user's cache directory, or at a path the user gives. Entries are keyed by input shape and op
(with its parameters; for a fusion function, its input count and which inputs are one tensor or a dropped
branch), so a second profile of the same space measures nothing, and spaces that share ops share measurements.
A file that is corrupt, from another format version or from another device is ignored with a warning and
rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import math
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
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

# Bumped whenever entries stop being comparable: how they are measured, how their keys are written, or what
# the overhead model stores.
TABLE_FORMAT = 6
RESIDUAL_KEY = "residual"
# Input patterns of a fusion (`fused_pattern`): a letter per distinct tensor, ZERO_INPUT for a dropped branch.
PATTERN_LETTERS = string.ascii_letters
ZERO_INPUT = "0"


def distinct_inputs(num_inputs: int) -> str:
    """The input pattern of a fusion whose inputs are all different tensors: `abc` for three."""
    return PATTERN_LETTERS[:num_inputs]


def op_key(
    op: str, params: dict[str, Any], num_inputs: int, pattern: str | None = None
) -> str:
    """Table key of one op configuration: name, parameters (sorted) and, for fusions, the input count and the
    input pattern (`fused_pattern`) unless every input is a different tensor: `gate x3`, `gate x3 aa0`.
    """
    key = op_label(op, {name: params[name] for name in sorted(params)})
    if not OPS.get(op).is_fusion:
        return key
    key = f"{key} x{num_inputs}"
    if pattern is None or pattern == distinct_inputs(num_inputs):
        return key
    return f"{key} {pattern}"


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
class OverheadModel:
    """How a module's table entries add up to its end-to-end latency at one shape: each entry scaled by its op's
    factor (`op_scales`, `scale` for ops it was not fitted on), plus `per_node` per node, plus `constant`.
    The default is the plain sum of the entries."""

    scale: float = 1.0
    op_scales: dict[str, float] = field(default_factory=dict)
    per_node: float = 0.0
    constant: float = 0.0

    def op_scale(self, op: str) -> float:
        return self.op_scales.get(op, self.scale)

    def predict(self, entries: Sequence[tuple[str, float]], nodes: int) -> float:
        """ms of a module with `nodes` nodes that run as ops and these table `entries` ((op or `residual`, ms))."""
        scaled = sum(self.op_scale(op) * ms for op, ms in entries)
        return scaled + self.per_node * nodes + self.constant

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OverheadModel:
        """The model `to_json` wrote; ValueError or TypeError if a part is missing or not a finite number."""
        return cls(
            _number(data["scale"], "overhead scale"),
            {
                op: _number(scale, f"overhead scale of {op}")
                for op, scale in data["op_scales"].items()
            },
            _number(data["per_node"], "overhead per node"),
            _number(data["constant"], "overhead constant"),
        )


def _number(value: Any, what: str, least: float = -math.inf) -> float:
    """`value` of a stored table as a float: a finite JSON number of at least `least`, else ValueError naming
    `what` (NaN, a negative latency or text would spoil every prediction made from the table).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not least <= value < math.inf
    ):
        bound = f" of at least {least:g}" if math.isfinite(least) else ""
        raise ValueError(f"{what} is {value!r}, not a finite number{bound}")
    return float(value)


@dataclass
class LatencyTable:
    """Median latencies (ms) per (shape, op) on one device, plus the fitted whole-module overhead model."""

    fingerprint: dict[str, Any]
    path: Path
    entries: dict[str, dict[str, float]] = field(default_factory=dict)
    overhead: dict[str, OverheadModel] = field(default_factory=dict)

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
                s: {k: _number(v, f"{k} at {s}", least=0.0) for k, v in ops.items()}
                for s, ops in data["entries"].items()
            }
            table.overhead = {
                s: OverheadModel.from_json(model)
                for s, model in data["overhead"].items()
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
            "overhead": {s: model.to_json() for s, model in self.overhead.items()},
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

    def overhead_model(self, shape: Shape) -> OverheadModel:
        """The overhead model fitted at `shape`, or the plain sum where none was fitted."""
        return self.overhead.get(shape_key(shape), OverheadModel())


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


def op_measurement(
    op: str, params: dict[str, Any], num_inputs: int, pattern: str | None = None
) -> Measurement:
    """Timing of one op configuration: the module alone, on inputs of the target shape; a fusion fed as
    `pattern` says (default: every input a different tensor)."""
    pattern = pattern or distinct_inputs(num_inputs)

    def build(target: Target, shape: Shape) -> Callable[[], object]:
        module = OPS.get(op).build(shape[1], params, num_inputs=num_inputs)
        if not OPS.get(op).is_fusion:
            module = prepare_module(module, target)
            return runnable(module, example_input(target, shape), target)
        fed = prepare_module(_FedFusion(module, pattern, shape), target)
        tensors = max(len(set(pattern) - {ZERO_INPUT}), 1)
        xs = [example_input(target, shape) for _ in range(tensors)]
        return runnable(fed, xs, target)

    return Measurement(op_key(op, params, num_inputs, pattern), build)


class _FedFusion(nn.Module):
    """A fusion function fed the way a module may feed it: inputs with the same letter of `pattern` are one
    tensor (branches that skip to the same value), `0` a dropped branch's zeros, which a compiling runtime
    folds into constants. Its inputs: one tensor per letter, in order of first use."""

    def __init__(self, fusion: nn.Module, pattern: str, shape: Shape):
        super().__init__()
        self.fusion = fusion
        letters = list(dict.fromkeys(pattern.replace(ZERO_INPUT, "")))
        self.slots = [-1 if c == ZERO_INPUT else letters.index(c) for c in pattern]
        self.register_buffer("zeros", torch.zeros(shape))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.fusion(
            [self.zeros if slot < 0 else xs[slot] for slot in self.slots]
        )


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
