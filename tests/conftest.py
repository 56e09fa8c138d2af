"""Shared test settings: deterministic, CPU-only, quiet about deprecations we cannot act on."""

import os
import warnings

import pytest
import torch

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield
