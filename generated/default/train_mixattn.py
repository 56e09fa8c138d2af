"""Train YOLOv8 with MixAttn, an attention module emitted by mixsearch.

    python train_mixattn.py DATA.yaml [--model MODEL.yaml] [--weights STOCK.pt] [KEY=VALUE ...]
    python train_mixattn.py my_data.yaml --model yolov8s-mixattn.yaml epochs=100 imgsz=640
    python train_mixattn.py my_data.yaml --weights yolov8n.pt epochs=50

DATA.yaml is an Ultralytics dataset file; each KEY=VALUE goes to `YOLO.train` (values read as YAML).
MODEL.yaml defaults to yolov8n-mixattn.yaml; relative paths are read from this script's folder. --weights starts from
a stock Ultralytics checkpoint of the same base and scale: every stock tensor goes to the layer that now does its
job (the inserted modules shifted the indices), and the line printed says how many were transferred.

Ultralytics' model parser finds the modules a model YAML names in `ultralytics.nn.tasks`' namespace, so
`register()` adds MixAttn there; no ultralytics file is edited. The class is imported from
mixattn.py, never defined in this script: checkpoints pickle it by its module path,
`mixattn.MixAttn`, so a saved .pt loads in any process where `mixattn` is importable (run
from this folder, or put it on PYTHONPATH) once `register()` has run:

    from train_mixattn import register
    from ultralytics import YOLO

    register()
    model = YOLO("runs/detect/train/weights/best.pt")
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml
from ultralytics import YOLO
from ultralytics.nn import tasks

from mixattn import MixAttn

HERE = Path(__file__).resolve().parent
MODELS = ["yolov8n-mixattn.yaml", "yolov8s-mixattn.yaml"]
# Base layer index -> its index in these models: where a stock checkpoint's tensors of that layer go.
MOVED = {
    5: 6,
    6: 7,
    7: 9,
    8: 10,
    9: 12,
    10: 13,
    11: 14,
    12: 15,
    13: 16,
    14: 17,
    15: 18,
    16: 19,
    17: 20,
    18: 21,
    19: 22,
    20: 23,
    21: 24,
    22: 25,
}


def register() -> None:
    """Make the module's class a layer Ultralytics' model parser can build, never in place of one of its own."""
    name = MixAttn.__name__
    existing = getattr(tasks, name, MixAttn)
    if getattr(existing, "__module__", None) != MixAttn.__module__:
        raise RuntimeError(
            f"ultralytics.nn.tasks already has a {name} (from {existing.__module__}), which every model "
            "YAML naming it would then build as this module: give the module another class_name in its space"
        )
    setattr(tasks, name, MixAttn)


def transfer_stock_weights(
    model: nn.Module, weights: str | Path, moved: Mapping[int, int], stem: str
) -> str:
    """Load the stock checkpoint `weights` into the detection model `model` (a `DetectionModel` whose layers moved
    by `moved`), refusing one of another base, scale (`stem`, e.g. `yolov8n`) or task; a line saying how many
    tensors it transferred. ValueError naming the file when it does not fit."""
    from ultralytics.nn.tasks import guess_model_task, torch_safe_load

    try:
        checkpoint, _ = torch_safe_load(str(weights), safe_only=True)
        stock = (checkpoint.get("ema") or checkpoint["model"]).float()
    except (
        Exception
    ) as error:  # a missing, unreadable or foreign file, whatever Ultralytics raises for it
        raise ValueError(
            f"{weights}: not a readable Ultralytics checkpoint ({error})"
        ) from None
    found = Path(str(stock.yaml.get("yaml_file", "?"))).stem
    task = guess_model_task(stock)
    if found != stem or task != "detect":
        raise ValueError(
            f"{weights}: a {found} {task} checkpoint; this model takes {stem} detect weights"
        )
    own = model.state_dict()
    state, other_shapes = {}, []
    for key, tensor in stock.state_dict().items():
        _, index, rest = key.split(".", 2)
        name = f"model.{moved.get(int(index), int(index))}.{rest}"
        if name in own and own[name].shape == tensor.shape:
            state[name] = tensor
        else:
            other_shapes.append(key)
    model.load_state_dict(state, strict=False)
    line = f"transferred {len(state)}/{len(state) + len(other_shapes)} stock tensors"
    line += f"; {len(own) - len(state)} new tensors initialised"
    if other_shapes:
        line += f" ({len(other_shapes)} stock tensors of other shapes left: another class count?)"
    return line


def pretrained(model: YOLO, model_file: str, weights: str) -> Path:
    """The stock checkpoint `weights` moved into `model` and saved beside it, for Ultralytics' trainer to start
    from (its `pretrained` setting matches tensors by name, which the inserted modules shifted).
    """
    stem = Path(model_file).name.split("-", 1)[0]
    try:
        print(transfer_stock_weights(model.model, weights, MOVED, stem))
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    path = HERE / f"{Path(model_file).stem}-from-{Path(weights).stem}.pt"
    torch.save({"model": model.model}, path)
    return path


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
        "--weights",
        help="a stock checkpoint of the model's base and scale to start from, e.g. yolov8n.pt",
    )
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
    overrides = dict(args.overrides)
    if args.weights:
        overrides["pretrained"] = str(pretrained(model, args.model, args.weights))
    model.train(data=args.data, **overrides)


if __name__ == "__main__":
    main()
