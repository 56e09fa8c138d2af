"""Forward latency of each generated op against its timm / Ultralytics reference, side by side, per runtime.

For every row of the reference-equivalence table (tests/test_reference_equivalence.py) this renders a one-node
architecture with the code generator, imports the emitted file, copies the reference's weights into it and checks
both compute the same output; then it times pairs interleaved (alternating blocks of calls, so drift hits both
alike) under mixsearch's latency protocol (`mixsearch.hardware.latency`), in each runtime a user deploys with
(`mixsearch.hardware.runtime`, the code the search measures with):

- eager: ours / the reference, both in eager PyTorch;
- compile: ours / the reference, both under `torch.compile(fullgraph=True)`;
- onnxruntime: ours in ONNX Runtime / ours in eager PyTorch (where exporting pays off).

    python benchmarks/op_speed.py                      # full run, CPU, all three runtimes
    python benchmarks/op_speed.py --markdown           # the tables as Markdown, for the README
    python benchmarks/op_speed.py --device cuda        # the GPU: eager and compile (CUDA graphs)
    python benchmarks/op_speed.py --quick --only 'se*' --shapes 1x64x20x20 --runtimes compile

A ratio below 1.0 means the first of the pair is faster. "slower in" counts the rounds in which its block median
was above the other's: a ratio above 1.0 that is slower in only about half the rounds is noise.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import pytest  # noqa: E402  (the reference table skips rows through pytest.importorskip)
from test_reference_equivalence import (  # noqa: E402
    REFERENCES,
    load_by_order,
    randomise_norm_stats,
    row_id,
)

import mixsearch  # noqa: E402
from common import (  # noqa: E402
    add_machine_arguments,
    add_timing_arguments,
    fill_defaults,
    shape_arg,
)
from helpers import import_file  # noqa: E402
from mixsearch.arch import INPUT, Arch, ArchNode  # noqa: E402
from mixsearch.codegen.emit import emit  # noqa: E402
from mixsearch.hardware.device import device_name  # noqa: E402
from mixsearch.hardware.latency import (  # noqa: E402
    DEFAULT_WARMUP,
    fixed_threads,
    time_calls,
)
from mixsearch.hardware.runtime import runnable  # noqa: E402
from mixsearch.onnx_io import ONNX_TOLERANCE  # noqa: E402
from mixsearch.ops import OPS  # noqa: E402
from mixsearch.space.sections import Target  # noqa: E402

DEFAULT_SHAPES = ((1, 64, 80, 80), (1, 128, 40, 40), (1, 256, 20, 20))
DEFAULT_REPEATS = 200
DEFAULT_ROUNDS = 20
DEFAULT_BUDGET_S = 3.0
MIN_REPEATS = 6  # timed calls per side however slow the op
QUICK = {"repeats": 6, "rounds": 3, "warmup": 2, "budget": 0.5}
NODE = "attn"
ATOL = 1e-5
RUNTIMES = ("eager", "compile", "onnxruntime")
# onnxruntime is measured on the CPU (mixsearch.hardware.device).
CUDA_RUNTIMES = ("eager", "compile")
TITLES = {
    "eager": "eager PyTorch: ours / reference",
    "compile": "torch.compile(fullgraph=True): ours / reference, both compiled",
    "onnxruntime": "ONNX Runtime: ours in onnxruntime / ours in eager PyTorch",
}
# (first, second) of each runtime's ratio, as the table's column heads.
PAIRS = {
    "eager": ("ours", "ref"),
    "compile": ("ours", "ref"),
    "onnxruntime": ("ort", "eager"),
}


@dataclass(frozen=True)
class Result:
    """One (row, shape, runtime) comparison: medians over all timed calls, and how many rounds ours lost."""

    row: str
    runtime: str
    reference: str
    shape: tuple[int, ...]
    ours_ms: float
    reference_ms: float
    repeats: int
    rounds: int
    rounds_slower: int

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.reference_ms


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_machine_arguments(parser, devices=("cpu", "cuda"))
    add_timing_arguments(parser, DEFAULT_REPEATS, DEFAULT_WARMUP, DEFAULT_ROUNDS)
    parser.add_argument(
        "--budget",
        type=float,
        help=f"seconds of timed calls per op and shape; slow ops get fewer repeats (default {DEFAULT_BUDGET_S})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="few repeats, to smoke-test the script"
    )
    parser.add_argument(
        "--shapes",
        type=shape_arg,
        nargs="+",
        default=list(DEFAULT_SHAPES),
        metavar="BxCxHxW",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="row ids to run (glob, repeatable)",
    )
    parser.add_argument(
        "--runtimes",
        nargs="+",
        choices=RUNTIMES,
        help="runtimes to compare in (default: all three on the CPU, eager and compile on CUDA)",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the tables as Markdown"
    )
    args = parser.parse_args(argv)
    defaults = (
        QUICK
        if args.quick
        else {
            "repeats": DEFAULT_REPEATS,
            "rounds": DEFAULT_ROUNDS,
            "warmup": DEFAULT_WARMUP,
            "budget": DEFAULT_BUDGET_S,
        }
    )
    fill_defaults(args, defaults)
    if (
        args.repeats < 1
        or args.rounds < 1
        or args.warmup < 0
        or args.budget <= 0
        or args.threads < 1
    ):
        parser.error(
            "--repeats, --rounds and --threads must be >= 1, --warmup >= 0, --budget > 0"
        )
    args.rounds = min(args.rounds, args.repeats)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    if args.runtimes is None:
        args.runtimes = list(CUDA_RUNTIMES if args.device == "cuda" else RUNTIMES)
    if args.device == "cuda" and "onnxruntime" in args.runtimes:
        parser.error("--runtimes onnxruntime: measured on the CPU only")
    return args


def selected_rows(
    patterns: list[str] | None,
) -> list[tuple[str, dict, Callable[[int], nn.Module]]]:
    rows = [
        row
        for row in REFERENCES
        if not patterns or any(fnmatch.fnmatchcase(row_id(row), p) for p in patterns)
    ]
    if not rows:
        raise SystemExit(
            f"no reference row matches {patterns}; rows: {', '.join(row_id(row) for row in REFERENCES)}"
        )
    return rows


def generated_class(
    index: int, name: str, params: dict, out_dir: Path
) -> type[nn.Module]:
    """Render a one-node architecture applying op `name` to the input, import the file, return its class."""
    node = ArchNode(
        name=NODE,
        op=name,
        params=OPS.get(name).canonical_params(params),
        inputs=(INPUT,),
        is_fusion=OPS.get(name).is_fusion,
    )
    arch = Arch(
        name=f"op_speed_{index}",
        class_name="OpSpeedModule",
        nodes=(node,),
        source="benchmarks/op_speed.py",
    )
    (module_file,) = emit(arch, out_dir, export=None, with_arch=False)
    return import_file(module_file).OpSpeedModule


def reference_name(module: nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__.split('.')[0]} {cls.__qualname__}"


def warm_up(
    ours: Callable[[], object],
    reference: Callable[[], object],
    device: torch.device,
    args: argparse.Namespace,
) -> float:
    """Untimed call pairs: `args.warmup` of them, or fewer (at least 2) once a quarter of the budget is spent.

    Returns the seconds one pair took, to size the timed part.
    """
    pairs, start = 0, time.perf_counter()
    while pairs < max(args.warmup, 1):
        ours()
        reference()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        pairs += 1
        if pairs >= 2 and time.perf_counter() - start > args.budget / 4:
            break
    return (time.perf_counter() - start) / pairs


def time_interleaved(
    ours: Callable[[], object],
    reference: Callable[[], object],
    device: torch.device,
    args: argparse.Namespace,
) -> tuple[list[float], list[float], int, int]:
    """Timed calls of both in alternating blocks (who goes first alternates too).

    `args.repeats` calls per side, fewer when that would take longer than `args.budget` seconds. Returns both
    lists of milliseconds, the number of rounds and how many of them ours lost (its block median was higher).
    """
    pair_s = warm_up(ours, reference, device, args)
    repeats = max(
        min(args.repeats, MIN_REPEATS), min(args.repeats, int(args.budget / pair_s))
    )
    rounds = min(args.rounds, repeats)
    ours_ms: list[float] = []
    reference_ms: list[float] = []
    slower = 0
    for i in range(rounds):
        block = repeats // rounds + (i < repeats % rounds)
        if i % 2:
            reference_block = time_calls(reference, device, block)
            ours_block = time_calls(ours, device, block)
        else:
            ours_block = time_calls(ours, device, block)
            reference_block = time_calls(reference, device, block)
        slower += statistics.median(ours_block) > statistics.median(reference_block)
        ours_ms += ours_block
        reference_ms += reference_block
    return ours_ms, reference_ms, rounds, slower


def as_tensor(output: object) -> torch.Tensor:
    """A runtime's output as a tensor on the CPU (onnxruntime returns a list of numpy arrays)."""
    if isinstance(output, list):
        output = torch.from_numpy(output[0])
    return output.cpu()


