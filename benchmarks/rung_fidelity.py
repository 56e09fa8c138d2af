"""Rung fidelity: how well does a module's score at an epoch of the final schedule predict its final accuracy?

A trial trains with the final recipe (its epochs and learning-rate curve, the run's first final seed) and is
scored at a rung epoch; only the promoted candidates train on. This measures where the rung should be and how
many to promote: every distinct module of the space (and every hand-designed baseline) is trained with the
final recipe and `--seeds` final seeds, side by side on the CPU's cores, recording the validation score after
each epoch. The reference is each module's final test accuracy, averaged over the seeds.

Printed per epoch, over the seeds (mean ± std): Spearman of the epoch's validation scores (one seed, as a trial
sees them) against the reference, for the baselines and for all modules; and how often the reference's best
module is among the top k at that epoch (k = 1, 2, 3), which is what promoting k candidates keeps.

    python benchmarks/rung_fidelity.py --scratch /work/rung-scratch --markdown     # tiny_exhaustive, quick, 4 seeds

Finished trainings are kept in `--scratch` (the trainings cache) and read back by a rerun, which trains only
what is missing; `--report` prints the tables of what is there without training.
"""

from __future__ import annotations

import argparse
import math
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from common import add_machine_arguments, module_label, print_markdown, print_rich
from mixsearch.arch import Arch, function_key
from mixsearch.hardware.device import device_name, torch_device
from mixsearch.proxy import TrainConfig, TrainResult, load_proxy_data
from mixsearch.search.engine.baselines import baseline_archs
from mixsearch.search.engine.evaluate import CandidateFailed, Evaluator, capped
from mixsearch.search.engine.evaluate import final_seeds as run_final_seeds
from mixsearch.search.engine.pool import (
    FINAL_THREADS,
    TrainingJob,
    TrainingPool,
    WorkerSetup,
    available_cores,
)
from mixsearch.search.engine.trainings import TrainingCache
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import BUDGETS, Budget, get_budget

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACE = ROOT / "search_spaces" / "tiny_exhaustive.yaml"
TOP_K = (1, 2, 3)


@dataclass(frozen=True)
class Module:
    """One distinct module: its label, architecture, whether it is a hand-designed baseline, and its trainings
    (one per seed, in seed order)."""

    label: str
    arch: Arch
    baseline: bool
    results: tuple[TrainResult, ...]

    @property
    def reference(self) -> float:
        return statistics.fmean(result.test_acc for result in self.results)


def modules_of(graph: SpaceGraph) -> dict[str, tuple[str, Arch, bool]]:
    """Every distinct function of the space and every baseline: function key -> (label, arch, is a baseline)."""
    modules = {
        function_key(arch): (name, arch, True)
        for name, arch in baseline_archs().items()
    }
    for arch in graph.enumerate():
        modules.setdefault(function_key(arch), (module_label(arch), arch, False))
    return modules


def train_all(
    args: argparse.Namespace, graph: SpaceGraph, budget: Budget
) -> list[Module]:
    """Each module trained with every seed (the cache's trainings read back); `--report` trains nothing."""
    data = capped(load_proxy_data(graph.space.proxy, args.seed), budget)
    seeds = run_final_seeds(args.seed, args.seeds)
    device = torch_device(graph.space.target)
    recipe = TrainConfig(seed=seeds[0], device=str(device))
    cache = TrainingCache(
        args.scratch / "trainings", data, recipe, graph.space.target, FINAL_THREADS
    )
    epochs = budget.final_epochs
    modules = modules_of(graph)
    results: dict[tuple[str, int], TrainResult] = {}
    jobs = []
    for key, (_, arch, _) in modules.items():
        for seed in seeds:
            cached = cache.get(arch, epochs, seed)
            if cached is not None:
                results[key, seed] = cached
            elif not args.report:
                jobs.append(TrainingJob(key, arch, seed))
    setup = WorkerSetup(graph.space.proxy, args.seed, budget, recipe)
    workers = args.workers or available_cores()
    with TrainingPool(Evaluator(data, recipe), setup, workers) as pool:
        for done, (job, outcome) in enumerate(pool.run(jobs, epochs), 1):
            if isinstance(outcome, CandidateFailed):
                raise SystemExit(f"{modules[job.label][0]} failed: {outcome}")
            cache.put(job.arch, job.seed, outcome)
            results[job.label, job.seed] = outcome
            print(
                f"{done}/{len(jobs)}: {modules[job.label][0]} seed {seeds.index(job.seed) + 1}: "
                f"test {outcome.test_acc:.2%}",
                file=sys.stderr,
            )
    complete = [key for key in modules if all((key, seed) in results for seed in seeds)]
    return [
        Module(
            modules[key][0],
            modules[key][1],
            modules[key][2],
            tuple(results[key, seed] for seed in seeds),
        )
        for key in complete
    ]


