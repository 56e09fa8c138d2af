"""Test helpers: sampled architectures of the shipped spaces, loading a generated module file, and the tiny space
that `mixsearch run` tests search."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sys
from pathlib import Path
from types import ModuleType

from mixsearch.arch import Arch
from mixsearch.ops import OPS
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import load_space

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "search_spaces").glob("*.yaml"))


def sampled_archs(per_space: int = 3) -> list[tuple[str, Arch]]:
    """(id, arch) for `per_space` seeded random architectures of every shipped space."""
    archs = []
    for path in SPACES:
        graph = compile_space(load_space(path.relative_to(ROOT)))
        for seed in range(per_space):
            archs.append((f"{path.stem}-{seed}", graph.sample(random.Random(seed))))
    return archs


def library_op(name: str, **params):
    """A host network's attention factory: op `name` of the library with `params`, at any width."""
    return lambda channels: OPS.get(name).build(channels, params)


def import_file(path: Path) -> ModuleType:
    """Import a generated module from its file path under a unique module name."""
    name = f"generated_{path.stem}_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def tiny_run_space(name: str, train_size: int = 256) -> str:
    """A small space at a small target shape on a small proxy (`train_size` images): a whole run takes seconds."""
    return f"""
name: {name}
ops:
  channel: [se: {{reduction: [4, 8]}}, eca]
  spatial: [cbam_spatial: {{kernel: [3, 7]}}, identity]
graph:
  chan: {{op: channel, from: input}}
  spat: {{op: spatial, from: [input, chan]}}
  out: {{fuse: [sum, gate], from: [chan, spat], residual: [false, true]}}
target: {{device: cpu, shapes: [[1, 16, 8, 8]], threads: 1}}
proxy: {{dataset: digits, canvas: 24, digit_size: 12, train_size: {train_size}, val_size: 64, test_size: 64}}
"""


def offline_env(config_dir: Path) -> dict[str, str]:
    """The environment for an Ultralytics subprocess: offline, its settings in `config_dir` (not ~/.config).

    Dataset checks call `check_font("Arial.ttf")`, which downloads the font unless it is in the config
    folder: matplotlib's DejaVu Sans under that name keeps it from trying.
    """
    import matplotlib

    (config_dir / "Ultralytics").mkdir(parents=True, exist_ok=True)
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    shutil.copy(font, config_dir / "Ultralytics" / "Arial.ttf")
    return {
        **os.environ,
        "YOLO_CONFIG_DIR": str(config_dir),
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


class Booby:
    """Creates `marker` when unpickled: what a crafted checkpoint would do with `os.system`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))