def runtime_pair(
    ours: nn.Module,
    reference: nn.Module,
    x: torch.Tensor,
    runtime: str,
    args: argparse.Namespace,
) -> tuple[Callable[[], object], Callable[[], object], str]:
    """The two calls timed against each other in `runtime`, and the name of the second."""
    target = Target(device=args.device, threads=args.threads, runtime=runtime)
    if runtime == "eager":
        return lambda: ours(x), lambda: reference(x), reference_name(reference)
    if runtime == "compile":
        compiled = runnable(reference, x, target)
        return runnable(ours, x, target), compiled, reference_name(reference)
    return runnable(ours, x, target), lambda: ours(x), "ours, eager"


def compare(
    generated: type[nn.Module],
    build_reference: Callable[[int], nn.Module],
    row: str,
    shape: tuple[int, ...],
    device: torch.device,
    args: argparse.Namespace,
) -> list[Result]:
    """Check ours against the reference in eager mode, then time the pair of each runtime."""
    channels = shape[1]
    reference = build_reference(channels)
    randomise_norm_stats(reference)
    ours = generated(channels)
    # The emitted class holds the op as `attn`.
    load_by_order(getattr(ours, NODE), reference)
    ours, reference = ours.to(device).eval(), reference.to(device).eval()
    x = torch.randn(shape, device=device)
    results = []
    with torch.inference_mode():
        eager = ours(x)
        torch.testing.assert_close(
            eager,
            reference(x),
            atol=ATOL,
            rtol=0,
            msg=lambda m: f"{row} at {shape}: {m}",
        )
        for runtime in args.runtimes:
            first, second, second_name = runtime_pair(ours, reference, x, runtime, args)
            second()  # a compiled reference compiles on its first call: not in the warm-up that sizes the timing
            torch.testing.assert_close(
                as_tensor(first()),
                eager.cpu(),
                atol=ONNX_TOLERANCE,
                rtol=0,
                msg=lambda m, runtime=runtime: f"{row} at {shape} in {runtime}: {m}",
            )
            first_ms, second_ms, rounds, slower = time_interleaved(
                first, second, device, args
            )
            results.append(
                Result(
                    row,
                    runtime,
                    second_name,
                    shape,
                    statistics.median(first_ms),
                    statistics.median(second_ms),
                    len(first_ms),
                    rounds,
                    slower,
                )
            )
    return results


