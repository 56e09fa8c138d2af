"""Accuracy of mixsearch's latency predictor: predicted against measured latency of random architectures.

Builds the latency table of a space on the target (a fresh table in a temporary file unless `--table` names one
whose entries to reuse), fits the overhead model on its own fitting architectures (drawn from a seed stream of
their own), and compares its predictions with the measured latency of `--archs` other distinct random
architectures (never a fitting one). Everything is measured under mixsearch's latency protocol
(`mixsearch.hardware.latency`) in the same interleaved rounds -- table entries, fitting modules and evaluated
modules, the latter twice as two separate instances -- so that a drift of the machine's speed while the benchmark
runs (other jobs starting or stopping) moves the table, the fit and the evaluation alike.

    python benchmarks/latency_predictor.py                  # full run: default space, CPU, 60 architectures
    python benchmarks/latency_predictor.py --markdown       # the tables as Markdown, for the README
    python benchmarks/latency_predictor.py --device cuda    # the same on the GPU
    python benchmarks/latency_predictor.py --runtime onnxruntime   # latency in ONNX Runtime (compile: torch.compile)
    python benchmarks/latency_predictor.py --quick          # tiny shapes and few architectures: a smoke test

Reported per predictor: the share of architectures predicted within +-10% of their measured latency, the median
and 90th-percentile |error|, and Kendall's tau between predicted and measured latencies (the ranking is what a
search under a latency constraint relies on). Rows: the predictor (table + overhead model); as a baseline from
the same run and table, the plain sum of the table entries; and the measurement against itself (the second
measurement of each architecture taken as a prediction of the first), the noise floor no predictor can beat.
CPU timings are only meaningful on a quiet machine: the header prints the 1-minute load average at start and end
(the run itself adds about 1 per thread).
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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parents[1]

import mixsearch  # noqa: E402
from common import (  # noqa: E402
    Part,
    add_timing_arguments,
    fill_defaults,
    print_markdown,
    print_rich,
    shape_arg,
)
from mixsearch.arch import INPUT, Arch  # noqa: E402
from mixsearch.hardware.latency import DEFAULT_ROUNDS, DEFAULT_WARMUP  # noqa: E402
from mixsearch.hardware.lut import LatencyTable, fingerprint, measure_many  # noqa: E402
from mixsearch.hardware.predictor import (  # noqa: E402
    OVERHEAD_FIT_ARCHS,
    arch_calls,
    fit_overhead_model,
    missing_entries,
    node_entries,
    predict_latency,
    space_measurements,
)
from mixsearch.progress import progress  # noqa: E402
from mixsearch.space.graph import SpaceGraph, compile_space  # noqa: E402
from mixsearch.space.schema import load_space  # noqa: E402
from mixsearch.space.sections import RUNTIMES, Target  # noqa: E402

DEFAULT_SPACE = ROOT / "search_spaces" / "default.yaml"
DEFAULT_ARCHS = 60
DEFAULT_FIT = OVERHEAD_FIT_ARCHS  # as many as a run's table is fitted on
DEFAULT_REPEATS = 30
TOLERANCE = 0.10
GOAL_SHARE, GOAL_TAU = 0.90, 0.90
QUICK = {
    "archs": 6,
    "fit": 4,
    "repeats": 3,
    "rounds": 2,
    "warmup": 1,
    "shapes": [(1, 16, 8, 8), (1, 32, 4, 4)],
}


@dataclass(frozen=True)
class Row:
    """One evaluated architecture: measured and predicted ms, summed over the shapes."""

    arch: Arch
    measured_ms: float  # the first measurement
    predicted_ms: float
    plain_ms: float
    first_ms: float  # the first measurement (a module instance of its own)
    second_ms: float  # the second measurement (another instance, same rounds)

    @property
    def error(self) -> float:
        return self.predicted_ms / self.measured_ms - 1

    @property
    def plain_error(self) -> float:
        return self.plain_ms / self.measured_ms - 1


@dataclass(frozen=True)
class Accuracy:
    """How close one predictor comes over the evaluated architectures."""

    name: str
    within: int
    count: int
    median_error: float
    p90_error: float
    tau: float

    @property
    def share(self) -> float:
        return self.within / self.count


@dataclass(frozen=True)
class Summary:
    predictor: Accuracy
    plain: Accuracy
    remeasured: Accuracy  # the second measurement as a "prediction" of the first: the noise floor

    @property
    def goal_met(self) -> bool:
        return self.predictor.share >= GOAL_SHARE and self.predictor.tau >= GOAL_TAU


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--space",
        type=Path,
        default=DEFAULT_SPACE,
        help="search space YAML (default: default.yaml)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="where latency is measured (default: the space's target runtime)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads (default: the target's)"
    )
    parser.add_argument(
        "--archs", type=int, help=f"architectures evaluated (default {DEFAULT_ARCHS})"
    )
    parser.add_argument(
        "--fit",
        type=int,
        help=f"architectures the overhead model is fitted on (default {DEFAULT_FIT})",
    )
    add_timing_arguments(parser, DEFAULT_REPEATS, DEFAULT_WARMUP, DEFAULT_ROUNDS)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the architecture draw (default 0)"
    )
    parser.add_argument(
        "--shapes",
        type=shape_arg,
        nargs="+",
        metavar="BxCxHxW",
        help="target shapes (default: the space's)",
    )
    parser.add_argument(
        "--table",
        type=Path,
        help="latency table file to reuse (default: a fresh temporary one)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny shapes, few architectures and repeats (smoke test)",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the tables as Markdown"
    )
    args = parser.parse_args(argv)
    defaults = (
        QUICK
        if args.quick
        else {
            "archs": DEFAULT_ARCHS,
            "fit": DEFAULT_FIT,
            "repeats": DEFAULT_REPEATS,
            "rounds": DEFAULT_ROUNDS,
            "warmup": DEFAULT_WARMUP,
            "shapes": None,
        }
    )
    fill_defaults(args, defaults)
    if (
        args.archs < 2
        or args.fit < 3
        or args.repeats < 1
        or args.rounds < 1
        or args.warmup < 0
    ):
        parser.error(
            "--archs must be >= 2, --fit >= 3, --repeats and --rounds >= 1, --warmup >= 0"
        )
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return args


def make_target(graph: SpaceGraph, args: argparse.Namespace) -> Target:
    target = replace(graph.space.target, device=args.device)
    if args.runtime is not None:
        target = replace(target, runtime=args.runtime)
    if args.threads is not None:
        target = replace(target, threads=args.threads)
    if args.shapes:
        target = replace(target, shapes=tuple(args.shapes))
    return target


def draw_archs(
    graph: SpaceGraph, fit: int, count: int, seed: int
) -> tuple[list[Arch], list[Arch]]:
    """`fit` distinct fitting architectures, then `count` distinct others to evaluate, from disjoint seed streams."""
    if fit + count > graph.size:
        raise SystemExit(
            f"the space has {graph.size} architectures; asked for {fit} + {count} distinct ones"
        )
    seen: set[str] = set()

    def draw(stream: str, wanted: int) -> list[Arch]:
        rng, archs = random.Random(f"{stream}-{seed}"), []
        while len(archs) < wanted:
            arch = graph.sample(rng)
            key = arch.dumps()
            if key not in seen:
                seen.add(key)
                archs.append(arch)
        return archs

    fitting = draw("fit", fit)
    return fitting, draw("evaluate", count)


def label(arch: Arch) -> str:
    """A short readable form: node=op(param values)<-input for serial nodes, +res for a residual."""
    parts = []
    for node in arch.nodes:
        values = ",".join(
            str(value) for key, value in node.params.items() if key != "variant"
        )
        text = f"{node.name}={node.op}" + (f"({values})" if values else "")
        if not node.is_fusion and node.inputs[0] != INPUT:
            text += f"<-{node.inputs[0]}"
        parts.append(text + ("+res" if node.residual else ""))
    return " ".join(parts)


def plain_sum(arch: Arch, target: Target, table: LatencyTable) -> float:
    """The naive prediction: the table entries of the nodes (and residual) added up, no overhead model."""
    return sum(
        ms for shape in target.shapes for _, ms in node_entries(arch, shape, table)
    )


def measure_together(
    graph: SpaceGraph,
    target: Target,
    table: LatencyTable,
    fitting: list[Arch],
    evaluated: list[Arch],
    args,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Everything the comparison needs, measured in the same interleaved rounds of the shared protocol.

    The table's missing entries, the fitting architectures, and the evaluated architectures twice (two separate
    module instances each): one `measure_many` call, so that a slow drift of the machine's speed (other jobs
    starting or stopping) shifts all of them alike instead of the table and fit one way and the evaluation
    another. Fills and saves the table; returns the fitting archs' ms and the evaluated archs' two measurements
    (archs x shapes each).
    """
    missing = missing_entries(space_measurements(graph), target, table)
    groups = [
        [measurement.build(target, shape) for shape, measurement in missing],
        arch_calls(fitting, target),
        arch_calls(evaluated, target),
        arch_calls(evaluated, target),
    ]
    times = measure_many(
        [call for group in groups for call in group],
        target,
        args.repeats,
        args.warmup,
        args.rounds,
        lambda jobs: progress(jobs, "measuring table entries and architectures"),
    )
    bounds = np.cumsum([0] + [len(group) for group in groups])
    lut, fit_ms, first, second = (
        times[start:end] for start, end in zip(bounds[:-1], bounds[1:])
    )
    for (shape, measurement), ms in zip(missing, lut):
        table.put(shape, measurement.key, ms)
    table.save()
    shapes = len(target.shapes)
    return tuple(np.array(ms).reshape(-1, shapes) for ms in (fit_ms, first, second))


