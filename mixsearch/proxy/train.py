"""Training and evaluation on a proxy task: seeded, device-aware, with a progress bar on stderr.

The pieces are separate so that other searches (DARTS' bilevel loop) can reuse them: `make_loader` for seeded
batches of any dataset, `evaluate` for the task's score, `seed_everything` for reproducible initial weights.
`train` runs one candidate with SGD (Nesterov) or AdamW under a per-step schedule: linear warm-up, then cosine;
the loss and the score are the data's task's (`mixsearch.proxy.tasks`: classification or detection).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)

from mixsearch.errors import MixsearchError, stop_point
from mixsearch.progress import progress
from mixsearch.proxy.splits import ProxyData
from mixsearch.proxy.tasks import Classification, ProxyTask, task_of
from mixsearch.rules import (
    POSITIVE_NUMBER,
    TORCH_DEVICE,
    between,
    check_fields,
    one_of,
    whole_number,
)

OPTIMIZERS = ("sgd", "adamw")
EVAL_BATCH_SIZE = 500
# What the TrainConfig fields that can be wrong must be; warmup_epochs, from 0 to epochs, is checked after them.
TRAIN_RULES = {
    "epochs": whole_number(1),
    "batch_size": whole_number(1),
    "lr": POSITIVE_NUMBER,
    "optimizer": one_of(*OPTIMIZERS),
    "device": TORCH_DEVICE,
}


class DivergedError(MixsearchError):
    """The training loss stopped being finite: a failed candidate, which a search records and moves past."""


@dataclass(frozen=True)
class TrainConfig:
    """One candidate's training budget and recipe. `device`: "cpu", "cuda" or "cuda:N", the run's target device
    as `hardware.device.torch_device` resolved it."""

    epochs: int = 6
    warmup_epochs: float = 1.0
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    optimizer: str = "sgd"
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_fields(self, TRAIN_RULES)
        check_fields(
            self, {"warmup_epochs": between(0, self.epochs, high_field="epochs")}
        )


@dataclass(frozen=True)
class TrainResult:
    """What one training run measured: last epoch's mean train loss, val and test score (0..1: accuracy, or
    mAP50-95 on a detection task)."""

    train_loss: float
    val_acc: float
    test_acc: float
    epochs: int
    seconds: float


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (model initialisation draws from torch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_loader(
    dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0
) -> DataLoader:
    """Batches of `dataset`, reshuffled each epoch from `seed` when `shuffle` (the same seed, the same order).

    Whole batches are fetched with one index list, which is far faster than collating single samples of an
    in-memory TensorDataset.
    """
    generator = torch.Generator().manual_seed(seed)
    order = (
        RandomSampler(dataset, generator=generator)
        if shuffle
        else SequentialSampler(dataset)
    )
    return DataLoader(
        dataset,
        sampler=BatchSampler(order, batch_size, drop_last=False),
        batch_size=None,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    device: str | torch.device = "cpu",
    task: ProxyTask = Classification(),
) -> float:
    """The task's score (0..1) of `model` in eval mode on `dataset`; restores the model's training mode."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    batches = make_loader(dataset, EVAL_BATCH_SIZE, shuffle=False)
    score = task.score(model, batches, device)
    model.train(was_training)
    return score


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD or AdamW; weight decay only on conv and linear weights (not on norms, biases or scalar gates)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)


def lr_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per step: linear warm-up over `warmup_epochs` (gates and BN statistics settle first), then cosine to 0."""
    warmup = round(config.warmup_epochs * steps_per_epoch)
    total = config.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(
    model: nn.Module, data: ProxyData, config: TrainConfig, show_progress: bool = True
) -> TrainResult:
    """Train `model` on `data.train` for `config.epochs`, then measure its val and test score.

    Raises DivergedError when an epoch's mean loss is not finite, so that a search can record the failure.
    """
    start = time.perf_counter()
    task = task_of(data)
    seed_everything(config.seed)
    device = torch.device(config.device)
    model.to(device).train()
    loader = make_loader(data.train, config.batch_size, shuffle=True, seed=config.seed)
    optimizer = _optimizer(model, config)
    scheduler = lr_schedule(optimizer, config, len(loader))
    for epoch in range(config.epochs):
        stop_point()
        total_loss = 0.0
        for images, labels in progress(
            loader, f"epoch {epoch + 1}/{config.epochs}", show_progress
        ):
            loss = task.loss(
                model(images.to(device)), labels.to(device), config.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item()
        train_loss = total_loss / len(loader)
        if not math.isfinite(train_loss):
            raise DivergedError(
                f"training diverged in epoch {epoch + 1} (loss {train_loss})"
            )
    return TrainResult(
        train_loss=train_loss,
        val_acc=evaluate(model, data.val, device, task),
        test_acc=evaluate(model, data.test, device, task),
        epochs=config.epochs,
        seconds=time.perf_counter() - start,
    )
