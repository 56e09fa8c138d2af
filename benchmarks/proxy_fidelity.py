"""Proxy fidelity: which cheap trial score predicts how good a module is once trained longer?

A search ranks candidates by a cheap score: hybrid by the supernet's weights fine-tuned for the budget's
`--finetune-epochs` (the inherited score), optuna and random by a training from scratch of `--scratch-epochs`
(the trials before they became rungs of the final recipe: benchmarks/rung_fidelity.py measures those). Both
stand in for what the user wants: the module's accuracy once trained properly. For `--archs` architectures
drawn uniformly from the space (seeded), this measures both cheap scores (validation accuracy) and a reference:
a from-scratch training of `--reference-epochs` (default: the budget's final epochs) with the run's final seed,
which neither cheap score trains with, on the test split.

Printed: per architecture the three numbers, and per cheap score its Spearman and Kendall correlation with the
reference, the reference accuracy of the architecture it ranks first against the best one's (top-1 regret),
and its seconds per architecture. The supernet is hybrid's: the budget's DARTS stage, ranked by accuracy alone.

    python benchmarks/proxy_fidelity.py                              # default space, quick budget, 10 archs
    python benchmarks/proxy_fidelity.py --archs 6 --reference-epochs 12
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from scipy.stats import kendalltau, spearmanr

from mixsearch.arch import INPUT, Arch
from mixsearch.hardware.device import torch_device
from mixsearch.hardware.latency import fixed_threads
from mixsearch.search.darts.stage import darts_config, supernet_search
from mixsearch.search.engine.context import RunOptions
from mixsearch.search.run import run_context
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import BUDGETS, Budget, get_budget

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACE = ROOT / "search_spaces" / "default.yaml"
SCORES = ("inherited", "scratch")


@dataclass(frozen=True)
class Measured:
    """One architecture's cheap scores (validation accuracy), reference (test accuracy) and seconds per score."""

    arch: Arch
    scores: dict[str, float]
    seconds: dict[str, float]
    reference: float


