"""The report of a search run: report.md tables, numbers and verdict, the plots, and the result's JSON."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import pytest
from PIL import Image

from mixsearch.arch import describe
from mixsearch.errors import MixsearchError
from mixsearch.report import render_report, write_report
from mixsearch.search.engine.baselines import chain_arch
from mixsearch.search.outcome.result import SearchResult, Trained, TrialRecord
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import load_space

GRAPH = compile_space(load_space("search_spaces/default.yaml"))
ARCHS = [GRAPH.sample(random.Random(seed)) for seed in range(16)]
LIMIT = 2.5
# number: (validation accuracy, predicted latency ms, FLOPs, params) of the trained trials.
COMPLETE = {
    0: (0.700, 0.90, 210_000, 1_200),
    1: (0.720, 1.40, 300_000, 2_400),
    2: (0.760, 1.10, 250_000, 1_800),
    3: (0.790, 1.60, 420_000, 3_100),
    4: (0.740, 2.00, 500_000, 4_000),
    5: (0.805, 2.20, 610_000, 5_200),
}
PARETO = (0, 2, 3, 5)


def values(accuracy, latency, flops, params):
    return {
        "accuracy": accuracy,
        "latency_ms": latency,
        "flops": flops,
        "params": params,
    }


def complete_trial(number):
    numbers = values(*COMPLETE[number])
    ratio = {"latency_ms": numbers["latency_ms"] / LIMIT}
    return TrialRecord(number, "complete", ARCHS[number], numbers, ratio, None, 30.0)


def trials():
    return (
        *(complete_trial(number) for number in COMPLETE),
        TrialRecord(6, "fail", ARCHS[6], reason="diverged: loss is nan at epoch 2"),
        TrialRecord(
            7,
            "infeasible",
            ARCHS[7],
            {"latency_ms": 3.1, "flops": 900_000, "params": 8_000},
            {"latency_ms": 3.1 / LIMIT},
        ),
        replace(complete_trial(3), number=8, state="duplicate", reason="3"),
        TrialRecord(9, "fail", ARCHS[9], reason="out of memory"),
        replace(complete_trial(4), number=10, baseline="eca"),
    )


SEEDS = (11, 12)


def trained(label, arch, val, tests, latency, flops=400_000, params=3_000, trial=None):
    """A module retrained with both SEEDS: validation accuracy `val` on each, test accuracies `tests`."""
    return Trained(
        label,
        arch,
        SEEDS,
        (val, val),
        tuple(tests),
        latency,
        flops,
        params,
        60.0,
        trial,
    )


def alpha_history():
    """Four epochs of softmax(alpha) drifting towards each open choice's last option."""
    history = []
    for epoch in range(1, 5):
        alphas = {}
        for choice in (choice for choice in GRAPH.choices if len(choice.options) > 1):
            logits = [0.2 * epoch * i for i in range(len(choice.options))]
            total = sum(map(math.exp, logits))
            alphas[choice.key] = [math.exp(logit) / total for logit in logits]
        history.append({"epoch": epoch, "loss": 2.0 / epoch, "alphas": alphas})
    return tuple(history)


def make_result():
    finalists = (
        trained("trial 3", ARCHS[3], 0.795, (0.7900, 0.7924), 1.523, 420_000, 3_100, 3),
        trained("trial 5", ARCHS[5], 0.812, (0.8100, 0.8146), 2.104, 610_000, 5_200, 5),
    )
    baselines = (
        trained("none", ARCHS[10], 0.770, (0.7650, 0.7770), 1.000, 0, 0),
        trained("se", ARCHS[11], 0.790, (0.7900, 0.8000), 2.250),
        trained("eca", ARCHS[12], 0.800, (0.7950, 0.8052), 2.104),
        trained("cbam", ARCHS[13], 0.801, (0.8000, 0.8100), 2.900),
        trained("coord", ARCHS[14], 0.815, (0.8150, 0.8250), 2.600),
    )
    ablation = (
        trained("without spat", ARCHS[0], 0.799, (0.8000, 0.8020), 1.700),
        trained("fusion → sum", ARCHS[1], 0.806, (0.8080, 0.8100), 2.050),
    )
    return SearchResult(
        space="search_spaces/default.yaml",
        name="mixattn",
        strategy="optuna",
        sampler="nsga2",
        budget={"name": "quick", "trials": 10, "final_epochs": 5, "train_images": None},
        seed=7,
        command="mixsearch run search_spaces/default.yaml --budget quick --seed 7",
        device="cpu",
        constraints={"latency_ms": LIMIT},
        objectives=("accuracy", "latency_ms"),
        trials=trials(),
        pareto=PARETO,
        finalists=finalists,
        winner=finalists[1],
        baselines=baselines,
        ablation=ablation,
        alpha_history=alpha_history(),
        stage_seconds={"trials": 1234.5, "finalists": 136.75, "baselines": 460.25},
    )


