"""Parsing the space's sections beside the graph into their types (`sections.py`), every error at its line.

target:
  device: auto            # auto (the GPU if there is one) | cpu | cuda | cuda:N
  dtype: float32          # float32 | float16 | bfloat16
  shapes: [[1, 64, 80, 80], [1, 128, 40, 40], [1, 256, 20, 20]]   # where the module sits (YOLOv8n P3-P5)
  channels_last: false
  threads: 2              # CPU threads for latency measurement (default: 1 on the CPU)
  runtime: eager          # eager | compile (torch.compile) | onnxruntime: where latency is measured
constraints: {latency_ms: 1.5, flops: 2.0e8, params: 1.0e5}        # any subset; sums over the shapes
export:                   # what `mixsearch generate` writes beside the module (see mixsearch.yolo)
  ultralytics: {base: yolov8, scales: [n, s], positions: [backbone.p3, backbone.p4, neck.p3_out, 12]}
proxy: {dataset: digits}  # the proxy task the search trains on (see ProxySpec): digits | imagefolder | yolo
search: {strategy: hybrid, sampler: tpe, budget: quick}   # how `mixsearch run` searches (see SearchSpec)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import fields, replace
from functools import partial
from pathlib import Path
from typing import Any

from mixsearch.errors import (
    ExportError,
    MixsearchError,
    SpaceError,
    short_repr,
    unknown,
)
from mixsearch.ops import MIN_CHANNELS
from mixsearch.rules import (
    Rule,
    is_positive_number,
    is_whole,
    one_of,
    whole_number,
)
from mixsearch.space.located_yaml import LocatedDict, LocatedList
from mixsearch.space.sections import (
    BUDGETS,
    CONSTRAINT_METRICS,
    DETECTION_EXTRA,
    DETECTION_FIELD_RULES,
    DETECTION_PACKAGES,
    DEVICE_PATTERN,
    DTYPE_NAMES,
    OBJECTIVES,
    PROXY_DATASETS,
    PROXY_FIELD_RULES,
    PROXY_TASKS,
    RUNTIME_PACKAGES,
    RUNTIMES,
    SAMPLERS,
    SEED,
    STRATEGIES,
    Constraints,
    DetectionConfig,
    ProxyConfig,
    ProxySpec,
    SearchSpec,
    Target,
    memory_problem,
    ordered_objectives,
    shape_problem,
    threads_problem,
)
from mixsearch.yolo import (
    DEFAULT_BASE,
    LayerTable,
    UltralyticsExport,
    check_base,
    check_scale,
    load_table,
    resolve_position,
)

TARGET_KEYS = tuple(field.name for field in fields(Target))
EXPORT_KEYS = ("ultralytics",)
ULTRALYTICS_KEYS = ("base", "scales", "positions")
FOLDER_KEYS = ("path", "image_size")
PROXY_KEYS = tuple(
    dict.fromkeys(
        ("dataset", "task", *FOLDER_KEYS, *PROXY_FIELD_RULES, *DETECTION_FIELD_RULES)
    )
)
# The task each folder dataset holds, and what its folder contains.
FOLDER_TASKS = {"imagefolder": "classification", "yolo": "detection"}
FOLDER_CONTENTS = {
    "imagefolder": "class-per-folder images",
    "yolo": "a dataset in the Ultralytics YOLO format, with data.yaml",
}
SEARCH_KEYS = tuple(field.name for field in fields(SearchSpec))
# What each `search:` key but `objectives` accepts (the objectives are checked with their order).
SEARCH_RULES: dict[str, Rule] = {
    "strategy": one_of(*STRATEGIES),
    "sampler": one_of(*SAMPLERS),
    "budget": one_of(*BUDGETS),
    "trials": whole_number(1),
    "keep": whole_number(1),
    "seed": SEED,
}


def _mapping(value: Any, line: int, section: str, keys: tuple[str, ...]) -> LocatedDict:
    if not isinstance(value, LocatedDict):
        raise SpaceError(
            f"'{section}' must be a mapping with keys among: {', '.join(keys)}",
            line=line,
        )
    for key in value:
        if key not in keys:
            raise SpaceError(
                unknown("key", key, keys, "accepted", f" in {section}"),
                line=value.line_of(key),
            )
    return value


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
        if section["dtype"] not in DTYPE_NAMES:
            raise SpaceError(
                f"target dtype must be one of {', '.join(DTYPE_NAMES)}, got {short_repr(section['dtype'])}",
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
        if not is_whole(threads, 1):
            raise SpaceError(
                "target threads must be a whole number >= 1",
                line=section.line_of("threads"),
            )
        if problem := threads_problem(threads):
            raise SpaceError(
                f"target threads: {problem}", line=section.line_of("threads")
            )
        fields["threads"] = threads
    if "runtime" in section:
        fields["runtime"] = _runtime(section["runtime"], section.line_of("runtime"))
    return Target(**fields)


def _runtime(runtime: Any, line: int) -> str:
    if runtime not in RUNTIMES:
        raise SpaceError(unknown("target runtime", runtime, RUNTIMES), line=line)
    if runtime in RUNTIME_PACKAGES:
        package, install = RUNTIME_PACKAGES[runtime]
        if importlib.util.find_spec(package) is None:
            raise SpaceError(
                f"target runtime {runtime} needs the {package} package: {install}",
                line=line,
            )
    return runtime


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
        if problem := shape_problem(shape):
            raise SpaceError(f"target shape {list(shape)}: {problem}", line=item_line)
        shapes.append(tuple(shape))
    return tuple(shapes)


def parse_constraints(value: Any, line: int) -> Constraints:
    """The `constraints:` section as Constraints; each limit a positive number."""
    section = _mapping(value, line, "constraints", CONSTRAINT_METRICS)
    for key, limit in section.items():
        if not is_positive_number(limit):
            raise SpaceError(
                f"constraint {key} must be a positive number, got {short_repr(limit)}",
                line=section.line_of(key),
            )
    return Constraints(**{key: float(limit) for key, limit in section.items()})


def parse_export(value: Any, line: int) -> UltralyticsExport:
    """The `export:` section; today it holds `ultralytics:` (defaults for what it leaves out)."""
    section = _mapping(value, line, "export", EXPORT_KEYS)
    if section.get("ultralytics") is None:
        return UltralyticsExport()
    fields = _mapping(
        section["ultralytics"],
        section.line_of("ultralytics"),
        "export.ultralytics",
        ULTRALYTICS_KEYS,
    )
    base = DEFAULT_BASE
    if "base" in fields:
        base = _checked(check_base, fields["base"], fields.line_of("base")).name
    export = UltralyticsExport(base=base)
    if "scales" in fields:
        export = replace(export, scales=_scales(fields))
    if "positions" in fields:
        table = _checked(load_table, base, fields.line_of("positions"))
        export = replace(export, positions=_positions(fields, table))
    return export


def _checked(check: Callable[[Any], Any], value: Any, line: int) -> Any:
    """`check(value)`, its ExportError turned into a SpaceError at `line`."""
    try:
        return check(value)
    except ExportError as error:
        raise SpaceError(f"export.ultralytics: {error}", line=line) from None


def _items(fields: LocatedDict, key: str) -> LocatedList:
    items = fields[key]
    if not isinstance(items, LocatedList) or not items:
        raise SpaceError(
            f"export.ultralytics {key} must be a non-empty list",
            line=fields.line_of(key),
        )
    return items


def _scales(fields: LocatedDict) -> tuple[str, ...]:
    items = _items(fields, "scales")
    for i, item in enumerate(items):
        _checked(check_scale, item, items.line_of(i))
        if item in items[:i]:
            raise SpaceError(
                f"export.ultralytics scales lists {item!r} twice",
                line=items.line_of(i),
            )
    return tuple(items)


def _positions(fields: LocatedDict, table: LayerTable) -> tuple[str, ...]:
    """Positions as text (`backbone.p3`, `12`); two naming the same layer are an error."""
    items = _items(fields, "positions")
    seen: dict[int, str] = {}
    for i, item in enumerate(items):
        layer = _checked(partial(resolve_position, table), item, items.line_of(i))
        if layer in seen:
            raise SpaceError(
                f"export.ultralytics positions {seen[layer]!r} and {str(item)!r} are both layer {layer}",
                line=items.line_of(i),
            )
        seen[layer] = str(item)
    return tuple(seen.values())


def parse_proxy(value: Any, line: int, space_path: str) -> ProxySpec:
    """The `proxy:` section as a ProxySpec; a folder dataset's path is taken relative to the space file."""
    section = _mapping(value, line, "proxy", PROXY_KEYS)
    dataset = _proxy_choice(section, "dataset", PROXY_DATASETS, "digits")
    task = _proxy_choice(
        section, "task", PROXY_TASKS, FOLDER_TASKS.get(dataset, "classification")
    )
    if task == "detection":
        _check_detection_packages(
            section.line_of("task" if "task" in section else "dataset")
        )
    if dataset == "digits":
        return _digits_proxy(section, line, task)
    return _folder_proxy(section, line, dataset, task, space_path)


