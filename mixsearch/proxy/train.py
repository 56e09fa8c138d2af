"""Training and evaluation on a proxy task: seeded, device-aware, with a progress bar on stderr.

The pieces are separate so that other searches (DARTS' bilevel loop) can reuse them: `make_loader` for seeded
batches of any dataset, `evaluate` for the task's score, `seed_everything` for reproducible initial weights.
`train` runs one candidate with SGD (Nesterov) or AdamW under a per-step schedule: linear warm-up, then cosine;
the loss and the score are the data's task's (`mixsearch.proxy.tasks`: classification or detection). `Training`
is the same, epoch by epoch: a search scores a candidate at a rung of the schedule and continues it later.
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
# Seeds of one training's epochs (`epoch_seed`) step by this: trainings with nearby seeds share no batch order.
EPOCH_SEED_STRIDE = 1_000_003
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
    mAP50-95 on a detection task), and the validation score after each epoch (a rung reads its own).
    """

    train_loss: float
    val_acc: float
    test_acc: float
    epochs: int
    seconds: float
    val_curve: tuple[float, ...]


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


class Training:
    """One training of `model` on `data` with the recipe `config`, run epoch by epoch: it can stop at any epoch
    (a rung), save its state, and continue in another process to the same weights as one uninterrupted run.

    The learning-rate curve is the recipe's whole schedule from the first epoch, and each epoch's batch order
    comes from the seed and the epoch alone, so stopping changes nothing that follows.
    """

    def __init__(
        self,
        model: nn.Module,
        data: ProxyData,
        config: TrainConfig,
        show_progress: bool = True,
    ):
        self.model, self.data, self.config = model, data, config
        self.show_progress = show_progress
        self.task = task_of(data)
        # Training draws nothing from the module's construction: the same state for every module.
        seed_everything(config.seed)
        self.device = torch.device(config.device)
        model.to(self.device).train()
        self.steps = math.ceil(len(data.train) / config.batch_size)
        self.optimizer = _optimizer(model, config)
        self.scheduler = lr_schedule(self.optimizer, config, self.steps)
        self.epoch = 0
        self.val_curve: list[float] = []
        self.train_loss = math.nan
        self.seconds = 0.0

    def run_to(self, epochs: int) -> list[float]:
        """Train up to epoch `epochs` (of the recipe's); the validation score after each epoch so far.

        Raises DivergedError when an epoch's mean loss is not finite, so that a search can record the failure.
        """
        start = time.perf_counter()
        for epoch in range(self.epoch, min(epochs, self.config.epochs)):
            stop_point()
            self.train_loss = self._epoch(epoch)
            self.epoch = epoch + 1
            self.val_curve.append(self.score(self.data.val))
        self.seconds += time.perf_counter() - start
        return list(self.val_curve)

    def _epoch(self, epoch: int) -> float:
        """One epoch of steps; its mean training loss."""
        loader = make_loader(
            self.data.train,
            self.config.batch_size,
            shuffle=True,
            seed=epoch_seed(self.config.seed, epoch),
        )
        total = 0.0
        label = f"epoch {epoch + 1}/{self.config.epochs}"
        for images, labels in progress(loader, label, self.show_progress):
            loss = self.task.loss(
                self.model(images.to(self.device)),
                labels.to(self.device),
                self.config.label_smoothing,
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total += loss.item()
        mean = total / len(loader)
        if not math.isfinite(mean):
            raise DivergedError(f"training diverged in epoch {epoch + 1} (loss {mean})")
        return mean

    def score(self, dataset: Dataset) -> float:
        """The task's score of the model as it is now on `dataset`."""
        return evaluate(self.model, dataset, self.device, self.task)

    def result(self) -> TrainResult:
        """What the finished training measured (its test score taken now)."""
        if self.epoch < self.config.epochs:
            raise RuntimeError(f"trained {self.epoch} of {self.config.epochs} epochs")
        return TrainResult(
            train_loss=self.train_loss,
            val_acc=self.val_curve[-1],
            test_acc=self.score(self.data.test),
            epochs=self.config.epochs,
            seconds=self.seconds,
            val_curve=tuple(self.val_curve),
        )

    def state_dict(self) -> dict[str, object]:
        """Everything that continuing needs: weights, optimizer and schedule, the epoch, what was measured so
        far, and torch's generator (tensors, numbers and containers only: it loads with weights_only).
        """
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "val_curve": list(self.val_curve),
            "train_loss": self.train_loss,
            "seconds": self.seconds,
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()`'s state (of a training with the same model, data and recipe)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = state["epoch"]
        self.val_curve = list(state["val_curve"])
        self.train_loss = state["train_loss"]
        self.seconds = state["seconds"]
        torch.set_rng_state(state["torch_rng"])


def epoch_seed(seed: int, epoch: int) -> int:
    """The batch order of one epoch of a training with `seed`: the same whether or not the training stopped."""
    return (seed * EPOCH_SEED_STRIDE + epoch) % 2**63


def train(
    model: nn.Module, data: ProxyData, config: TrainConfig, show_progress: bool = True
) -> TrainResult:
    """Train `model` on `data.train` for `config.epochs`, then measure its val and test score (the validation
    score after each epoch too). Raises DivergedError when an epoch's mean loss is not finite.
    """
    training = Training(model, data, config, show_progress)
    training.run_to(config.epochs)
    return training.result()