def versions() -> str:
    found = [f"mixsearch {mixsearch.__version__}", f"torch {torch.__version__}"]
    for package in ("timm", "ultralytics"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} not installed")
    return ", ".join(found)


def header(
    args: argparse.Namespace, argv: Sequence[str], load_at_start: float
) -> list[str]:
    device = torch.device(args.device)
    return [
        f"command: {shlex.join(['python', 'benchmarks/op_speed.py', *argv])}",
        f"versions: Python {platform.python_version()}, {versions()}",
        f"runtimes: {', '.join(args.runtimes)}",
        f"device: {args.device} ({device_name(device)}), {args.threads} thread(s); 1-min load average "
        f"{load_at_start:.2f} at start, {os.getloadavg()[0]:.2f} at end",
        f"protocol: inference_mode, eval, float32, same weights and input; {args.warmup} warm-up calls, then "
        f"{args.repeats} timed calls per side in {args.rounds} alternating rounds (fewer calls when they would take "
        f"over {args.budget:g} s); median ms",
    ]


def summary(results: list[Result]) -> str:
    ratios = [result.ratio for result in results]
    worst = max(results, key=lambda result: result.ratio)
    best = min(results, key=lambda result: result.ratio)
    return (
        f"{results[0].runtime}: median ratio {statistics.median(ratios):.3f}, max {worst.ratio:.3f} "
        f"({worst.row} at {format_shape(worst.shape)}), min {best.ratio:.3f} ({best.row} at "
        f"{format_shape(best.shape)}); {sum(r > 1.0 for r in ratios)} of {len(ratios)} above 1.0"
    )


