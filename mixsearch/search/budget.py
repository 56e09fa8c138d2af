"""Named compute budgets of `mixsearch run`: how many trials, and how long each stage trains.

`quick` is the smallest budget whose final numbers mean something on the default space: its final trainings run
8 epochs, since at 3 the proxy measures how fast a module starts to learn (modules score 20-60%, and that ranking
predicts the 8-epoch one poorly; see `benchmarks/proxy_fidelity.py`). `standard` and `full` are what a
user with a GPU runs. `tiny` exists for tests: seconds, and its numbers mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mixsearch.errors import MixsearchError


@dataclass(frozen=True)
class Budget:
    """Epochs and trial counts of every stage of a search.

    trials: finished trials of the Optuna or random stage; trial_epochs: epochs each trial trains from scratch
    (optuna, random); finetune_epochs: epochs a hybrid trial fine-tunes the weights it inherits from the
    supernet; darts_*: the DARTS stage; final_epochs: the from-scratch retraining of the `finalists` most
    accurate trials (the winner is the best of them, retrained), of the baselines and of the ablations;
    train_images / eval_images: caps on the proxy splits (None: all of them). The proxy needs a few hundred
    steps on thousands of images before anything is learned (a supernet on 1,500 images memorises them), so no
    budget cuts the default splits.
    """

    name: str
    trials: int
    trial_epochs: int
    finetune_epochs: int
    darts_epochs: int
    darts_warmup_epochs: int
    final_epochs: int
    finalists: int
    train_images: int | None = None
    eval_images: int | None = None
    darts_steps_per_epoch: int | None = None


BUDGETS = {
    "tiny": Budget(
        "tiny",
        trials=3,
        trial_epochs=1,
        finetune_epochs=1,
        darts_epochs=2,
        darts_warmup_epochs=1,
        final_epochs=1,
        finalists=1,
        train_images=128,
        eval_images=128,
        darts_steps_per_epoch=2,
    ),
    "quick": Budget(
        "quick",
        trials=8,
        trial_epochs=3,
        finetune_epochs=2,
        darts_epochs=5,
        darts_warmup_epochs=2,
        final_epochs=8,
        finalists=1,
    ),
    "standard": Budget(
        "standard",
        trials=40,
        trial_epochs=6,
        finetune_epochs=2,
        darts_epochs=20,
        darts_warmup_epochs=5,
        final_epochs=12,
        finalists=3,
    ),
    "full": Budget(
        "full",
        trials=120,
        trial_epochs=12,
        finetune_epochs=4,
        darts_epochs=40,
        darts_warmup_epochs=10,
        final_epochs=30,
        finalists=5,
    ),
}


def get_budget(name: str, trials: int | None = None) -> Budget:
    """The named budget, with its trial count replaced by `trials` when given."""
    if name not in BUDGETS:
        raise MixsearchError(
            f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}"
        )
    budget = BUDGETS[name]
    return budget if trials is None else replace(budget, trials=trials)
