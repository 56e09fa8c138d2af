"""DARTS finds a planted answer, its two orders both work, and an interrupted search resumes exactly."""

from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from helpers import Booby
from mixsearch.errors import MixsearchError
from mixsearch.hardware.cost import CostModel
from mixsearch.hardware.lut import LatencyTable, OverheadModel, shape_key
from mixsearch.hardware.predictor import predict_latency, profile, space_measurements
from mixsearch.model import DiscreteModel
from mixsearch.model.supernet import ArchParameters, Supernet
from mixsearch.search.darts.derive import derive
from mixsearch.search.darts.expected_cost import ExpectedCost
from mixsearch.search.darts.search import DartsSearch
from mixsearch.search.darts.select import importance
from mixsearch.search.settings import DartsConfig
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import parse_space
from mixsearch.space.sections import Constraints, Target

CHANNELS = 8
SPACE = """
name: planted
graph:
  attn: {op: [identity, none, se: {reduction: 2}], from: input}
"""


class PoolHost(nn.Module):
    """The module on the raw input, then one number per image (the mean over channels and positions) -> logits.

    The readout cannot weigh channels, so only the module can pick out the channel that matters.
    """

    def __init__(self, attention):
        super().__init__()
        self.attention = attention(CHANNELS)
        self.head = nn.Linear(1, 2)

    def forward(self, x):
        return self.head(self.attention(x).mean((1, 2, 3))[:, None])


def hot_channel_task(samples: int = 1024, seed: int = 0) -> TensorDataset:
    """Label = sign of channel 0's mean; the other channels carry random signs of the same size.

    Averaged over channels, the signal is drowned by the others (identity stays near chance) and `none`
    erases it; channel attention (SE) can learn to close the other channels' gates.
    """
    generator = torch.Generator().manual_seed(seed)
    means = (
        torch.randint(0, 2, (samples, CHANNELS), generator=generator).float() * 2 - 1
    )
    x = means[:, :, None, None] + 0.3 * torch.randn(
        samples, CHANNELS, 4, 4, generator=generator
    )
    return TensorDataset(x, (means[:, 0] > 0).long())


@pytest.fixture
def graph():
    return compile_space(parse_space(SPACE, "planted.yaml"))


def config(**overrides):
    settings = dict(
        epochs=10, warmup_epochs=3, batch_size=32, weight_lr=0.3, alpha_lr=0.05, seed=0
    )
    return DartsConfig(**{**settings, **overrides})


def test_darts_picks_the_channel_attention_the_task_needs(graph):
    search = DartsSearch(graph, PoolHost, hot_channel_task(), config())
    search.run(show_progress=False)
    arch = derive(graph, search.alphas)
    assert arch.nodes[0].op == "se", search.alphas.probabilities()
    assert search.state.history[-1]["alphas"]["attn.op"][2] > 0.5


def test_alphas_stay_until_the_supernet_passes_its_warm_up(graph):
    search = DartsSearch(
        graph,
        PoolHost,
        hot_channel_task(256),
        config(epochs=3, warmup_epochs=1, warmup_accuracy=1.01),
    )
    before = [alpha.detach().clone() for alpha in search.alphas.alphas]
    search.run(show_progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, search.alphas.alphas))
    assert search.state.alpha_epochs == 0 and not search.state.searching
    assert all(entry["accuracy"] is not None for entry in search.state.history)


def test_selection_by_masking_finds_the_planted_answer(graph):
    """The supernet's own weights say which option it needs, whatever the alphas."""
    data = hot_channel_task()
    search = DartsSearch(graph, PoolHost, data, config(warmup_accuracy=1.01))
    search.run(show_progress=False)
    scores = importance(search, hot_channel_task(256, seed=1))
    assert derive(graph, scores).nodes[0].op == "se", scores.probabilities()


def test_first_and_second_order_both_run_and_differ(graph):
    results = {}
    for order in ("first", "second"):
        search = DartsSearch(
            graph,
            PoolHost,
            hot_channel_task(256),
            config(epochs=3, warmup_epochs=1, order=order),
        )
        search.run(show_progress=False)
        results[order] = torch.cat([a.detach() for a in search.alphas.alphas])
        assert torch.isfinite(results[order]).all()
    assert not torch.allclose(results["first"], results["second"])


