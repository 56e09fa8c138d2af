"""Does a proxy task tell the hand-designed attention baselines apart?

Trains the task's host network with each baseline of the op library (none, SE, ECA, CBAM, coordinate attention)
on an embedded task (the cluttered digits, or with `--task detection` the boxed digits), several seeds each, and
prints a Markdown table of the test score (accuracy, or mAP50-95). The task
discriminates when the gap between the best and the worst baseline's mean is larger than twice the largest
seed-to-seed standard deviation: then a search on it ranks modules by more than noise.

    python benchmarks/proxy_discrimination.py                          # 5 baselines x 3 seeds, defaults
    python benchmarks/proxy_discrimination.py --seeds 2 --epochs 2 --threads 1
    python benchmarks/proxy_discrimination.py --proxy clutter=12 --proxy noise=0.2 --baselines none,se
    python benchmarks/proxy_discrimination.py --task detection --threads 1

The seed changes the initial weights and the batch order; the data set is the same for all (its own seed is
`--proxy seed=N`).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from common import add_machine_arguments, settings
from mixsearch.errors import MixsearchError
from mixsearch.hardware.device import device_name
from mixsearch.hardware.latency import fixed_threads
from mixsearch.proxy import (
    TrainConfig,
    TrainResult,
    load_proxy,
    seed_everything,
    train,
)
from mixsearch.proxy.detection_data import load_detection
from mixsearch.proxy.tasks import task_of
from mixsearch.search.engine.baselines import baseline_factories
from mixsearch.space.sections import DetectionConfig, ProxyConfig


@dataclass(frozen=True)
class Row:
    """One baseline's runs, one per seed."""

    baseline: str
    runs: tuple[TrainResult, ...]

    @property
    def test_accs(self) -> list[float]:
        return [run.test_acc for run in self.runs]

    @property
    def mean(self) -> float:
        return statistics.mean(self.test_accs)

    @property
    def std(self) -> float:
        return statistics.stdev(self.test_accs) if len(self.runs) > 1 else 0.0


CONFIGS = {"classification": ProxyConfig, "detection": DetectionConfig}
LOADERS = {"classification": load_proxy, "detection": load_detection}
METRICS = {"classification": "acc", "detection": "mAP50-95"}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="training seeds per baseline: 0 .. N-1 (default 3)",
    )
    parser.add_argument(
        "--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}"
    )
    add_machine_arguments(parser)
    parser.add_argument(
        "--baselines",
        default=",".join(baseline_factories()),
        help="comma-separated subset",
    )
    parser.add_argument(
        "--task",
        choices=tuple(CONFIGS),
        default="classification",
        help="the proxy task (default classification)",
    )
    parser.add_argument(
        "--proxy",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ProxyConfig (or, with --task detection, DetectionConfig) field",
    )
    args = parser.parse_args(argv)
    unknown = set(args.baselines.split(",")) - set(baseline_factories())
    if unknown:
        parser.error(
            f"unknown baseline {sorted(unknown)[0]!r}; known: {', '.join(baseline_factories())}"
        )
    if args.seeds < 1 or args.epochs < 1 or args.threads < 1:
        parser.error("--seeds, --epochs and --threads must be >= 1")
    try:
        config = CONFIGS[args.task]
        args.data = config(**settings(config, args.proxy))
    except (ValueError, MixsearchError) as error:
        parser.error(str(error))
    return args


def run(args: argparse.Namespace) -> list[Row]:
    """Train every baseline with every seed; one line per run on stderr as it finishes."""
    data = LOADERS[args.task](args.data)
    task = task_of(data)
    factories = baseline_factories()
    rows = []
    for name in args.baselines.split(","):
        runs = []
        for seed in range(args.seeds):
            config = TrainConfig(epochs=args.epochs, seed=seed, device=args.device)
            seed_everything(seed)
            result = train(task.host(factories[name], data), data, config)
            print(
                f"{name} seed {seed}: test {result.test_acc:.4f} ({result.seconds:.0f} s)",
                file=sys.stderr,
            )
            runs.append(result)
        rows.append(Row(name, tuple(runs)))
    return rows


def verdict(rows: list[Row]) -> tuple[float, float, bool]:
    """The best-minus-worst gap of mean test score, twice the largest seed std, and whether gap > that."""
    means = [row.mean for row in rows]
    gap = max(means) - min(means)
    noise = 2 * max(row.std for row in rows)
    return gap, noise, gap > noise


def markdown(rows: list[Row], header: list[str], metric: str) -> str:
    out = [line + "  " for line in header] + [""]
    out.append(
        f"| baseline | test {metric} % (mean ± std) | per seed | val {metric} % (mean) | s / candidate |"
    )
    out.append("|---|---:|---:|---:|---:|")
    for row in sorted(rows, key=lambda row: -row.mean):
        per_seed = " ".join(f"{acc:.3f}" for acc in row.test_accs)
        val = statistics.mean(run.val_acc for run in row.runs)
        seconds = statistics.mean(run.seconds for run in row.runs)
        out.append(
            f"| {row.baseline} | {100 * row.mean:.2f} ± {100 * row.std:.2f} | {per_seed} | {100 * val:.2f} "
            f"| {seconds:.0f} |"
        )
    gap, noise, discriminates = verdict(rows)
    best, worst = max(rows, key=lambda row: row.mean), min(
        rows, key=lambda row: row.mean
    )
    out += [
        "",
        f"gap best ({best.baseline}) - worst ({worst.baseline}): {100 * gap:.2f} points; "
        f"2 x max seed std: {100 * noise:.2f} points; "
        f"verdict: {'discriminates' if discriminates else 'does NOT discriminate'} "
        f"(gap {'>' if discriminates else '<='} 2 x max std)",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the experiment, print the table, return its rows."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    with fixed_threads(args.threads):
        rows = run(args)
    header = [
        f"command: `{shlex.join(['python', 'benchmarks/proxy_discrimination.py', *argv])}`",
        f"versions: Python {platform.python_version()}, torch {torch.__version__}",
        f"device: {args.device} ({device_name(torch.device(args.device))}, {os.cpu_count()} cores), "
        f"{args.threads} torch thread(s); "
        f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
        f"proxy: {args.task}, {args.data}",
        f"training: {TrainConfig(epochs=args.epochs, device=args.device)} (seed = 0 .. {args.seeds - 1})",
    ]
    print(markdown(rows, header, METRICS[args.task]))
    return rows


if __name__ == "__main__":
    main()