def accuracy(name: str, predicted: list[float], measured: list[float]) -> Accuracy:
    errors = [abs(p / m - 1) for p, m in zip(predicted, measured)]
    tau = kendalltau(predicted, measured).statistic
    return Accuracy(
        name,
        sum(error <= TOLERANCE for error in errors),
        len(errors),
        statistics.median(errors),
        float(np.percentile(errors, 90)),
        float(tau),
    )


def device_name(target: Target) -> str:
    return str(fingerprint(target)["device"])


def header(
    args: argparse.Namespace,
    argv: Sequence[str],
    target: Target,
    table: LatencyTable,
    load: float,
) -> list[str]:
    threads = table.fingerprint["threads"]
    shapes = ", ".join("x".join(map(str, shape)) for shape in target.shapes)
    where = str(table.path) if args.table else "fresh, in a temporary file"
    return [
        f"command: {shlex.join(['python', 'benchmarks/latency_predictor.py', *argv])}",
        f"versions: Python {platform.python_version()}, mixsearch {mixsearch.__version__}, torch {torch.__version__}",
        f"device: {args.device} ({device_name(target)}), runtime {table.fingerprint['runtime']}, {threads} "
        f"thread(s); 1-min load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end",
        f"space: {args.space.name}, shapes {shapes} (latency summed over them); table: {where}",
        f"protocol: {args.warmup} warm-up + {args.repeats} timed calls per measurement, in {args.rounds} interleaved "
        f"rounds, 10th percentile of the pooled calls; the table's entries, the {args.fit} fitting architectures and "
        f"the {args.archs} other distinct evaluated ones (twice, as two module instances) all measured in the same "
        f"rounds; seed "
        f"{args.seed}",
    ]