RESULT = make_result()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The report of RESULT written once: (paths, report.md text)."""
    paths = write_report(RESULT, tmp_path_factory.mktemp("run"))
    return paths, paths[0].read_text()


def section(text, title):
    """The body of the `## title` section."""
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def row(text, first_cell):
    """The cells of the table row starting with `first_cell`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r} in:\n{text}")


def table_rows(text):
    return [line for line in text.splitlines() if line.startswith("|")][2:]


def test_write_report_writes_the_report_and_valid_plots(run):
    paths, _ = run
    assert [path.name for path in paths] == ["report.md", "pareto.png", "alphas.png"]
    for path in paths[1:]:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width > 400 and image.height > 300


def test_title_winner_paragraph_and_command(run):
    _, text = run
    assert text.startswith("# Search report: mixattn\n")
    winner = section(text, "Winner")
    assert " ".join(describe(ARCHS[5]).split()) in " ".join(winner.split())
    for number in (
        "81.23 ± 0.23% test accuracy",
        "81.20% validation",
        "2.104 ms",
        "0.61 M",
    ):
        assert number in " ".join(winner.split())
    assert "5,200 parameters" in winner
    assert "budget quick (trials=10, final_epochs=5)" in " ".join(winner.split())
    for setting in ("`optuna`", "`nsga2`", "seed 7", "on cpu", "latency_ms ≤ 2.5"):
        assert setting in text
    assert f"```bash\n{RESULT.command}\n```" in winner


def test_pareto_table_lists_the_front_with_predicted_numbers(run):
    _, text = run
    pareto = section(text, "Pareto front")
    assert len(table_rows(pareto)) == len(PARETO)
    assert row(pareto, "2") == [
        "2",
        " ".join(describe(ARCHS[2]).split()),
        "76.00%",
        "1.100",
        "0.25 M",
        "1,800",
        "yes",
    ]
    assert row(pareto, "5 ★")[2:4] == ["80.50%", "2.200"]
    assert "![Pareto front](pareto.png)" in pareto


def test_finalists_table_stars_the_winner(run):
    _, text = run
    finalists = section(text, "Retrained finalists")
    assert len(table_rows(finalists)) == 2
    assert row(finalists, "trial 3")[3:8] == [
        "79.12 ± 0.12%",
        "79.50%",
        "1.523",
        "0.42 M",
        "3,100",
    ]
    assert row(finalists, "trial 5 ★")[1] == "5"


def test_baselines_table_compares_the_winner_seed_by_seed(run):
    _, text = run
    baselines = section(text, "Baselines")
    assert len(table_rows(baselines)) == 5
    assert row(baselines, "se") == [
        "se",
        "no",
        "79.50 ± 0.50%",
        "79.00%",
        "2.250",
        "0.40 M",
        "3,000",
        "+1.73 ± 0.27",
        "0.94×",
        "beats",
    ]
    assert row(baselines, "eca")[1] == "yes" and "eca: trial 10" in baselines
    assert row(baselines, "none")[-3:] == ["+4.13 ± 0.37", "2.10×", "beats"]
    assert row(baselines, "coord")[-3:] == ["-0.77 ± 0.27", "0.81×", "worse"]


def test_the_report_opens_with_a_verdict_per_baseline_and_the_module_to_use(run):
    _, text = run
    assert text.index("## Verdict") < text.index("## Winner")
    verdict = section(text, "Verdict")
    assert (
        "2 final seeds" in verdict
        and "two-sided confidence of 70% with 2 seeds" in verdict
    )
    assert (
        "- The winner beats se by 1.73 ± 0.27 points at 0.9× its latency.\n" in verdict
    )
    assert (
        "- The winner is worse than coord by 0.77 ± 0.27 points at 0.8× its latency.\n"
        in verdict
    )
    # coord is better but over the 2.5 ms limit; none of the others within it is better or as good and faster.
    assert (
        "**Use the search's winner (trial 5): it beats none, se, eca, and no baseline within 2.5 ms "
        "as accurate is faster.**"
    ) in verdict


def test_the_module_beside_the_report_is_the_recommended_one(run):
    _, text = run
    assert "The module written beside this report is the one recommended." in text
    # Below eca on both seeds.
    worse = replace(RESULT.winner, test_accs=(0.7700, 0.7800))
    verdict = section(render_report(replace(RESULT, winner=worse)), "Verdict")
    assert "**Use eca (a baseline): the search's winner is worse than eca" in verdict
    assert "beside this report is the one recommended, eca's;" in verdict
    assert "`mixsearch export RUN_DIR --trial 5` writes the search's winner" in verdict


