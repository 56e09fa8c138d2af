"""The shipped search spaces: each validates, `mixsearch validate` summarises it, and samples are valid Archs."""

from __future__ import annotations

import json
import random
import re

import pytest
from click.testing import CliRunner

from helpers import ROOT, SPACES
from mixsearch.arch import Arch
from mixsearch.cli import main
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import load_space

IDS = [path.stem for path in SPACES]
FAMILIES = {
    "serial_cbam",
    "enhanced_serial",
    "parallel_softmax",
    "fixed_weights",
    "dynamic_weights",
    "gated",
    "hierarchical",
    "multi_scale",
    "darts_article",
    "default",
}
SUMMARY = re.compile(
    r"valid\. (\d+) nodes, output ([\w| ]+), (\d+) open choices, ([\d,]+) architectures"
)


def test_every_family_has_a_space():
    assert FAMILIES <= set(IDS)


@pytest.mark.parametrize("path", SPACES, ids=IDS)
def test_space_validates_and_is_documented(path):
    graph = compile_space(load_space(path))
    assert graph.size > 1, "a search space should search something"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", graph.space.name)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in graph.nodes)
    assert graph.space.description
    text = path.read_text()
    assert text.startswith(
        "#"
    ), "each space opens with a comment: family, what it searches, the seed idea"
    assert "Seed notes" in text


@pytest.mark.parametrize("path", SPACES, ids=IDS)
def test_validate_command_prints_the_summary(path):
    graph = compile_space(load_space(path))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    match = SUMMARY.search(result.stdout)
    assert match, result.stdout
    nodes, output, open_choices, size = match.groups()
    assert int(nodes) == len(graph.nodes)
    assert output == " | ".join(graph.outputs)
    assert int(open_choices) == sum(len(c.options) > 1 for c in graph.choices)
    assert int(size.replace(",", "")) == graph.size
    for choice in graph.choices:
        assert choice.key in result.stdout


@pytest.mark.parametrize("path", SPACES, ids=IDS)
def test_sampled_archs_are_valid_and_round_trip_through_json(path):
    graph = compile_space(load_space(path))
    archs = [graph.sample(random.Random(seed)) for seed in range(5)]
    for arch in archs:
        arch.validate()
        assert arch.name == graph.space.name
        assert arch.class_name == graph.space.class_name
        assert arch.output in graph.outputs
        assert Arch.from_json(arch.to_json()) == arch
        assert Arch.from_json(json.loads(arch.dumps())) == arch
    if graph.size >= 20:
        assert (
            len({arch.dumps() for arch in archs}) > 1
        ), "different seeds should give different archs"


def test_default_space_is_small_and_named_mixattn():
    graph = compile_space(load_space(ROOT / "search_spaces" / "default.yaml"))
    assert graph.space.name == "mixattn"
    assert graph.space.class_name == "MixAttn"
    assert 3 <= len(graph.nodes) <= 4
    assert 100 <= graph.size <= 5000
