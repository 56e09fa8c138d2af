"""The detection proxy's model, loss and metric: a host with a detector's shape, an anchor-free dense head, and
mAP from torchmetrics.

The host has YOLOv8's layout in miniature: a backbone whose last three stages have strides 8, 16 and 32 (P3, P4,
P5), the searched module after each of them (where the Ultralytics export inserts it), a top-down neck that
carries P5 and P4 into P3 (so every module's output reaches the predictions), and a decoupled head per level that
predicts, per cell, class scores (sigmoid; the score is the objectness, as in YOLOv8) and the distances from the
cell centre to the box's four sides. Assignment is centre sampling by object size, the loss sigmoid focal + GIoU,
and the metric COCO mAP50-95 (torchmetrics' MeanAveragePrecision on faster-coco-eval): box ops from
torchvision.ops, never hand-written.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mixsearch.errors import MixsearchError
from mixsearch.proxy.host import AttentionFactory, attention_modules, conv_bn_relu
from mixsearch.space.sections import DETECTION_EXTRA

STRIDES = (8, 16, 32)
# Centre sampling: a cell is positive for an object when its centre lies inside the box, within this many strides
# of the box centre, on a level whose stride fits the object (2 to 8 cells across its longer side).
CENTRE_RADIUS = 1.5
CELLS_ACROSS = (2.0, 8.0)
BOX_LOSS_WEIGHT = 2.0
SCORE_THRESHOLD = 0.05
NMS_IOU = 0.6
MAX_DETECTIONS = 100


def require(package: str):
    """Import one of the detection proxy's packages, or say in one line what to install."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MixsearchError(
            f"the detection proxy needs the {package} package: {DETECTION_EXTRA}"
        ) from None


@dataclass(frozen=True)
class DenseOutput:
    """Per cell of every level, flattened: class logits (B x N x C), boxes xyxy in pixels (B x N x 4), the
    cells' centres (N x 2, x then y) and strides (N)."""

    logits: torch.Tensor
    boxes: torch.Tensor
    centres: torch.Tensor
    strides: torch.Tensor


class DetectionHost(nn.Module):
    """Stem (stride 4), three stages to strides 8/16/32 each followed by `attention(width)`, a top-down neck,
    and a class + box head per level."""

    def __init__(
        self,
        attention: AttentionFactory,
        widths: Sequence[int] = (32, 64, 128),
        num_classes: int = 10,
        in_channels: int = 3,
        neck_width: int = 48,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            conv_bn_relu(in_channels, widths[0] // 2, stride=2),
            conv_bn_relu(widths[0] // 2, widths[0], stride=2),
        )
        previous = [widths[0], *widths[:-1]]
        self.stages = nn.ModuleList(
            nn.Sequential(conv_bn_relu(a, b, stride=2), conv_bn_relu(b, b))
            for a, b in zip(previous, widths)
        )
        self.attention = attention_modules(attention, widths)
        self.lateral = nn.ModuleList(nn.Conv2d(w, neck_width, 1) for w in widths)
        self.smooth = nn.ModuleList(
            conv_bn_relu(neck_width, neck_width) for _ in widths
        )
        self.classify = nn.ModuleList(
            nn.Conv2d(neck_width, num_classes, 1) for _ in widths
        )
        self.regress = nn.ModuleList(nn.Conv2d(neck_width, 4, 1) for _ in widths)
        # Start every score near 1% (focal loss' prior), so that early steps are stable.
        for layer in self.classify:
            nn.init.constant_(layer.bias, -4.6)

    def forward(self, x: torch.Tensor) -> DenseOutput:
        x = self.stem(x)
        features = []
        for stage, attention in zip(self.stages, self.attention):
            x = attention(stage(x))
            features.append(x)
        merged = [lateral(f) for lateral, f in zip(self.lateral, features)]
        for level in range(len(merged) - 2, -1, -1):
            merged[level] = merged[level] + F.interpolate(
                merged[level + 1], size=merged[level].shape[-2:], mode="nearest"
            )
        logits, boxes, centres, strides = [], [], [], []
        for level, feature in enumerate(merged):
            feature = self.smooth[level](feature)
            stride = STRIDES[level]
            centre = _cell_centres(feature, stride)
            distances = F.softplus(self.regress[level](feature)).flatten(2) * stride
            distances = distances.transpose(1, 2)
            boxes.append(
                torch.cat(
                    [centre - distances[..., :2], centre + distances[..., 2:]], -1
                )
            )
            logits.append(self.classify[level](feature).flatten(2).transpose(1, 2))
            centres.append(centre)
            strides.append(torch.full((len(centre),), float(stride), device=x.device))
        return DenseOutput(
            torch.cat(logits, 1),
            torch.cat(boxes, 1),
            torch.cat(centres),
            torch.cat(strides),
        )


def _cell_centres(feature: torch.Tensor, stride: int) -> torch.Tensor:
    """(x, y) pixel centres of a feature map's cells, row by row: H*W x 2."""
    height, width = feature.shape[-2:]
    ys = (torch.arange(height, device=feature.device) + 0.5) * stride
    xs = (torch.arange(width, device=feature.device) + 0.5) * stride
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], -1)


