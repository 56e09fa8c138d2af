"""The proxy task: generated data, its cache, user image folders, the host network and the training loop."""

import logging
import math
from dataclasses import fields, replace
from functools import partial

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from helpers import library_op, sampled_archs
from mixsearch.errors import MixsearchError
from mixsearch.model.discrete import DiscreteModel
from mixsearch.proxy import (
    DivergedError,
    HostNet,
    ProxyConfig,
    ProxyData,
    TrainConfig,
    Training,
    classification_data,
    evaluate,
    load_imagefolder,
    load_proxy,
    make_loader,
    seed_everything,
    train,
)
from mixsearch.proxy.train import lr_schedule
from mixsearch.search.engine.baselines import baseline_factories

SMALL = ProxyConfig(canvas=32, train_size=24, val_size=8, test_size=8)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_same_seed_generates_identical_tensors():
    first = load_proxy(SMALL)
    classification_data.cache_path(SMALL).unlink()

    regenerated = load_proxy(SMALL)

    for split in ("train", "val", "test"):
        for a, b in zip(
            getattr(first, split).tensors, getattr(regenerated, split).tensors
        ):
            assert torch.equal(a, b)


def test_generator_output_is_pinned_to_the_cache_format():
    # A changed generator with an unchanged CACHE_FORMAT would silently reuse stale caches. The tolerance
    # allows floating-point rounding across machines; any change to what is drawn moves the sum by thousands.
    pixel_sum = int(
        classification_data.generate(SMALL)["train_images"].sum(dtype="int64")
    )

    assert classification_data.CACHE_FORMAT == 2
    assert abs(pixel_sum - 5140588) <= 100, "generation changed: bump CACHE_FORMAT"


def test_another_seed_generates_other_images():
    images = load_proxy(SMALL).train.tensors[0]
    other = load_proxy(replace(SMALL, seed=1)).train.tensors[0]

    assert not torch.equal(images, other)


def test_images_labels_and_classes_have_the_task_shape():
    task = load_proxy(SMALL)

    assert (task.num_classes, task.in_channels) == (10, 3)
    for split, size in [("train", 24), ("val", 8), ("test", 8)]:
        images, labels = getattr(task, split).tensors
        assert images.shape == (size, 3, 32, 32) and images.dtype == torch.float32
        assert 0 <= images.min() and images.max() <= 1
        assert labels.dtype == torch.int64 and set(labels.tolist()) <= set(range(10))


def test_splits_draw_from_disjoint_source_digits():
    arrays = classification_data.generate(
        replace(SMALL, train_size=300, val_size=100, test_size=100)
    )
    train, val, test = (
        set(arrays[f"{s}_sources"].tolist()) for s in ("train", "val", "test")
    )

    assert not train & val and not train & test and not val & test
    # contiguous blocks of the source file, in order
    assert max(train) < min(val) and max(val) < min(test)


def test_second_load_reads_the_cache_under_xdg_cache_home(tmp_path, monkeypatch):
    load_proxy(SMALL)
    assert classification_data.cache_path(SMALL).is_relative_to(tmp_path / "cache")
    calls = []
    monkeypatch.setattr(
        classification_data, "generate", lambda config: calls.append(config)
    )

    again = load_proxy(SMALL)

    assert calls == [] and len(again.train) == 24


def test_cache_is_keyed_by_every_generation_parameter():
    changes = {
        "canvas": 36,
        "digit_size": 14,
        "clutter": 2,
        "fragment_size": 6,
        "decoys": 1,
        "noise": 0.2,
        "colour": "grey",
        "background": 0.1,
        "train_size": 25,
        "val_size": 9,
        "test_size": 9,
        "seed": 1,
    }
    assert set(changes) == {field.name for field in fields(ProxyConfig)}

    paths = {
        classification_data.cache_path(replace(SMALL, **{k: v}))
        for k, v in changes.items()
    }

    assert len(paths | {classification_data.cache_path(SMALL)}) == len(changes) + 1


