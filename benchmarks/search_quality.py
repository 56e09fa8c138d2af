"""Search quality: hybrid vs optuna vs darts vs random on one space, budget and seeds.

For each seed, every strategy runs `mixsearch.search.run.run_search` in-process into a fresh temporary run
folder, at the same named budget (`--budget`, `--trials`). All runs share one latency table, measured once before
the first run, and all runs share one cache of from-scratch trainings (`mixsearch.search.trainings`, in the
benchmark's scratch folder, never the user's), so the hand-designed baselines are trained once per seed and
every strategy of that seed is judged against the same accuracies; each run measures their latency again, in the
same rounds as its own modules (the baselines table shows each seed's first run's).

Measured per run, from the `SearchResult`:
- winner test acc: the winner (the best validation accuracy after retraining from scratch with the final budget
  and the final seed, which no trial trains with, among the finalists and the in-space ablations of the best
  one; see `mixsearch.search.result`) on the test split. The search only trains candidates whose predicted cost
  meets the space's constraints, so the winner is the best feasible module the strategy found;
- best trial val acc: the best validation accuracy among the trained trials. Not comparable across strategies:
  hybrid's trials fine-tune supernet weights, optuna's and random's train from scratch, darts has one trial
  (its retrained winner);
- hypervolume: of the retrained finalists' and the winner's (1 - test accuracy, measured latency) points, both
  minimised, as a share of the box up to the reference point (1, 1.1 x the largest finalist latency of the whole
  benchmark, or `--reference-ms`); the same reference for every run, so the numbers compare;
- search s: wall-clock seconds of the DARTS and trials stages, the compute a strategy spends to choose its
  finalists (retraining finalists, baselines and ablations is the same work for every strategy and is left out;
  darts retrains one finalist, the others the budget's `finalists`); "vs random" divides by random's, same seed;
- baselines beaten: a baseline is beaten when the winner's test accuracy is higher and its measured latency is at
  most the baseline's, plus 10% (the run-to-run noise of a latency measurement on a CPU).

The strategies spend a budget differently (hybrid pays a DARTS stage, then cheap fine-tuned trials; optuna and
random train every trial from scratch; darts derives one architecture). `--equal-time` gives random and optuna,
per seed, as many trials as fit in hybrid's DARTS + trials seconds: a random run at the budget measures what one
from-scratch trial costs (its trials stage over its trial count: training plus the study's own overhead), then
random (unless the count is the budget's) and optuna run with that count; "vs random" shows how equal it came out.

    python benchmarks/search_quality.py                          # default space, quick budget, 3 seeds
    python benchmarks/search_quality.py --markdown --equal-time  # Markdown for the README, equal compute
    python benchmarks/search_quality.py --quick                  # tiny budget, shapes and proxy: a smoke test
    python benchmarks/search_quality.py --finalists 3            # retrain 3 finalists instead of the budget's
    python benchmarks/search_quality.py --reference-ms 10.5      # hypervolumes comparable to an earlier run's
    python benchmarks/search_quality.py --first-seed 3           # seeds 3..5: more seeds for an earlier run

Goal: hybrid beats random on mean winner test accuracy and mean hypervolume, and hybrid's winner beats every
baseline at equal or lower latency on every seed. Progress lines go to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import torch
import yaml
from rich.console import Console
from rich.table import Table

import mixsearch
from mixsearch.hardware.device import measurement_threads, torch_device
from mixsearch.hardware.latency import fixed_threads
from mixsearch.hardware.lut import fingerprint
from mixsearch.hardware.predictor import profiled_table
from mixsearch.search.context import RunOptions
from mixsearch.search.result import SearchResult, Trained
from mixsearch.search.run import run_search
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import BUDGETS, Budget, Target, get_budget

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACE = ROOT / "search_spaces" / "default.yaml"
# Run and table order: hybrid first, since --equal-time sizes random and optuna from it.
STRATEGIES = ("hybrid", "random", "optuna", "darts")
SEARCH_STAGES = ("DARTS", "trials")
REFERENCE_MARGIN = 1.1
LATENCY_TOLERANCE = 0.10
DEFAULTS = {"seeds": 3, "budget": "quick"}
QUICK_DEFAULTS = {"seeds": 1, "budget": "tiny", "threads": 1}
QUICK_SETTINGS = {
    "target": {"device": "cpu", "shapes": [[1, 16, 8, 8]], "threads": 1},
    "proxy": {
        "dataset": "digits",
        "canvas": 24,
        "digit_size": 12,
        "train_size": 256,
        "val_size": 64,
        "test_size": 64,
    },
}


@dataclass(frozen=True)
class Setup:
    """What every run of the benchmark shares."""

    graph: SpaceGraph
    target: Target
    budget: Budget
    strategies: tuple[str, ...]
    equal_time: bool
    scratch: Path
    table_path: Path
    command: str


@dataclass(frozen=True)
class EqualTime:
    """One seed's trial count for random and optuna: hybrid's search seconds over one from-scratch trial's."""

    seed: int
    hybrid_seconds: float
    trial_seconds: float

    @property
    def trials(self) -> int:
        return max(1, round(self.hybrid_seconds / self.trial_seconds))


