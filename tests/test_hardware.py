"""Hardware model: counts from the framework, the latency table and its cache, prediction, constraints."""

import json
import logging
import random
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mixsearch.arch import INPUT, Arch, ArchNode
from mixsearch.cli import main
from mixsearch.hardware.cost import (
    ArchCost,
    CostModel,
    check_constraints,
    estimate_feasibility,
)
from mixsearch.hardware.counts import (
    count_elementwise,
    count_flops,
    count_params,
    peak_activation_bytes,
)
from mixsearch.hardware.device import measurement_threads
from mixsearch.hardware.latency import measure_interleaved
from mixsearch.hardware.lut import (
    LatencyTable,
    OverheadModel,
    fingerprint,
    op_measurement,
    shape_key,
)
from mixsearch.hardware.predictor import (
    fit_overhead,
    fit_overhead_model,
    fused_pattern,
    node_entries,
    predict_latency,
    profile,
    space_measurements,
    space_patterns,
)
from mixsearch.ops import OPS
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import parse_space
from mixsearch.space.sections import Constraints, Target

TINY = Target(device="cpu", shapes=((1, 8, 4, 4), (1, 16, 2, 2)), threads=1)
SPACE = """
name: tiny
graph:
  c: {op: [se: {reduction: [2, 4]}, eca], from: input}
  s: {op: [cbam_spatial: {kernel: [3, 7]}, identity], from: [input, c]}
  out: {fuse: [sum, softmax_weights], from: [c, s], residual: [true, false]}
"""


@pytest.fixture
def graph():
    return compile_space(parse_space(SPACE, "tiny.yaml"))


def op(name, channels=64, **params):
    return OPS.get(name).build(channels, params, num_inputs=2).eval()


def test_flops_of_known_ops_match_hand_counts():
    x = torch.randn(1, 64, 80, 80)
    hidden = 64 // 16
    # 1x1 convs on the pooled vector (width >= 8).
    assert count_flops(op("se", reduction=16), x) == 2 * (64 * 8 + 8 * 64)
    assert count_flops(op("cbam_spatial", kernel=7), x) == 2 * (2 * 7 * 7) * 80 * 80
    assert count_flops(op("cbam_channel", reduction=16), x) == 2 * 2 * (
        64 * hidden + hidden * 64
    )
    assert count_flops(op("concat_conv"), [x, x]) == 2 * (128 * 64) * 80 * 80
    assert count_flops(op("identity"), x) == 0


def test_elementwise_work_counts_what_flop_counter_leaves_out():
    x = torch.randn(1, 8, 5, 5)
    assert count_elementwise(op("sum", 8), [x, x]) == x.numel()
    assert count_elementwise(op("product", 8), [x, x, x]) == 2 * x.numel()
    # SimAM is all element-wise work and reductions; FlopCounterMode sees none of it.
    assert count_flops(op("simam", 8), x) == 0
    assert count_elementwise(op("simam", 8), x) > 5 * x.numel()


def test_params_and_peak_memory():
    assert count_params(op("se", 64, reduction=16)) == (64 * 8 + 8) + (8 * 64 + 64)
    x = torch.randn(1, 64, 32, 32)
    assert peak_activation_bytes(op("identity"), x) == 0
    peak = peak_activation_bytes(op("cbam_spatial"), x)
    assert x.numel() * 4 <= peak < 2 * x.numel() * 4


