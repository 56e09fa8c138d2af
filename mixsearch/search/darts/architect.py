"""DARTS' architecture step (the reference's `architect.py`): Adam on alpha, on the half of the training split the
weights never see, apart from the weight training loop in `search.py`.

The architecture loss is the task loss plus, when an expected-cost model is given, the expected latency under
softmax(alpha) (and optionally FLOPs): either added with a weight, or multiplicative as
`CE * (log LAT / log target) ** beta` (ProxylessNAS / FBNet, latencies in microseconds so the logs stay
positive). Beta-decay regularisation (Ye et al., "beta-DARTS", https://arxiv.org/abs/2203.01665) penalises the
log-sum-exp of each choice's alphas, with a weight rising linearly over the search, which keeps the alphas from
running away towards parameter-free options. First order uses the current weights; second order the unrolled
ones, with a finite-difference Hessian-vector product.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mixsearch.model.supernet import ArchParameters
from mixsearch.proxy.tasks import ProxyTask
from mixsearch.search.darts.expected_cost import ExpectedCost
from mixsearch.search.settings import DartsConfig

Batch = tuple[torch.Tensor, torch.Tensor]
# The finite-difference step of the Hessian-vector product, relative to the weight gradient's norm (DARTS).
HESSIAN_EPSILON = 0.01


class Architect:
    """Updates a supernet's alphas from batches of the architecture half of the training split."""

    def __init__(
        self,
        model: nn.Module,
        alphas: ArchParameters,
        task: ProxyTask,
        config: DartsConfig,
        expected_cost: ExpectedCost | None = None,
        latency_target_ms: float | None = None,
    ):
        self.model, self.alphas, self.task, self.config = model, alphas, task, config
        self.expected_cost = expected_cost
        self.latency_target_ms = latency_target_ms
        self.optimizer = torch.optim.Adam(
            alphas.parameters(),
            lr=config.alpha_lr,
            betas=(0.5, 0.999),
            weight_decay=config.alpha_weight_decay,
        )

    def step(
        self, weight_batch: Batch, alpha_batch: Batch, epoch: int, eta: float
    ) -> None:
        """One alpha step at `epoch`; second order unrolls a weight step of learning rate `eta` on
        `weight_batch` first."""
        if self.config.order == "second":
            self._second_order(weight_batch, alpha_batch, epoch, eta)
        else:
            self.optimizer.zero_grad()
            self.loss(self._task_loss(alpha_batch), epoch).backward()
            self.optimizer.step()

    def loss(self, task_loss: torch.Tensor, epoch: int) -> torch.Tensor:
        """The architecture loss: `task_loss` with the hardware term, plus the beta-decay regulariser."""
        loss = task_loss
        if self.expected_cost is not None:
            loss = self._with_hardware(loss, self.expected_cost(self.alphas))
        if self.config.beta_decay:
            progress_ratio = (epoch + 1) / max(self.config.epochs, 1)
            smooth_max = torch.stack(
                [torch.logsumexp(alpha, 0) for alpha in self.alphas.alphas]
            ).mean()
            loss = loss + self.config.beta_decay * progress_ratio * smooth_max
        return loss

    def _with_hardware(
        self, loss: torch.Tensor, costs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """`loss` with the expected latency (towards the target) and FLOPs terms the config asks for."""
        if "latency_ms" in costs and self.latency_target_ms:
            latency, target = costs["latency_ms"], self.latency_target_ms
            if self.config.hardware_loss == "multiplicative":
                ratio = torch.log(latency * 1e3) / math.log(target * 1e3)
                loss = loss * ratio.clamp(min=1e-3) ** self.config.hardware_beta
            else:
                loss = loss + self.config.latency_weight * latency / target
        if self.config.flops_weight:
            flops = costs["flops"]
            loss = loss + self.config.flops_weight * flops / flops.detach().clamp(
                min=1.0
            )
        return loss

    def _task_loss(self, batch: Batch) -> torch.Tensor:
        x, y = batch
        return self.task.loss(self.model(x), y)

    def _second_order(
        self, weight_batch: Batch, alpha_batch: Batch, epoch: int, eta: float
    ) -> None:
        """grad_alpha L_val(w - eta grad_w L_train(w)), with the Hessian term by finite differences."""
        weights = list(self.model.parameters())
        original = [p.detach().clone() for p in weights]
        train_grads = torch.autograd.grad(
            self._task_loss(weight_batch), weights, allow_unused=True
        )
        with torch.no_grad():
            for p, g in zip(weights, train_grads):
                if g is not None:
                    p.sub_(eta * g)
        self.optimizer.zero_grad()
        val_loss = self.loss(self._task_loss(alpha_batch), epoch)
        alpha_params = list(self.alphas.parameters())
        grads = torch.autograd.grad(val_loss, alpha_params + weights, allow_unused=True)
        alpha_grads, weight_grads = (
            grads[: len(alpha_params)],
            grads[len(alpha_params) :],
        )
        norm = torch.sqrt(sum((g * g).sum() for g in weight_grads if g is not None))
        epsilon = HESSIAN_EPSILON / (norm + 1e-12)
        hessian_terms = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, w0, g in zip(weights, original, weight_grads):
                    p.copy_(w0 + sign * epsilon * g if g is not None else w0)
            hessian_terms.append(
                torch.autograd.grad(
                    self._task_loss(weight_batch), alpha_params, allow_unused=True
                )
            )
        with torch.no_grad():
            for p, w0 in zip(weights, original):
                p.copy_(w0)
        for alpha, g_val, g_plus, g_minus in zip(
            alpha_params, alpha_grads, *hessian_terms
        ):
            grad = torch.zeros_like(alpha) if g_val is None else g_val.clone()
            if g_plus is not None and g_minus is not None:
                grad -= eta * (g_plus - g_minus) / (2 * epsilon)
            alpha.grad = grad
        self.optimizer.step()
