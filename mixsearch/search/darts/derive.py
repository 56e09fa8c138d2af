"""Turn architecture weights into one `Arch`: the most likely architecture that meets the constraints.

Without constraints this is the argmax of every choice (DARTS). With constraints, architectures are ranked by
their log-probability under softmax(alpha) with a beam search over the choices, and the most likely feasible
one is taken; the search is exhaustive when the space is no larger than the beam.
"""

from __future__ import annotations

import torch

from mixsearch.arch import Arch
from mixsearch.errors import MixsearchError
from mixsearch.hardware.cost import CostModel, check_constraints
from mixsearch.model.supernet import ArchParameters
from mixsearch.space.sections import Constraints

BEAM_WIDTH = 512


def ranked_assignments(
    alphas: ArchParameters, beam_width: int = BEAM_WIDTH
) -> list[tuple[float, dict]]:
    """(log-probability, choice assignment) pairs, most likely first, kept to the `beam_width` best."""
    beam: list[tuple[float, dict]] = [(0.0, {})]
    for choice, alpha in zip(alphas.choices, alphas.alphas):
        log_probs = torch.log_softmax(alpha.detach(), dim=0).tolist()
        extended = [
            (score + log_p, {**assignment, choice.key: option})
            for score, assignment in beam
            for option, log_p in zip(choice.options, log_probs)
        ]
        extended.sort(key=lambda item: -item[0])
        beam = extended[:beam_width]
    return beam


def derive(
    graph,
    alphas: ArchParameters,
    constraints: Constraints | None = None,
    costs: CostModel | None = None,
) -> Arch:
    """The argmax architecture, or with constraints the most likely feasible one (MixsearchError if none)."""
    if constraints is None or not constraints.limits():
        return graph.resolve(alphas.argmax())
    if costs is None:
        raise ValueError("deriving under constraints needs a CostModel")
    best_miss = None
    for _, assignment in ranked_assignments(alphas):
        arch = graph.resolve(assignment)
        verdict = check_constraints(costs.cost(arch), constraints)
        if verdict.feasible:
            return arch
        if best_miss is None or verdict.worst < best_miss[0]:
            best_miss = (verdict.worst, arch)
    worst, _ = best_miss
    raise MixsearchError(
        f"none of the {BEAM_WIDTH} most likely architectures meets the constraints "
        f"(the closest misses by {worst - 1:.0%}); relax the constraints or raise the hardware-loss weight"
    )