def format_shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def columns(runtime: str) -> list[str]:
    first, second = PAIRS[runtime]
    return [
        "op",
        "reference" if runtime != "onnxruntime" else "against",
        "shape",
        f"{first} ms",
        f"{second} ms",
        f"{first}/{second}",
        "slower in",
        "calls",
    ]


LEFT = 3  # op, reference, shape; the rest are numbers


def table_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            result.row,
            result.reference,
            format_shape(result.shape),
            f"{result.ours_ms:.3f}",
            f"{result.reference_ms:.3f}",
            f"{result.ratio:.3f}",
            f"{result.rounds_slower}/{result.rounds}",
            str(result.repeats),
        ]
        for result in results
    ]


def by_runtime(results: list[Result]) -> dict[str, list[Result]]:
    tables: dict[str, list[Result]] = {}
    for result in results:
        tables.setdefault(result.runtime, []).append(result)
    return tables


def markdown(lines: list[str], results: list[Result]) -> str:
    command = lines[0].removeprefix("command: ")
    out = [f"command: `{command}`  "] + [line + "  " for line in lines[1:]]
    for runtime, rows in by_runtime(results).items():
        heads = columns(runtime)
        out += ["", f"**{TITLES[runtime]}**", ""]
        out.append("| " + " | ".join(heads) + " |")
        out.append(
            "|" + "|".join(["---"] * LEFT + ["---:"] * (len(heads) - LEFT)) + "|"
        )
        out += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
        out += ["", summary(rows)]
    return "\n".join(out)


def aligned(rows: list[list[str]]) -> list[str]:
    """Plain-text columns: text left, numbers right, a rule under the head row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i < LEFT else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return [line(rows[0]), rule] + [line(row) for row in rows[1:]]


def plain(lines: list[str], results: list[Result]) -> str:
    out = list(lines)
    for runtime, rows in by_runtime(results).items():
        out += ["", TITLES[runtime], ""]
        out += aligned([columns(runtime)] + table_rows(rows))
        out += ["", summary(rows)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> list[Result]:
    """Run the comparisons, print one table per runtime, return their rows."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    device = torch.device(args.device)
    rows = selected_rows(args.only)
    results: list[Result] = []
    skipped: list[str] = []
    torch.manual_seed(0)
    load_at_start = os.getloadavg()[0]
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with (
        tempfile.TemporaryDirectory() as out_dir,
        fixed_threads(args.threads),
        progress,
    ):
        task = progress.add_task("op speed", total=len(rows) * len(args.shapes))
        for index, (name, params, build_reference) in enumerate(rows):
            row = row_id((name, params, build_reference))
            generated = generated_class(index, name, params, Path(out_dir))
            for shape in args.shapes:
                progress.update(task, description=f"{row} {format_shape(shape)}")
                try:
                    results += compare(
                        generated, build_reference, row, shape, device, args
                    )
                except pytest.skip.Exception as reason:
                    skipped.append(f"{row}: {reason}")
                progress.advance(task)
    if not results:
        raise SystemExit("every selected row was skipped: " + "; ".join(skipped))
    lines = header(args, argv, load_at_start) + [f"skipped {line}" for line in skipped]
    print(markdown(lines, results) if args.markdown else plain(lines, results))
    return results


if __name__ == "__main__":
    main()
