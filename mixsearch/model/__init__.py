"""Models built from the op library: the discrete model of one Arch (`discrete`) and the supernet of a whole
space (`supernet`, imported from there: it needs the compiled space)."""

from mixsearch.model.discrete import DiscreteModel, build_node

__all__ = ["DiscreteModel", "build_node"]
