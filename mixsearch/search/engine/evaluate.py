"""Training candidates on the proxy task: from scratch, run to a rung and continued, or (for the proxy-fidelity
benchmark) from weights inherited from the DARTS supernet.

Every candidate sits in the same host network (the proxy task's: `HostNet` for classification, `DetectionHost`
for detection); only the attention module changes. A candidate that
diverges or runs out of memory raises `CandidateFailed` with the reason, which the search records as a failed
trial and moves past.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils.data import TensorDataset

from mixsearch.arch import Arch, ArchNode
from mixsearch.errors import MixsearchError
from mixsearch.model import DiscreteModel
from mixsearch.model.supernet import Supernet
from mixsearch.proxy import (
    DivergedError,
    ProxyData,
    TrainConfig,
    Training,
    TrainResult,
    seed_everything,
)
from mixsearch.proxy.tasks import task_of
from mixsearch.space.sections import Budget


class CandidateFailed(MixsearchError):
    """A candidate could not be scored (diverged, out of memory); the message is the reason."""


FINAL_SEED_OFFSET = 1_000_003
# Run seeds a final seed list steps by: runs with nearby seeds never share a final seed.
FINAL_SEED_STRIDE = 1009


def final_seeds(seed: int, count: int) -> tuple[int, ...]:
    """The seeds of a run's final trainings (finalists, baselines, ablations), the same for every module of the
    run, so that their per-seed differences pair up. Trials are the first seed's trainings stopped at the rung;
    the winner is chosen on validation over all the seeds, and the report compares on the test split, which no
    selection saw."""
    first = FINAL_SEED_OFFSET + FINAL_SEED_STRIDE * seed
    return tuple((first + k) % 2**32 for k in range(count))  # numpy's seeds are 32-bit


def capped(data: ProxyData, budget: Budget) -> ProxyData:
    """The proxy splits cut to the budget's image caps (the first images of each split: fixed, seeded)."""

    def cut(dataset: TensorDataset, limit: int | None) -> TensorDataset:
        if limit is None or limit >= len(dataset):
            return dataset
        return TensorDataset(*(tensor[:limit] for tensor in dataset.tensors))

    return replace(
        data,
        train=cut(data.train, budget.train_images),
        val=cut(data.val, budget.eval_images),
        test=cut(data.test, budget.eval_images),
    )


@dataclass
class Evaluator:
    """Trains architectures in the host network on `data` with the recipe `config` (epochs set per call)."""

    data: ProxyData
    config: TrainConfig
    show_progress: bool = False

    def host(self, attention) -> nn.Module:
        """The data's task's host network (classification or detection) carrying `attention`."""
        return task_of(self.data).host(attention, self.data)

    def from_scratch(self, arch: Arch, epochs: int) -> TrainResult:
        """Seeded initial weights, then `epochs` of training: how every candidate is compared."""
        return self.finish(self.training(arch, epochs))

    def training(self, arch: Arch, epochs: int) -> Training:
        """A training of `arch` with the recipe over `epochs` (seeded initial weights), not yet run: a trial runs
        it to a rung, the final stage to its end."""
        seed_everything(self.config.seed)
        model = self.host(lambda channels: DiscreteModel(arch, channels))
        return Training(model, self.data, self._config(epochs), self.show_progress)

    def continued(self, arch: Arch, epochs: int, state: dict) -> TrainResult:
        """`arch`'s training over `epochs` continued from `state` (a rung's `Training.state_dict()`) to its end."""
        training = self.training(arch, epochs)
        training.load_state_dict(state)
        return self.finish(training)

    def advance(self, training: Training, epochs: int) -> list[float]:
        """Run `training` to epoch `epochs`; its validation scores so far. A divergence or running out of memory
        is `CandidateFailed`."""
        try:
            return training.run_to(epochs)
        except DivergedError as error:
            raise CandidateFailed(str(error)) from None
        except torch.OutOfMemoryError:
            raise CandidateFailed(
                f"out of memory on {training.config.device}"
            ) from None

    def finish(self, training: Training) -> TrainResult:
        """Run `training` to its end; what it measured."""
        self.advance(training, training.config.epochs)
        return training.result()

    def inherited(
        self, arch: Arch, supernet_host: nn.Module, epochs: int
    ) -> TrainResult:
        """The arch with the supernet's weights for its chosen candidates (and the shared host), fine-tuned."""
        seed_everything(self.config.seed)
        model = self.host(lambda channels: DiscreteModel(arch, channels))
        model.load_state_dict(inherited_state(supernet_host, arch))
        return self._train(model, epochs)

    def _train(self, model: nn.Module, epochs: int) -> TrainResult:
        return self.finish(
            Training(model, self.data, self._config(epochs), self.show_progress)
        )

    def _config(self, epochs: int) -> TrainConfig:
        """The recipe over `epochs` (its warm-up no longer than them)."""
        return replace(
            self.config,
            epochs=epochs,
            warmup_epochs=min(self.config.warmup_epochs, epochs),
        )


def inherited_state(supernet_host: nn.Module, arch: Arch) -> dict[str, torch.Tensor]:
    """A state_dict for the host carrying `DiscreteModel(arch)`: host weights as they are, attention weights
    taken from each supernet's chosen candidates (`Supernet.discrete_state`)."""
    state = {}
    for key, value in supernet_host.state_dict().items():
        if not key.startswith("attention."):
            state[key] = value.clone()
    for index, module in enumerate(supernet_host.attention):
        if not isinstance(module, Supernet):
            raise TypeError("the host's attention modules must be supernets")
        for key, value in module.discrete_state(arch).items():
            state[f"attention.{index}.{key}"] = value.clone()
    return state


def ablations(arch: Arch, branches: bool = True) -> dict[str, Arch]:
    """The winner with its fusion replaced by a plain sum, and (`branches`) with each branch removed.

    Removing a branch: a node that only feeds a fusion becomes `none` (zeros: the fusion sees no branch
    there); a node that feeds another op becomes `identity` (the chain skips it). The output node itself is
    never removed.
    """
    readers = {
        name: [node for node in arch.nodes if name in node.inputs]
        for name in (node.name for node in arch.nodes)
    }
    variants = {}
    for node in arch.nodes[:-1] if branches else ():
        if node.op in ("none", "identity"):
            continue
        feeds_fusion_only = all(reader.is_fusion for reader in readers[node.name])
        removed = "none" if feeds_fusion_only else "identity"
        variants[f"without {node.name}"] = _with_node(
            arch, replace(node, op=removed, params={}, residual=False)
        )
    for node in arch.nodes:
        if node.is_fusion and node.op != "sum":
            variants[f"{node.name}: {node.op} → sum"] = _with_node(
                arch, replace(node, op="sum", params={})
            )
    return variants


def _with_node(arch: Arch, new: ArchNode) -> Arch:
    nodes = tuple(new if node.name == new.name else node for node in arch.nodes)
    return replace(arch, nodes=nodes, metrics={})
