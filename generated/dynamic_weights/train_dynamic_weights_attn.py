"""Train YOLOv8 with DynamicWeightsAttn, an attention module emitted by mixsearch.

    python train_dynamic_weights_attn.py DATA.yaml [--model MODEL.yaml] [KEY=VALUE ...]
    python train_dynamic_weights_attn.py my_data.yaml --model yolov8s-dynamic_weights_attn.yaml epochs=100 imgsz=640

DATA.yaml is an Ultralytics dataset file; each KEY=VALUE goes to `YOLO.train` (values read as YAML).
MODEL.yaml defaults to yolov8n-dynamic_weights_attn.yaml; relative paths are read from this script's folder.

Ultralytics' model parser finds the modules a model YAML names in `ultralytics.nn.tasks`' namespace, so
`register()` adds DynamicWeightsAttn there; no ultralytics file is edited. The class is imported from
dynamic_weights_attn.py, never defined in this script: checkpoints pickle it by its module path,
`dynamic_weights_attn.DynamicWeightsAttn`, so a saved .pt loads in any process where `dynamic_weights_attn` is importable (run
from this folder, or put it on PYTHONPATH) once `register()` has run:

    from train_dynamic_weights_attn import register
    from ultralytics import YOLO

    register()
    model = YOLO("runs/detect/train/weights/best.pt")
"""

import argparse
from pathlib import Path

import yaml
from ultralytics import YOLO
from ultralytics.nn import tasks

from dynamic_weights_attn import DynamicWeightsAttn

HERE = Path(__file__).resolve().parent
MODELS = ["yolov8n-dynamic_weights_attn.yaml", "yolov8s-dynamic_weights_attn.yaml"]


def register() -> None:
    """Make the module's class a layer Ultralytics' model parser can build, never in place of one of its own."""
    name = DynamicWeightsAttn.__name__
    existing = getattr(tasks, name, DynamicWeightsAttn)
    if getattr(existing, "__module__", None) != DynamicWeightsAttn.__module__:
        raise RuntimeError(
            f"ultralytics.nn.tasks already has a {name} (from {existing.__module__}), which every model "
            "YAML naming it would then build as this module: give the module another class_name in its space"
        )
    setattr(tasks, name, DynamicWeightsAttn)


def override(text: str) -> tuple[str, object]:
    """KEY=VALUE as (key, value), the value read as YAML (`epochs=3` is an int, `plots=False` a bool)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="dataset YAML (Ultralytics format)")
    parser.add_argument("--model", default=MODELS[0], help=f"one of {MODELS} or a path")
    parser.add_argument(
        "overrides",
        nargs="*",
        type=override,
        metavar="KEY=VALUE",
        help="YOLO.train settings, e.g. epochs=100 imgsz=640 device=0",
    )
    args = parser.parse_args()
    register()
    model = YOLO(str(HERE / args.model))
    model.train(data=args.data, **dict(args.overrides))


if __name__ == "__main__":
    main()
