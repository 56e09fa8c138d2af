"""The DSL's meaning: what is a choice, how a space becomes choices, and how choices become an Arch."""

import random
import time
from dataclasses import replace

import pytest

from mixsearch.arch import Arch
from mixsearch.errors import SpaceError
from mixsearch.model import DiscreteModel
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import derive_class_name, parse_space
from mixsearch.space.sections import ProxyConfig

SPACE = """
name: mixattn
ops:
  channel: [se: {reduction: [8, 16]}, eca, none]
graph:
  c:   {op: channel, from: input}
  s:   {op: [cbam_spatial: {kernel: [3, 7]}], from: [c, input]}
  out: {fuse: [sum, softmax_weights], from: [s, [c, input]], residual: [true, false]}
"""


@pytest.fixture
def graph():
    return compile_space(parse_space(SPACE, "mixattn.yaml"))


def test_every_list_is_a_choice(graph):
    options = {choice.key: len(choice.options) for choice in graph.choices}
    assert options == {
        "c.op": 4,
        "c.from": 1,
        "c.residual": 1,
        "s.op": 2,
        "s.from": 2,
        "s.residual": 1,
        "out.fuse": 2,
        "out.from[0]": 1,
        "out.from[1]": 2,
        "out.residual": 2,
        "output": 1,
    }
    assert graph.size == 4 * 2 * 2 * 2 * 2 * 2


def test_space_compiles_to_a_networkx_graph_with_every_possible_edge(graph):
    assert set(graph.graph.edges) == {
        ("input", "c"),
        ("c", "s"),
        ("input", "s"),
        ("s", "out"),
        ("c", "out"),
        ("input", "out"),
    }
    assert graph.outputs == ("out",)


def test_resolve_drops_nodes_the_output_does_not_read(graph):
    arch = graph.resolve({"s.from": "input", "out.from[1]": "input"})
    assert [node.name for node in arch.nodes] == ["s", "out"]
    assert arch.nodes[-1].inputs == ("s", "input")


def test_resolve_keeps_data_flow_order_and_fills_defaults(graph):
    arch = graph.resolve({"c.op": graph.choices[0].options[1], "out.residual": True})
    assert [node.name for node in arch.nodes] == ["c", "s", "out"]
    assert arch.nodes[0].params == {"reduction": 16}
    assert arch.nodes[1].params == {"variant": "paper", "kernel": 3}
    assert arch.nodes[2].residual


def test_resolve_rejects_an_option_outside_the_choice(graph):
    with pytest.raises(ValueError, match="not an option of s.from"):
        graph.resolve({"s.from": "out"})


def test_contains_every_architecture_of_the_space_and_nothing_else(graph):
    archs = list(graph.enumerate())
    assert all(graph.contains(Arch.from_json(arch.to_json())) for arch in archs)
    arch = graph.resolve({"c.op": graph.choices[0].options[0]})
    nodes = {node.name: node for node in arch.nodes}
    foreign = [
        replace(nodes["c"], op="cbam_channel"),
        replace(nodes["c"], params={"reduction": 4}),
        replace(nodes["s"], inputs=("out",)),
        replace(nodes["c"], residual=True),
    ]
    for node in foreign:
        changed = tuple(node if n.name == node.name else n for n in arch.nodes)
        assert not graph.contains(replace(arch, nodes=changed)), node
    assert not graph.contains(replace(arch, nodes=arch.nodes[1:]))


def test_sampling_is_seeded_and_covers_the_space(graph):
    first = [graph.sample(random.Random(seed)) for seed in range(30)]
    again = [graph.sample(random.Random(seed)) for seed in range(30)]
    assert first == again
    assert len({arch.dumps() for arch in first}) > 10


def test_sampled_arch_builds_a_model_that_runs(graph):
    import torch

    arch = graph.sample(random.Random(0))
    model = DiscreteModel(Arch.from_json(arch.to_json()), 24)
    assert model(torch.randn(2, 24, 9, 7)).shape == (2, 24, 9, 7)


def test_output_defaults_to_the_only_sink_and_can_be_named():
    space = "name: s\ngraph:\n  a: {op: se, from: input}\n  b: {op: eca, from: a}\n"
    assert compile_space(parse_space(space)).outputs == ("b",)
    with pytest.raises(SpaceError, match="does not reach the output 'a'"):
        compile_space(parse_space(space + "output: a\n"))


def test_residual_adds_the_module_input_scaled_by_a_learned_weight():
    import torch

    space = "name: s\ngraph:\n  a: {op: none, from: input, residual: true}\n"
    model = DiscreteModel(compile_space(parse_space(space)).resolve({}), 8)
    x = torch.randn(1, 8, 3, 3)
    torch.testing.assert_close(model(x), 0.1 * x)
    assert [name for name, _ in model.named_parameters()] == ["gamma_a"]


def test_output_can_be_a_choice_of_nodes():
    space = "name: s\ngraph:\n  a: {op: se, from: input}\n  b: {op: eca, from: a}\noutput: [a, b]\n"
    graph = compile_space(parse_space(space))
    assert [node.name for node in graph.resolve({"output": "a"}).nodes] == ["a"]
    assert [node.name for node in graph.resolve({"output": "b"}).nodes] == ["a", "b"]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("mixattn", "MixAttn"),
        ("mix_attn", "MixAttn"),
        ("serial-cbam", "SerialCbam"),
        ("darts_article", "DartsArticle"),
    ],
)
def test_class_name_comes_from_the_space_name(name, expected):
    assert derive_class_name(name) == expected


def test_proxy_section_selects_the_data_and_rejects_bad_settings():
    base = "name: s\ngraph:\n  a: {op: se, from: input}\n"
    spec = parse_space(
        base + "proxy: {dataset: digits, canvas: 40, colour: grey}\n"
    ).proxy
    assert spec.dataset == "digits"
    assert spec.digits == ProxyConfig(canvas=40, colour="grey")
    folder = parse_space(
        base + "proxy: {dataset: imagefolder, path: imgs}\n", "spaces/s.yaml"
    ).proxy
    assert folder.path.endswith("spaces/imgs")
    for bad, message in [
        (
            "proxy: {colour: blue}",
            "proxy colour must be one of odd, random, grey, got 'blue'",
        ),
        ("proxy: {dataset: imagefolder}", "needs 'path: DIR'"),
        ("proxy: {dataset: imagefolder, path: x, clutter: 3}", "digits dataset only"),
        (
            "proxy: {canvas: 8, digit_size: 16}",
            "digit_size must be between fragment_size",
        ),
    ]:
        with pytest.raises(SpaceError, match=message) as error:
            parse_space(base + bad + "\n", "s.yaml")
        assert error.value.line == 4


def test_candidate_sets_listed_many_times_over_expand_once_each():
    """Ten sets each listing the one before ten times would be 10**9 candidates if expanded as written."""
    sets = [f"  s{i}: [{', '.join([f's{i - 1}'] * 10)}]" for i in range(1, 10)]
    text = "\n".join(
        ["name: nested", "ops:", "  s0: [se, eca]", *sets, "graph:"]
        + ["  a: {op: [s9, s5, se], from: input}"]
    )
    started = time.perf_counter()
    space = parse_space(text)
    assert time.perf_counter() - started < 5
    assert [option.op for option in space.node("a").options] == ["se", "eca"]
