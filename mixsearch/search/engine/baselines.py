"""The hand-designed modules every search is judged against, and which of them a space holds.

A baseline is a chain of library ops in its published default form (CBAM: channel, then spatial). Two
architectures are the same module when they compute the same function (`arch.function_key`). A space contains a
baseline when one of its architectures is that function; the search then puts it into
its study as an ordinary trial, so every strategy starts from the hand-designed points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mixsearch.arch import INPUT, Arch, ArchNode, function_key
from mixsearch.ops import OPS
from mixsearch.space.graph import SpaceGraph

if TYPE_CHECKING:
    from torch import nn

BASELINES: dict[str, tuple[str, ...]] = {
    "none": ("identity",),
    "se": ("se",),
    "eca": ("eca",),
    "cbam": ("cbam_channel", "cbam_spatial"),
    "coord": ("coord",),
}
# Spaces with more choice combinations than this are not enumerated to look for the baselines.
MAX_ENUMERATED = 250_000


def chain_arch(name: str, class_name: str, ops: tuple[str, ...]) -> Arch:
    """Library ops with their default settings, applied one after the other."""
    nodes, previous = [], INPUT
    for op in ops:
        node_name = "attn" if len(ops) == 1 else op
        params = OPS.get(op).canonical_params({})
        nodes.append(ArchNode(node_name, op, params, (previous,)))
        previous = node_name
    return Arch(name, class_name, tuple(nodes), source="baseline")


def baseline_archs() -> dict[str, Arch]:
    """Each of `BASELINES` as an architecture (`SeBaseline`, ...)."""
    return {
        name: chain_arch(name, name.capitalize() + "Baseline", ops)
        for name, ops in BASELINES.items()
    }


def baseline_factories() -> dict[str, Callable[[int], nn.Module]]:
    """Each of `BASELINES` as a module factory for a host network (channels -> module)."""
    from mixsearch.model import DiscreteModel  # torch: listing the baselines needs none

    return {
        name: (lambda channels, arch=arch: DiscreteModel(arch, channels))
        for name, arch in baseline_archs().items()
    }


def contained_baselines(graph: SpaceGraph) -> dict[str, tuple[dict[str, Any], Arch]]:
    """The baselines `graph` holds: name -> (a choice assignment that resolves to it, the space's arch).

    Empty for a space too large to enumerate (`MAX_ENUMERATED` choice combinations)."""
    if graph.size > MAX_ENUMERATED:
        return {}
    wanted = {function_key(arch): name for name, arch in baseline_archs().items()}
    found: dict[str, tuple[dict[str, Any], Arch]] = {}
    for assignment in graph.assignments():
        arch = graph.resolve(assignment)
        name = wanted.get(function_key(arch))
        if name is not None and name not in found:
            found[name] = (assignment, arch)
            if len(found) == len(wanted):
                break
    return {name: found[name] for name in BASELINES if name in found}


def baselines_note(graph: SpaceGraph) -> str:
    """Which hand-designed modules the space holds (a search puts those into its study)."""
    if graph.size > MAX_ENUMERATED:
        return f"baselines: not looked for ({graph.size:,} choice combinations is too many to enumerate)."
    held = contained_baselines(graph)
    missing = [name for name in BASELINES if name not in held]
    if not held:
        return f"baselines: the space holds none of {', '.join(BASELINES)}."
    rest = f"; not {', '.join(missing)}" if missing else ""
    return (
        f"baselines in the space: {', '.join(held)}{rest} (a search starts from them)."
    )