def test_profile_measures_every_candidate_then_reuses_the_cache(graph, tmp_path):
    path = tmp_path / "table.json"
    measurements = space_measurements(graph)
    assert {m.key for m in measurements} == {
        "se(reduction=2)",
        "se(reduction=4)",
        "eca(beta=1, gamma=2)",
        "cbam_spatial(kernel=3, variant=paper)",
        "cbam_spatial(kernel=7, variant=paper)",
        "identity",
        "sum x2",
        "softmax_weights x2",
        # s may skip to what c computes: the fusion then reads one tensor twice
        "sum x2 aa",
        "softmax_weights x2 aa",
        "residual",
    }
    first = profile(
        measurements,
        TINY,
        LatencyTable.open(TINY, path),
        repeats=3,
        warmup=1,
        progress=False,
    )
    assert first == len(measurements) * len(TINY.shapes)
    second = profile(
        measurements,
        TINY,
        LatencyTable.open(TINY, path),
        repeats=3,
        warmup=1,
        progress=False,
    )
    assert second == 0


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": 999, "entries": {}}),
        json.dumps(["a", "list"]),
    ],
)
def test_corrupt_or_foreign_version_table_is_ignored_with_a_warning(
    graph, tmp_path, caplog, content
):
    path = tmp_path / "table.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        table = LatencyTable.open(TINY, path)
    assert "ignoring latency table" in caplog.text
    assert table.entries == {}
    assert (
        profile(
            space_measurements(graph), TINY, table, repeats=3, warmup=1, progress=False
        )
        > 0
    )
    assert LatencyTable.open(TINY, path).entries == table.entries


@pytest.mark.parametrize(
    "entry, overhead_scale, problem",
    [
        (float("nan"), 1.0, "se at 1x8x4x4 is nan"),
        (-0.5, 1.0, "se at 1x8x4x4 is -0.5"),
        ("0.5", 1.0, "se at 1x8x4x4 is '0.5'"),
        (0.5, float("inf"), "overhead scale is inf"),
    ],
    ids=["nan-entry", "negative-entry", "text-entry", "infinite-overhead"],
)
def test_a_table_of_impossible_numbers_is_ignored_with_a_warning(
    tmp_path, caplog, entry, overhead_scale, problem
):
    """NaN or negative milliseconds would spoil every prediction (a NaN one reads as a diverged training)."""
    path = tmp_path / "table.json"
    good = LatencyTable(fingerprint(TINY), path, {"1x8x4x4": {"se": 0.5, "eca": 0.2}})
    good.overhead = {"1x8x4x4": OverheadModel(scale=1.2)}
    good.save()
    assert LatencyTable.open(TINY, path) == good
    good.entries["1x8x4x4"]["se"] = entry
    good.overhead["1x8x4x4"].scale = overhead_scale
    good.save()
    with caplog.at_level(logging.WARNING):
        table = LatencyTable.open(TINY, path)
    assert (table.entries, table.overhead) == ({}, {})
    assert f"ignoring latency table {path}" in caplog.text and problem in caplog.text
    assert "it will be rebuilt" in caplog.text


def test_table_from_another_device_fingerprint_is_not_reused(graph, tmp_path, caplog):
    path = tmp_path / "table.json"
    profile(
        space_measurements(graph),
        TINY,
        LatencyTable.open(TINY, path),
        repeats=3,
        warmup=1,
        progress=False,
    )
    other = replace(TINY, threads=2)
    with caplog.at_level(logging.WARNING):
        assert LatencyTable.open(other, path).entries == {}
    assert "measured on" in caplog.text


def profiled(graph, tmp_path):
    table = LatencyTable.open(TINY, tmp_path / "table.json")
    profile(space_measurements(graph), TINY, table, repeats=3, warmup=1, progress=False)
    return table


def test_prediction_is_the_sum_of_entries_until_an_overhead_model_is_fitted(
    graph, tmp_path
):
    table = profiled(graph, tmp_path)
    arch = graph.resolve({"out.residual": True})
    expected = sum(
        ms for shape in TINY.shapes for _, ms in node_entries(arch, shape, table)
    )
    assert predict_latency(arch, TINY, table) == pytest.approx(expected)
    rng = random.Random(0)
    fit_overhead(
        [graph.sample(rng) for _ in range(4)],
        TINY,
        table,
        repeats=3,
        warmup=1,
        progress=False,
    )
    assert set(table.overhead) == {shape_key(shape) for shape in TINY.shapes}
    model = table.overhead_model(TINY.shapes[0])
    entries = node_entries(arch, TINY.shapes[0], table)
    first_shape = max(
        model.predict(entries, len(arch.nodes)), sum(ms for _, ms in entries)
    )
    assert predict_latency(
        arch, replace(TINY, shapes=TINY.shapes[:1]), table
    ) == pytest.approx(first_shape)
    reopened = LatencyTable.open(TINY, table.path)
    assert reopened.overhead_model(TINY.shapes[0]) == model


