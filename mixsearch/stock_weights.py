"""Pretrained stock Ultralytics weights, loaded into a YOLO model with attention modules inserted.

Inserting a layer shifts the index of every layer after it, and Ultralytics matches checkpoint tensors by name
(`model.<index>.<rest>`), so a stock checkpoint loads only in part ("Transferred 162/419 items"). Here each stock
tensor goes to the layer that now does its job (`moved`: base index -> index in the model with insertions, from
`yolo.moved_layers`); the inserted modules keep their initial weights. The checkpoint is read with Ultralytics'
own weights-only loader. The training script emitted beside each model YAML carries this function's source, so it
needs nothing of mixsearch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import nn


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