@pytest.mark.parametrize(
    "corrupt",
    [lambda data: b"not an npz file", lambda data: data[: len(data) // 2]],
    ids=["garbage", "truncated"],
)
def test_corrupt_cache_is_regenerated_with_a_warning(caplog, corrupt):
    expected = load_proxy(SMALL).train.tensors[0]
    path = classification_data.cache_path(SMALL)
    path.write_bytes(corrupt(path.read_bytes()))

    with caplog.at_level(logging.WARNING):
        task = load_proxy(SMALL)

    assert "ignoring proxy cache" in caplog.text and str(path) in caplog.text
    assert torch.equal(task.train.tensors[0], expected)
    assert load_proxy(SMALL).train.tensors[0].shape == expected.shape  # rewritten whole


def _edited(arrays, name, value):
    return {**arrays, name: value}


@pytest.mark.parametrize(
    "edit, problem",
    [
        (
            lambda a: _edited(a, "train_images", a["train_images"][:, :1]),
            "train_images is uint8 24 x 1 x 32 x 32, expected uint8 24 x 3 x 32 x 32",
        ),
        (
            lambda a: _edited(a, "val_labels", a["val_labels"].astype(np.float32)),
            "val_labels is float32 8, expected int64 8",
        ),
        (
            lambda a: _edited(a, "test_labels", a["test_labels"] + 10),
            "test_labels holds classes outside 0..9",
        ),
        (
            lambda a: _edited(a, "train_labels", a["train_labels"][:-1]),
            "train_labels is int64 23, expected int64 24",
        ),
        (
            lambda a: {k: v for k, v in a.items() if k != "val_images"},
            "val_images",
        ),
    ],
    ids=["channels", "label-type", "label-range", "split-length", "missing-split"],
)
def test_a_cache_of_wrong_shapes_or_labels_is_regenerated_with_a_warning(
    caplog, edit, problem
):
    expected = load_proxy(SMALL)
    path = classification_data.cache_path(SMALL)
    with np.load(path) as stored:
        arrays = dict(stored)
    np.savez(path, **edit(arrays))

    with caplog.at_level(logging.WARNING):
        task = load_proxy(SMALL)

    assert f"ignoring proxy cache {path}" in caplog.text and problem in caplog.text
    for split in ("train", "val", "test"):
        for a, b in zip(getattr(task, split).tensors, getattr(expected, split).tensors):
            assert torch.equal(a, b)
    with np.load(path) as stored:
        assert all(np.array_equal(stored[k], v) for k, v in arrays.items())


@pytest.mark.parametrize(
    "change",
    [{"colour": "purple"}, {"fragment_size": 20, "digit_size": 16}, {"train_size": 0}],
)
def test_bad_generation_parameters_are_user_errors(change):
    with pytest.raises(MixsearchError):
        replace(SMALL, **change)


def write_images(folder, count, size=(12, 9)):
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", size, (20 * i, 100, 200)).save(folder / f"{i}.png")


def test_imagefolder_loads_resized_stratified_splits(tmp_path):
    for name in ("cat", "dog"):
        write_images(tmp_path / "data" / name, 10)
    (tmp_path / "data" / "notes.txt").write_text("not a class")

    task = load_imagefolder(
        tmp_path / "data", size=16, seed=0, val_fraction=0.2, test_fraction=0.2
    )

    assert (task.num_classes, task.in_channels) == (2, 3)
    assert [len(split) for split in (task.train, task.val, task.test)] == [12, 4, 4]
    assert task.train.tensors[0].shape[1:] == (3, 16, 16)
    assert task.val.tensors[1].tolist().count(0) == 2  # each class cut by the fractions


def test_imagefolder_split_depends_only_on_the_seed(tmp_path):
    for name in ("a", "b"):
        write_images(tmp_path / name, 10)

    first, second = (load_imagefolder(tmp_path, size=8, seed=3) for _ in range(2))

    assert torch.equal(first.test.tensors[0], second.test.tensors[0])


def make_missing(root):
    return root / "absent"


def make_empty(root):
    (root / "empty" / "cat").mkdir(parents=True)
    return root / "empty"


def make_one_class(root):
    write_images(root / "one" / "cat", 3)
    return root / "one"


def make_unreadable(root):
    write_images(root / "bad" / "cat", 3)
    write_images(root / "bad" / "dog", 3)
    (root / "bad" / "dog" / "broken.png").write_bytes(b"not a png")
    return root / "bad" / "dog" / "broken.png"


@pytest.mark.parametrize(
    "make, message",
    [
        (make_missing, "no such folder"),
        (make_empty, "no images found"),
        (make_one_class, "need at least 2"),
        (make_unreadable, "cannot read image"),
    ],
)
def test_imagefolder_problems_name_the_path(tmp_path, make, message):
    named = make(tmp_path)
    folder = named.parent.parent if named.suffix else named

    with pytest.raises(MixsearchError) as error:
        load_imagefolder(folder, size=8)

    assert str(named) in str(error.value) and message in str(error.value)


def test_imagefolder_too_small_for_a_split_says_so(tmp_path):
    for name in ("a", "b"):
        write_images(tmp_path / name, 2)

    with pytest.raises(MixsearchError, match="too few images to fill the val split"):
        load_imagefolder(tmp_path, size=8, val_fraction=0.1, test_fraction=0.1)


@pytest.mark.parametrize("name", sorted(baseline_factories()))
def test_host_net_carries_each_baseline(name):
    model = HostNet(baseline_factories()[name], widths=(16, 32, 64), num_classes=7)

    assert model(torch.rand(2, 3, 40, 40)).shape == (2, 7)


def test_host_net_places_the_module_after_each_stage():
    model = HostNet(library_op("se", reduction=4), widths=(16, 32, 64))

    assert [type(module).__name__ for module in model.attention] == [
        "SqueezeExcite"
    ] * 3
    assert [module.fc2.out_channels for module in model.attention] == [16, 32, 64]


@pytest.mark.parametrize(
    "arch", [arch for _, arch in sampled_archs(per_space=1)], ids=lambda a: a.name
)
def test_host_net_carries_a_sampled_architecture(arch):
    model = HostNet(lambda channels: DiscreteModel(arch, channels), widths=(16, 32, 64))

    assert model(torch.rand(2, 3, 40, 40)).shape == (2, 10)


def tiny_task() -> ProxyData:
    task = load_proxy(replace(SMALL, train_size=48, val_size=16, test_size=16))
    return task


def test_one_epoch_is_finite_and_reproducible_with_a_seed():
    task = tiny_task()
    config = TrainConfig(epochs=1, batch_size=16, seed=5)
    build = partial(HostNet, baseline_factories()["cbam"], widths=(8, 16, 32))

    seed_everything(config.seed)
    first = train(build(), task, config, show_progress=False)
    seed_everything(config.seed)
    second = train(build(), task, config, show_progress=False)

    assert (
        math.isfinite(first.train_loss)
        and 0 <= first.test_acc <= 1
        and first.epochs == 1
    )
    assert replace(first, seconds=0) == replace(second, seconds=0)


def test_adamw_with_label_smoothing_trains():
    config = TrainConfig(
        epochs=1, batch_size=16, optimizer="adamw", lr=1e-3, label_smoothing=0.1
    )

    result = train(
        HostNet(library_op("eca"), widths=(8, 16, 32)), tiny_task(), config, False
    )

    assert math.isfinite(result.train_loss)


def test_learning_rate_warms_up_linearly_then_decays_to_zero():
    config = TrainConfig(epochs=3, lr=1.0, warmup_epochs=1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = lr_schedule(optimizer, config, steps_per_epoch=4)

    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()

    assert rates[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert rates[4:] == sorted(rates[4:], reverse=True) and rates[-1] < 0.05


def test_loader_order_follows_the_seed():
    dataset = TensorDataset(torch.arange(20))

    def order(seed):
        return torch.cat(
            [batch for (batch,) in make_loader(dataset, 6, shuffle=True, seed=seed)]
        ).tolist()

    assert (
        order(1) == order(1)
        and order(1) != order(2)
        and sorted(order(1)) == list(range(20))
    )


def test_evaluate_counts_correct_predictions():
    dataset = TensorDataset(torch.eye(4), torch.tensor([0, 1, 2, 0]))

    assert evaluate(torch.nn.Identity(), dataset) == pytest.approx(0.75)


def test_unknown_optimizer_and_unresolved_device_are_user_errors():
    with pytest.raises(MixsearchError, match="optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(MixsearchError, match="warmup_epochs"):
        TrainConfig(epochs=2, warmup_epochs=3)
    # The target's device is resolved once, before training (`hardware.device.torch_device`).
    with pytest.raises(MixsearchError, match="device must be cpu, cuda or cuda:N"):
        TrainConfig(device="auto")


def test_a_diverging_candidate_raises_diverged_error():
    config = TrainConfig(epochs=1, batch_size=16, lr=1e30)
    model = HostNet(library_op("se"), widths=(8, 16, 32))

    with pytest.raises(DivergedError, match="diverged in epoch 1"):
        train(model, tiny_task(), config, show_progress=False)


def test_two_modules_of_one_seed_share_every_other_initial_weight():
    """Common random numbers: the host's weights do not depend on the module it carries."""

    def host(name: str) -> HostNet:
        seed_everything(3)
        return HostNet(baseline_factories()[name], widths=(8, 16, 32))

    eca, cbam = host("eca").state_dict(), host("cbam").state_dict()
    shared = [key for key in eca if not key.startswith("attention.")]
    assert shared and all(torch.equal(eca[key], cbam[key]) for key in shared)
    assert {k for k in eca if k.startswith("attention.")} != {
        k for k in cbam if k.startswith("attention.")
    }


def test_a_training_stopped_at_a_rung_and_continued_ends_where_one_run_does(tmp_path):
    task = tiny_task()
    config = TrainConfig(epochs=3, batch_size=16, seed=2)

    def build() -> HostNet:
        seed_everything(config.seed)
        return HostNet(baseline_factories()["se"], widths=(8, 16, 32))

    straight = train(build(), task, config, show_progress=False)
    rung = Training(build(), task, config, show_progress=False)
    assert rung.run_to(1) == list(straight.val_curve[:1])
    torch.save(rung.state_dict(), tmp_path / "rung.pt")
    torch.manual_seed(99)  # whatever ran in between
    resumed = Training(build(), task, config, show_progress=False)
    resumed.load_state_dict(torch.load(tmp_path / "rung.pt", weights_only=True))
    resumed.run_to(config.epochs)
    result = resumed.result()
    assert result.val_curve == straight.val_curve
    assert (result.val_acc, result.test_acc, result.train_loss) == (
        straight.val_acc,
        straight.test_acc,
        straight.train_loss,
    )
