"""Hardware model: what a module costs (FLOPs, parameters) on the target input shapes."""

from mixsearch.hardware.counts import count_flops, count_params

__all__ = ["count_flops", "count_params"]