@dataclass(frozen=True)
class Row:
    """One run's numbers (accuracies 0..1)."""

    seed: int
    strategy: str
    trials: int | None  # None: darts (one derived architecture)
    winner_test_acc: float
    best_trial_val_acc: float
    hypervolume: float
    search_seconds: float
    run_seconds: float  # every stage, final trainings included (the first run of a seed trains the baselines)
    vs_random: float | None
    winner_latency_ms: float
    not_beaten: tuple[str, ...]  # "name (why)" per baseline the winner does not beat
    winner: str

    @property
    def beats_all(self) -> bool:
        return not self.not_beaten


@dataclass(frozen=True)
class Summary:
    """Every run's row, the baselines of each seed, and the equal-time trial counts."""

    rows: tuple[Row, ...]
    baselines: tuple[tuple[Trained, ...], ...]  # per seed
    equal_time: tuple[EqualTime, ...]
    reference_ms: float

    def of(self, strategy: str) -> list[Row]:
        return [row for row in self.rows if row.strategy == strategy]

    def mean(self, strategy: str, metric: str) -> float:
        return statistics.mean(getattr(row, metric) for row in self.of(strategy))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, with --quick's or the full run's defaults filled in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--space", type=Path, default=DEFAULT_SPACE, help="default: default.yaml"
    )
    parser.add_argument("--seeds", type=int, help="how many seeds (default 3)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds FIRST..FIRST+N-1 (default 0): more seeds for an earlier run",
    )
    parser.add_argument(
        "--budget", choices=BUDGETS, help="named budget (default quick)"
    )
    parser.add_argument("--trials", type=int, help="override the budget's trials")
    parser.add_argument(
        "--finalists", type=int, help="override the budget's retrained finalists"
    )
    parser.add_argument(
        "--strategies",
        default=",".join(STRATEGIES),
        help="comma-separated (default: all four)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads for training and latency measurement "
        "(default: torch's for training, the space's target for measurement)",
    )
    parser.add_argument(
        "--equal-time",
        action="store_true",
        help="random and optuna get as many trials as fit in hybrid's search seconds",
    )
    parser.add_argument(
        "--reference-ms",
        type=float,
        help="the hypervolume's reference latency (default: 1.1 x the largest finalist's); "
        "pass an earlier run's to compare hypervolumes across runs",
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny budget, 1 seed, 1 thread, tiny target shape and proxy (smoke test)",
    )
    args = parser.parse_args(argv)
    defaults = QUICK_DEFAULTS if args.quick else DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    names = [name for name in args.strategies.split(",") if name]
    unknown = [name for name in names if name not in STRATEGIES]
    if unknown or not names:
        parser.error(f"--strategies: choose among {', '.join(STRATEGIES)}")
    args.strategies = tuple(name for name in STRATEGIES if name in names)
    if args.equal_time and not {"hybrid", "random"} <= set(args.strategies):
        parser.error("--equal-time needs the hybrid and random strategies")
    counts = (args.trials, args.finalists, args.threads)
    if args.first_seed < 0:
        parser.error("--first-seed must be >= 0")
    if args.seeds < 1 or any(count is not None and count < 1 for count in counts):
        parser.error("--seeds, --trials, --finalists and --threads must be >= 1")
    if args.reference_ms is not None and not args.reference_ms > 0:
        parser.error("--reference-ms must be > 0")
    return args