def test_a_prediction_never_falls_below_the_sum_of_its_entries(graph, tmp_path):
    """A fitted line extrapolated to a one-node module can go negative; the ops alone still take their time."""
    table = profiled(graph, tmp_path)
    table.overhead = {shape_key(s): OverheadModel(per_node=-1.0) for s in TINY.shapes}
    arch = graph.resolve({})
    entries = sum(
        ms for shape in TINY.shapes for _, ms in node_entries(arch, shape, table)
    )
    assert entries > 0
    assert predict_latency(arch, TINY, table) == pytest.approx(entries)


def test_a_fusing_runtime_predicts_below_the_sum_of_entries_but_not_below_the_costliest_op(
    graph, tmp_path
):
    """In onnxruntime or under compile a module is one call with fused ops: cheaper than its ops timed apart."""
    table = profiled(graph, tmp_path)
    fused = replace(TINY, runtime="onnxruntime", shapes=TINY.shapes[:1])
    arch = graph.resolve({"out.residual": True})
    entries = node_entries(arch, fused.shapes[0], table)
    lut_sum, costliest = sum(ms for _, ms in entries), max(ms for _, ms in entries)
    assert 0 < costliest < 0.9 * lut_sum
    key = shape_key(fused.shapes[0])
    table.overhead = {key: OverheadModel(scale=0.999 * costliest / lut_sum)}
    assert predict_latency(arch, fused, table) == pytest.approx(costliest)
    table.overhead = {key: OverheadModel(scale=0.9)}
    assert predict_latency(arch, fused, table) == pytest.approx(0.9 * lut_sum)
    eager = replace(fused, runtime="eager")
    assert predict_latency(arch, eager, table) == pytest.approx(lut_sum)


def test_a_skip_is_no_op_in_a_fusing_runtime_but_a_call_in_eager(graph, tmp_path):
    """ONNX Runtime and inductor drop an identity from the graph; eager PyTorch still calls it."""
    table = profiled(graph, tmp_path)
    shape = TINY.shapes[0]
    table.overhead = {shape_key(shape): OverheadModel(per_node=0.5)}
    options = {choice.key: choice.options for choice in graph.choices}
    skip = graph.resolve({"s.op": options["s.op"][-1], "out.residual": False})
    assert [node.op for node in skip.nodes][1] == "identity"
    eager, fused = replace(TINY, shapes=(shape,)), replace(
        TINY, shapes=(shape,), runtime="onnxruntime"
    )
    entries = dict(node_entries(skip, shape, table))
    identity = table.get(shape, "identity")
    assert predict_latency(skip, eager, table) == pytest.approx(
        sum(entries.values()) + 0.5 * 3
    )
    assert predict_latency(skip, fused, table) == pytest.approx(
        sum(entries.values()) - identity + 0.5 * 2
    )
    # no attention at all: a module of one skip runs no op; it costs the call, the model's constant
    no_attention = Arch(
        "none", "NoAttention", (ArchNode("s", "identity", {}, (INPUT,)),)
    )
    table.overhead = {shape_key(shape): OverheadModel(constant=0.25)}
    assert predict_latency(no_attention, fused, table) == pytest.approx(0.25)