def test_a_training_set_smaller_than_two_batches_still_trains(graph):
    """Each half of 40 samples is below the batch of 32: one batch of 20 per step, not epochs of no steps."""
    search = DartsSearch(
        graph, PoolHost, hot_channel_task(40), config(epochs=2, warmup_epochs=1)
    )
    weights = [p.detach().clone() for p in search.model.parameters()]
    alphas = [a.detach().clone() for a in search.alphas.alphas]
    search.run(show_progress=False)
    moved = zip(weights, search.model.parameters())
    assert any(not torch.equal(before, after) for before, after in moved)
    assert not torch.equal(alphas[0], search.alphas.alphas[0].detach())


def test_resume_after_an_interruption_gives_the_same_alphas(graph, tmp_path):
    data = hot_channel_task(256)
    straight = DartsSearch(graph, PoolHost, data, config(epochs=4, warmup_epochs=1))
    straight.run(show_progress=False)

    DartsSearch(
        graph, PoolHost, data, config(epochs=4, warmup_epochs=1), run_dir=tmp_path
    ).run(show_progress=False, stop_after=2)
    resumed = DartsSearch(
        graph, PoolHost, data, config(epochs=4, warmup_epochs=1), run_dir=tmp_path
    )
    resumed.run(resume=True, show_progress=False)

    assert resumed.state.epochs_done == 4 and len(resumed.state.history) == 4
    for a, b in zip(straight.alphas.alphas, resumed.alphas.alphas):
        assert torch.equal(a, b)
    assert (tmp_path / "alpha_history.json").exists()


@pytest.mark.parametrize("damage", [b"not a checkpoint", b""], ids=["garbage", "empty"])
def test_a_damaged_checkpoint_is_ignored_with_a_warning(
    graph, tmp_path, caplog, damage
):
    (tmp_path / "darts_checkpoint.pt").write_bytes(damage)
    search = DartsSearch(
        graph, PoolHost, hot_channel_task(128), config(epochs=2), run_dir=tmp_path
    )
    search.run(resume=True, show_progress=False)
    assert search.state.epochs_done == 2
    assert "ignoring DARTS checkpoint" in caplog.text and "starts afresh" in caplog.text


def test_a_checkpoint_that_would_run_code_is_ignored_unrun(graph, tmp_path, caplog):
    marker = tmp_path / "PWNED"
    torch.save({"config": Booby(marker)}, tmp_path / "darts_checkpoint.pt")
    search = DartsSearch(
        graph, PoolHost, hot_channel_task(128), config(epochs=1), run_dir=tmp_path
    )
    search.run(resume=True, show_progress=False)
    assert not marker.exists() and search.state.epochs_done == 1
    assert "ignoring DARTS checkpoint" in caplog.text


def test_a_checkpoint_of_other_settings_or_another_space_names_the_file(
    graph, tmp_path
):
    data = hot_channel_task(128)
    DartsSearch(graph, PoolHost, data, config(epochs=2), run_dir=tmp_path).run(
        show_progress=False
    )
    checkpoint = tmp_path / "darts_checkpoint.pt"
    with pytest.raises(
        MixsearchError, match="written by a DARTS search with other settings"
    ) as error:
        DartsSearch(graph, PoolHost, data, config(epochs=3), run_dir=tmp_path).run(
            resume=True, show_progress=False
        )
    assert str(checkpoint) in str(error.value)
    other = compile_space(parse_space(SPACE.replace("identity, ", ""), "other.yaml"))
    with pytest.raises(
        MixsearchError, match="does not fit this space's supernet"
    ) as error:
        DartsSearch(other, PoolHost, data, config(epochs=2), run_dir=tmp_path).run(
            resume=True, show_progress=False
        )
    assert len(str(error.value).splitlines()) == 1


def test_derive_respects_constraints_over_the_alphas(graph):
    alphas = ArchParameters(graph)
    with torch.no_grad():
        alphas.alphas[0].copy_(torch.tensor([0.0, -5.0, 3.0]))
    assert derive(graph, alphas).nodes[0].op == "se"
    costs = CostModel(Target(device="cpu", shapes=((1, CHANNELS, 4, 4),)))
    limited = derive(graph, alphas, Constraints(params=10), costs)
    assert limited.nodes[0].op == "identity"


def test_supernet_weights_load_into_the_derived_discrete_model(graph):
    alphas = ArchParameters(graph)
    supernet = Supernet(graph, CHANNELS, alphas)
    arch = graph.resolve({"attn.op": graph.choices[0].options[2]})
    model = DiscreteModel(arch, CHANNELS)
    model.load_state_dict(supernet.discrete_state(arch))
    x = torch.randn(2, CHANNELS, 4, 4)
    torch.testing.assert_close(model(x), supernet.candidates["attn"][2](x))


