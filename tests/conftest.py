"""Shared test settings: deterministic, CPU-only, offline."""

import os

import pytest
import torch

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield
