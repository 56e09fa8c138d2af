"""Does DARTS find a module that beats the hand-designed baselines on the proxy task, at what cost?

For each seed, `mixsearch darts` in-process (`run_search` with the darts strategy: hardware-aware DARTS under the
space's constraints, the derived module retrained from scratch beside every baseline of the op library, none, SE,
ECA, CBAM and coordinate attention, with the same budget in the same host). Latency is what the run measured: end
to end at the space's target shapes (summed), every module in the same interleaved rounds. Prints a Markdown
table.

    python benchmarks/darts_quality.py                                   # default space, 3 seeds
    python benchmarks/darts_quality.py --quick                           # a smoke run in seconds
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from mixsearch.hardware.device import torch_device
from mixsearch.proxy import TrainConfig
from mixsearch.search.engine.context import RunOptions
from mixsearch.search.outcome.result import SearchResult
from mixsearch.search.run import run_search
from mixsearch.search.settings import DartsConfig
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import Target, darts_budget


def search(
    graph: SpaceGraph, args: argparse.Namespace, seed: int, scratch: Path
) -> SearchResult:
    """One darts run of `graph` into a fresh folder of `scratch` (trainings cached there, not in the user's cache)."""
    budget = darts_budget(args.search_epochs, 5, args.train_epochs, images=args.images)
    options = RunOptions(
        strategy="darts",
        sampler="",
        budget=budget,
        objectives=graph.space.search.objectives,
        seed=seed,
        table_path=scratch / "latency.json",
        cache_dir=scratch / "trainings",
        show_progress=False,
    )
    return run_search(graph, graph.space.target, options, scratch / f"seed{seed}")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", nargs="?", default="search_spaces/default.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--search-epochs", type=int, default=DartsConfig.epochs)
    parser.add_argument("--train-epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help="cap on each proxy split (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, 2 search and 1 training epochs on 128 images",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.search_epochs, args.train_epochs, args.images = 1, 2, 1, 128
    graph = compile_space(load_space(args.space))
    rows: dict[str, dict] = {}
    archs = []
    start_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(args.seeds):
            result = search(graph, args, seed, Path(scratch))
            derived = result.finalists[0]
            archs.append(
                ", ".join(f"{node.name}={node.op}" for node in derived.arch.nodes)
            )
            for item in (*result.baselines, replace(derived, label="darts")):
                row = rows.setdefault(
                    item.label, {"acc": [], "latency": [], "params": []}
                )
                row["acc"].append(item.test_acc)
                row["latency"].append(item.latency_ms)
                row["params"].append(item.params)
    print_table(rows, archs, args, graph.space.target, start_load)
    return [{"name": name, **row} for name, row in rows.items()]


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


def print_table(
    rows: dict[str, dict],
    archs: list[str],
    args: argparse.Namespace,
    target: Target,
    start_load: float,
) -> None:
    print(f"command: `python {shlex.join(sys.argv)}`  ")
    print(
        f"torch {torch.__version__}, device {torch_device(target)}, {torch.get_num_threads()} threads training; "
        f"1-min load average {start_load:.2f} at start, {os.getloadavg()[0]:.2f} at end  "
    )
    print(
        f"{args.seeds} seeds; search {args.search_epochs} epochs; every module trained {args.train_epochs} epochs  \n"
    )
    print(
        "| module | test acc % (mean ± std) | latency ms (sum over target shapes) | params |"
    )
    print("|---|---:|---:|---:|")
    for name, row in rows.items():
        latency, params = statistics.mean(row["latency"]), statistics.mean(
            row["params"]
        )
        print(f"| {name} | {_mean_std(row['acc'])} | {latency:.3f} | {params:,.0f} |")
    for seed, arch in enumerate(archs):
        print(f"\nseed {seed}: darts derived {arch}")


if __name__ == "__main__":
    main()
