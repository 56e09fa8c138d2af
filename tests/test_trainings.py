"""The cache of from-scratch trainings: keyed by everything a training depends on, robust to a corrupt file."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch
from torch.utils.data import TensorDataset

from mixsearch.proxy import ProxyData, TrainConfig, TrainResult
from mixsearch.search.evaluate import baseline_archs
from mixsearch.search.trainings import TrainingCache
from mixsearch.space.sections import Target

TARGET = Target(device="cpu", shapes=((1, 8, 4, 4),), threads=1)
ARCH = baseline_archs()["se"]


def proxy_data(first_label: int = 0) -> ProxyData:
    images = torch.zeros(4, 3, 8, 8)
    labels = torch.tensor([first_label, 1, 0, 1])
    split = TensorDataset(images, labels)
    return ProxyData(split, split, split, num_classes=2, in_channels=3)


RESULT = TrainResult(train_loss=0.5, val_acc=0.75, test_acc=0.7, epochs=8, seconds=3.5)


@pytest.fixture
def cache(tmp_path):
    return TrainingCache(tmp_path, proxy_data(), TrainConfig(seed=3), TARGET)


def test_a_stored_training_comes_back_for_the_same_nodes_and_epochs(cache, tmp_path):
    cache.put(ARCH, RESULT)
    renamed = replace(ARCH, name="other", class_name="Other", source="x.yaml")
    assert cache.get(renamed, 8) == RESULT
    assert cache.get(ARCH, 7) is None
    assert cache.get(baseline_archs()["eca"], 8) is None
    again = TrainingCache(tmp_path, proxy_data(), TrainConfig(seed=3), TARGET)
    assert again.get(ARCH, 8) == RESULT


def test_how_latency_is_measured_does_not_matter(cache, tmp_path):
    """Only the training is kept; every run measures latency itself, at its own shapes and threads."""
    cache.put(ARCH, RESULT)
    measured = replace(TARGET, shapes=((1, 8, 8, 8),), threads=2)
    other = TrainingCache(tmp_path, proxy_data(), TrainConfig(seed=3), measured)
    assert other.get(ARCH, 8) == RESULT


@pytest.mark.parametrize(
    "change",
    [
        dict(data=proxy_data(first_label=1)),
        dict(config=TrainConfig(seed=4)),
        dict(config=TrainConfig(seed=3, lr=0.1)),
    ],
    ids=["data", "seed", "recipe"],
)
def test_another_setting_misses(cache, tmp_path, change):
    cache.put(ARCH, RESULT)
    setting = dict(data=proxy_data(), config=TrainConfig(seed=3), target=TARGET)
    other = TrainingCache(tmp_path, **{**setting, **change})
    assert other.get(ARCH, 8) is None


def test_another_training_thread_count_misses(cache, tmp_path):
    """Float sums split over another number of threads round differently: another training."""
    cache.put(ARCH, RESULT)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        other = TrainingCache(tmp_path, proxy_data(), TrainConfig(seed=3), TARGET)
    finally:
        torch.set_num_threads(threads)
    assert other.get(ARCH, 8) is None


def test_a_corrupt_entry_is_ignored_with_a_warning(cache, tmp_path, caplog):
    cache.put(ARCH, RESULT)
    (entry,) = tmp_path.glob("*.json")
    entry.write_text('{"val_acc": 0.75, "test')
    with caplog.at_level(logging.WARNING):
        assert cache.get(ARCH, 8) is None
    assert "ignoring cached training" in caplog.text