def budget_of(args: argparse.Namespace) -> Budget:
    """The named budget with the command line's trial and finalist counts."""
    budget = get_budget(args.budget, args.trials)
    if args.finalists is None:
        return budget
    return replace(budget, finalists=args.finalists)


def quick_space(space: Path, folder: Path) -> Path:
    """A copy of `space` with a tiny target shape and a small proxy task (for --quick)."""
    data = yaml.safe_load(space.read_text())
    data.update(QUICK_SETTINGS)
    path = folder / space.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_target(graph: SpaceGraph, threads: int | None) -> Target:
    """The space's target, measuring with `threads` when given."""
    target = graph.space.target
    return target if threads is None else replace(target, threads=threads)


def search(setup: Setup, strategy: str, seed: int, budget: Budget) -> SearchResult:
    """One `run_search` into a fresh folder, sharing the latency table and the from-scratch trainings."""
    spec = setup.graph.space.search
    run_dir = setup.scratch / f"seed{seed}-{strategy}-{budget.trials}"
    run_dir.mkdir()
    options = RunOptions(
        strategy=strategy,
        sampler=spec.sampler,
        budget=budget,
        objectives=spec.objectives,
        keep=spec.keep,
        seed=seed,
        device=str(torch_device(setup.target)),
        table_path=setup.table_path,
        cache_dir=setup.scratch / "trainings",
        command=setup.command,
        show_progress=False,
    )

    def report(line: str) -> None:
        print(f"seed {seed} {strategy}: {line}", file=sys.stderr)

    return run_search(setup.graph, setup.target, options, run_dir, report)


def search_seconds(result: SearchResult) -> float:
    """The compute a strategy spends choosing its finalists: its DARTS and trials stages."""
    return sum(result.stage_seconds.get(stage, 0.0) for stage in SEARCH_STAGES)


def equal_time(seed: int, hybrid: SearchResult, random: SearchResult) -> EqualTime:
    """Per trial: random's trials stage over its trial count (training plus the study's own overhead)."""
    per_trial = random.stage_seconds["trials"] / random.budget["trials"]
    return EqualTime(seed, search_seconds(hybrid), per_trial)


def seed_runs(
    setup: Setup, seed: int
) -> tuple[dict[str, SearchResult], EqualTime | None]:
    """Every chosen strategy on one seed; with --equal-time, random and optuna sized from hybrid."""
    runs = {
        strategy: search(setup, strategy, seed, setup.budget)
        for strategy in setup.strategies
        if not (setup.equal_time and strategy == "optuna")
    }
    if not setup.equal_time:
        return runs, None
    share = equal_time(seed, runs["hybrid"], runs["random"])
    budget = replace(setup.budget, trials=share.trials)
    if share.trials != setup.budget.trials:
        runs["random"] = search(setup, "random", seed, budget)
    if "optuna" in setup.strategies:
        runs["optuna"] = search(setup, "optuna", seed, budget)
    return runs, share


def hypervolume(
    points: list[tuple[float, float]], reference: tuple[float, float]
) -> float:
    """Area dominated by `points` (both coordinates minimised) inside the box up to `reference`."""
    area, lowest = 0.0, reference[1]
    for x, y in sorted(points):
        if x < reference[0] and y < lowest:
            area += (reference[0] - x) * (lowest - y)
            lowest = y
    return area


def retrained_points(result: SearchResult) -> list[tuple[float, float]]:
    """(1 - test accuracy, measured ms) of each retrained finalist and of the winner, both to minimise."""
    return [
        (1.0 - item.test_acc, item.latency_ms)
        for item in (*result.finalists, result.winner)
    ]


