"""The cache of from-scratch trainings: keyed by everything a training depends on, robust to a corrupt file."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch
from torch.utils.data import TensorDataset

from mixsearch.hardware.target import Target
from mixsearch.proxy import ProxyData, TrainConfig
from mixsearch.search.evaluate import baseline_archs
from mixsearch.search.result import Trained
from mixsearch.search.trainings import TrainingCache

TARGET = Target(device="cpu", shapes=((1, 8, 4, 4),), threads=1)
ARCH = baseline_archs()["se"]


def proxy_data(first_label: int = 0) -> ProxyData:
    images = torch.zeros(4, 3, 8, 8)
    labels = torch.tensor([first_label, 1, 0, 1])
    split = TensorDataset(images, labels)
    return ProxyData(split, split, split, num_classes=2, in_channels=3)


def trained(arch=ARCH) -> Trained:
    return Trained("se", arch, 0.75, 0.7, 0.25, 1000, 100, 3.5)


@pytest.fixture
def cache(tmp_path):
    return TrainingCache(tmp_path, proxy_data(), TrainConfig(seed=3), TARGET)


def test_a_stored_training_comes_back_for_the_same_nodes_and_epochs(cache, tmp_path):
    cache.put(8, trained())
    renamed = replace(ARCH, name="other", class_name="Other", source="x.yaml")
    assert cache.get(renamed, 8) == replace(trained(), arch=renamed)
    assert cache.get(ARCH, 7) is None
    assert cache.get(baseline_archs()["eca"], 8) is None
    again = TrainingCache(tmp_path, proxy_data(), TrainConfig(seed=3), TARGET)
    assert again.get(ARCH, 8) == trained()


@pytest.mark.parametrize(
    "change",
    [
        dict(data=proxy_data(first_label=1)),
        dict(config=TrainConfig(seed=4)),
        dict(config=TrainConfig(seed=3, lr=0.1)),
        dict(target=replace(TARGET, shapes=((1, 8, 8, 8),))),
        dict(target=replace(TARGET, threads=2)),
    ],
    ids=["data", "seed", "recipe", "shapes", "threads"],
)
def test_another_setting_misses(cache, tmp_path, change):
    cache.put(8, trained())
    setting = dict(data=proxy_data(), config=TrainConfig(seed=3), target=TARGET)
    other = TrainingCache(tmp_path, **{**setting, **change})
    assert other.get(ARCH, 8) is None


def test_a_corrupt_entry_is_ignored_with_a_warning(cache, tmp_path, caplog):
    cache.put(8, trained())
    (entry,) = tmp_path.glob("*.json")
    entry.write_text('{"label": "se", "arch"')
    with caplog.at_level(logging.WARNING):
        assert cache.get(ARCH, 8) is None
    assert "ignoring cached training" in caplog.text