def assign(
    output: DenseOutput, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image and cell, the index of the object it must predict (-1: background) and that object's row.

    `targets`: B x K x 5 rows `[class, x1, y1, x2, y2]`, class -1 for padding. A cell claimed by two objects
    predicts the smaller. Every object gets at least the cell nearest its centre on its best-fitting level.
    """
    boxes, classes = targets[..., 1:], targets[..., 0]
    centres, strides = output.centres, output.strides
    x, y = centres[:, 0][None, None], centres[:, 1][None, None]  # 1 x 1 x N
    x1, y1, x2, y2 = (boxes[..., i, None] for i in range(4))  # B x K x 1
    inside = (x > x1) & (x < x2) & (y > y1) & (y < y2)
    near = ((x - (x1 + x2) / 2).abs() < CENTRE_RADIUS * strides) & (
        (y - (y1 + y2) / 2).abs() < CENTRE_RADIUS * strides
    )
    longer = torch.maximum(x2 - x1, y2 - y1)
    fits = (longer >= CELLS_ACROSS[0] * strides) & (longer <= CELLS_ACROSS[1] * strides)
    candidate = inside & near & fits & (classes[..., None] >= 0)
    candidate |= _nearest_cell(output, targets)
    area = ((x2 - x1) * (y2 - y1)).expand_as(candidate)
    area = torch.where(candidate, area, torch.full_like(area, float("inf")))
    smallest, index = area.min(1)  # B x N
    index = torch.where(torch.isfinite(smallest), index, torch.full_like(index, -1))
    return index, targets.gather(1, index.clamp(min=0)[..., None].expand(-1, -1, 5))


def _nearest_cell(output: DenseOutput, targets: torch.Tensor) -> torch.Tensor:
    """B x K x N: True at the cell of the best level (stride nearest a quarter of the longer side) nearest each
    real object's centre."""
    boxes = targets[..., 1:]
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    longer = (boxes[..., 2:] - boxes[..., :2]).max(-1).values
    levels = torch.tensor(STRIDES, device=boxes.device, dtype=boxes.dtype)
    best = levels[((longer[..., None] / 4).log2() - levels.log2()).abs().argmin(-1)]
    distance = (output.centres[None, None] - centre[..., None, :]).abs().amax(-1)
    distance = torch.where(
        output.strides == best[..., None],
        distance,
        torch.full_like(distance, float("inf")),
    )
    nearest = torch.zeros_like(distance, dtype=torch.bool)
    nearest.scatter_(2, distance.argmin(-1, keepdim=True), True)
    return nearest & (targets[..., :1] >= 0)


def detection_loss(output: DenseOutput, targets: torch.Tensor) -> torch.Tensor:
    """Sigmoid focal loss on every cell's class scores plus GIoU on the positive cells' boxes, both per positive."""
    ops = require("torchvision.ops")
    index, matched = assign(output, targets)
    positive = index >= 0
    wanted = torch.zeros_like(output.logits)
    classes = matched[..., 0].long().clamp(min=0)
    wanted.scatter_(2, classes[..., None], positive[..., None].to(wanted.dtype))
    count = positive.sum().clamp(min=1)
    classification = ops.sigmoid_focal_loss(output.logits, wanted, reduction="sum")
    box = ops.generalized_box_iou_loss(
        output.boxes[positive], matched[positive][:, 1:], reduction="sum"
    )
    return (classification + BOX_LOSS_WEIGHT * box) / count


def detections(output: DenseOutput) -> list[dict[str, torch.Tensor]]:
    """Per image: boxes, scores and labels after the score threshold and per-class NMS (at most 100)."""
    ops = require("torchvision.ops")
    found = []
    for logits, boxes in zip(output.logits, output.boxes):
        scores = logits.sigmoid()
        cell, label = torch.nonzero(scores > SCORE_THRESHOLD, as_tuple=True)
        kept_scores, kept_boxes = scores[cell, label], boxes[cell]
        keep = ops.batched_nms(kept_boxes, kept_scores, label, NMS_IOU)[:MAX_DETECTIONS]
        found.append(
            {
                "boxes": kept_boxes[keep],
                "scores": kept_scores[keep],
                "labels": label[keep],
            }
        )
    return found


def ground_truth(targets: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """The real (unpadded) objects of each image, as torchmetrics takes them."""
    return [
        {"boxes": rows[rows[:, 0] >= 0, 1:], "labels": rows[rows[:, 0] >= 0, 0].long()}
        for rows in targets
    ]


def mean_average_precision(
    predictions: list[dict[str, torch.Tensor]], truths: list[dict[str, torch.Tensor]]
) -> dict[str, float]:
    """COCO mAP50-95 and mAP50 (0..1) of `predictions` against `truths`, from torchmetrics."""
    require("faster_coco_eval")
    metrics = require("torchmetrics.detection")
    metric = metrics.MeanAveragePrecision(box_format="xyxy", backend="faster_coco_eval")
    metric.update(predictions, truths)
    result = metric.compute()
    return {"map": float(result["map"]), "map_50": float(result["map_50"])}


def evaluate_detection(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
) -> dict[str, float]:
    """mAP50-95 and mAP50 of `model` (in eval mode, under no_grad) over `batches` of (images, targets)."""
    predictions, truths = [], []
    for images, targets in batches:
        predictions += [
            {key: value.cpu() for key, value in found.items()}
            for found in detections(model(images.to(device)))
        ]
        truths += ground_truth(targets)
    return mean_average_precision(predictions, truths)
