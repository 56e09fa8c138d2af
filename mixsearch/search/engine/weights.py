"""Loading saved torch states safely: tensors and plain containers only, never arbitrary pickled objects.

Checkpoints in a run folder and stage states in a shared study are files anyone with access could have
written; `torch.load(weights_only=True)` refuses every object that unpickling could use to run code.
"""

from __future__ import annotations

import pickle
import zipfile
from typing import IO, Any

import torch

# What loading raises on a truncated, overwritten or non-weights file (unsafe content: UnpicklingError).
DAMAGED_FILE_ERRORS = (
    RuntimeError,
    EOFError,
    ValueError,
    OSError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
)


def load_weights(source: str | IO[bytes]) -> Any:
    """A state saved by `torch.save` (tensors, numbers, strings and containers of them); anything else raises
    one of DAMAGED_FILE_ERRORS."""
    return torch.load(source, weights_only=True, map_location="cpu")