@dataclass(frozen=True)
class Fidelity:
    """How well one cheap score ranks the architectures by their reference accuracy."""

    score: str
    spearman: float
    kendall: float
    top1_reference: float
    best_reference: float
    seconds: float


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--space", type=Path, default=DEFAULT_SPACE, help="default: default.yaml"
    )
    parser.add_argument(
        "--budget", choices=BUDGETS, default="quick", help="default: quick"
    )
    parser.add_argument(
        "--archs", type=int, default=10, help="architectures drawn (default 10)"
    )
    parser.add_argument(
        "--reference-epochs",
        type=int,
        help="epochs of the reference training (default: the budget's final epochs)",
    )
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=2,
        help="epochs the inherited score fine-tunes (default 2)",
    )
    parser.add_argument(
        "--scratch-epochs",
        type=int,
        default=3,
        help="epochs of the from-scratch score (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the run seed (default 0)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.archs < 3 or (args.reference_epochs or 1) < 1:
        parser.error("--archs must be >= 3 and --reference-epochs >= 1")
    return args


def measure(
    args: argparse.Namespace, graph: SpaceGraph, budget: Budget, scratch: Path
) -> list[Measured]:
    """Hybrid's supernet, then every drawn architecture's two cheap scores and its reference."""
    target, spec = graph.space.target, graph.space.search
    options = RunOptions(
        "hybrid",
        spec.sampler,
        budget,
        spec.objectives,
        seed=args.seed,
        table_path=scratch / "latency.json",
        show_progress=False,
    )
    ctx = run_context(graph, target, options, scratch / "run")
    config = darts_config(ctx.strategy, options, graph.space.constraints, ctx.device)
    search = supernet_search(ctx, config, scratch / "darts")
    search.run(show_progress=False)
    trial, reference = ctx.trial_evaluator, ctx.final_evaluator
    epochs = args.reference_epochs or budget.final_epochs
    rng = random.Random(args.seed)
    measured = []
    for index in range(args.archs):
        arch = graph.sample(rng)
        inherited = trial.inherited(arch, search.model, args.finetune_epochs)
        from_scratch = trial.from_scratch(arch, args.scratch_epochs)
        final = reference.from_scratch(arch, epochs)
        measured.append(
            Measured(
                arch,
                {"inherited": inherited.val_acc, "scratch": from_scratch.val_acc},
                {"inherited": inherited.seconds, "scratch": from_scratch.seconds},
                final.test_acc,
            )
        )
        print(
            f"arch {index + 1}/{args.archs}: inherited {inherited.val_acc:.2%}, scratch "
            f"{from_scratch.val_acc:.2%}, reference {final.test_acc:.2%}",
            file=sys.stderr,
        )
    return measured


def fidelity(measured: list[Measured], score: str) -> Fidelity:
    """Rank correlation of `score` with the reference, and the reference of its top-ranked architecture."""
    scores = [item.scores[score] for item in measured]
    references = [item.reference for item in measured]
    top = max(measured, key=lambda item: item.scores[score])
    return Fidelity(
        score,
        spearmanr(scores, references).statistic,
        kendalltau(scores, references).statistic,
        top.reference,
        max(references),
        statistics.mean(item.seconds[score] for item in measured),
    )


def arch_label(arch: Arch) -> str:
    """name=op per node, <inputs for a node reading more than the input, +res for a residual."""
    parts = []
    for node in arch.nodes:
        reads = "" if node.inputs == (INPUT,) else "<" + ",".join(node.inputs)
        parts.append(f"{node.name}={node.op}{'+res' if node.residual else ''}{reads}")
    return " ".join(parts)


def report(
    command: str,
    device: str,
    args: argparse.Namespace,
    budget: Budget,
    epochs: int,
    measured: list[Measured],
    load: float,
    seconds: float,
) -> list[str]:
    """Markdown: header, the per-architecture table and the fidelity table."""
    lines = [
        f"command: `{command}`  ",
        f"versions: Python {platform.python_version()}, torch {torch.__version__}  ",
        f"device: {device}, {torch.get_num_threads()} torch thread(s); 1-min load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; {seconds:.0f} s in all  ",
        f"budget: {budget.name}: inherited = DARTS {budget.darts_epochs} epochs, then {args.finetune_epochs} "
        f"fine-tuning; scratch = {args.scratch_epochs} epochs; reference = {epochs} epochs from scratch, "
        "final seed, test split",
        "",
        "| # | architecture | inherited val % | scratch val % | reference test % |",
        "|---:|---|---:|---:|---:|",
    ]
    lines += [
        f"| {i} | {arch_label(item.arch)} | {100 * item.scores['inherited']:.2f} | "
        f"{100 * item.scores['scratch']:.2f} | {100 * item.reference:.2f} |"
        for i, item in enumerate(measured, 1)
    ]
    lines += [
        "",
        "| score | Spearman vs reference | Kendall τ | reference of its top-1 % | best reference % | s / arch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in (fidelity(measured, score) for score in SCORES):
        lines.append(
            f"| {row.score} | {row.spearman:.3f} | {row.kendall:.3f} | {100 * row.top1_reference:.2f} | "
            f"{100 * row.best_reference:.2f} | {row.seconds:.1f} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> list[Measured]:
    """Measure, print the Markdown tables, return the measurements."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/proxy_fidelity.py", *argv])
    budget = get_budget(args.budget)
    graph = compile_space(load_space(args.space))
    load, start = os.getloadavg()[0], time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, fixed_threads(args.threads):
        measured = measure(args, graph, budget, Path(scratch))
    epochs = args.reference_epochs or budget.final_epochs
    device = str(torch_device(graph.space.target))
    seconds = time.perf_counter() - start
    lines = report(command, device, args, budget, epochs, measured, load, seconds)
    print("\n".join(lines))
    return measured


if __name__ == "__main__":
    main()
