"""Models built from the op library: the discrete model of one Arch (and, later, the supernet of a space)."""

from mixsearch.model.discrete import DiscreteModel, build_node

__all__ = ["DiscreteModel", "build_node"]
