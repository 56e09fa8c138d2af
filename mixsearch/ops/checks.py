"""Setting checks that a parameter's type and range cannot express, in plain Python.

The op classes call them when built, and the space checker calls them through the registry without importing
torch, so a bad setting is reported at its line in the space file by the same code that would reject it later.
Emitted modules copy them with the classes that use them.
"""

from typing import List, Tuple

TASK_PRESETS = {
    "classification": (0.8, 0.2),
    "detection": (0.5, 0.5),
    "segmentation": (0.3, 0.7),
}


def fixed_weight_values(
    num_inputs: int, weights: Tuple[float, ...], preset: str
) -> List[float]:
    """The un-normalised weight of each input: `weights` when given, else the preset's (equal: all 1)."""
    if weights:
        values = list(weights)
    elif preset == "equal":
        values = [1.0] * num_inputs
    else:
        values = list(TASK_PRESETS[preset])
    if len(values) != num_inputs:
        raise ValueError(
            f"fixed weights need one weight per input ({num_inputs}), got {len(values)}"
        )
    if min(values) < 0 or sum(values) <= 0:
        raise ValueError(
            f"fixed weights must be >= 0 with a positive sum, got {values}"
        )
    return values


def gather_conv_levels(extent: int) -> int:
    """How many stride-2 convs gather over `extent` (log2 of it), which must be a power of two >= 2."""
    if extent < 2 or extent & (extent - 1):
        raise ValueError(
            f"gather_excite conv variant needs extent a power of two >= 2, got {extent}"
        )
    return extent.bit_length() - 1
