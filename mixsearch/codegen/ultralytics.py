"""Emit an Arch's module inside Ultralytics YOLO models: one model YAML per scale, and a training script.

Next to `<name>.py` go `yolov8<scale>-<name>.yaml` (Ultralytics reads the scale from that prefix) with the
module inserted at the requested positions (see `mixsearch.yolo`), and `train_<name>.py`, which registers
the class with Ultralytics and trains one of those models on a dataset given on the command line.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Sequence

import mixsearch
from mixsearch.arch import Arch
from mixsearch.errors import ExportError
from mixsearch.stock_weights import transfer_stock_weights
from mixsearch.templating import (
    PythonCode,
    YamlText,
    render,
    yaml_comment,
    yaml_flow,
)
from mixsearch.yolo import (
    DEFAULT_BASE,
    DEFAULT_POSITIONS,
    DEFAULT_SCALES,
    Layer,
    LayerTable,
    Position,
    YoloBase,
    load_table,
    moved_layers,
    plan_model,
    position_label,
)

COMMENT_WIDTH = 110


def model_file_name(arch: Arch, scale: str, base: str = DEFAULT_BASE) -> str:
    """`yolov8s-<name>.yaml`: Ultralytics takes the scale from this prefix (`guess_model_scale`)."""
    return f"{base}{scale}-{arch.name}.yaml"


def _row(index: int, layer: Layer) -> YamlText:
    row = yaml_flow([layer.source, layer.repeats, layer.module, layer.args])
    comment = yaml_comment(f"{index} {layer.note}".rstrip())
    return YamlText(f"{row} # {comment}")


def render_model_yaml(
    arch: Arch, table: LayerTable, scale: str, positions: Sequence[Position]
) -> str:
    """The model YAML of `table`'s base at `scale` with `arch`'s module inserted at `positions`."""
    layers, insertions = plan_model(table, scale, positions, arch.class_name)
    places = ", ".join(position_label(insertion.position) for insertion in insertions)
    title = (
        f"{table.base.title}{scale} with {arch.class_name} ({arch.name}.py), "
        f"emitted by mixsearch, after {places}."
    )
    rows = [(layer.section, _row(index, layer)) for index, layer in enumerate(layers)]
    return render(
        "ultralytics_model.yaml.j2",
        title=textwrap.wrap(title, COMMENT_WIDTH),
        version=mixsearch.__version__,
        base=table.base.name,
        base_title=table.base.title,
        name=arch.name,
        class_name=arch.class_name,
        scale=scale,
        settings=list(table.settings.items()),
        scale_row=table.scales[scale],
        backbone=[row for section, row in rows if section == "backbone"],
        head=[row for section, row in rows if section == "head"],
    )


def render_train_script(
    arch: Arch, model_files: Sequence[str], base: YoloBase, moved: dict[int, int]
) -> str:
    """`train_<name>.py`: registers the class with Ultralytics and trains one of `model_files` (from a stock
    checkpoint, whose layers `moved` says where to put)."""
    script = f"train_{arch.name}"
    doc = render(
        "ultralytics_train_doc.txt.j2",
        title=f"{base.title} with {arch.class_name}, an attention module emitted by mixsearch",
        script=script,
        module=arch.name,
        class_name=arch.class_name,
        models=list(model_files),
    )
    return render(
        "ultralytics_train.py.j2",
        doc=doc,
        module=arch.name,
        class_name=arch.class_name,
        models=list(model_files),
        moved=moved,
        # mixsearch's own function, emitted as it is (no escaping applies to trusted source).
        transfer_source=PythonCode(
            inspect.getsource(transfer_stock_weights).rstrip("\n")
        ),
    )


def render_ultralytics(
    arch: Arch,
    scales: Sequence[str] = DEFAULT_SCALES,
    positions: Sequence[Position] = DEFAULT_POSITIONS,
    base: str = DEFAULT_BASE,
) -> dict[str, str]:
    """File name -> text of one model YAML per scale and of `train_<name>.py` (ExportError for a bad setting)."""
    if not scales:
        raise ExportError("no scales given")
    table = load_table(base)
    files = {
        model_file_name(arch, scale, base): render_model_yaml(
            arch, table, scale, positions
        )
        for scale in dict.fromkeys(scales)
    }
    moved = moved_layers(table, positions)
    files[f"train_{arch.name}.py"] = render_train_script(
        arch, list(files), table.base, moved
    )
    return files