def _check_detection_packages(line: int) -> None:
    """A SpaceError at `line` unless the detection task's packages are installed: found now, not after DARTS."""
    for package in DETECTION_PACKAGES:
        if importlib.util.find_spec(package) is None:
            raise SpaceError(
                f"proxy task detection needs the {package} package: {DETECTION_EXTRA}",
                line=line,
            )


def _proxy_choice(
    section: LocatedDict, key: str, allowed: tuple[str, ...], default: str
) -> str:
    value = section.get(key, default)
    if value not in allowed:
        raise SpaceError(
            f"proxy {key} must be one of {', '.join(allowed)}, got {short_repr(value)}",
            line=section.line_of(key),
        )
    return value


def _digits_proxy(section: LocatedDict, line: int, task: str) -> ProxySpec:
    """The embedded digits for `task`, with the section's generation overrides checked each at its line."""
    rules = DETECTION_FIELD_RULES if task == "detection" else PROXY_FIELD_RULES
    overrides = {k: v for k, v in section.items() if k not in ("dataset", "task")}
    for key, value in overrides.items():
        if key in FOLDER_KEYS:
            where = "the imagefolder and yolo datasets"
        elif key not in rules:
            where = "task " + next(t for t in PROXY_TASKS if t != task)
        elif problem := rules[key].problem(f"proxy {key}", value):
            raise SpaceError(problem, line=section.line_of(key))
        else:
            continue
        raise SpaceError(
            f"proxy {key} applies to {where} only", line=section.line_of(key)
        )
    try:
        if task == "detection":
            return ProxySpec(task=task, detection=DetectionConfig(**overrides))
        return ProxySpec("digits", digits=ProxyConfig(**overrides))
    except MixsearchError as error:
        raise SpaceError(str(error), line=line) from None


