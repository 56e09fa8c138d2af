"""`mixsearch run` and `mixsearch export`: every strategy end to end at the tiny budget, resume after a killed
process, failed trials, and the `search:` section of the DSL."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner
from test_report import make_result
from torch import nn

from helpers import tiny_run_space
from mixsearch.arch import Arch, function_key
from mixsearch.cli import main
from mixsearch.errors import SpaceError, Stopped
from mixsearch.hardware.latency import fixed_threads
from mixsearch.model.supernet import ArchParameters
from mixsearch.ops import OPS, OpInfo
from mixsearch.pipeline import recommended_arch
from mixsearch.proxy import TrainConfig, TrainResult, load_proxy_data
from mixsearch.search.darts.stage import darts_config
from mixsearch.search.engine.baselines import baseline_archs
from mixsearch.search.engine.context import RunOptions
from mixsearch.search.engine.evaluate import (
    Evaluator,
    ablations,
    capped,
    final_seeds,
)
from mixsearch.search.engine.final import FinalOutcome, choose_winner
from mixsearch.search.engine.pool import TrainingJob, TrainingPool
from mixsearch.search.engine.rungs import Rungs
from mixsearch.search.engine.study import trial_record
from mixsearch.search.engine.trials import (
    finalist_candidates,
    narrowed_choices,
    pareto_ranks,
)
from mixsearch.search.outcome.result import SearchResult, Trained, TrialRecord
from mixsearch.search.run import run_context
from mixsearch.search.settings import DartsConfig
from mixsearch.search.strategies import STRATEGIES, get_strategy
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import load_space, parse_space
from mixsearch.space.sections import STRATEGIES as SPACE_STRATEGIES
from mixsearch.space.sections import Constraints, get_budget

TINY_SPACE = tiny_run_space("tinymix")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One cache for the module's runs: the latency table and proxy data are built once, then reused."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def space(tmp_path, monkeypatch, cache_dir) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_dir))
    path = tmp_path / "tinymix.yaml"
    path.write_text(TINY_SPACE)
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def run_tiny(space: Path, out: Path, strategy: str, *extra: str):
    """`mixsearch run` of `space` at the tiny budget into `out`, quietly."""
    args = ["run", str(space), "--budget", "tiny", "--strategy", strategy]
    return invoke(*args, "--out", str(out), "--quiet", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["hybrid", "optuna", "random", "darts"])
def test_every_strategy_runs_end_to_end_and_writes_the_results(
    space, tmp_path, strategy
):
    out = tmp_path / "run"
    result = run_tiny(space, out, strategy)
    assert result.exit_code == 0, result.output
    run = SearchResult.load(out)
    assert run.strategy == strategy
    assert {b.label for b in run.baselines} == set(baseline_archs())
    candidates = {item.arch.dumps() for item in (*run.finalists, *run.ablation)}
    assert run.winner.arch.dumps() in candidates
    assert set(run.pareto) <= {t.number for t in run.trials}
    expected_trials = 1 if strategy == "darts" else 3
    assert sum(t.state == "complete" for t in run.trials) >= expected_trials
    for name in (
        "tinymix.py",
        "arch.json",
        "search.json",
        "report.md",
        "pareto.png",
        "yolov8n-tinymix.yaml",
    ):
        assert (out / name).exists(), name
    assert (out / "alphas.png").exists() == (strategy in ("hybrid", "darts"))
    assert (out / "study.db").exists()
    emitted = Arch.load(out / "arch.json")
    assert emitted.metrics["test_acc"] == pytest.approx(run.winner.test_acc, abs=1e-4)


@pytest.mark.slow
def test_a_second_run_resumes_the_study_without_training_again(space, tmp_path):
    out = tmp_path / "run"
    assert run_tiny(space, out, "random").exit_code == 0
    first = SearchResult.load(out)
    again = run_tiny(space, out, "random", "--trials", "4")
    assert again.exit_code == 0, again.output
    second = SearchResult.load(out)
    # The three finished trials are kept as they were; one more is trained.
    assert [t.to_json() for t in second.trials[: len(first.trials)]] == [
        t.to_json() for t in first.trials
    ]
    assert sum(t.state == "complete" and t.reason is None for t in second.trials) == 4
    # Baselines come from the cache of final trainings: identical numbers, not retrained.
    assert trainings(second.baselines) == trainings(first.baselines)


@pytest.mark.slow
def test_another_run_reuses_the_baselines_an_earlier_run_trained(
    space, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))
    first = run_tiny(space, tmp_path / "first", "random")
    assert first.exit_code == 0, first.output
    second = run_tiny(space, tmp_path / "second", "optuna")
    assert second.exit_code == 0, second.output
    assert "done by an earlier run" not in first.output
    assert re.search(
        r"^\d+ of \d+ trainings done by an earlier run$", second.output, re.M
    )
    for label in baseline_archs():
        assert f"{label}: test" in first.output and f"{label}: test" in second.output
    runs = [SearchResult.load(tmp_path / name) for name in ("first", "second")]
    assert trainings(runs[0].baselines) == trainings(runs[1].baselines)
    # Latency is not reused: each run measures its modules afresh, all in the same rounds.
    assert "latency measured (ms): trial" in second.output


def trainings(items) -> list[dict]:
    """What a training produced, without the latency each run measures itself."""
    return [{**item.to_json(), "latency_ms": None} for item in items]


def _finished_trials(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database) as connection:
            return connection.execute(
                "select count(*) from trials where state = 'COMPLETE'"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_a_killed_run_resumes_and_loses_no_finished_trial(space, tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "mixsearch",
        "run",
        str(space),
        "--budget",
        "tiny",
        "--strategy",
        "optuna",
    ]
    command += ["--trials", "6", "--out", str(out), "--quiet"]
    # XDG_CACHE_HOME: the module's cache, set by the `space` fixture.
    env = {**os.environ}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while (
        _finished_trials(out / "study.db") < 2
        and time.monotonic() < deadline
        and process.poll() is None
    ):
        time.sleep(0.2)
    assert (
        process.poll() is None
    ), "the run finished before it could be killed; make it longer"
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = _finished_trials(out / "study.db")
    assert kept >= 2
    rerun = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    run = SearchResult.load(out)
    trained = [t for t in run.trials if t.state == "complete" and t.reason is None]
    assert len(trained) == 6
    best = max(t.values["accuracy"] for t in trained if t.feasible)
    assert run.trial(run.finalists[0].trial).values["accuracy"] == best
    interrupted = [t for t in run.trials if t.state == "fail"]
    assert all("interrupted" in t.reason for t in interrupted)


class NotANumber(nn.Module):
    """Returns NaN everywhere: a candidate whose training diverges."""

    def __init__(self, channels: int):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


@pytest.fixture
def nan_op():
    OPS.register(OpInfo("not_a_number", "channel", {"default": NotANumber}))
    yield "not_a_number"
    OPS.unregister("not_a_number")


@pytest.mark.slow
def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on(
    space, tmp_path, nan_op
):
    space.write_text(
        TINY_SPACE.replace(
            "channel: [se: {reduction: [4, 8]}, eca]", f"channel: [{nan_op}, eca]"
        )
    )
    out = tmp_path / "run"
    result = invoke(
        "run",
        str(space),
        "--budget",
        "tiny",
        "--strategy",
        "random",
        "--trials",
        "5",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    run = SearchResult.load(out)
    failed = [t for t in run.trials if t.state == "fail"]
    assert failed and all("diverged" in t.reason for t in failed)
    assert all(
        node.op == nan_op
        for t in failed
        for node in t.arch.nodes
        if node.name == "chan"
    )
    assert all(node.op != nan_op for node in run.winner.arch.nodes)


def test_when_every_trial_fails_the_run_stops_with_the_reason(space, tmp_path, nan_op):
    space.write_text(
        TINY_SPACE.replace(
            "channel: [se: {reduction: [4, 8]}, eca]", f"channel: [{nan_op}]"
        )
    )
    space.write_text(space.read_text().replace("from: [input, chan]", "from: chan"))
    result = invoke(
        "run",
        str(space),
        "--budget",
        "tiny",
        "--strategy",
        "random",
        "--out",
        str(tmp_path / "run"),
    )
    assert result.exit_code == 2
    assert "every trial failed" in result.output and "diverged" in result.output


def test_a_failed_trial_is_one_line_of_the_run_without_an_optuna_traceback(
    space, tmp_path, nan_op, optuna_logs
):
    space.write_text(
        TINY_SPACE.replace(
            "channel: [se: {reduction: [4, 8]}, eca]", f"channel: [{nan_op}]"
        ).replace("from: [input, chan]", "from: chan")
    )
    result = run_tiny(space, tmp_path / "run", "random")
    assert "trial 0 [1/3] failed: training diverged" in result.output
    assert "Traceback" not in result.output and not optuna_logs


def test_an_impossible_constraint_stops_the_run_before_any_training(space, tmp_path):
    space.write_text(TINY_SPACE + "constraints: {params: 1}\n")
    result = invoke(
        "run", str(space), "--budget", "tiny", "--out", str(tmp_path / "run")
    )
    assert result.exit_code == 2
    assert (
        "no architecture meets the constraints" in result.output
        and f"{space}:" in result.output
    )


@pytest.mark.slow
def test_export_emits_the_winner_any_trial_the_pareto_front_or_a_baseline(
    space, tmp_path
):
    out = tmp_path / "run"
    assert run_tiny(space, out, "random").exit_code == 0
    run = SearchResult.load(out)
    result = invoke("export", str(out), "--pareto")
    assert result.exit_code == 0, result.output
    for number in run.pareto:
        exported = Arch.load(out / "export" / f"trial-{number}" / "arch.json")
        assert f"Trial {number} of the search" in exported.origin
        assert replace(exported, origin="") == replace(
            run.trial(number).arch, origin=""
        )
        assert (out / "export" / f"trial-{number}" / "tinymix.py").exists()
    single = invoke("export", str(out), "--trial", "1", "--out", str(tmp_path / "one"))
    assert single.exit_code == 0 and (tmp_path / "one" / "tinymix.py").exists()
    recommended = invoke("export", str(out))
    assert recommended.exit_code == 0, recommended.output
    exported = Arch.load(out / "export" / "recommended" / "arch.json")
    assert exported == recommended_arch(run) == Arch.load(out / "arch.json")
    assert exported.name == "tinymix"
    missing = invoke("export", str(out), "--trial", "99")
    assert missing.exit_code == 2 and "no trial 99" in missing.output
    eca = invoke("export", str(out), "--baseline", "eca")
    assert eca.exit_code == 0, eca.output
    exported = Arch.load(out / "export" / "eca" / "arch.json")
    retrained = next(item for item in run.baselines if item.label == "eca")
    assert exported.nodes == retrained.arch.nodes
    assert exported.metrics["latency_ms"] == round(retrained.latency_ms, 4)
    assert "The hand-designed baseline eca, trained beside" in exported.origin
    assert (out / "export" / "eca" / "eca.py").exists()
    unknown = invoke("export", str(out), "--baseline", "gcnet")
    assert (
        unknown.exit_code == 2 and "no baseline 'gcnet' was retrained" in unknown.output
    )
    both = invoke("export", str(out), "--baseline", "eca", "--pareto")
    assert both.exit_code == 2 and "give one of" in both.output
    nowhere = invoke("export", str(tmp_path / "nowhere"))
    assert nowhere.exit_code == 2 and "search.json" in nowhere.output


def test_ablations_remove_each_branch_and_replace_the_fusion():
    arch = Arch.from_json(
        {
            "format": "mixsearch.arch/1",
            "name": "m",
            "class_name": "M",
            "nodes": [
                {"name": "a", "op": "se", "from": ["input"]},
                {"name": "b", "op": "cbam_spatial", "from": ["a"]},
                {"name": "out", "fuse": "gate", "from": ["a", "b"]},
            ],
        }
    )
    variants = ablations(arch)
    assert set(variants) == {"without a", "without b", "out: gate → sum"}
    # `a` feeds an op (b), so removing it skips it; `b` only feeds the fusion, so it becomes zeros.
    assert variants["without a"].nodes[0].op == "identity"
    assert variants["without b"].nodes[1].op == "none"
    assert variants["out: gate → sum"].nodes[2].op == "sum"


@pytest.mark.parametrize(
    "strategy, latency_limit, hardware_aware",
    [("hybrid", None, False), ("hybrid", 5.0, True), ("darts", 5.0, False)],
)
def test_hybrid_narrows_by_accuracy_unless_latency_is_constrained(
    strategy, latency_limit, hardware_aware
):
    options = RunOptions(
        strategy, "tpe", get_budget("quick"), ("accuracy", "latency_ms")
    )
    constraints = Constraints(latency_ms=latency_limit)
    config = darts_config(get_strategy(strategy), options, constraints, CPU)
    expected = DartsConfig.latency_weight if hardware_aware else 0.0
    assert config.latency_weight == expected
    assert config.epochs == get_budget("quick").darts_epochs


def test_narrowing_keeps_the_strongest_options_in_their_order():
    graph = compile_space(parse_space(TINY_SPACE))
    alphas = ArchParameters(graph)
    choice = next(c for c in alphas.choices if len(c.options) == 3)
    with torch.no_grad():
        alphas.alphas[alphas.choices.index(choice)].copy_(
            torch.tensor([0.0, -1.0, 1.0])
        )

    def narrowed(keep: int) -> tuple:
        return {c.key: c.options for c in narrowed_choices(graph, alphas, keep)}[
            choice.key
        ]

    assert narrowed(2) == (choice.options[0], choice.options[2])
    assert narrowed(1) == (choice.options[2],)
    assert narrowed(3) == choice.options
    # Alphas that did not move (a supernet short of its warm-up) narrow nothing.
    with torch.no_grad():
        alphas.alphas[alphas.choices.index(choice)].copy_(
            torch.tensor([0.0, 0.01, 0.0])
        )
    assert narrowed(1) == choice.options


def test_the_winner_is_the_best_finalist_or_an_admitted_ablation_of_it():
    graph = compile_space(parse_space(TINY_SPACE))
    archs = list(graph.enumerate())

    def trained(label, arch, val, trial=None):
        return Trained(label, arch, (1,), (val,), (val,), 1.0, 100, 10, 5.0, trial)

    finalists = (
        trained("trial 2", archs[0], 0.80, 2),
        trained("trial 4", archs[1], 0.85, 4),
    )
    trials = (TrialRecord(6, "complete", archs[3]),)
    ablation = (
        trained("without s", archs[2], 0.90),  # best of all, but not admitted
        trained("out: gate → sum", archs[3], 0.86),
        trained("without c", archs[4], 0.85),  # a tie goes to the finalist
    )
    admitted = {archs[3].dumps(), archs[4].dumps()}

    def may_win(arch):
        return arch.dumps() in admitted

    winner = choose_winner(FinalOutcome(finalists, (), ablation), may_win, trials)
    assert winner.arch == archs[3] and winner.val_acc == 0.86
    assert winner.label == "trial 4, out: gate → sum" and winner.trial == 6
    fewer = FinalOutcome(finalists, (), ablation[::2])
    assert choose_winner(fewer, may_win, trials) == finalists[1]


def test_a_baseline_the_space_holds_can_win_and_is_then_the_module_written():
    graph = compile_space(parse_space(TINY_SPACE))
    archs = list(graph.enumerate())
    eca, se = baseline_archs()["eca"], baseline_archs()["se"]

    def trained(label, arch, val, trial=None):
        accs = (val, val)
        return Trained(label, arch, (1, 2), accs, accs, 1.0, 100, 10, 5.0, trial)

    finalists = (trained("trial 2", archs[0], 0.80, 2),)
    trials = (TrialRecord(0, "complete", eca, baseline="eca"),)

    def written(se_accuracy: float) -> tuple[Trained, Arch]:
        baselines = (trained("eca", eca, 0.90), trained("se", se, se_accuracy))
        outcome = FinalOutcome(finalists, baselines, ())
        # Only eca is in the space: se may not win, though the report may recommend it.
        winner = choose_winner(outcome, lambda arch: arch == eca, trials)
        result = replace(
            make_result(), winner=winner, finalists=finalists, baselines=baselines
        )
        return winner, recommended_arch(result)

    winner, module = written(0.85)
    assert (winner.label, winner.arch, winner.trial) == ("eca", eca, 0)
    assert module.nodes == eca.nodes
    assert (module.name, module.class_name) == (archs[0].name, archs[0].class_name)
    winner, module = written(0.95)
    assert winner.label == "eca" and module.nodes == se.nodes


def test_promotion_takes_the_pareto_fronts_in_turn_then_the_score():
    graph = compile_space(parse_space(TINY_SPACE))
    samples = map(graph.sample, map(random.Random, range(50)))
    archs = list({function_key(a): a for a in samples}.values())
    study = optuna.create_study(directions=["maximize", "minimize"])
    # rung score, predicted latency, arch, trained: trial 0 is fast and slightly worse than trial 1 (both on the
    # first front); trial 1 dominates trial 2; trial 3 repeats trial 1's module; trial 4 was never trained
    # (infeasible); trial 5 is dominated by all.
    for accuracy, latency, arch, trained in [
        (0.80, 1.0, archs[0], True),
        (0.83, 2.0, archs[1], True),
        (0.83, 3.0, archs[2], True),
        (0.83, 2.0, archs[1], True),
        (0.99, 0.1, archs[3], False),
        (0.70, 4.0, archs[4], True),
    ]:
        study.add_trial(
            optuna.trial.create_trial(
                values=[accuracy, latency],
                user_attrs={"arch": arch.to_json(), "trained": trained},
            )
        )
    records = tuple(trial_record(t, ("accuracy", "latency_ms")) for t in study.trials)
    picked = finalist_candidates(study, records, 3)
    assert [(number, rank) for _, number, rank in picked] == [(1, 1), (0, 1), (2, 2)]
    assert [arch for arch, _, _ in picked] == [archs[1], archs[0], archs[2]]
    assert pareto_ranks([[0, 0], [1, 1], [0, 2], [2, 0], [3, 3]]) == [1, 2, 2, 2, 3]


def test_search_section_is_parsed_and_checked():
    base = TINY_SPACE
    spec = parse_space(
        base
        + "search: {strategy: random, budget: tiny, trials: 7, objectives: [params]}\n"
    ).search
    assert (spec.strategy, spec.budget, spec.trials) == ("random", "tiny", 7)
    assert spec.objectives == ("accuracy", "latency_ms", "params")
    for bad, message in [
        ("{strategy: evolution}", "search strategy must be one of"),
        ("{trials: 0}", "search trials must be a whole number"),
        ("{objectives: [speed]}", "unknown search objective 'speed'"),
        ("{budget: huge}", "search budget must be one of"),
        ("{sampler: cmaes}", "search sampler must be one of"),
        ("{colour: red}", "unknown key 'colour' in search"),
    ]:
        with pytest.raises(SpaceError, match=message) as caught:
            parse_space(base + f"search: {bad}\n", "s.yaml")
        assert caught.value.line == base.count("\n") + 1


def test_export_rejects_a_file_that_is_not_a_search_result(tmp_path):
    sample = {"format": "mixsearch.search/9"}
    (tmp_path / "search.json").write_text(json.dumps(sample))
    result = invoke("export", str(tmp_path))
    assert result.exit_code == 2 and "not a mixsearch search result" in result.output


@pytest.mark.slow
def test_the_same_seed_gives_the_same_search(space, tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert run_tiny(space, out, "optuna", "--seed", "3").exit_code == 0
        runs.append(SearchResult.load(out))
    first, second = (
        [(t.arch.dumps(), t.values, t.state) for t in run.trials] for run in runs
    )
    assert first == second
    assert runs[0].winner.test_acc == runs[1].winner.test_acc


@pytest.mark.slow
def test_a_trial_is_the_first_final_seed_s_training_stopped_at_the_rung(
    space, tmp_path
):
    out = tmp_path / "run"
    assert run_tiny(space, out, "random").exit_code == 0
    run = SearchResult.load(out)
    data = capped(load_proxy_data(load_space(space).proxy, 0), get_budget("tiny"))

    def trained(arch: Arch, seed: int) -> TrainResult:
        evaluator = Evaluator(data, TrainConfig(seed=seed))
        with fixed_threads(1):
            return evaluator.from_scratch(arch, run.budget["final_epochs"])

    # Every final training runs on one thread with the final seed; a trial is the first of them up to the rung
    # (at tiny, the rung is the last epoch), and the promoted finalist's training is that trial's, continued.
    (seed,) = final_seeds(0, 1)
    assert run.winner.seeds == (seed,) and run.budget["rung_epoch"] == 1
    assert run.winner.val_accs[0] == trained(run.winner.arch, seed).val_acc
    finalist = run.ablated
    trial = next(t for t in run.trials if t.number == finalist.trial)
    reference = trained(finalist.arch, seed)
    assert finalist.val_accs[0] == reference.val_acc
    assert trial.values["accuracy"] == reference.val_curve[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["run", "default", "--seed", str(2**32)],
            "'--seed': 4294967296 is not in the range",
        ),
        (["run", "default", "--heartbeat", "1" + "0" * 20], "'--heartbeat'"),
        (["darts", "default", "--final-seeds", "1" + "0" * 20], "'--final-seeds'"),
        (["run", "default", "--onnx", "1" + "0" * 20], "'--onnx': 1" + "0" * 20),
        (
            ["ops", "--channels", "1" + "0" * 20],
            "--channels 1" + "0" * 20 + " --shape 80 80: inputs of",
        ),
        (
            ["run", "default", "--device", "cuda:" + "9" * 20],
            "--device: target device 'cuda:" + "9" * 20 + "' asked for",
        ),
    ],
    ids=["seed", "heartbeat", "final-seeds", "onnx-channels", "ops-channels", "device"],
)
def test_an_option_beyond_what_the_machine_holds_is_refused_at_once(args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_gpu_index_beyond_the_machines_gpus_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    result = invoke("run", "default", "--device", "cuda:2")
    assert result.exit_code == 2
    assert "torch sees 2 CUDA device(s), cuda:0 to cuda:1" in result.output


def test_only_a_strategy_with_a_supernet_has_a_darts_stage(space, tmp_path):
    result = run_tiny(space, tmp_path / "run", "random", "--stage", "darts")
    assert result.exit_code == 2
    assert "the random strategy has no DARTS stage" in result.output
    assert not (tmp_path / "run").exists()


def test_every_strategy_the_dsl_accepts_is_registered():
    assert set(STRATEGIES) == set(SPACE_STRATEGIES)
    for strategy in STRATEGIES.values():
        stages = strategy.stages()
        assert stages[0] == "latency table" and stages[-1] == "final training"
        assert ("DARTS" in stages) == strategy.supernet


def test_a_trial_killed_mid_rung_resumes_there_and_the_finals_continue_it(
    space, tmp_path, monkeypatch
):
    budget = replace(get_budget("tiny"), final_epochs=3, rung_epoch=2)
    options = RunOptions("random", "tpe", budget, ("accuracy", "latency_ms"))
    graph = compile_space(load_space(space))
    ctx = run_context(graph, load_space(space).target, options, tmp_path / "run")
    arch = graph.sample(random.Random(0))
    with fixed_threads(1):  # as every final training and rung runs
        reference = ctx.final_evaluator.from_scratch(arch, budget.final_epochs)

    epochs_run = []
    advance = Evaluator.advance

    def counted(self, training, epochs):
        epochs_run.append(epochs)
        if len(epochs_run) == 2:
            raise Stopped(130)
        return advance(self, training, epochs)

    monkeypatch.setattr(Evaluator, "advance", counted)
    with pytest.raises(Stopped):
        Rungs(ctx).score(arch)
    assert Rungs(ctx).score(arch) == reference.val_curve[1]
    assert epochs_run == [1, 2, 2]  # epoch 1 once; epoch 2 cut short, then trained
    monkeypatch.setattr(Evaluator, "advance", advance)

    job = TrainingJob("trial 0", arch, ctx.final_seeds[0], Rungs(ctx).state_path(arch))
    with TrainingPool(ctx.final_evaluator, ctx.workers, 1) as pool:
        ((_, continued),) = list(pool.run([job], budget.final_epochs))
    assert continued.val_curve == reference.val_curve
    assert continued.test_acc == reference.test_acc