def test_each_op_gets_its_own_factor_where_modules_show_it(tmp_path):
    """An op that costs more inside a module than timed alone (a layout change, a lost fusion) gets a larger
    factor; ops the fitting modules never use keep the shared one."""
    space = compile_space(parse_space(SPACE, "tiny.yaml"))
    shape = TINY.shapes[0]
    table = LatencyTable(fingerprint(TINY), tmp_path / "table.json")
    rng = random.Random(1)
    for measurement in space_measurements(space):
        table.put(shape, measurement.key, rng.uniform(0.5, 2.0))
    archs = list({arch.dumps(): arch for arch in space.enumerate()}.values())
    # Everything else costs in a module what it costs alone.
    inside = {"cbam_spatial": 1.6}

    def truth(arch):
        items = node_entries(arch, shape, table)
        return sum(inside.get(op, 1.0) * ms for op, ms in items) + 0.05

    one_shape = replace(TINY, shapes=(shape,))
    measured = np.array([[truth(arch)] for arch in archs])
    fit_overhead_model(archs, measured, one_shape, table)
    model = table.overhead_model(shape)
    assert model.op_scale("cbam_spatial") > model.op_scale("eca") + 0.3
    assert model.op_scale("never_used") == model.scale
    for arch, ms in zip(archs, measured[:, 0]):
        assert predict_latency(arch, one_shape, table) == pytest.approx(ms, rel=0.05)


def test_fusion_inputs_that_skip_or_drop_have_their_own_entries():
    """A branch that skips to another's tensor, or drops (zeros), changes what a fusion costs: ONNX Runtime folds
    zeros into constants, and a tensor read twice stays in cache."""
    space = """
name: patterns
graph:
  a: {op: [se, identity], from: input}
  b: {op: [eca, identity], from: [a, input]}
  c: {op: [simam, none], from: input, residual: [false, true]}
  out: {fuse: gate, from: [a, b, c]}
"""
    graph = compile_space(parse_space(space, "patterns.yaml"))
    assert space_patterns(graph) == {"out": {"abc", "aab", "ab0", "aa0"}}
    keys = {m.key for m in space_measurements(graph)}
    assert {"gate x3", "gate x3 aab", "gate x3 ab0", "gate x3 aa0"} <= keys

    def arch(b_residual, c_op="none"):
        nodes = (
            ArchNode("a", "identity", {}, (INPUT,)),
            ArchNode("b", "identity", {}, ("a",), residual=b_residual),
            ArchNode("c", c_op, {}, (INPUT,)),
            ArchNode("out", "gate", {}, ("a", "b", "c"), is_fusion=True),
        )
        return Arch("p", "P", nodes)

    assert fused_pattern(arch(False)) == {"out": "aa0"}
    assert fused_pattern(arch(True)) == {"out": "ab0"}
    assert fused_pattern(arch(True, "simam")) == {"out": "abc"}
    assert op_measurement("gate", {}, 3, "aa0").key == "gate x3 aa0"
    assert op_measurement("gate", {}, 3, "abc").key == "gate x3"


def test_a_fusion_is_timed_the_way_its_pattern_feeds_it():
    """`a0a`: one tensor twice and zeros between: a sum of them is twice the tensor."""
    torch.manual_seed(0)
    fed = op_measurement("sum", {}, 3, "a0a").build(TINY, TINY.shapes[0])
    torch.manual_seed(0)
    x = torch.randn(TINY.shapes[0])
    with torch.inference_mode():
        torch.testing.assert_close(fed(), 2 * x)


def test_interleaved_rounds_alternate_pool_their_calls_and_see_past_a_disturbed_round():
    calls = []

    def sleeper(name, delays_ms):
        def call():
            calls.append(name)
            time.sleep(delays_ms[min(calls.count(name) - 1, len(delays_ms) - 1)] / 1e3)

        return call

    # `slow` is disturbed (5 ms) in its first round only; `fast` never is.
    slow = sleeper("slow", [5.0] * 3 + [0.0])
    fast = sleeper("fast", [0.0])
    latencies = measure_interleaved([slow, fast], "cpu", warmup=1, repeats=2, rounds=3)
    assert calls == (["slow"] * 3 + ["fast"] * 3) * 3
    assert [latency.repeats for latency in latencies] == [6, 6]
    assert latencies[0].p90_ms >= 5.0
    assert all(latency.ms < 1.0 for latency in latencies)