def not_beaten(winner: Trained, baselines: tuple[Trained, ...]) -> tuple[str, ...]:
    """The baselines the winner does not beat at equal or lower latency, each with why."""
    missed = []
    for baseline in baselines:
        if winner.test_acc <= baseline.test_acc:
            missed.append(f"{baseline.label} (accuracy)")
        elif winner.latency_ms > baseline.latency_ms * (1 + LATENCY_TOLERANCE):
            missed.append(f"{baseline.label} (latency)")
    return tuple(missed)


def best_trial_accuracy(result: SearchResult) -> float:
    """The best validation accuracy of a trained, feasible trial."""
    return max(
        t.values["accuracy"]
        for t in result.trials
        if t.state == "complete" and t.feasible
    )


def arch_label(result: SearchResult) -> str:
    """The winner's nodes as name=op, +res for a residual."""
    return " ".join(
        f"{node.name}={node.op}" + ("+res" if node.residual else "")
        for node in result.winner.arch.nodes
    )


def make_row(
    result: SearchResult, random: SearchResult | None, reference_ms: float
) -> Row:
    """One run's numbers; `random` is the same seed's random run, if there is one."""
    seconds = search_seconds(result)
    area = hypervolume(retrained_points(result), (1.0, reference_ms)) / reference_ms
    return Row(
        seed=result.seed,
        strategy=result.strategy,
        trials=None if result.strategy == "darts" else result.budget["trials"],
        winner_test_acc=result.winner.test_acc,
        best_trial_val_acc=best_trial_accuracy(result),
        hypervolume=area,
        search_seconds=seconds,
        run_seconds=sum(result.stage_seconds.values()),
        vs_random=seconds / search_seconds(random) if random is not None else None,
        winner_latency_ms=result.winner.latency_ms,
        not_beaten=not_beaten(result.winner, result.baselines),
        winner=arch_label(result),
    )


def summarise(
    results: list[dict[str, SearchResult]],
    shares: list[EqualTime],
    reference_ms: float | None = None,
) -> Summary:
    """Rows for every run, with one hypervolume reference point for the whole benchmark (`reference_ms`, else
    REFERENCE_MARGIN x the largest retrained latency)."""
    if reference_ms is None:
        latencies = [
            y for runs in results for r in runs.values() for _, y in retrained_points(r)
        ]
        reference_ms = REFERENCE_MARGIN * max(latencies)
    rows = [
        make_row(runs[strategy], runs.get("random"), reference_ms)
        for runs in results
        for strategy in STRATEGIES
        if strategy in runs
    ]
    baselines = tuple(next(iter(runs.values())).baselines for runs in results)
    return Summary(tuple(rows), baselines, tuple(shares), reference_ms)


