"""Shared test settings: deterministic, CPU-only, offline."""

import logging
import logging.handlers
import os

import pytest
import torch

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield


@pytest.fixture
def optuna_logs():
    """What Optuna logs itself while the test runs (a run reports each trial in a line of its own)."""
    handler = logging.handlers.BufferingHandler(capacity=10_000)
    logging.getLogger("optuna").addHandler(handler)
    yield handler.buffer
    logging.getLogger("optuna").removeHandler(handler)
