"""Choosing by what an option does for the supernet, not by the size of its alpha (Wang et al., "Rethinking
Architecture Selection in Differentiable NAS", https://arxiv.org/abs/2108.04392).

An option's importance is how much the trained supernet's validation score drops when that option alone is
masked out of its choice (its weight set to zero, the others renormalised). The alphas of a short search on a
supernet that has barely learned carry little (ECA's was the lowest of the channel options on the default space);
the masked score asks the weights instead. The importances, in points, stand in for the alphas wherever the
derivation ranks architectures (`derive.derive`, with its constraints).
"""

from __future__ import annotations

import copy

import torch
from torch.utils.data import Dataset, Subset

from mixsearch.model.supernet import ArchParameters
from mixsearch.proxy import evaluate
from mixsearch.search.darts.search import DartsSearch

# Validation images the masked supernet is scored on: enough to tell a point, cheap for every option.
SELECTION_IMAGES = 1000


def importance(search: DartsSearch, val_set: Dataset) -> ArchParameters:
    """Alphas whose values are each option's importance in points (higher: the supernet needs it more)."""
    images = Subset(val_set, range(min(len(val_set), SELECTION_IMAGES)))
    scores = copy.deepcopy(search.alphas)

    def score() -> float:
        return evaluate(search.model, images, search.device, search.task)

    base = score()
    with torch.no_grad():
        for index, alpha in enumerate(search.alphas.alphas):
            kept = alpha.clone()
            drops = []
            for option in range(len(alpha)):
                alpha.copy_(kept)
                alpha[option] = -torch.inf
                drops.append(100 * (base - score()))
            alpha.copy_(kept)
            scores.alphas[index].copy_(torch.tensor(drops))
    return scores
