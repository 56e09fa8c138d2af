"""What every proxy loader returns: one task in three fixed splits (`ProxyData`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ProxyData:
    """A proxy task in three fixed splits of float images in [0, 1] (N x C x H x W, one size per split).

    Classification: each split pairs the images with int64 labels. Detection: with float32 targets N x K x 5,
    rows [class, x1, y1, x2, y2] in pixels (x1 < x2, y1 < y2, inside the image), padded up to the split's
    largest object count K with rows of class -1 and zeros.
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_classes: int
    in_channels: int
    task: str = "classification"


def classification_split(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    """One classification split: uint8 images -> float in [0, 1], labels -> int64."""
    return TensorDataset(
        torch.from_numpy(images).float().div_(255), torch.from_numpy(labels).long()
    )
