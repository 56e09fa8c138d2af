"""What a proxy task is to training: the host network candidates sit in, the loss, and the score they are ranked
by. Classification scores top-1 accuracy; detection scores COCO mAP50-95. Both are in 0..1, higher is better, so
every search stage treats them alike; `metric` is the name the report prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mixsearch.proxy.detection import (
    DetectionHost,
    detection_loss,
    evaluate_detection,
)
from mixsearch.proxy.host import AttentionFactory, HostNet
from mixsearch.proxy.splits import ProxyData


class ProxyTask(Protocol):
    """A task's host, loss and score; `metric` names the score."""

    name: str
    metric: str

    def host(self, attention: AttentionFactory, data: ProxyData) -> nn.Module: ...

    def loss(
        self, output: object, targets: torch.Tensor, label_smoothing: float = 0.0
    ) -> torch.Tensor: ...

    def score(
        self, model: nn.Module, batches: DataLoader, device: torch.device
    ) -> float: ...

    def hits(self, output: object, targets: torch.Tensor) -> int | None: ...


@dataclass(frozen=True)
class Classification:
    """One label per image: HostNet, cross-entropy, top-1 accuracy."""

    name: str = "classification"
    metric: str = "accuracy"

    def host(self, attention: AttentionFactory, data: ProxyData) -> nn.Module:
        return HostNet(
            attention, num_classes=data.num_classes, in_channels=data.in_channels
        )

    def loss(
        self, output: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0
    ) -> torch.Tensor:
        return F.cross_entropy(output, targets, label_smoothing=label_smoothing)

    def score(
        self, model: nn.Module, batches: DataLoader, device: torch.device
    ) -> float:
        correct = total = 0
        for images, labels in batches:
            predictions = model(images.to(device)).argmax(1).cpu()
            correct += int((predictions == labels).sum())
            total += len(labels)
        return correct / total

    def hits(self, output: torch.Tensor, targets: torch.Tensor) -> int | None:
        """How many images of a training batch it classified right (DARTS' epoch line shows the rate)."""
        return int((output.argmax(1) == targets).sum())


@dataclass(frozen=True)
class Detection:
    """Boxes with classes: DetectionHost, focal + GIoU loss, mAP50-95."""

    name: str = "detection"
    metric: str = "mAP50-95"

    def host(self, attention: AttentionFactory, data: ProxyData) -> nn.Module:
        return DetectionHost(
            attention, num_classes=data.num_classes, in_channels=data.in_channels
        )

    def loss(
        self, output: object, targets: torch.Tensor, label_smoothing: float = 0.0
    ) -> torch.Tensor:
        return detection_loss(output, targets)

    def score(
        self, model: nn.Module, batches: DataLoader, device: torch.device
    ) -> float:
        return evaluate_detection(model, batches, device)["map"]

    def hits(self, output: object, targets: torch.Tensor) -> int | None:
        """No per-batch count: a detector's training batches are not right or wrong."""
        return None


TASKS: dict[str, ProxyTask] = {
    task.name: task for task in (Classification(), Detection())
}


def task_of(data: ProxyData) -> ProxyTask:
    """The task `data` is labelled for."""
    return TASKS[data.task]
