"""YOLO base models as Ultralytics layer tables, and inserting a module into them.

Ultralytics describes a model as rows `[from, repeats, module, args]`; `from` is a layer index, negative ones
counting back from the row (-1: the previous layer), or a list of them (Concat, Detect). A module is inserted
*after* a layer: it reads that layer's output and replaces it as the input of every later layer that read it,
so every `from` is remapped (absolute indices move, relative ones are recomputed and stay relative).

Ultralytics passes the arguments of a module it does not know unchanged and takes its output channels to be
its input channels, so an inserted row is `[-1, 1, ClassName, [C]]` with C the channel count of the layer it
follows at that scale, computed as Ultralytics computes it.

The layer table comes from the installed ultralytics package when there is one, else from the copy shipped in
`templates/` (`mixsearch.resources`), so this module never imports ultralytics. It imports no torch either: the
DSL parser uses it.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from mixsearch.errors import ExportError
from mixsearch.resources import yolo_table_copy

SCALES = ("n", "s", "m", "l", "x")
DEFAULT_BASE = "yolov8"
DEFAULT_SCALES = ("n", "s")
DEFAULT_POSITIONS = ("backbone.p3", "backbone.p4", "backbone.p5")
# Modules whose output channels are their first argument, width-scaled; those that keep their input's.
WIDTH_SCALED = frozenset({"Conv", "C2f", "SPPF"})
PASS_THROUGH = frozenset({"nn.Upsample"})
CHANNEL_DIVISOR = 8
IMAGE_CHANNELS = 3

Source = int | tuple[int, ...]  # a row's `from`
Position = str | int  # a named point or a layer index


@dataclass(frozen=True)
class YoloBase:
    """A base model: its layer table's file and the named points a module can be inserted after."""

    name: str
    title: str  # as people write it
    package_file: str  # path inside the ultralytics package
    # point name -> (index of the layer it follows, the module expected there)
    points: Mapping[str, tuple[int, str]]


BASES = {
    "yolov8": YoloBase(
        "yolov8",
        "YOLOv8",
        "cfg/models/v8/yolov8.yaml",
        {
            "backbone.p2": (2, "C2f"),
            "backbone.p3": (4, "C2f"),
            "backbone.p4": (6, "C2f"),
            "backbone.p5": (8, "C2f"),
            "backbone.sppf": (9, "SPPF"),
            "neck.p4_td": (12, "C2f"),
            "neck.p3_out": (15, "C2f"),
            "neck.p4_out": (18, "C2f"),
            "neck.p5_out": (21, "C2f"),
        },
    )
}


@dataclass(frozen=True)
class UltralyticsExport:
    """The space's `export.ultralytics` section: base model, scales, and where the module goes."""

    base: str = DEFAULT_BASE
    scales: tuple[str, ...] = DEFAULT_SCALES
    positions: tuple[str, ...] = DEFAULT_POSITIONS


@dataclass(frozen=True)
class Layer:
    """One row of a layer table, with its section (backbone or head) and a note for the emitted comment."""

    source: Source
    repeats: int
    module: str
    args: tuple[Any, ...]
    section: str
    note: str = ""

    @property
    def sources(self) -> tuple[int, ...]:
        return self.source if isinstance(self.source, tuple) else (self.source,)


@dataclass(frozen=True)
class LayerTable:
    """A base model's table: top-level settings (nc …), scales {name: (depth, width, max_channels)}, layers."""

    base: YoloBase
    settings: dict[str, Any]
    scales: dict[str, tuple[float, float, int]]
    layers: tuple[Layer, ...]
    origin: str  # the file it was read from


@dataclass(frozen=True)
class Insertion:
    """An inserted module: the position as written, the base layer it follows, its index and channels."""

    position: str
    after: int
    index: int
    channels: int


def check_base(base: object) -> YoloBase:
    """The base model called `base`; ExportError naming the accepted ones otherwise."""
    if not isinstance(base, str) or base not in BASES:
        raise ExportError(f"unknown base model {base!r}; accepted: {', '.join(BASES)}")
    return BASES[base]


def check_scale(scale: object) -> str:
    """`scale` if it names a YOLO scale; ExportError naming the accepted ones otherwise."""
    if not isinstance(scale, str) or scale not in SCALES:
        raise ExportError(f"unknown scale {scale!r}; accepted: {', '.join(SCALES)}")
    return scale


def table_file(base: YoloBase) -> Path:
    """The installed ultralytics package's table for `base` if there is one, else mixsearch's shipped copy."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is not None and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / base.package_file
        if path.is_file():
            return path
    return yolo_table_copy(base.name)


def load_table(base: str = DEFAULT_BASE) -> LayerTable:
    """Read `base`'s layer table, its named points checked against the layers they name."""
    info = check_base(base)
    path = table_file(info)
    data = yaml.safe_load(path.read_text())
    sections = [("backbone", row) for row in data.pop("backbone")]
    sections += [("head", row) for row in data.pop("head")]
    names = {index: name for name, (index, _) in info.points.items()}
    layers = tuple(
        _layer(row, section, names.get(index, ""))
        for index, (section, row) in enumerate(sections)
    )
    scales = {key: tuple(value) for key, value in data.pop("scales").items()}
    table = LayerTable(info, data, scales, layers, str(path))
    _check_points(table)
    return table


def _layer(row: list, section: str, note: str) -> Layer:
    source, repeats, module, args = row
    source = tuple(source) if isinstance(source, list) else source
    return Layer(source, repeats, module, tuple(args), section, note)