def test_expected_cost_counts_only_nodes_that_can_be_used():
    space = "name: s\ngraph:\n  a: {op: se, from: input}\n  b: {op: [eca, identity], from: [a, input]}\n"
    graph = compile_space(parse_space(space))
    alphas = ArchParameters(graph)
    with torch.no_grad():
        # b reads the input: a is almost never used.
        alphas.alphas[1].copy_(torch.tensor([0.0, 50.0]))
    expected = ExpectedCost(graph, Target(device="cpu", shapes=((1, 16, 8, 8),)))
    usage = expected.usage(alphas)
    assert usage["b"] == pytest.approx(1.0) and usage["a"] < 1e-6
    costs = expected(alphas)
    costs["flops"].backward()
    assert alphas.alphas[0].grad is not None


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime"])
def test_expected_latency_of_a_settled_supernet_is_the_predicted_latency(
    tmp_path, runtime
):
    """With one option per choice all but certain, DARTS' expected latency is the predictor's: each op's entry
    scaled by its op's factor, the per-node term and the constant (factors above 1: no floor applies). In a
    fusing runtime the skip node `b` is no op and counts for nothing."""
    space = (
        "name: s\ngraph:\n  a: {op: [se, eca], from: input}\n"
        "  b: {op: [cbam_spatial, identity], from: [a, input]}\n"
        "  c: {op: [none, simam], from: input, residual: [true, false]}\n"
        "  out: {fuse: [sum, gate], from: [a, b, c], residual: [false, true]}\n"
    )
    graph = compile_space(parse_space(space))
    measured = Target(device="cpu", shapes=((1, 16, 8, 8), (1, 32, 4, 4)), threads=1)
    table = LatencyTable.open(measured, tmp_path / "table.json")
    profile(space_measurements(graph), measured, table, 2, 0, progress=False)
    for i, shape in enumerate(measured.shapes):
        table.overhead[shape_key(shape)] = OverheadModel(
            1.1, {"eca": 1.3, "gate": 1.2, "residual": 1.5}, 0.01 * (i + 1), 0.02
        )
    alphas = ArchParameters(graph)
    with torch.no_grad():
        for parameter in alphas.alphas:
            parameter.zero_()
            parameter[-1] = 50.0
    arch = graph.resolve({choice.key: choice.options[-1] for choice in graph.choices})
    assert [node.op for node in arch.nodes] == ["eca", "identity", "simam", "gate"]
    target = replace(measured, runtime=runtime)
    expected = ExpectedCost(graph, target, table)(alphas)["latency_ms"]
    predicted = predict_latency(arch, target, table)
    assert float(expected.detach()) == pytest.approx(predicted, rel=1e-4)


@pytest.mark.slow
def test_darts_command_is_a_darts_run_with_its_own_settings(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mixsearch.arch import Arch
    from mixsearch.cli import main
    from mixsearch.search.outcome.result import SearchResult

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = tmp_path / "tiny.yaml"
    space.write_text(
        SPACE.replace("name: planted", "name: tiny")
        + "target: {device: cpu, shapes: [[1, 16, 8, 8]], threads: 1}\n"
        + "constraints: {params: 1000}\n"
        + "proxy: {dataset: digits, canvas: 24, digit_size: 12, train_size: 256, val_size: 64, test_size: 64}\n"
    )
    run = tmp_path / "run"
    args = [
        "darts",
        str(space),
        "--out",
        str(run),
        "--epochs",
        "2",
        "--warmup-epochs",
        "1",
    ]
    result = CliRunner().invoke(
        main, [*args, "--retrain-epochs", "1", "--order", "second", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    arch = Arch.load(run / "arch.json")
    assert arch.metrics["params"] <= 1000 and 0 <= arch.metrics["test_acc"] <= 1
    searched = SearchResult.load(run)
    assert searched.strategy == "darts" and searched.budget["darts_epochs"] == 2
    assert searched.budget["final_epochs"] == 1 and searched.baselines
    (checkpoint_path,) = (run / "darts").glob("darts-*/darts_checkpoint.pt")
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert (
        checkpoint["config"]["order"] == "second"
        and checkpoint["state"]["epochs_done"] == 2
    )
    for name in ("tiny.py", "yolov8n-tiny.yaml", "report.md", "search.json"):
        assert (run / name).exists(), name
