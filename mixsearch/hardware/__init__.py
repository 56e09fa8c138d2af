"""Hardware model: what a module costs on the target device: counts, measured latency, constraints."""

from mixsearch.hardware.counts import (
    count_elementwise,
    count_flops,
    count_params,
    peak_activation_bytes,
)

__all__ = ["count_elementwise", "count_flops", "count_params", "peak_activation_bytes"]