def _check_points(table: LayerTable) -> None:
    """Each named point's layer holds the module it should (another ultralytics version's table may not)."""
    for name, (index, module) in table.base.points.items():
        if index >= len(table.layers) or table.layers[index].module != module:
            raise ExportError(
                f"{table.origin}: layer {index} is not the {module} that {name} names; "
                "this ultralytics version's table differs, insert at layer indices instead"
            )


def resolve_position(table: LayerTable, position: Position) -> int:
    """The base layer index a position names: a named point (`backbone.p3`) or a layer index."""
    if isinstance(position, str) and position in table.base.points:
        return table.base.points[position][0]
    # The last layer is the detection head: nothing can follow it.
    last = len(table.layers) - 2
    index = _as_index(position)
    if index is None or not 0 <= index <= last:
        names = ", ".join(table.base.points)
        raise ExportError(
            f"unknown position {position!r}; accepted: {names}, or a layer index 0-{last}"
        )
    return index


def position_label(position: str) -> str:
    """`backbone.p3` as it is; a raw index as `layer 12`."""
    return f"layer {position}" if position.isdigit() else position


def _as_index(position: object) -> int | None:
    if isinstance(position, bool):
        return None
    if isinstance(position, int):
        return position
    if isinstance(position, str) and position.isdigit():
        return int(position)
    return None


def make_divisible(value: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """The smallest multiple of `divisor` >= `value` (Ultralytics' rounding of scaled widths)."""
    return math.ceil(value / divisor) * divisor


def layer_channels(table: LayerTable, scale: str) -> list[int | None]:
    """Output channels of every layer at `scale`, as Ultralytics' parser computes them; None where unknown."""
    _, width, max_channels = table.scales[check_scale(scale)]
    channels: list[int | None] = []

    def read(ref: int, index: int) -> int | None:
        target = ref if ref >= 0 else index + ref
        return channels[target] if target >= 0 else IMAGE_CHANNELS

    for index, layer in enumerate(table.layers):
        inputs = [read(ref, index) for ref in layer.sources]
        if layer.module in WIDTH_SCALED:
            channels.append(make_divisible(min(layer.args[0], max_channels) * width))
        elif layer.module == "Concat" and None not in inputs:
            channels.append(sum(inputs))
        elif layer.module in PASS_THROUGH:
            channels.append(inputs[0])
        else:
            channels.append(None)
    return channels


def insert_layers(layers: Sequence[Layer], inserts: Mapping[int, Layer]) -> list[Layer]:
    """`layers` with `inserts[k]` placed right after layer k, every `from` remapped.

    The inserted layer reads layer k (`from` -1) and takes its place as the source of every later layer
    that read k. Absolute indices move to the new positions; negative (relative) ones stay negative,
    recomputed from the reading layer's new index.
    """
    # base index -> new index of the layer that now carries its output
    output_of: dict[int, int] = {}
    result: list[Layer] = []
    for index, layer in enumerate(layers):
        new_index = len(result)
        refs = tuple(_remap(ref, index, new_index, output_of) for ref in layer.sources)
        source = refs if isinstance(layer.source, tuple) else refs[0]
        result.append(replace(layer, source=source))
        if index in inserts:
            result.append(replace(inserts[index], section=layer.section))
        output_of[index] = len(result) - 1
    return result


def _remap(ref: int, index: int, new_index: int, output_of: dict[int, int]) -> int:
    target = ref if ref >= 0 else index + ref
    if target < 0:  # the model input
        return ref
    moved = output_of[target]
    return moved if ref >= 0 else moved - new_index


def plan_model(
    table: LayerTable, scale: str, positions: Sequence[Position], class_name: str
) -> tuple[list[Layer], list[Insertion]]:
    """The layer table at `scale` with `class_name` inserted at `positions`, and where each insertion landed."""
    afters = _resolve_all(table, positions)
    channels = layer_channels(table, scale)
    inserts = {}
    for position, after in afters.items():
        if channels[after] is None:
            raise ExportError(
                f"position {position!r}: cannot tell the output channels of layer {after} "
                f"({table.layers[after].module})"
            )
        inserts[after] = Layer(
            -1,
            1,
            class_name,
            (channels[after],),
            "",
            f"{class_name} after {position_label(position)}",
        )
    # In layer order, so that the j-th lands j rows further down.
    insertions = [
        Insertion(position, after, after + 1 + j, channels[after])
        for j, (position, after) in enumerate(afters.items())
    ]
    return insert_layers(table.layers, inserts), insertions


def moved_layers(table: LayerTable, positions: Sequence[Position]) -> dict[int, int]:
    """Base layer index -> its index once modules are inserted at `positions`, for the layers that moved: where
    a stock checkpoint's tensors of that layer belong (`stock_weights`)."""
    afters = sorted(_resolve_all(table, positions).values())
    moved = {}
    for index in range(len(table.layers)):
        shift = sum(1 for after in afters if after < index)
        if shift:
            moved[index] = index + shift
    return moved


def _resolve_all(table: LayerTable, positions: Sequence[Position]) -> dict[str, int]:
    """{position as written: base layer index}, in layer order; two positions naming one layer is an error."""
    afters: dict[str, int] = {}
    for position in positions:
        after = resolve_position(table, position)
        twin = next((p for p, a in afters.items() if a == after), None)
        if twin is not None:
            raise ExportError(
                f"positions {twin!r} and {str(position)!r} are both layer {after}"
            )
        afters[str(position)] = after
    if not afters:
        raise ExportError("no positions given")
    return dict(sorted(afters.items(), key=lambda item: item[1]))