def mean_std(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """ "mean ± std" of `values` times `scale` (std 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.mean(values):.{digits}f} ± {scale * std:.{digits}f}"


SUMMARY_COLUMNS = [
    "strategy",
    "trials",
    "winner test acc %",
    "best trial val acc %",
    "hypervolume",
    "search s",
    "vs random",
    "beats all baselines",
]
SEED_COLUMNS = [
    "seed",
    "strategy",
    "trials",
    "winner test acc %",
    "best trial val acc %",
    "hypervolume",
    "search s",
    "vs random",
    "run s",
    "winner ms",
    "baselines not beaten",
    "winner",
]
BASELINE_COLUMNS = ["baseline", "test acc % (mean ± std)", "latency ms (mean)"]
LEFT = {"strategy", "baselines not beaten", "winner", "baseline"}
Part = tuple[str, list[str], list[list[str]]]  # a table: title, columns, rows


def trials_text(rows: list[Row]) -> str:
    """The trial counts of `rows` ("12", "12/14" with --equal-time, "-" for darts)."""
    counts = sorted({row.trials for row in rows}, key=str)
    return "-" if counts == [None] else "/".join(map(str, counts))


def ratio_text(values: list[float | None]) -> str:
    """The mean of the known ratios, "-" when there is none."""
    known = [value for value in values if value is not None]
    return f"{statistics.mean(known):.2f}" if known else "-"


def summary_rows(summary: Summary, strategies: tuple[str, ...]) -> list[list[str]]:
    """One line per strategy: mean ± std over the seeds."""
    table = []
    for strategy in strategies:
        rows = summary.of(strategy)
        table.append(
            [
                strategy,
                trials_text(rows),
                mean_std([r.winner_test_acc for r in rows], 100),
                mean_std([r.best_trial_val_acc for r in rows], 100),
                mean_std([r.hypervolume for r in rows], digits=3),
                mean_std([r.search_seconds for r in rows], digits=0),
                ratio_text([r.vs_random for r in rows]),
                f"{sum(r.beats_all for r in rows)}/{len(rows)}",
            ]
        )
    return table


def seed_rows(summary: Summary) -> list[list[str]]:
    """One line per run."""
    return [
        [
            str(row.seed),
            row.strategy,
            trials_text([row]),
            f"{100 * row.winner_test_acc:.2f}",
            f"{100 * row.best_trial_val_acc:.2f}",
            f"{row.hypervolume:.3f}",
            f"{row.search_seconds:.0f}",
            ratio_text([row.vs_random]),
            f"{row.run_seconds:.0f}",
            f"{row.winner_latency_ms:.3f}",
            ", ".join(row.not_beaten) or "none",
            row.winner,
        ]
        for row in summary.rows
    ]


def baseline_rows(summary: Summary) -> list[list[str]]:
    """One line per baseline: test accuracy over the seeds, mean latency."""
    names = [item.label for item in summary.baselines[0]]
    table = []
    for name in names:
        runs = [
            item for seed in summary.baselines for item in seed if item.label == name
        ]
        table.append(
            [
                name,
                mean_std([item.test_acc for item in runs], 100),
                f"{statistics.mean(item.latency_ms for item in runs):.3f}",
            ]
        )
    return table


def goal_line(summary: Summary) -> str:
    """Hybrid against random on both means, and hybrid's winner against the baselines."""
    if not (summary.of("hybrid") and summary.of("random")):
        return "goal: needs the hybrid and random strategies"

    def beats(metric: str, scale: float, digits: int) -> str:
        hybrid, random = summary.mean("hybrid", metric), summary.mean("random", metric)
        verdict = "yes" if hybrid > random else "no"
        return f"{verdict} ({scale * hybrid:.{digits}f} vs {scale * random:.{digits}f})"

    hybrid = summary.of("hybrid")
    return (
        f"goal: hybrid beats random on mean winner test acc %: {beats('winner_test_acc', 100, 2)}; on mean "
        f"hypervolume: {beats('hypervolume', 1, 3)}; hybrid winner beats every baseline at equal or lower "
        f"latency: {sum(row.beats_all for row in hybrid)}/{len(hybrid)} seeds"
    )


def header(
    args: argparse.Namespace,
    setup: Setup,
    summary: Summary,
    load: float,
    seconds: float,
) -> list[str]:
    """Command, versions, device and load, space, budget and metric settings."""
    target, budget, spec = setup.target, setup.budget, setup.graph.space.search
    shapes = ", ".join("x".join(map(str, shape)) for shape in target.shapes)
    quick = " (--quick: tiny target shape and proxy)" if args.quick else ""
    lines = [
        f"command: {setup.command}",
        f"versions: Python {platform.python_version()}, mixsearch {mixsearch.__version__}, "
        f"torch {torch.__version__}, optuna {optuna.__version__}",
        f"device: {torch_device(target)} ({fingerprint(target)['device']}), {torch.get_num_threads()} torch "
        f"thread(s) training, {measurement_threads(target)} measuring; 1-min load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; {seconds:.0f} s in all",
        f"space: {args.space.name}{quick}, {setup.graph.size:,} architectures, shapes {shapes} (latency summed); "
        "one latency table for every run, measured first",
        f"budget: {budget.name}, {budget.trials} trials x {budget.trial_epochs} epochs from scratch (hybrid: "
        f"{budget.finetune_epochs} fine-tuning), DARTS {budget.darts_epochs} epochs, {budget.finalists} "
        f"finalist(s) and the baselines retrained {budget.final_epochs} epochs, images capped at "
        f"{budget.train_images} train / {budget.eval_images} eval",
        f"search: {', '.join(setup.strategies)}; sampler {spec.sampler}, hybrid keeps {spec.keep} options per "
        f"choice; seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; search s = the DARTS and trials stages",
        f"hypervolume: retrained finalists and winner, (1 - test acc, measured ms) minimised, reference (1, "
        f"{summary.reference_ms:.3f} ms), as a share of the box; baseline beaten: higher test acc at most "
        f"{LATENCY_TOLERANCE:.0%} slower",
    ]
    lines += [
        f"equal time, seed {share.seed}: hybrid's DARTS + trials {share.hybrid_seconds:.0f} s / "
        f"{share.trial_seconds:.2f} s per random trial = {share.trials} trials for random and optuna"
        for share in summary.equal_time
    ]
    return lines


def tables(summary: Summary, strategies: tuple[str, ...]) -> list[Part]:
    """(title, columns, rows) of the three tables."""
    return [
        ("mean ± std over seeds", SUMMARY_COLUMNS, summary_rows(summary, strategies)),
        ("per seed", SEED_COLUMNS, seed_rows(summary)),
        (
            "baselines (trained once per seed, shared by its runs)",
            BASELINE_COLUMNS,
            baseline_rows(summary),
        ),
    ]


def markdown_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, text columns left-aligned and numbers right-aligned."""
    out = ["| " + " | ".join(columns) + " |"]
    out.append("|" + "|".join("---" if c in LEFT else "---:" for c in columns) + "|")
    out += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
        for row in rows
    ]
    return out


def print_markdown(lines: list[str], parts: list[Part], goal: str) -> None:
    """Header, tables and goal as Markdown (for the README)."""
    command = lines[0].removeprefix("command: ")
    out = [f"command: `{command}`  "] + [line + "  " for line in lines[1:]]
    for title, columns, rows in parts:
        out += ["", f"{title}:", ""] + markdown_table(columns, rows)
    print("\n".join(out + ["", goal]))


def print_rich(lines: list[str], parts: list[Part], goal: str) -> None:
    """Header, tables and goal as rich tables (for people)."""
    console = Console() if Console().is_terminal else Console(width=200)
    for line in lines:
        console.print(line, markup=False, highlight=False)
    for title, columns, rows in parts:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(
                column, justify="left" if column in LEFT else "right", overflow="fold"
            )
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(goal, markup=False, highlight=False)


def run_benchmark(
    args: argparse.Namespace, command: str, scratch: Path
) -> tuple[Setup, Summary]:
    """Build the shared latency table, search every seed with every strategy, summarise."""
    space = quick_space(args.space, scratch) if args.quick else args.space
    graph = compile_space(load_space(space))
    target = make_target(graph, args.threads)
    setup = Setup(
        graph,
        target,
        budget_of(args),
        args.strategies,
        args.equal_time,
        scratch,
        scratch / "latency.json",
        command,
    )
    profiled_table(graph, target, setup.table_path, progress=False)
    results, shares = [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs, share = seed_runs(setup, seed)
        results.append(runs)
        shares += [share] if share is not None else []
    return setup, summarise(results, shares, args.reference_ms)


def main(argv: Sequence[str] | None = None) -> Summary:
    """Run the comparison, print the tables, return the summary."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/search_quality.py", *argv])
    load, start = os.getloadavg()[0], time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, fixed_threads(args.threads):
        setup, summary = run_benchmark(args, command, Path(scratch))
        lines = header(args, setup, summary, load, time.perf_counter() - start)
    goal = goal_line(summary)
    parts = tables(summary, args.strategies)
    (print_markdown if args.markdown else print_rich)(lines, parts, goal)
    return summary


if __name__ == "__main__":
    main()
