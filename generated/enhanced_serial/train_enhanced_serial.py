"""Train YOLOv8 with EnhancedSerial, an attention module emitted by mixsearch.

    python train_enhanced_serial.py DATA.yaml [--model MODEL.yaml] [KEY=VALUE ...]
    python train_enhanced_serial.py my_data.yaml --model yolov8s-enhanced_serial.yaml epochs=100 imgsz=640

DATA.yaml is an Ultralytics dataset file; each KEY=VALUE goes to `YOLO.train` (values read as YAML).
MODEL.yaml defaults to yolov8n-enhanced_serial.yaml; relative paths are read from this script's folder.

Ultralytics' model parser finds the modules a model YAML names in `ultralytics.nn.tasks`' namespace, so
`register()` adds EnhancedSerial there; no ultralytics file is edited. The class is imported from
enhanced_serial.py, never defined in this script: checkpoints pickle it by its module path,
`enhanced_serial.EnhancedSerial`, so a saved .pt loads in any process where `enhanced_serial` is importable (run
from this folder, or put it on PYTHONPATH) once `register()` has run:

    from train_enhanced_serial import register
    from ultralytics import YOLO

    register()
    model = YOLO("runs/detect/train/weights/best.pt")
"""

import argparse
from pathlib import Path

import yaml
from ultralytics import YOLO
from ultralytics.nn import tasks

from enhanced_serial import EnhancedSerial

HERE = Path(__file__).resolve().parent
MODELS = ["yolov8n-enhanced_serial.yaml", "yolov8s-enhanced_serial.yaml"]


def register() -> None:
    """Make the module's class a layer Ultralytics' model parser can build, never in place of one of its own."""
    name = EnhancedSerial.__name__
    existing = getattr(tasks, name, EnhancedSerial)
    if getattr(existing, "__module__", None) != EnhancedSerial.__module__:
        raise RuntimeError(
            f"ultralytics.nn.tasks already has a {name} (from {existing.__module__}), which every model "
            "YAML naming it would then build as this module: give the module another class_name in its space"
        )
    setattr(tasks, name, EnhancedSerial)


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