def _folder_proxy(
    section: LocatedDict, line: int, dataset: str, task: str, space_path: str
) -> ProxySpec:
    """The user's image folder (classification) or YOLO dataset (detection) at `path`."""
    if task != FOLDER_TASKS[dataset]:
        raise SpaceError(
            f"proxy dataset {dataset} holds {FOLDER_TASKS[dataset]} data, not {task}",
            line=section.line_of("task"),
        )
    if not isinstance(section.get("path"), str):
        raise SpaceError(
            f"proxy dataset {dataset} needs 'path: DIR' ({FOLDER_CONTENTS[dataset]})",
            line=line,
        )
    digit_keys = [
        key for key in section if key not in ("dataset", "task", *FOLDER_KEYS)
    ]
    if digit_keys:
        raise SpaceError(
            f"proxy {digit_keys[0]} applies to the digits dataset only",
            line=section.line_of(digit_keys[0]),
        )
    image_size = section.get("image_size", ProxySpec.image_size)
    if problem := whole_number(1).problem("proxy image_size", image_size):
        raise SpaceError(problem, line=section.line_of("image_size"))
    if problem := memory_problem(
        f"images of 3 x {image_size} x {image_size}", 3 * image_size**2
    ):
        raise SpaceError(
            f"proxy image_size: {problem}", line=section.line_of("image_size")
        )
    path = str((Path(space_path).parent / section["path"]).resolve())
    return ProxySpec(dataset, path, image_size, task=task)


def parse_search(value: Any, line: int) -> SearchSpec:
    """The `search:` section as a SearchSpec (defaults for what it leaves out)."""
    section = _mapping(value, line, "search", SEARCH_KEYS)
    for key, rule in SEARCH_RULES.items():
        if key in section and (problem := rule.problem(f"search {key}", section[key])):
            raise SpaceError(problem, line=section.line_of(key))
    spec = SearchSpec(**{k: v for k, v in section.items() if k != "objectives"})
    if "objectives" in section:
        spec = replace(
            spec,
            objectives=_objectives(
                section["objectives"], section.line_of("objectives")
            ),
        )
    return spec


def _objectives(value: Any, line: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpaceError(
            f"search objectives must be a list among: {', '.join(OBJECTIVES)}",
            line=line,
        )
    try:
        return ordered_objectives(value)
    except ValueError as error:
        raise SpaceError(str(error), line=line) from None
