"""The space's `target:` and `constraints:` sections: where the module runs and what it may cost.

target:
  device: auto            # auto (the GPU if there is one) | cpu | cuda | cuda:N
  dtype: float32          # float32 | float16 | bfloat16
  shapes: [[1, 64, 80, 80], [1, 128, 40, 40], [1, 256, 20, 20]]   # where the module sits (YOLOv8n P3-P5)
  channels_last: false
  threads: 2              # CPU threads for latency measurement (default: torch's)
constraints: {latency_ms: 1.5, flops: 2.0e8, params: 1.0e5}        # any subset; sums over the shapes
"""

from __future__ import annotations

import re
from typing import Any

from mixsearch.errors import SpaceError
from mixsearch.hardware.target import DTYPES, Constraints, Target
from mixsearch.ops.registry import short_repr
from mixsearch.space.located_yaml import LocatedDict, LocatedList

TARGET_KEYS = ("device", "dtype", "shapes", "channels_last", "threads")
CONSTRAINT_KEYS = ("latency_ms", "flops", "params")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
MIN_CHANNELS = 8


def _mapping(value: Any, line: int, section: str, keys: tuple[str, ...]) -> LocatedDict:
    if not isinstance(value, LocatedDict):
        raise SpaceError(
            f"'{section}' must be a mapping with keys among: {', '.join(keys)}",
            line=line,
        )
    for key in value:
        if key not in keys:
            raise SpaceError(
                f"unknown key {key!r} in {section}; accepted: {', '.join(keys)}",
                line=value.line_of(key),
            )
    return value


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 < value < float("inf")
    )


def parse_target(value: Any, line: int) -> Target:
    """The `target:` section as a Target (defaults for what it leaves out)."""
    section = _mapping(value, line, "target", TARGET_KEYS)
    fields: dict[str, Any] = {}
    if "device" in section:
        device = section["device"]
        if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
            raise SpaceError(
                f"target device must be auto, cpu, cuda or cuda:N, got {short_repr(device)}",
                line=section.line_of("device"),
            )
        fields["device"] = device
    if "dtype" in section:
        if section["dtype"] not in DTYPES:
            raise SpaceError(
                f"target dtype must be one of {', '.join(DTYPES)}, got {short_repr(section['dtype'])}",
                line=section.line_of("dtype"),
            )
        fields["dtype"] = section["dtype"]
    if "shapes" in section:
        fields["shapes"] = _shapes(section["shapes"], section.line_of("shapes"))
    if "channels_last" in section:
        if not isinstance(section["channels_last"], bool):
            raise SpaceError(
                "target channels_last must be true or false",
                line=section.line_of("channels_last"),
            )
        fields["channels_last"] = section["channels_last"]
    if "threads" in section:
        threads = section["threads"]
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise SpaceError(
                "target threads must be a whole number >= 1",
                line=section.line_of("threads"),
            )
        fields["threads"] = threads
    return Target(**fields)


def _shapes(value: Any, line: int) -> tuple[tuple[int, int, int, int], ...]:
    if not isinstance(value, LocatedList) or not value:
        raise SpaceError(
            "target shapes must be a non-empty list of [N, C, H, W]", line=line
        )
    shapes = []
    for i, shape in enumerate(value):
        item_line = value.line_of(i)
        if (
            not isinstance(shape, list)
            or len(shape) != 4
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape
            )
        ):
            raise SpaceError(
                f"a target shape must be [N, C, H, W] of whole numbers >= 1, got {short_repr(shape)}",
                line=item_line,
            )
        if shape[1] < MIN_CHANNELS:
            raise SpaceError(
                f"target shape {list(shape)}: ops need at least {MIN_CHANNELS} channels",
                line=item_line,
            )
        shapes.append(tuple(shape))
    return tuple(shapes)


def parse_constraints(value: Any, line: int) -> Constraints:
    """The `constraints:` section as Constraints; each limit a positive number."""
    section = _mapping(value, line, "constraints", CONSTRAINT_KEYS)
    for key, limit in section.items():
        if not _positive_number(limit):
            raise SpaceError(
                f"constraint {key} must be a positive number, got {short_repr(limit)}",
                line=section.line_of(key),
            )
    return Constraints(**{key: float(limit) for key, limit in section.items()})