def spearman_at(modules: Sequence[Module], epoch: int, seed: int) -> float:
    """Spearman of one seed's validation scores after `epoch` against the modules' references."""
    scores = [module.results[seed].val_curve[epoch - 1] for module in modules]
    return float(spearmanr(scores, [module.reference for module in modules])[0])


def best_kept(modules: Sequence[Module], epoch: int, seed: int, k: int) -> bool:
    """Whether the module with the best reference is among the top `k` at `epoch` for one seed."""
    best = max(modules, key=lambda module: module.reference)
    ranked = sorted(
        modules, key=lambda module: -module.results[seed].val_curve[epoch - 1]
    )
    return best in ranked[:k]


def mean_std(values: list[float]) -> str:
    """Mean ± std over the seeds; a seed whose scores all tie (no Spearman) is left out."""
    defined = np.array([value for value in values if not math.isnan(value)])
    if len(defined) < 2:
        return "–"
    return f"{defined.mean():.2f} ± {defined.std(ddof=1):.2f}"


def fidelity_rows(modules: list[Module], epochs: int, seeds: int) -> list[list[str]]:
    """Per epoch: Spearman with the reference (baselines; all modules) and how often the best is kept."""
    baselines = [module for module in modules if module.baseline]
    rows = []
    for epoch in range(1, epochs + 1):
        row = [str(epoch)]
        for group in (baselines, modules):
            row.append(
                mean_std([spearman_at(group, epoch, s) for s in range(seeds)])
                if len(group) > 2
                else "–"
            )
        for k in TOP_K:
            kept = [best_kept(modules, epoch, s, k) for s in range(seeds)]
            row.append(f"{sum(kept)}/{seeds}")
        rows.append(row)
    return rows


def module_rows(modules: list[Module], epochs: int) -> list[list[str]]:
    """Each module, best reference first: its reference and its mean validation score per epoch."""
    rows = []
    for module in sorted(modules, key=lambda m: -m.reference):
        curve = [
            statistics.fmean(result.val_curve[e] for result in module.results)
            for e in range(epochs)
        ]
        name = f"{module.label} (baseline)" if module.baseline else module.label
        rows.append(
            [name, f"{100 * module.reference:.2f}", *(f"{100 * v:.1f}" for v in curve)]
        )
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=DEFAULT_SPACE)
    parser.add_argument("--budget", choices=list(BUDGETS), default="quick")
    parser.add_argument(
        "--seeds", type=int, default=4, help="final seeds per module (default 4)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the run seed they derive from"
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        required=True,
        help="folder of the finished trainings (resumable)",
    )
    parser.add_argument(
        "--workers", type=int, help="training processes (default: one per core)"
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="print what the scratch folder holds, training nothing",
    )
    parser.add_argument("--markdown", action="store_true")
    add_machine_arguments(parser)
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds: at least 2, so that the spread over seeds is defined")
    return args


def main(argv: Sequence[str] | None = None) -> list[Module]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    graph = compile_space(load_space(args.space))
    budget = get_budget(args.budget)
    started = time.perf_counter()
    modules = train_all(args, graph, budget)
    if len(modules) < 3:
        raise SystemExit(f"{len(modules)} modules trained with every seed: too few")
    epochs = budget.final_epochs
    seconds = sum(r.seconds for m in modules for r in m.results)
    parts = [
        (
            f"Rung fidelity on {graph.space.name}: {len(modules)} modules "
            f"({sum(m.baseline for m in modules)} baselines), {args.seeds} seeds, "
            f"the {budget.name} final recipe ({epochs} epochs)",
            [
                "epoch",
                "Spearman, baselines",
                "Spearman, all modules",
                *(f"best in top {k}" for k in TOP_K),
            ],
            fidelity_rows(modules, epochs, args.seeds),
        ),
        (
            "Each module: final test accuracy (mean over seeds) and validation accuracy per epoch (mean), %",
            ["module", "final test", *(str(e) for e in range(1, epochs + 1))],
            module_rows(modules, epochs),
        ),
    ]
    lines = [
        f"command: python benchmarks/rung_fidelity.py {shlex.join(sys.argv[1:] if argv is None else argv)}",
        f"device: {device_name(torch_device(graph.space.target))}; {seconds / 3600:.2f} h of training "
        f"in the scratch folder; this call took {time.perf_counter() - started:.0f} s",
    ]
    show = print_markdown if args.markdown else print_rich
    show(lines, parts, left={"module"})
    return modules


if __name__ == "__main__":
    main()
