"""DARTS: differentiable one-shot search of a space on a proxy task (Liu et al., https://arxiv.org/abs/1806.09055).

The host network carries a `Supernet` after each stage; all of them share one `ArchParameters`. Training
alternates, on two halves of the training split, a weight step (SGD on the task loss, here) and an architecture
step (`architect.Architect`: Adam on alpha, with the hardware loss and the collapse guard), after the warm-up
epochs that train the weights alone.

Every epoch writes a checkpoint (weights, alphas, optimiser and scheduler states, RNG states, history), so a run
resumed after an interruption continues exactly where it stopped.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from mixsearch.errors import MixsearchError, first_line, stop_point
from mixsearch.model.supernet import ArchParameters, Supernet
from mixsearch.progress import progress
from mixsearch.proxy.tasks import Classification, ProxyTask
from mixsearch.search.darts.architect import Architect
from mixsearch.search.darts.expected_cost import ExpectedCost
from mixsearch.search.engine.weights import DAMAGED_FILE_ERRORS, load_weights
from mixsearch.search.settings import DartsConfig
from mixsearch.space.graph import SpaceGraph

logger = logging.getLogger(__name__)

CHECKPOINT = "darts_checkpoint.pt"
HISTORY = "alpha_history.json"
HostFactory = Callable[[Callable[[int], nn.Module]], nn.Module]


@dataclass
class DartsState:
    """What a finished (or interrupted) search knows: epochs done, whether the alphas have started to move (the
    supernet passed its warm-up), and per epoch its loss, training accuracy and alpha probabilities.
    """

    epochs_done: int = 0
    searching: bool = False
    history: list[dict] = field(default_factory=list)

    @property
    def alpha_epochs(self) -> int:
        """Epochs whose alphas moved: what the search had to say."""
        return sum(1 for entry in self.history if entry.get("searching"))


def split_halves(dataset: Dataset, seed: int) -> tuple[Subset, Subset]:
    """Two disjoint halves of `dataset` (weights train on one, alphas on the other), fixed by `seed`."""
    order = torch.randperm(
        len(dataset), generator=torch.Generator().manual_seed(seed)
    ).tolist()
    half = len(order) // 2
    return Subset(dataset, order[:half]), Subset(dataset, order[half:])


class DartsSearch:
    """One DARTS search of `graph` inside the host network built by `build_host`, trained on `train_set`."""

    def __init__(
        self,
        graph: SpaceGraph,
        build_host: HostFactory,
        train_set: Dataset,
        config: DartsConfig = DartsConfig(),
        expected_cost: ExpectedCost | None = None,
        latency_target_ms: float | None = None,
        run_dir: str | Path | None = None,
        task: ProxyTask = Classification(),
    ):
        self.graph = graph
        self.task = task
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = torch.device(config.device)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.alphas = ArchParameters(graph).to(self.device)
        self.model = build_host(
            lambda channels: Supernet(graph, channels, self.alphas)
        ).to(self.device)
        self.weight_set, self.alpha_set = split_halves(train_set, config.seed)
        self.weight_optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.weight_lr,
            momentum=config.weight_momentum,
            weight_decay=config.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.weight_optimizer, T_max=max(config.epochs, 1)
        )
        self.architect = Architect(
            self.model, self.alphas, task, config, expected_cost, latency_target_ms
        )
        self.state = DartsState(searching=config.warmup_epochs == 0)

    def _loader(self, dataset: Dataset, epoch: int, stream: int) -> DataLoader:
        """Shuffled whole batches of `dataset`; a split smaller than one batch is one batch, so it still trains."""
        generator = torch.Generator().manual_seed(
            self.config.seed * 1_000_003 + epoch * 2 + stream
        )
        return DataLoader(
            dataset,
            batch_size=min(self.config.batch_size, len(dataset)),
            shuffle=True,
            generator=generator,
            drop_last=True,
        )

    def _weight_step(self, xw, yw) -> tuple[float, int | None]:
        """One SGD step on the weights; the batch's loss and how many it got right (None: the task counts none)."""
        self.weight_optimizer.zero_grad()
        output = self.model(xw)
        loss = self.task.loss(output, yw)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.weight_optimizer.step()
        return loss.item(), self.task.hits(output, yw)

    def _epoch(self, epoch: int, show_progress: bool) -> tuple[float, float | None]:
        """One epoch of the bilevel search: mean training loss and training accuracy of the weight steps (None
        where the task counts no hits)."""
        self.model.train()
        pairs = zip(
            self._loader(self.weight_set, epoch, 0),
            self._loader(self.alpha_set, epoch, 1),
        )
        batches = list(itertools.islice(pairs, self.config.max_steps_per_epoch))
        losses, correct, seen = [], 0, 0
        searching = self.state.searching
        for (xw, yw), (xa, ya) in progress(
            batches, f"DARTS epoch {epoch + 1}", show_progress
        ):
            xw, yw, xa, ya = (t.to(self.device) for t in (xw, yw, xa, ya))
            if searching:
                eta = self.scheduler.get_last_lr()[0]
                self.architect.step((xw, yw), (xa, ya), epoch, eta)
            loss, right = self._weight_step(xw, yw)
            losses.append(loss)
            if right is not None:
                correct, seen = correct + right, seen + len(yw)
        self.scheduler.step()
        accuracy = correct / seen if seen else None
        return sum(losses) / max(len(losses), 1), accuracy

    def run(
        self,
        resume: bool = False,
        show_progress: bool = True,
        stop_after: int | None = None,
        on_epoch: Callable[[str], None] = lambda line: None,
    ) -> DartsState:
        """Train for the configured epochs (continuing a checkpoint when `resume`); `stop_after` ends early.

        `on_epoch` gets a line per finished epoch: `DARTS epoch 3/5: loss 1.234, train accuracy 45.6%`.
        """
        if resume:
            self._load_checkpoint()
        for epoch in range(self.state.epochs_done, self.config.epochs):
            stop_point()
            if stop_after is not None and epoch >= stop_after:
                break
            searching = self.state.searching
            loss, accuracy = self._epoch(epoch, show_progress)
            shown = "" if accuracy is None else f", train accuracy {accuracy:.1%}"
            moved = "alphas moved" if searching else "weights only (warm-up)"
            on_epoch(
                f"DARTS epoch {epoch + 1}/{self.config.epochs}: loss {loss:.3f}{shown}; {moved}"
            )
            self.state.epochs_done = epoch + 1
            self.state.searching = searching or self._warmed_up(epoch, accuracy)
            self.state.history.append(
                {
                    "epoch": epoch + 1,
                    "loss": loss,
                    "accuracy": accuracy,
                    "searching": searching,
                    "alphas": self.alphas.probabilities(),
                }
            )
            self._save_checkpoint()
        return self.state

    def _warmed_up(self, epoch: int, accuracy: float | None) -> bool:
        """Whether the alphas may move from the next epoch on: the warm-up epochs are done and the supernet's
        training accuracy has reached `warmup_accuracy` (a task that counts no hits: the epochs alone). Alphas
        stepped on a supernet that has learned nothing follow noise."""
        if epoch + 1 < self.config.warmup_epochs:
            return False
        return accuracy is None or accuracy >= self.config.warmup_accuracy

    def _save_checkpoint(self) -> None:
        if self.run_dir is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "alphas": self.alphas.state_dict(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "alpha_optimizer": self.architect.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            "state": asdict(self.state),
        }
        temporary = self.run_dir / (CHECKPOINT + ".tmp")
        torch.save(checkpoint, temporary)
        temporary.replace(self.run_dir / CHECKPOINT)
        (self.run_dir / HISTORY).write_text(json.dumps(self.state.history, indent=1))

    def _load_checkpoint(self) -> None:
        """Continue from the run folder's checkpoint: a damaged one is ignored with a warning (the search starts
        afresh), one of another configuration or space is a MixsearchError naming the file.
        """
        path = self.run_dir / CHECKPOINT if self.run_dir is not None else None
        if path is None or not path.exists():
            return
        try:
            checkpoint = load_weights(path)
        except DAMAGED_FILE_ERRORS as error:
            logger.warning(
                "ignoring DARTS checkpoint %s (%s); the search starts afresh",
                path,
                first_line(error),
            )
            return
        if not isinstance(checkpoint, dict) or checkpoint.get("config") != asdict(
            self.config
        ):
            raise MixsearchError(
                f"{path}: written by a DARTS search with other settings; use another run folder or delete it"
            )
        try:
            self.model.load_state_dict(checkpoint["model"])
            self.alphas.load_state_dict(checkpoint["alphas"])
            self.weight_optimizer.load_state_dict(checkpoint["weight_optimizer"])
            self.architect.optimizer.load_state_dict(checkpoint["alpha_optimizer"])
            self.scheduler.load_state_dict(checkpoint["scheduler"])
            torch.set_rng_state(checkpoint["torch_rng"])
            random.setstate(checkpoint["python_rng"])
            self.state = DartsState(**checkpoint["state"])
        except (RuntimeError, KeyError, TypeError, ValueError) as error:
            raise MixsearchError(
                f"{path}: does not fit this space's supernet ({first_line(error)}); "
                "use another run folder or delete it"
            ) from None
