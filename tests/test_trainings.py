"""The cache of from-scratch trainings: keyed by everything a training depends on, robust to a corrupt file."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from mixsearch.arch import ArchNode
from mixsearch.proxy import ProxyData, TrainConfig, TrainResult
from mixsearch.search.engine.baselines import baseline_archs
from mixsearch.search.engine.trainings import TrainingCache, code_digest
from mixsearch.space.sections import Target

TARGET = Target(device="cpu", shapes=((1, 8, 4, 4),), threads=1)
ARCH = baseline_archs()["se"]


def proxy_data(first_label: int = 0) -> ProxyData:
    images = torch.zeros(4, 3, 8, 8)
    labels = torch.tensor([first_label, 1, 0, 1])
    split = TensorDataset(images, labels)
    return ProxyData(split, split, split, num_classes=2, in_channels=3)


CURVE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75)
RESULT = TrainResult(
    train_loss=0.5, val_acc=0.75, test_acc=0.7, epochs=8, seconds=3.5, val_curve=CURVE
)


def make_cache(directory, data=None, config=TrainConfig(), target=TARGET, threads=1):
    return TrainingCache(directory, data or proxy_data(), config, target, threads)


@pytest.fixture
def cache(tmp_path):
    return make_cache(tmp_path)


def test_a_stored_training_comes_back_for_the_same_function_epochs_and_seed(
    cache, tmp_path
):
    cache.put(ARCH, 3, RESULT)
    renamed = replace(ARCH, name="other", class_name="Other", source="x.yaml")
    assert cache.get(renamed, 8, 3) == RESULT
    assert cache.get(ARCH, 7, 3) is None
    assert cache.get(ARCH, 8, 4) is None
    assert cache.get(baseline_archs()["eca"], 8, 3) is None
    assert make_cache(tmp_path).get(ARCH, 8, 3) == RESULT


def test_the_same_function_under_other_node_names_or_with_skipped_nodes_is_a_hit(cache):
    """SE in the default space is `chan: se` followed by `spat: identity`: the same module as SE alone."""
    cache.put(ARCH, 3, RESULT)
    (se,) = ARCH.nodes
    in_space = replace(
        ARCH,
        nodes=(
            replace(se, name="chan"),
            ArchNode("spat", "identity", {}, ("chan",)),
        ),
    )
    assert cache.get(in_space, 8, 3) == RESULT


def test_how_latency_is_measured_does_not_matter(cache, tmp_path):
    """Only the training is kept; every run measures latency itself, at its own shapes and threads."""
    cache.put(ARCH, 3, RESULT)
    measured = replace(TARGET, shapes=((1, 8, 8, 8),), threads=2)
    assert make_cache(tmp_path, target=measured).get(ARCH, 8, 3) == RESULT


@pytest.mark.parametrize(
    "change",
    [
        dict(data=proxy_data(first_label=1)),
        dict(config=TrainConfig(lr=0.1)),
        dict(threads=2),
    ],
    ids=["data", "recipe", "training-threads"],
)
def test_another_setting_misses(cache, tmp_path, change):
    """Float sums split over another number of threads round differently: another training, like new data."""
    cache.put(ARCH, 3, RESULT)
    assert make_cache(tmp_path, **change).get(ARCH, 8, 3) is None


def test_the_recipe_seed_is_not_part_of_the_setting(cache, tmp_path):
    cache.put(ARCH, 3, RESULT)
    assert make_cache(tmp_path, config=TrainConfig(seed=99)).get(ARCH, 8, 3) == RESULT


def test_a_corrupt_entry_is_ignored_with_a_warning(cache, tmp_path, caplog):
    cache.put(ARCH, 3, RESULT)
    (entry,) = tmp_path.glob("*.json")
    entry.write_text('{"val_acc": 0.75, "test')
    with caplog.at_level(logging.WARNING):
        assert cache.get(ARCH, 8, 3) is None
    assert "ignoring cached training" in caplog.text


def test_an_entry_with_whole_numbers_written_as_ints_is_used(cache):
    result = replace(RESULT, val_acc=1, seconds=3)
    cache.put(ARCH, 3, result)
    assert cache.get(ARCH, 8, 3) == result


@pytest.mark.parametrize(
    "change, problem",
    [
        (dict(val_acc="0.75"), "val_acc: expected a number, got '0.75'"),
        (dict(epochs=8.0), "epochs: expected int, got 8.0"),
        (dict(test_acc=None), "test_acc: expected a number, got None"),
        (dict(train_loss=True), "train_loss: expected a number, got True"),
        (dict(train_loss=float("nan")), "train_loss is nan"),
        (dict(seconds=-1.0), "seconds is -1.0"),
        (dict(epochs=7), "epochs is 7, not 8"),
        (dict(flops=3), "unexpected keyword argument 'flops'"),
    ],
    ids=[
        "text",
        "float-epochs",
        "null",
        "bool",
        "nan",
        "negative-seconds",
        "other-epochs",
        "unknown-key",
    ],
)
def test_an_entry_of_wrong_types_or_numbers_is_trained_again_with_a_warning(
    cache, tmp_path, caplog, change, problem
):
    cache.put(ARCH, 3, RESULT)
    (entry,) = tmp_path.glob("*.json")
    entry.write_text(json.dumps({**json.loads(entry.read_text()), **change}))
    with caplog.at_level(logging.WARNING):
        assert cache.get(ARCH, 8, 3) is None
    assert f"ignoring cached training {entry}" in caplog.text
    assert problem in caplog.text and "training it again" in caplog.text
    cache.put(ARCH, 3, RESULT)
    assert cache.get(ARCH, 8, 3) == RESULT


def test_the_cache_key_reads_the_code_that_trains_and_no_search_code(monkeypatch):
    """A change to the search (strategies, engine, report) keeps every cached training."""
    read = []
    original = Path.read_bytes

    def recording(path):
        read.append(path.as_posix())
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", recording)
    code_digest.cache_clear()
    try:
        code_digest()
    finally:
        code_digest.cache_clear()
    assert any("/mixsearch/proxy/train.py" in path for path in read)
    assert any("/mixsearch/ops/" in path for path in read)
    assert not any(
        f"/mixsearch/{part}/" in path
        for path in read
        for part in ("search", "report", "codegen")
    )
