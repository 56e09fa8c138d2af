"""Search quality: does each strategy find a module at least as good as the hand-designed ones, and the best one?

For each seed, every strategy runs `mixsearch.search.run.run_search` in-process into a fresh temporary run folder
at the same named budget. All runs share one latency table per space (measured first) and one cache of
from-scratch trainings (`mixsearch.search.engine.trainings`, in the benchmark's scratch folder), so a seed's
baselines are trained once and every strategy of that seed is judged against the same accuracies. The spaces hold the
hand-designed modules (none, SE, ECA, CBAM, coordinate attention), which every strategy puts into its study first.

Measured per run, from the `SearchResult` (accuracies are means over the budget's final seeds):
- winner test acc: the winner (the best mean validation accuracy after retraining, among the finalists and the
  in-space ablations of the best one) on the test split;
- hypervolume: of the retrained finalists' and the winner's (1 - test accuracy, measured latency), both minimised,
  as a share of the box up to (1, `--reference-ms` or 1.1 x the largest of them);
- dominance: for every baseline B, the run's retrained front (its finalists, winner and in-space ablations, and
  the baselines that were trials on its Pareto front) holds a module with latency <= 1.1 x B's and mean test
  accuracy >= B's minus one standard error (B's over the final seeds);
- search s: the DARTS and trials stages' seconds; "vs random": over random's, same seed;
- the winner against the seed's most accurate baseline: the same module, or beats / ties / worse as the run's report
  words it (paired per-seed test accuracies, `mixsearch.search.final.compare`), at what ratio of its latency.

Then three goals: dominance on every seed (hybrid); hybrid against random at equal compute (`--equal-time` gives
random and optuna as many trials as fit in hybrid's search seconds): a higher mean hypervolume, and a winner
accuracy not lower than random's by more than one standard error of their paired per-seed difference; and regret:
every architecture of `--regret-space` (search_spaces/tiny_exhaustive.yaml) trained with the final recipe and two
seeds gives the true best, and each strategy searches that space for `--regret-seeds` seeds; regret is the true best
minus the true accuracy of its winner (points; goal for hybrid: a mean under 1), with the winner's rank.

    python benchmarks/search_quality.py --markdown --equal-time    # default space, quick, 6 seeds, all strategies
    python benchmarks/search_quality.py --quick                    # tiny budget, shapes and proxy: a smoke test
    python benchmarks/search_quality.py --seeds 3 --regret-seeds 0 # fewer seeds, no regret part
    python benchmarks/search_quality.py --first-seed 3 --seeds 3   # more seeds for an earlier run
    python benchmarks/search_quality.py --scratch runs/sq           # keep the runs; rerun to resume
    python benchmarks/search_quality.py --scratch runs/sq --report --seeds 2   # tables of the runs finished so far

Progress lines go to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import filelock
import optuna
import torch
import yaml

import mixsearch
from common import Part, module_label, print_markdown, print_rich
from mixsearch.arch import Arch, function_key
from mixsearch.hardware.device import measurement_threads, torch_device
from mixsearch.hardware.latency import fixed_threads
from mixsearch.hardware.lut import fingerprint
from mixsearch.hardware.predictor import profiled_table
from mixsearch.search.engine.context import RunOptions
from mixsearch.search.engine.evaluate import CandidateFailed
from mixsearch.search.engine.pool import TrainingJob, TrainingPool, available_cores
from mixsearch.search.outcome.result import (
    RESULT_FILE,
    SearchResult,
    Trained,
    standard_error,
)
from mixsearch.search.outcome.verdicts import compare
from mixsearch.search.run import run_context, run_search
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import BUDGETS, Budget, Target, get_budget

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACE = ROOT / "search_spaces" / "default.yaml"
REGRET_SPACE = ROOT / "search_spaces" / "tiny_exhaustive.yaml"
# Run and table order: hybrid first, since --equal-time sizes random and optuna from it.
STRATEGIES = ("hybrid", "random", "optuna", "darts")
SEARCH_STAGES = ("DARTS", "trials")
REFERENCE_MARGIN = 1.1
LATENCY_TOLERANCE = 0.10
TRUTH_SEEDS = 2
DEFAULTS = {"seeds": 6, "budget": "quick", "regret_seeds": 3}
QUICK_DEFAULTS = {"seeds": 1, "budget": "tiny", "threads": 1, "regret_seeds": 1}
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
    """What every run of one space shares."""

    graph: SpaceGraph
    target: Target
    budget: Budget
    strategies: tuple[str, ...]
    equal_time: bool
    scratch: Path
    table_path: Path
    command: str
    report_only: bool  # --report: read finished runs back, never train


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
    """One run's numbers (accuracies 0..1, means over the final seeds)."""

    seed: int
    strategy: str
    trials: int | None  # None: darts (one derived architecture)
    winner_test_acc: float
    winner_se: float | None
    hypervolume: float
    search_seconds: float
    run_seconds: float  # every stage, final trainings included (the first run of a seed trains the baselines)
    vs_random: float | None
    winner_latency_ms: float
    # the baselines no retrained module of the run matches (see the docstring)
    undominated: tuple[str, ...]
    winner: str
    winner_key: str  # what the winner computes (`function_key`), to look it up in the exhaustive table
    # each baseline's trial score (validation accuracy) in this run
    baseline_scores: dict[str, float]
    baselines_on_front: tuple[str, ...]  # the baselines on the run's trial Pareto front
    vs_best_baseline: str  # the winner against the seed's most accurate baseline: "same" or compare's verdict
    best_baseline: str
    best_baseline_ratio: float  # the winner's measured latency over that baseline's

    @property
    def dominates(self) -> bool:
        return not self.undominated


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


