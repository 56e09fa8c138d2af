"""The detection proxy's training side: the host's dense output, target assignment, loss, mAP from torchmetrics,
and every training stage (plain training, DARTS) on a detection task.

The data here is a synthetic task of coloured squares (class = colour) whose boxes are known exactly, so these
tests do not depend on the embedded digits generator.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from helpers import library_op
from mixsearch.errors import MixsearchError
from mixsearch.proxy import detection
from mixsearch.proxy.detection import (
    STRIDES,
    DetectionHost,
    assign,
    detection_loss,
    ground_truth,
    mean_average_precision,
)
from mixsearch.proxy.splits import ProxyData
from mixsearch.proxy.tasks import Detection, task_of
from mixsearch.proxy.train import TrainConfig, evaluate, train
from mixsearch.search.darts.search import DartsSearch
from mixsearch.search.settings import DartsConfig
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import parse_space

pytest.importorskip("torchvision")
pytest.importorskip("torchmetrics")
pytest.importorskip("faster_coco_eval")

SIZE = 64
CLASSES = 3


def squares(count: int, seed: int, most: int = 2) -> TensorDataset:
    """`count` noisy SIZE x SIZE images with 1..`most` solid squares of 12-27 px, the class their colour."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, SIZE, SIZE, generator=generator) * 0.2
    targets = torch.zeros(count, most, 5)
    targets[..., 0] = -1
    for image in range(count):
        for row in range(int(torch.randint(1, most + 1, (1,), generator=generator))):
            side = int(torch.randint(12, 28, (1,), generator=generator))
            x, y = torch.randint(0, SIZE - side, (2,), generator=generator).tolist()
            label = int(torch.randint(0, CLASSES, (1,), generator=generator))
            images[image, :, y : y + side, x : x + side] = 0.0
            images[image, label, y : y + side, x : x + side] = 1.0
            targets[image, row] = torch.tensor([label, x, y, x + side, y + side])
    return TensorDataset(images, targets)


def squares_task(train_size: int = 256) -> ProxyData:
    return ProxyData(
        squares(train_size, 0),
        squares(64, 1),
        squares(64, 2),
        num_classes=CLASSES,
        in_channels=3,
        task="detection",
    )


def host(attention=lambda channels: nn.Identity()) -> DetectionHost:
    torch.manual_seed(0)
    return DetectionHost(attention, num_classes=CLASSES)


def test_dense_output_covers_every_cell_of_p3_p4_p5():
    output = host()(torch.zeros(2, 3, SIZE, SIZE))
    cells = sum((SIZE // stride) ** 2 for stride in STRIDES)
    assert output.logits.shape == (2, cells, CLASSES)
    assert output.boxes.shape == (2, cells, 4)
    assert sorted(set(output.strides.tolist())) == list(map(float, STRIDES))
    assert (output.boxes[..., 2:] > output.boxes[..., :2]).all()


def test_every_object_gets_positive_cells_inside_its_box_and_padding_none():
    images, targets = squares(16, 0).tensors
    output = host()(images)
    index, matched = assign(output, targets)
    for image in range(len(images)):
        real = int((targets[image, :, 0] >= 0).sum())
        assert set(index[image][index[image] >= 0].tolist()) == set(range(real))
        positive = index[image] >= 0
        centres = output.centres[positive]
        boxes = matched[image][positive][:, 1:]
        assert (centres >= boxes[:, :2]).all() and (centres <= boxes[:, 2:]).all()


def test_loss_is_finite_and_reaches_every_attention_module():
    images, targets = squares(8, 0).tensors
    model = host(library_op("se"))
    loss = detection_loss(model(images), targets)
    loss.backward()
    assert math.isfinite(loss.item()) and loss.item() > 0
    for module in model.attention:
        assert all(
            p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()
        )


def test_map_of_perfect_predictions_is_one_and_of_shifted_boxes_lower():
    _, targets = squares(8, 3).tensors
    truths = ground_truth(targets)
    perfect = [
        {**truth, "scores": torch.ones(len(truth["labels"]))} for truth in truths
    ]
    shifted = [{**p, "boxes": p["boxes"] + 4.0} for p in perfect]
    assert mean_average_precision(perfect, truths) == {"map": 1.0, "map_50": 1.0}
    worse = mean_average_precision(shifted, truths)
    assert worse["map"] < 1.0 and worse["map_50"] <= 1.0


def test_training_a_detection_task_scores_map_well_above_an_untrained_model():
    data = squares_task()
    untrained = evaluate(host(), data.val, task=Detection())
    config = TrainConfig(epochs=6, batch_size=32, lr=0.02, warmup_epochs=1)
    result = train(host(), data, config, show_progress=False)
    assert untrained < 0.05
    assert 0.3 < result.val_acc <= 1.0 and 0.3 < result.test_acc <= 1.0
    assert task_of(data).metric == "mAP50-95"


def test_darts_searches_a_detection_task_and_reports_no_accuracy():
    space = parse_space("""
name: det
graph:
  attn: {op: [identity, se, eca], from: input}
""")
    graph = compile_space(space)
    data = squares_task(64)
    lines: list[str] = []
    search = DartsSearch(
        graph,
        lambda attention: Detection().host(attention, data),
        data.train,
        DartsConfig(epochs=2, warmup_epochs=1, batch_size=16),
        task=Detection(),
    )
    search.run(show_progress=False, on_epoch=lines.append)
    assert len(lines) == 2 and "accuracy" not in lines[-1]
    assert all(
        math.isfinite(float(line.split("loss ")[1].split(";")[0])) for line in lines
    )


def test_a_missing_detection_package_is_one_clear_error(monkeypatch):
    real = detection.importlib.import_module

    def refuse(name):
        if name.startswith("torchmetrics"):
            raise ImportError(name)
        return real(name)

    monkeypatch.setattr(detection.importlib, "import_module", refuse)
    with pytest.raises(MixsearchError, match=r"needs the torchmetrics.* package: pip"):
        mean_average_precision([], [])