ARCH_COLUMNS = [
    "#",
    "architecture",
    "measured ms",
    "predicted ms",
    "error",
    "plain sum ms",
    "plain error",
]
SUMMARY_COLUMNS = [
    "predictor",
    f"within ±{TOLERANCE:.0%}",
    "median abs error",
    "p90 abs error",
    "Kendall τ",
]


def arch_rows(rows: list[Row]) -> list[list[str]]:
    ordered = sorted(rows, key=lambda row: row.measured_ms)
    return [
        [
            str(i + 1),
            label(row.arch),
            f"{row.measured_ms:.3f}",
            f"{row.predicted_ms:.3f}",
            f"{row.error:+.1%}",
            f"{row.plain_ms:.3f}",
            f"{row.plain_error:+.1%}",
        ]
        for i, row in enumerate(ordered)
    ]


def summary_rows(summary: Summary) -> list[list[str]]:
    return [
        [
            result.name,
            f"{result.within}/{result.count} ({result.share:.0%})",
            f"{result.median_error:.1%}",
            f"{result.p90_error:.1%}",
            f"{result.tau:.3f}",
        ]
        for result in (summary.predictor, summary.plain, summary.remeasured)
    ]


def summary_line(summary: Summary) -> str:
    return (
        f"goal (table + overhead model: >= {GOAL_SHARE:.0%} within ±{TOLERANCE:.0%} and τ >= {GOAL_TAU}): "
        f"{'met' if summary.goal_met else 'not met'}; the re-measurement row is the noise floor (the second "
        f"measurement of each evaluated architecture taken as a prediction of the first)"
    )


LEFT = {"architecture", "predictor"}


def parts(rows: list[Row], summary: Summary) -> list[Part]:
    return [
        (
            "predicted vs measured (ms, summed over the shapes)",
            ARCH_COLUMNS,
            arch_rows(rows),
        ),
        ("summary", SUMMARY_COLUMNS, summary_rows(summary)),
    ]


def main(argv: Sequence[str] | None = None) -> Summary:
    """Run the comparison, print the tables, return the summary."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    load_at_start = os.getloadavg()[0]
    graph = compile_space(load_space(args.space))
    target = make_target(graph, args)
    fitting, evaluated = draw_archs(graph, args.fit, args.archs, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        table = LatencyTable.open(target, args.table or Path(scratch) / "latency.json")
        fit_ms, first, second = measure_together(
            graph, target, table, fitting, evaluated, args
        )
        fit_overhead_model(fitting, fit_ms, target, table)
        rows = [
            Row(
                arch,
                float(a),
                predict_latency(arch, target, table),
                plain_sum(arch, target, table),
                float(a),
                float(b),
            )
            for arch, a, b in zip(evaluated, first.sum(axis=1), second.sum(axis=1))
        ]
    summary = Summary(
        accuracy(
            "table + overhead model",
            [r.predicted_ms for r in rows],
            [r.measured_ms for r in rows],
        ),
        accuracy(
            "plain sum of table entries",
            [r.plain_ms for r in rows],
            [r.measured_ms for r in rows],
        ),
        accuracy(
            "re-measurement (2nd vs 1st)",
            [r.second_ms for r in rows],
            [r.first_ms for r in rows],
        ),
    )
    lines = header(args, argv, target, table, load_at_start)
    show = print_markdown if args.markdown else print_rich
    show(lines, parts(rows, summary), LEFT, [summary_line(summary)])
    return summary


if __name__ == "__main__":
    main()