def test_ablation_table_gives_deltas_against_the_best_finalist(run):
    _, text = run
    ablation = section(text, "Ablation")
    assert "The best retrained finalist (trial 5)" in ablation
    assert row(ablation, "without spat")[-2:] == ["-1.13", "-0.404"]
    assert row(ablation, "fusion → sum")[-2:] == ["-0.33", "-0.054"]


def test_a_winner_from_the_ablation_is_named_and_starred_there():
    variant = RESULT.ablation[1]
    better = replace(variant, val_accs=(0.82, 0.82))
    winner = replace(better, label="trial 5, fusion → sum", trial=1)
    text = render_report(
        replace(RESULT, ablation=(RESULT.ablation[0], better), winner=winner)
    )
    paragraph = " ".join(section(text, "Winner").split())
    assert (
        "**Winner** (trial 5, fusion → sum: from the ablation, where it beat trial 5 on validation; "
        "the architecture of trial 1)" in paragraph
    )
    ablation = section(text, "Ablation")
    assert row(ablation, "fusion → sum ★")[-2:] == ["-0.33", "-0.054"]
    assert row(section(text, "Retrained finalists"), "trial 5")  # unstarred


def test_trials_summary_counts_states_lists_failures_and_times_stages(run):
    _, text = run
    summary = section(text, "Trials")
    assert (
        "11 trials: 7 complete, 2 fail, 1 infeasible, 1 duplicate, 0 surplus, 0 running."
        in summary
    )
    assert "- trial 6: diverged: loss is nan at epoch 2\n" in summary
    assert "- trial 9: out of memory\n" in summary
    assert row(summary, "trials") == ["trials", "1,234.5"]
    assert row(summary, "**total**") == ["**total**", "**1,831.5**"]
    assert "![architecture weights](alphas.png)" in text


def test_a_run_without_extras_says_so_and_plots_no_alphas(tmp_path):
    bare = replace(
        RESULT,
        finalists=(),
        baselines=(),
        ablation=(),
        alpha_history=(),
        stage_seconds={},
    )
    paths = write_report(bare, tmp_path)
    assert [path.name for path in paths] == ["report.md", "pareto.png"]
    assert not (tmp_path / "alphas.png").exists()
    text = paths[0].read_text()
    for what in ("finalists were retrained", "baselines were trained"):
        assert f"No {what} at this budget." in text
    assert "No ablations were trained: no finalist was retrained." in text
    assert "alphas.png" not in text and "The winner beats" not in text


def test_a_finalist_with_nothing_to_vary_says_why_no_ablation_was_trained():
    text = render_report(replace(RESULT, ablation=()))
    assert (
        "No ablations were trained: this budget removes no branches, and the best finalist has no fusion to "
        "replace by a sum." in section(text, "Ablation")
    )


def test_render_report_embeds_the_given_plot_names():
    text = render_report(RESULT, "front.png", "weights.png")
    assert "![Pareto front](front.png)" in text
    assert "![architecture weights](weights.png)" in text


def test_search_result_round_trips_through_json(tmp_path):
    assert SearchResult.from_json(json.loads(json.dumps(RESULT.to_json()))) == RESULT
    RESULT.save(tmp_path)
    assert SearchResult.load(tmp_path) == RESULT


def test_loading_a_folder_without_a_result_is_a_user_error(tmp_path):
    with pytest.raises(MixsearchError, match="no such file"):
        SearchResult.load(tmp_path / "missing")


def test_describe_counts_nodes_and_ops_in_words():
    assert describe(chain_arch("eca", "Eca", ("eca",))) == (
        "1 node, a chain of 1 op; ops used: eca."
    )
    assert describe(chain_arch("cbam", "Cbam", ("cbam_channel", "cbam_spatial"))) == (
        "2 nodes, a chain of 2 ops; ops used: cbam_channel, cbam_spatial."
    )


def test_the_report_says_when_the_supernet_learned_too_little_to_choose():
    still = tuple(
        {**entry, "accuracy": 0.2, "searching": False} for entry in RESULT.alpha_history
    )
    text = section(
        render_report(replace(RESULT, alpha_history=still)), "Architecture weights"
    )
    assert "reached 20.0% training accuracy in 4 epochs, short of its warm-up" in text
    assert "its alphas never moved" in text
    moving = tuple({**entry, "accuracy": 0.6, "searching": True} for entry in still)
    text = section(
        render_report(replace(RESULT, alpha_history=moving)), "Architecture weights"
    )
    assert "its alphas moved in 4 of 4 epochs" in text