@dataclass(frozen=True)
class Regret:
    """The exhaustive table of the regret space, and each regret run's winner in it."""

    space: str
    # function key -> (label, mean test accuracy over TRUTH_SEEDS)
    truth: dict[str, tuple[str, float]]
    summary: Summary

    @property
    def best(self) -> float:
        return max(accuracy for _, accuracy in self.truth.values())

    def regret(self, row: Row) -> float:
        return self.best - self.truth[row.winner_key][1]

    def rank(self, row: Row) -> int:
        accuracy = self.truth[row.winner_key][1]
        return 1 + sum(other > accuracy for _, other in self.truth.values())


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, with --quick's or the full run's defaults filled in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=DEFAULT_SPACE)
    parser.add_argument("--seeds", type=int, help="how many seeds (default 6)")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds FIRST.. (default 0)"
    )
    parser.add_argument(
        "--budget", choices=BUDGETS, help="named budget (default quick)"
    )
    parser.add_argument("--trials", type=int, help="override the budget's trials")
    parser.add_argument("--finalists", type=int, help="override the budget's finalists")
    parser.add_argument(
        "--strategies",
        default=",".join(STRATEGIES),
        help="comma-separated (default: all four)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument(
        "--equal-time",
        action="store_true",
        help="random and optuna get as many trials as fit in hybrid's search seconds",
    )
    parser.add_argument(
        "--reference-ms", type=float, help="the hypervolume's reference latency"
    )
    parser.add_argument("--regret-space", type=Path, default=REGRET_SPACE)
    parser.add_argument(
        "--regret-seeds",
        type=int,
        help="seeds of the regret runs (default 3; 0: no regret part)",
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown")
    parser.add_argument(
        "--scratch",
        type=Path,
        help="keep the run folders and trainings here (default: a temporary folder); the same command with "
        "the same folder resumes an interrupted benchmark: finished runs are read back, the one cut short runs "
        "again (trainings cached)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="with --scratch: print the tables of runs that have finished there (while a benchmark runs, too) "
        "and train nothing",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny budget, 1 seed, tiny shapes and proxy (smoke test)",
    )
    args = parser.parse_args(argv)
    for key, value in (QUICK_DEFAULTS if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    names = [name for name in args.strategies.split(",") if name]
    if not names or any(name not in STRATEGIES for name in names):
        parser.error(f"--strategies: choose among {', '.join(STRATEGIES)}")
    args.strategies = tuple(name for name in STRATEGIES if name in names)
    if args.equal_time and not {"hybrid", "random"} <= set(args.strategies):
        parser.error("--equal-time needs the hybrid and random strategies")
    if args.first_seed < 0 or args.regret_seeds < 0:
        parser.error("--first-seed and --regret-seeds must be >= 0")
    counts = (args.trials, args.finalists, args.threads)
    if args.seeds < 1 or any(count is not None and count < 1 for count in counts):
        parser.error("--seeds, --trials, --finalists and --threads must be >= 1")
    if args.reference_ms is not None and not args.reference_ms > 0:
        parser.error("--reference-ms must be > 0")
    if args.report and args.scratch is None:
        parser.error("--report reads the runs of a --scratch folder")
    return args


@contextlib.contextmanager
def sole_run(scratch: Path) -> Iterator[None]:
    """Hold the scratch folder's lock: a second benchmark there would discard the runs the first is writing."""
    lock = filelock.FileLock(scratch / "benchmark.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise SystemExit(
            f"{scratch} is in use by another search_quality run; wait for it to end, or add --report to "
            "print the runs it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def budget_of(args: argparse.Namespace) -> Budget:
    """The named budget with the command line's trial and finalist counts."""
    budget = get_budget(args.budget, args.trials)
    return (
        budget if args.finalists is None else replace(budget, finalists=args.finalists)
    )


def load_graph(space: Path, args: argparse.Namespace, scratch: Path) -> SpaceGraph:
    """The space, with a tiny target shape and a small proxy task under --quick."""
    if args.quick:
        data = yaml.safe_load(space.read_text())
        data.update(QUICK_SETTINGS)
        space = scratch / space.name
        space.write_text(yaml.safe_dump(data, sort_keys=False))
    return compile_space(load_space(space))


def make_setup(
    graph: SpaceGraph, args: argparse.Namespace, scratch: Path, command: str
) -> Setup:
    """One space's shared settings; its latency table is measured here, once."""
    target = graph.space.target
    target = target if args.threads is None else replace(target, threads=args.threads)
    scratch.mkdir(parents=True, exist_ok=True)
    setup = Setup(
        graph,
        target,
        budget_of(args),
        args.strategies,
        args.equal_time,
        scratch,
        scratch / "latency.json",
        command,
        args.report,
    )
    profiled_table(graph, target, setup.table_path, progress=False)
    return setup


def options_for(setup: Setup, strategy: str, seed: int, budget: Budget) -> RunOptions:
    spec = setup.graph.space.search
    return RunOptions(
        strategy=strategy,
        sampler=spec.sampler,
        budget=budget,
        objectives=spec.objectives,
        keep=spec.keep,
        seed=seed,
        table_path=setup.table_path,
        cache_dir=setup.scratch.parent / "trainings",
        command=setup.command,
        show_progress=False,
    )


def search(setup: Setup, strategy: str, seed: int, budget: Budget) -> SearchResult:
    """One `run_search` into a fresh folder, sharing the latency table and the from-scratch trainings.

    A run that finished in an earlier invocation (same --scratch) is read back from its `search.json`; one cut
    short is discarded and run again from its start, so that its stage seconds (which --equal-time sizes trial
    counts from) are one uninterrupted measurement."""
    run_dir = setup.scratch / f"seed{seed}-{strategy}-{budget.trials}"
    if (run_dir / RESULT_FILE).is_file():
        return SearchResult.load(run_dir)
    if setup.report_only:
        raise SystemExit(
            f"{run_dir} has not finished: --report prints finished runs only (choose --seeds accordingly)"
        )
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    name = setup.graph.space.name

    def report(line: str) -> None:
        print(f"{name} seed {seed} {strategy}: {line}", file=sys.stderr)

    options = options_for(setup, strategy, seed, budget)
    result = run_search(setup.graph, setup.target, options, run_dir, report)
    result.save(run_dir)
    return result


def search_seconds(result: SearchResult) -> float:
    """The compute a strategy spends choosing its finalists: its DARTS and trials stages."""
    return sum(result.stage_seconds.get(stage, 0.0) for stage in SEARCH_STAGES)


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
    random = runs["random"]
    per_trial = random.stage_seconds["trials"] / random.budget["trials"]
    share = EqualTime(seed, search_seconds(runs["hybrid"]), per_trial)
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


def retrained_front(result: SearchResult, graph: SpaceGraph) -> list[Trained]:
    """What the run retrained of the points it found: the finalists, the winner, the ablations the space holds,
    and the baselines that were trials on its Pareto front (their retraining is the baseline's). A baseline the
    trial front dropped, outscored there by a module that then retrains worse, is not among them.
    """
    on_front = baselines_on_front(result)
    return [
        *result.finalists,
        result.winner,
        *(item for item in result.ablation if graph.contains(item.arch)),
        *(item for item in result.baselines if item.label in on_front),
    ]


def baselines_on_front(result: SearchResult) -> tuple[str, ...]:
    """The baselines whose trials are on the run's Pareto front of trial scores and predicted latency."""
    return tuple(
        t.baseline for t in result.trials if t.baseline and t.number in result.pareto
    )


def undominated(result: SearchResult, graph: SpaceGraph) -> tuple[str, ...]:
    """The baselines no module of the retrained front matches: latency within 10% of the baseline's and mean
    test accuracy at least the baseline's minus its standard error."""
    modules = retrained_front(result, graph)
    missed = []
    for baseline in result.baselines:
        floor = baseline.test_acc - (baseline.test_se or 0.0)
        ceiling = baseline.latency_ms * (1 + LATENCY_TOLERANCE)
        if not any(m.latency_ms <= ceiling and m.test_acc >= floor for m in modules):
            missed.append(baseline.label)
    return tuple(missed)


def make_row(
    result: SearchResult,
    random: SearchResult | None,
    reference_ms: float,
    graph: SpaceGraph,
) -> Row:
    """One run's numbers; `random` is the same seed's random run, if there is one."""
    seconds = search_seconds(result)
    best = max(result.baselines, key=lambda item: item.test_acc)
    comparison = compare(result.winner, best)
    same = function_key(result.winner.arch) == function_key(best.arch)
    area = hypervolume(retrained_points(result), (1.0, reference_ms)) / reference_ms
    return Row(
        seed=result.seed,
        strategy=result.strategy,
        trials=None if result.strategy == "darts" else result.budget["trials"],
        winner_test_acc=result.winner.test_acc,
        winner_se=result.winner.test_se,
        hypervolume=area,
        search_seconds=seconds,
        run_seconds=sum(result.stage_seconds.values()),
        vs_random=seconds / search_seconds(random) if random is not None else None,
        winner_latency_ms=result.winner.latency_ms,
        undominated=undominated(result, graph),
        winner=module_label(result.winner.arch),
        winner_key=function_key(result.winner.arch),
        baseline_scores={
            t.baseline: t.values["accuracy"]
            for t in result.trials
            if t.baseline and t.state == "complete"
        },
        baselines_on_front=baselines_on_front(result),
        vs_best_baseline="same" if same else comparison.verdict,
        best_baseline=best.label,
        best_baseline_ratio=comparison.latency_ratio,
    )


def summarise(
    results: list[dict[str, SearchResult]],
    shares: list[EqualTime],
    graph: SpaceGraph,
    reference_ms: float | None = None,
) -> Summary:
    """Rows for every run, with one hypervolume reference point for the whole space (`reference_ms`, else
    REFERENCE_MARGIN x the largest retrained latency)."""
    if reference_ms is None:
        latencies = [
            y for runs in results for r in runs.values() for _, y in retrained_points(r)
        ]
        reference_ms = REFERENCE_MARGIN * max(latencies)
    rows = [
        make_row(runs[strategy], runs.get("random"), reference_ms, graph)
        for runs in results
        for strategy in STRATEGIES
        if strategy in runs
    ]
    baselines = tuple(next(iter(runs.values())).baselines for runs in results)
    return Summary(tuple(rows), baselines, tuple(shares), reference_ms)


def run_space(setup: Setup, seeds: range, reference_ms: float | None) -> Summary:
    results, shares = [], []
    for seed in seeds:
        runs, share = seed_runs(setup, seed)
        results.append(runs)
        shares += [share] if share is not None else []
    return summarise(results, shares, setup.graph, reference_ms)


def exhaustive_truth(setup: Setup) -> dict[str, tuple[str, float]]:
    """Every distinct module of the space trained with the final recipe and TRUTH_SEEDS seeds, side by side on
    the CPU's cores: function key -> (a label, mean test accuracy)."""
    options = options_for(
        setup, "random", 0, replace(setup.budget, final_seeds=TRUTH_SEEDS)
    )
    ctx = run_context(setup.graph, setup.target, options, setup.scratch / "truth")
    modules: dict[str, tuple[str, Arch]] = {}
    for arch in setup.graph.enumerate():
        modules.setdefault(function_key(arch), (module_label(arch), arch))
    epochs = setup.budget.final_epochs
    accuracies: dict[tuple[str, int], float] = {}
    jobs = []
    for key, (_, arch) in modules.items():
        for seed in ctx.final_seeds:
            cached = ctx.trainings.get(arch, epochs, seed)
            if cached is None and setup.report_only:
                raise SystemExit(
                    "--report: the exhaustive trainings have not finished (or ran with another mixsearch source)"
                )
            if cached is None:
                jobs.append(TrainingJob(key, arch, seed))
            else:
                accuracies[key, seed] = cached.test_acc
    workers = 1 if setup.budget.final_workers == 1 else available_cores()
    with TrainingPool(ctx.final_evaluator, ctx.workers, workers) as pool:
        for done, (job, outcome) in enumerate(pool.run(jobs, epochs), 1):
            if isinstance(outcome, CandidateFailed):
                raise SystemExit(
                    f"{modules[job.label][0]} failed in the exhaustive training: {outcome}"
                )
            ctx.trainings.put(job.arch, job.seed, outcome)
            accuracies[job.label, job.seed] = outcome.test_acc
            print(
                f"exhaustive {done}/{len(jobs)}: {modules[job.label][0]} {outcome.test_acc:.2%}",
                file=sys.stderr,
            )
    return {
        key: (
            label,
            statistics.fmean(accuracies[key, seed] for seed in ctx.final_seeds),
        )
        for key, (label, _) in modules.items()
    }


def mean_std(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """ "mean ± std" of `values` times `scale` (std 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.mean(values):.{digits}f} ± {scale * std:.{digits}f}"


def mean_se(values: list[float], scale: float = 100.0) -> str:
    se = standard_error(values)
    return f"{scale * statistics.mean(values):+.2f}" + (
        f" ± {scale * se:.2f}" if se is not None else ""
    )


SUMMARY_COLUMNS = [
    "strategy",
    "trials",
    "winner test acc %",
    "hypervolume",
    "search s",
    "vs random",
    "dominates every baseline",
    "vs the best baseline: same/beats/ties/worse",
]
SEED_COLUMNS = [
    "seed",
    "strategy",
    "trials",
    "winner test acc % (± s.e.)",
    "hypervolume",
    "search s",
    "run s",
    "winner ms",
    "baselines not matched",
    "vs the best baseline",
    "winner",
]
BASELINE_COLUMNS = [
    "baseline",
    "test acc % (mean ± std over run seeds)",
    "latency ms (mean)",
    "trial score %, hybrid (fine-tuned)",
    "trial score %, random (from scratch)",
    "on hybrid's trial front (seeds)",
]
PAIRED_COLUMNS = [
    "strategy",
    "winner − random's, points (mean ± s.e. over seeds)",
    "per seed",
]
REGRET_COLUMNS = [
    "strategy",
    "seeds",
    "regret, points (mean ± std)",
    "winner's rank",
    "winners",
]
VERDICTS = ("same", "beats", "ties", "worse")
LEFT = {
    "strategy",
    "baselines not matched",
    "vs the best baseline",
    "winner",
    "baseline",
    "per seed",
    "winners",
    "module",
}


def trials_text(rows: list[Row]) -> str:
    counts = sorted({row.trials for row in rows}, key=str)
    return "-" if counts == [None] else "/".join(map(str, counts))


def ratio_text(values: list[float | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{statistics.mean(known):.2f}" if known else "-"


def summary_rows(summary: Summary, strategies: tuple[str, ...]) -> list[list[str]]:
    table = []
    for strategy in strategies:
        rows = summary.of(strategy)
        table.append(
            [
                strategy,
                trials_text(rows),
                mean_std([r.winner_test_acc for r in rows], 100),
                mean_std([r.hypervolume for r in rows], digits=3),
                mean_std([r.search_seconds for r in rows], digits=0),
                ratio_text([r.vs_random for r in rows]),
                f"{sum(r.dominates for r in rows)}/{len(rows)}",
                "/".join(
                    str(sum(r.vs_best_baseline == verdict for r in rows))
                    for verdict in VERDICTS
                ),
            ]
        )
    return table


def versus_text(row: Row) -> str:
    """`is eca`, or `ties with eca at 13.2x its latency` (the winner against the seed's most accurate baseline)."""
    if row.vs_best_baseline == "same":
        return f"is {row.best_baseline}"
    verb = {"beats": "beats", "ties": "ties with", "worse": "worse than"}
    ratio = row.best_baseline_ratio
    times = f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"
    verdict = verb.get(row.vs_best_baseline, row.vs_best_baseline)
    return f"{verdict} {row.best_baseline} at {times} its latency"


def seed_rows(summary: Summary) -> list[list[str]]:
    return [
        [
            str(row.seed),
            row.strategy,
            trials_text([row]),
            f"{100 * row.winner_test_acc:.2f}"
            + (f" ± {100 * row.winner_se:.2f}" if row.winner_se is not None else ""),
            f"{row.hypervolume:.3f}",
            f"{row.search_seconds:.0f}",
            f"{row.run_seconds:.0f}",
            f"{row.winner_latency_ms:.3f}",
            ", ".join(row.undominated) or "none",
            versus_text(row),
            row.winner,
        ]
        for row in summary.rows
    ]


def trial_scores(summary: Summary, strategy: str, name: str) -> str:
    """A baseline's trial score in the strategy's runs (mean ± std over seeds), "-" where it was no trial."""
    scores = [
        row.baseline_scores[name]
        for row in summary.of(strategy)
        if name in row.baseline_scores
    ]
    return mean_std(scores, 100) if scores else "-"


def baseline_rows(summary: Summary) -> list[list[str]]:
    """Each baseline retrained (what it is worth) beside its trial scores (what the search saw of it)."""
    names = [item.label for item in summary.baselines[0]]
    hybrid = summary.of("hybrid")
    table = []
    for name in names:
        runs = [
            item for seed in summary.baselines for item in seed if item.label == name
        ]
        on_front = sum(name in row.baselines_on_front for row in hybrid)
        table.append(
            [
                name,
                mean_std([item.test_acc for item in runs], 100),
                f"{statistics.mean(item.latency_ms for item in runs):.3f}",
                trial_scores(summary, "hybrid", name),
                trial_scores(summary, "random", name),
                f"{on_front}/{len(hybrid)}" if hybrid else "-",
            ]
        )
    return table


def paired(summary: Summary, strategy: str) -> list[float]:
    """The strategy's winner test accuracy minus random's, seed by seed."""
    random = {row.seed: row for row in summary.of("random")}
    return [
        row.winner_test_acc - random[row.seed].winner_test_acc
        for row in summary.of(strategy)
    ]


def paired_rows(summary: Summary, strategies: tuple[str, ...]) -> list[list[str]]:
    return [
        [
            strategy,
            mean_se(paired(summary, strategy)),
            ", ".join(f"{100 * d:+.2f}" for d in paired(summary, strategy)),
        ]
        for strategy in strategies
        if strategy != "random"
    ]


def regret_rows(regret: Regret, strategies: tuple[str, ...]) -> list[list[str]]:
    table = []
    for strategy in strategies:
        rows = regret.summary.of(strategy)
        table.append(
            [
                strategy,
                str(len(rows)),
                mean_std([regret.regret(row) for row in rows], 100),
                ", ".join(str(regret.rank(row)) for row in rows),
                "; ".join(regret.truth[row.winner_key][0] for row in rows),
            ]
        )
    return table


def truth_rows(regret: Regret, top: int = 5) -> list[list[str]]:
    ranked = sorted(regret.truth.values(), key=lambda item: -item[1])
    return [
        [str(i + 1), label, f"{100 * accuracy:.2f}"]
        for i, (label, accuracy) in enumerate(ranked[:top])
    ]


def goal_lines(summary: Summary, regret: Regret | None) -> list[str]:
    """The three restated goals, each met or missed and by how much."""
    lines = []
    hybrid = summary.of("hybrid")
    if hybrid:
        missed = [
            f"seed {r.seed}: {', '.join(r.undominated)}"
            for r in hybrid
            if not r.dominates
        ]
        lines.append(
            f"goal dominance (hybrid matches every baseline, every seed): "
            f"{'met' if not missed else 'missed'} ({len(hybrid) - len(missed)}/{len(hybrid)} seeds"
            + (f"; not matched: {'; '.join(missed)})" if missed else ")")
        )
    if hybrid and summary.of("random"):
        differences = paired(summary, "hybrid")
        se = standard_error(differences) or 0.0
        accuracy_met = statistics.mean(differences) >= -se
        hv = summary.mean("hybrid", "hypervolume"), summary.mean(
            "random", "hypervolume"
        )
        lines.append(
            f"goal hybrid vs random: hypervolume {'met' if hv[0] > hv[1] else 'missed'} ({hv[0]:.3f} vs "
            f"{hv[1]:.3f}); winner accuracy {'met' if accuracy_met else 'missed'} (hybrid − random "
            f"{mean_se(differences)} points; the goal allows down to −1 s.e.)"
        )
    if regret is not None and regret.summary.of("hybrid"):
        regrets = [regret.regret(row) for row in regret.summary.of("hybrid")]
        mean = 100 * statistics.mean(regrets)
        lines.append(
            f"goal regret (hybrid's mean under 1 point): {'met' if mean < 1 else 'missed'} ({mean:.2f} points)"
        )
    return lines


def header(
    args: argparse.Namespace,
    setup: Setup,
    summary: Summary,
    load: float,
    seconds: float,
) -> list[str]:
    target, budget, spec = setup.target, setup.budget, setup.graph.space.search
    shapes = ", ".join("x".join(map(str, shape)) for shape in target.shapes)
    quick = " (--quick: tiny target shape and proxy)" if args.quick else ""
    lines = [
        f"command: {setup.command}",
        f"versions: Python {platform.python_version()}, mixsearch {mixsearch.__version__}, "
        f"torch {torch.__version__}, optuna {optuna.__version__}",
        f"device: {torch_device(target)} ({fingerprint(target)['device']}), {torch.get_num_threads()} torch "
        f"thread(s) training trials, final trainings one thread each in {available_cores()} process(es), "
        f"{measurement_threads(target)} measuring; 1-min load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; {seconds:.0f} s in all",
        f"space: {args.space.name}{quick}, {setup.graph.size:,} choice combinations, shapes {shapes} (latency "
        "summed); one latency table per space, measured first",
        f"budget: {budget.name}, {budget.trials} trials (the baselines the space holds first), each the final "
        f"recipe's first seed scored at epoch {budget.rung_epoch} of {budget.final_epochs}, DARTS "
        f"{budget.darts_epochs} epochs, {budget.finalists} promoted, the baselines and the ablations trained "
        f"{budget.final_epochs} epochs with {budget.final_seeds} seed(s) each",
        f"search: {', '.join(setup.strategies)}; sampler {spec.sampler}, hybrid keeps {spec.keep} options per "
        f"choice; seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; search s = the DARTS and trials stages",
        f"hypervolume: retrained finalists and winner, (1 - test acc, measured ms) minimised, reference (1, "
        f"{summary.reference_ms:.3f} ms), as a share of the box",
    ]
    lines += [
        f"equal time, seed {share.seed}: hybrid's DARTS + trials {share.hybrid_seconds:.0f} s / "
        f"{share.trial_seconds:.2f} s per random trial = {share.trials} trials for random and optuna"
        for share in summary.equal_time
    ]
    return lines


def tables(
    summary: Summary, strategies: tuple[str, ...], regret: Regret | None
) -> list[Part]:
    parts = [
        ("mean ± std over seeds", SUMMARY_COLUMNS, summary_rows(summary, strategies)),
        ("per seed", SEED_COLUMNS, seed_rows(summary)),
        (
            "baselines (trained once per seed, shared by its runs)",
            BASELINE_COLUMNS,
            baseline_rows(summary),
        ),
    ]
    if summary.of("random") and len(strategies) > 1:
        parts.append(
            (
                "paired against random, same seeds",
                PAIRED_COLUMNS,
                paired_rows(summary, strategies),
            )
        )
    if regret is not None:
        parts += [
            (
                f"regret on {regret.space} (every module trained, {TRUTH_SEEDS} seeds): true best "
                f"{100 * regret.best:.2f}% of {len(regret.truth)} modules",
                REGRET_COLUMNS,
                regret_rows(regret, strategies),
            ),
            (
                "the exhaustive space's best modules",
                ["rank", "module", "test acc % (2 seeds)"],
                truth_rows(regret),
            ),
        ]
    return parts


def main(argv: Sequence[str] | None = None) -> tuple[Summary, Regret | None]:
    """Run the comparison (and the regret part), print the tables and goals, return the summaries."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/search_quality.py", *argv])
    load, start = os.getloadavg()[0], time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with contextlib.ExitStack() as stack:
        stack.enter_context(fixed_threads(args.threads))
        root = args.scratch or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        if not args.report:
            stack.enter_context(sole_run(root))
        setup = make_setup(
            load_graph(args.space, args, root), args, root / "main", command
        )
        summary = run_space(setup, seeds, args.reference_ms)
        regret = None
        if args.regret_seeds:
            tiny = make_setup(
                load_graph(args.regret_space, args, root),
                args,
                root / "regret",
                command,
            )
            truth = exhaustive_truth(tiny)
            runs = run_space(tiny, range(args.regret_seeds), None)
            regret = Regret(args.regret_space.name, truth, runs)
        lines = header(args, setup, summary, load, time.perf_counter() - start)
    goals = goal_lines(summary, regret)
    parts = tables(summary, args.strategies, regret)
    (print_markdown if args.markdown else print_rich)(lines, parts, LEFT, goals)
    return summary, regret


if __name__ == "__main__":
    main()
