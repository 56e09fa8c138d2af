"""Plain settings of the search stage, in a module of their own so that the command line can show them as
defaults without importing torch or Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixsearch.rules import TORCH_DEVICE, check_fields, one_of

# Seconds between a study worker's heartbeats; a trial silent for 3x this is failed and queued again.
HEARTBEAT_SECONDS = 10


@dataclass(frozen=True)
class DartsConfig:
    """Hyper-parameters of one DARTS search (defaults follow the DARTS paper, scaled to a small proxy)."""

    epochs: int = 20
    # Alphas move once both hold: these epochs of weights alone, and the supernet's training accuracy this high.
    warmup_epochs: int = 5
    warmup_accuracy: float = 0.5
    batch_size: int = 64
    weight_lr: float = 0.05
    weight_momentum: float = 0.9
    weight_decay: float = 3e-4
    alpha_lr: float = 3e-3
    alpha_weight_decay: float = 1e-3
    order: str = "first"
    hardware_loss: str = "additive"
    latency_weight: float = 0.2
    flops_weight: float = 0.0
    hardware_beta: float = 0.6
    beta_decay: float = 0.05
    grad_clip: float = 5.0
    max_steps_per_epoch: int | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_fields(self, DARTS_RULES)


DARTS_RULES = {
    "order": one_of("first", "second"),
    "hardware_loss": one_of("additive", "multiplicative"),
    "device": TORCH_DEVICE,
}
