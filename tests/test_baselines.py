"""The hand-designed modules as points of the space: which a space holds, their trials in the study, and finals
retrained with several seeds that resume seed by seed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from mixsearch.arch import function_key
from mixsearch.cli import main
from mixsearch.search.engine import pool
from mixsearch.search.engine.baselines import baseline_archs, contained_baselines
from mixsearch.search.engine.context import RunOptions
from mixsearch.search.engine.trials import baseline_trials
from mixsearch.search.outcome.result import SearchResult
from mixsearch.search.run import RunStopped, run_search
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import load_space, parse_space
from mixsearch.space.sections import get_budget

# A tiny space that holds none, SE, ECA and CBAM (channel, then spatial), not coordinate attention.
HOLDING = """
name: holding
graph:
  chan: {op: [se, eca, cbam_channel, identity], from: input}
  spat: {op: [identity, cbam_spatial], from: chan}
target: {device: cpu, shapes: [[1, 16, 8, 8]], threads: 1}
proxy: {dataset: digits, canvas: 24, digit_size: 12, train_size: 128, val_size: 64, test_size: 64}
"""


@pytest.fixture
def space(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "holding.yaml"
    path.write_text(HOLDING)
    return path


def test_the_same_function_under_other_names_and_skipped_nodes_has_one_key():
    graph = compile_space(parse_space(HOLDING))
    eca = graph.resolve({"chan.op": graph.choices[0].options[1]})
    assert [node.op for node in eca.nodes] == ["eca", "identity"]
    assert function_key(eca) == function_key(baseline_archs()["eca"])
    assert function_key(eca) != function_key(baseline_archs()["se"])


def test_the_default_space_holds_every_baseline():
    held = contained_baselines(compile_space(load_space("search_spaces/default.yaml")))
    assert list(held) == ["none", "se", "eca", "cbam", "coord"]
    for name, (_, arch) in held.items():
        assert function_key(arch) == function_key(baseline_archs()[name])


def test_validate_lists_the_baselines_a_space_holds(space):
    result = CliRunner().invoke(main, ["validate", str(space)])
    assert result.exit_code == 0, result.output
    assert "baselines in the space: none, se, eca, cbam; not coord" in result.output


def test_baseline_trials_widen_narrowed_choices_only_where_a_baseline_needs_it():
    graph = compile_space(parse_space(HOLDING))
    chan, spat = graph.choices[0], graph.choices[3]
    narrowed = [replace(chan, options=chan.options[:1]), *graph.choices[1:3]]
    narrowed += [replace(spat, options=spat.options[1:]), *graph.choices[4:]]
    held = contained_baselines(graph)
    widened, params = baseline_trials(graph, narrowed, held)
    # se, eca, cbam_channel, identity all needed.
    assert widened[0].options == chan.options
    assert widened[3].options == spat.options  # identity needed by SE and ECA alone
    assert params["eca"]["chan.op"] == "eca(gamma=2, beta=1)"
    assert params["eca"]["spat.op"] == "identity"


@pytest.mark.slow
def test_the_baselines_the_space_holds_are_the_first_trials_marked_as_such(
    space, tmp_path
):
    out = tmp_path / "run"
    args = ["run", str(space), "--budget", "tiny", "--strategy", "random"]
    result = CliRunner().invoke(
        main, [*args, "--trials", "5", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "queued the hand-designed modules the space holds: none, se, eca, cbam"
        in result.output
    )
    run = SearchResult.load(out)
    marked = {t.number: t.baseline for t in run.trials if t.baseline}
    assert marked == {0: "none", 1: "se", 2: "eca", 3: "cbam"}
    for trial in run.trials[:4]:
        assert trial.state == "complete"
        assert function_key(trial.arch) == function_key(
            baseline_archs()[trial.baseline]
        )
    report = (out / "report.md").read_text()
    assert "1 (se baseline)" in report or "se: trial 1" in report
    # Resumed with a larger budget: the baselines are not queued again.
    again = CliRunner().invoke(
        main, [*args, "--trials", "6", "--out", str(out), "--quiet"]
    )
    assert again.exit_code == 0 and "queued the hand-designed" not in again.output
    assert sum(t.baseline is not None for t in SearchResult.load(out).trials) == 4


@pytest.mark.slow
def test_finals_run_every_seed_and_a_killed_final_stage_resumes_seed_by_seed(
    space, tmp_path, monkeypatch
):
    graph = compile_space(load_space(space))
    budget = replace(get_budget("tiny"), trials=2, final_seeds=2)
    options = RunOptions(
        "random", "tpe", budget, ("accuracy", "latency_ms"), show_progress=False
    )
    trained = []
    real = pool._train

    def counting(evaluator, job, epochs):
        trained.append((job.label, job.seed))
        if kill_after is not None and len(trained) > kill_after:
            raise KeyboardInterrupt
        return real(evaluator, job, epochs)

    monkeypatch.setattr(pool, "_train", counting)
    kill_after = 5
    with pytest.raises(RunStopped) as stopped:
        run_search(graph, graph.space.target, options, tmp_path / "run")
    assert stopped.value.result.stopped == "final training"
    finished = trained[:kill_after]
    trained.clear()
    kill_after = None
    result = run_search(graph, graph.space.target, options, tmp_path / "run")
    # Nothing trained twice: the resumed stage trains only what the killed one had not finished.
    assert not set(finished) & set(trained)
    modules = [*result.finalists, *result.baselines, *result.ablation]
    # Modules computing the same function (the finalist is SE, its ablation no attention) share trainings.
    functions = {function_key(item.arch) for item in modules}
    assert len(finished) + len(trained) == 2 * len(functions) < 2 * len(modules)
    for item in modules:
        assert len(item.seeds) == len(item.test_accs) == 2
        assert item.seeds == result.winner.seeds