def test_cpu_measurements_default_to_one_thread_and_the_fingerprint_says_so():
    assert measurement_threads(Target(device="cpu")) == 1
    assert fingerprint(Target(device="cpu"))["threads"] == 1
    assert fingerprint(Target(device="cpu", threads=2))["threads"] == 2


def test_constraints_accept_and_reject_with_the_margin():
    cost = ArchCost(flops=2_000_000, elementwise=0, params=500, latency_ms=1.5)
    assert check_constraints(
        cost, Constraints(flops=3e6, params=1000, latency_ms=2)
    ).feasible
    verdict = check_constraints(cost, Constraints(flops=1e6, params=1000))
    assert not verdict.feasible
    assert verdict.misses() == {"flops": pytest.approx(1.0)}
    with pytest.raises(ValueError, match="mixsearch profile"):
        check_constraints(replace(cost, latency_ms=None), Constraints(latency_ms=1))


def test_cost_model_sums_nodes_over_shapes(graph):
    arch = graph.resolve({})
    model = CostModel(TINY)
    cost = model.cost(arch)
    per_shape = [
        CostModel(replace(TINY, shapes=(shape,))).cost(arch) for shape in TINY.shapes
    ]
    assert cost.params == sum(c.params for c in per_shape)
    assert cost.flops == sum(c.flops for c in per_shape)
    assert cost.latency_ms is None


def test_space_feasibility_is_exact_for_small_spaces(graph):
    model = CostModel(TINY)
    costs = [model.cost(arch) for arch in graph.enumerate()]
    limit = sorted(c.params for c in costs)[len(costs) // 2]
    result = estimate_feasibility(graph, model, Constraints(params=limit))
    assert result.exhaustive
    assert result.feasible == sum(c.params <= limit for c in costs)
    assert result.cheapest_cost.params == min(c.params for c in costs)


def write_space(tmp_path, constraints):
    path = tmp_path / "space.yaml"
    target = (
        "target: {device: cpu, shapes: [[1, 8, 4, 4], [1, 16, 2, 2]], threads: 1}\n"
    )
    path.write_text(SPACE + target + constraints)
    return path


def test_validate_reports_the_feasible_share(tmp_path):
    path = write_space(tmp_path, "constraints: {params: 400}\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "feasible (" in result.stdout and "of all" in result.stdout


def test_impossible_constraint_is_an_error_naming_the_cheapest_architecture(tmp_path):
    path = write_space(tmp_path, "constraints:\n  params: 1\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert (
        f"{path}:{SPACE.count(chr(10)) + 2}: no architecture meets the constraints"
        in lines[0]
    )
    assert "params" in lines[0] and "misses by params" in lines[0]


def test_latency_constraint_is_checked_once_profiled(tmp_path):
    path = write_space(tmp_path, "constraints: {latency_ms: 1000}\n")
    table = str(tmp_path / "table.json")
    runner = CliRunner()
    before = runner.invoke(main, ["validate", str(path), "--table", table])
    assert "latency_ms constraint not checked" in before.stdout
    profiled = runner.invoke(
        main, ["profile", str(path), "--table", table, "--repeats", "3", "--fit", "3"]
    )
    assert profiled.exit_code == 0, profiled.output
    after = runner.invoke(main, ["validate", str(path), "--table", table])
    assert "100% feasible" in after.stdout


def test_ops_table_shows_measured_latency_on_a_device(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = [
        "ops",
        "--channels",
        "8",
        "--shape",
        "4",
        "4",
        "--device",
        "cpu",
        "--markdown",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[2]
    assert "MFLOPs" in header and "M elem-ops" in header and "ms (" in header
    rows = [line for line in result.stdout.splitlines() if line.startswith("| se |")]
    assert float(rows[0].split("|")[-2]) > 0
    assert list((tmp_path / "mixsearch" / "latency").glob("*.json"))
