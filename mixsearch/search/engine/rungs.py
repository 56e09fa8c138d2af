"""Trials as the start of the final training: a trial trains with the final recipe (its epochs and learning-rate
curve) and the run's first final seed, and is scored by its validation score after the budget's `rung_epoch`.
A candidate promoted at the rung continues from its rung state to the end of the schedule, and that training is
its first final seed's: nothing is trained twice, and a trial's score is the start of what the finals measure.

The rung state is saved after every epoch in the run folder (`rungs/`), so a run killed mid-rung resumes from
its last epoch, and the final stage continues a promoted candidate from it. A module whose whole final training
with that seed an earlier run left in the trainings cache (a baseline, say) is scored from its recorded curve,
without training.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import torch

from mixsearch.arch import Arch
from mixsearch.errors import first_line
from mixsearch.hardware.latency import fixed_threads
from mixsearch.outdir import write_file
from mixsearch.proxy import Training
from mixsearch.search.engine.context import RunContext
from mixsearch.search.engine.pool import FINAL_THREADS
from mixsearch.search.engine.rundir import RUNGS_DIR
from mixsearch.search.engine.trainings import json_digest
from mixsearch.search.engine.weights import DAMAGED_FILE_ERRORS, load_weights

logger = logging.getLogger(__name__)


class Rungs:
    """Scores architectures at the run's rung and keeps their rung states for the final stage."""

    def __init__(self, ctx: RunContext):
        self.evaluator = ctx.final_evaluator
        self.trainings = ctx.trainings
        self.seed = ctx.final_seeds[0]
        self.epochs = ctx.budget.final_epochs
        self.rung = min(ctx.budget.rung_epoch, self.epochs)
        self.folder = ctx.folder.path / RUNGS_DIR

    def score(self, arch: Arch) -> float:
        """The validation score after the rung epoch: read from a finished final training the cache holds, else
        trained here, from the state a stopped run left if there is one."""
        finished = self.trainings.get(arch, self.epochs, self.seed)
        if finished is not None:
            return finished.val_curve[self.rung - 1]
        training = self.resumed(arch)
        # On the final trainings' threads: the same numbers as the final stage's training of this seed.
        with fixed_threads(FINAL_THREADS):
            for epoch in range(training.epoch + 1, self.rung + 1):
                self.evaluator.advance(training, epoch)
                self._save(arch, training)
        return training.val_curve[self.rung - 1]

    def state_path(self, arch: Arch) -> Path:
        """Where the rung state of `arch`'s training lies (it need not exist)."""
        # By the nodes themselves: the state's weights are named after them.
        nodes = [node.to_json() for node in arch.nodes]
        key = [nodes, self.epochs, self.seed, self.trainings.setting]
        return self.folder / f"{json_digest(key)[:20]}.pt"

    def resumed(self, arch: Arch) -> Training:
        """`arch`'s training with the final recipe and the first final seed, continued from its saved state
        when there is one (a damaged state is ignored with a warning)."""
        training = self.evaluator.training(arch, self.epochs)
        path = self.state_path(arch)
        if not path.exists():
            return training
        try:
            training.load_state_dict(load_weights(path))
        except (*DAMAGED_FILE_ERRORS, KeyError) as error:
            logger.warning(
                "ignoring rung state %s (%s); training it again",
                path,
                first_line(error),
            )
            return self.evaluator.training(arch, self.epochs)
        return training

    def _save(self, arch: Arch, training: Training) -> None:
        buffer = io.BytesIO()
        torch.save(training.state_dict(), buffer)
        write_file(self.state_path(arch), buffer.getvalue())
