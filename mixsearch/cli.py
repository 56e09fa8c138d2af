"""The `mixsearch` command line. Every user-facing failure prints one line and exits with status 2."""

from __future__ import annotations

import logging
import random
import shlex
import shutil
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mixsearch.arch import Arch
from mixsearch.arch import describe
from mixsearch.codegen.render import write_module
from mixsearch.codegen.ultralytics import write_ultralytics
from mixsearch.errors import MixsearchError
from mixsearch.hardware import count_elementwise, count_flops, count_params
from mixsearch.hardware.cost import CostModel, format_limits, require_feasible
from mixsearch.hardware.lut import LatencyTable, measure, op_measurement
from mixsearch.hardware.predictor import (
    fit_overhead,
    measure_arch_total,
    predict_latency,
    space_measurements,
)
from mixsearch.hardware.predictor import profile as profile_ops
from mixsearch.space.sections import Target
from mixsearch.ops import OPS, OpInfo
from mixsearch.progress import progress
from mixsearch.proxy import TrainConfig
from mixsearch.report import write_report
from mixsearch.resources import example_spaces
from mixsearch.space.sections import get_budget
from mixsearch.search.darts import DartsConfig
from mixsearch.search.one_shot import run_darts
from mixsearch.search.result import SearchResult
from mixsearch.search.run import RunOptions, run_darts_stage, run_search
from mixsearch.search.workers import HEARTBEAT_SECONDS
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import (
    BUDGETS,
    DEVICE_PATTERN,
    OBJECTIVES,
    SAMPLERS,
    STRATEGIES,
    ordered_objectives,
)
from mixsearch.yolo import DEFAULT_POSITIONS, DEFAULT_SCALES, UltralyticsExport
from mixsearch.hardware.device import torch_device

USAGE_ERROR = 2


class _Group(click.Group):
    """Turns MixsearchError into one line on stderr and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MixsearchError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(USAGE_ERROR)


@click.group(cls=_Group)
@click.version_option(package_name="mixsearch")
def main() -> None:
    """Search attention modules for YOLO-style detectors and emit them as clean PyTorch code."""
    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.INFO)


def _console() -> Console:
    """A console wide enough for the tables even when output goes to a file or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _load_graph(space_path: str) -> SpaceGraph:
    return compile_space(load_space(space_path))


DEVICE_OPTION = click.option(
    "--device",
    default=None,
    help="Target device (auto, cpu, cuda, cuda:N); default: the space's target.",
)
TABLE_OPTION = click.option(
    "--table",
    "table_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Latency table file (default: per-device file in the user cache directory).",
)


def _device_target(target: Target, device: str | None) -> Target:
    """`target` with the --device override applied, checked to exist on this machine."""
    if device is not None:
        if not DEVICE_PATTERN.fullmatch(device):
            raise MixsearchError(
                f"--device must be auto, cpu, cuda or cuda:N, got {device!r}"
            )
        target = replace(target, device=device)
    try:
        torch_device(target)
    except ValueError as error:
        raise MixsearchError(str(error)) from None
    return target


def _target(graph: SpaceGraph, device: str | None) -> Target:
    return _device_target(graph.space.target, device)


def _is_profiled(graph: SpaceGraph, target: Target, table: LatencyTable) -> bool:
    measurements = space_measurements(graph)
    return all(table.has(shape, m.key) for shape in target.shapes for m in measurements)


def _report_feasibility(
    graph: SpaceGraph, target: Target, table_path: str | None, console: Console
) -> None:
    """Print the feasible share of the space; a space with no feasible architecture is an error."""
    constraints = graph.space.constraints
    table = (
        LatencyTable.open(target, table_path)
        if constraints.latency_ms is not None
        else None
    )
    if table is not None and not _is_profiled(graph, target, table):
        console.print(
            f"latency_ms constraint not checked: no latency table for {table.fingerprint['device']} yet "
            f"(run `mixsearch profile {graph.space.path}`)"
        )
        constraints = replace(constraints, latency_ms=None)
        table = None
    if not constraints.limits():
        return
    result = require_feasible(graph, CostModel(target, table), constraints)
    how = "all" if result.exhaustive else "a sample of"
    limits = format_limits(constraints)
    console.print(
        f"constraints ({limits}): {result.fraction:.0%} feasible ({result.feasible} of {how} {result.checked} "
        f"architectures on {torch_device(target)})."
    )


@main.command()
@click.argument("space", type=click.Path(dir_okay=False))
@DEVICE_OPTION
@TABLE_OPTION
def validate(space: str, device: str | None, table_path: str | None) -> None:
    """Parse and check SPACE.yaml, then summarise its nodes, choices and feasible share."""
    graph = _load_graph(space)
    console = _console()
    table = Table(
        title=f"{graph.space.name} -> class {graph.space.class_name}",
        title_justify="left",
    )
    table.add_column("choice")
    table.add_column("options", overflow="fold")
    table.add_column("n", justify="right")
    for choice, (key, labels) in zip(graph.choices, graph.describe()):
        table.add_row(escape(key), escape(labels), str(len(choice.options)))
    console.print(table)
    console.print(
        f"{space}: valid. {len(graph.nodes)} nodes, output {' | '.join(graph.outputs)}, "
        f"{sum(len(c.options) > 1 for c in graph.choices)} open choices, "
        f"{graph.size:,} architectures (choice combinations)."
    )
    _report_feasibility(graph, _target(graph, device), table_path, console)


@main.command()
@click.argument("space", type=click.Path(dir_okay=False))
@DEVICE_OPTION
@TABLE_OPTION
@click.option(
    "--fit",
    "fit_archs",
    type=click.IntRange(min=3),
    default=8,
    show_default=True,
    help="Random whole modules measured to fit the overhead model (on a new table).",
)
@click.option(
    "--check",
    "check_archs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also measure N random architectures end to end and compare with the prediction.",
)
@click.option("--repeats", type=click.IntRange(min=3), default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def profile(
    space: str,
    device: str | None,
    table_path: str | None,
    fit_archs: int,
    check_archs: int,
    repeats: int,
    seed: int,
) -> None:
    """Measure every candidate op of SPACE.yaml at every target shape on the device, cached per device."""
    graph = _load_graph(space)
    target = _target(graph, device)
    table = LatencyTable.open(target, table_path)
    console = _console()
    measured = profile_ops(space_measurements(graph), target, table, repeats=repeats)
    if measured or not table.overhead:
        rng = random.Random(seed)
        fit_overhead(
            [graph.sample(rng) for _ in range(fit_archs)],
            target,
            table,
            repeats=repeats,
        )
    console.print(
        f"latency table {table.path}: {measured} new measurements on {table.fingerprint['device']} "
        f"({sum(map(len, table.entries.values()))} entries)."
    )
    if check_archs:
        _print_check(graph, target, table, check_archs, seed + 1, repeats, console)


def _print_check(
    graph: SpaceGraph,
    target: Target,
    table: LatencyTable,
    count: int,
    seed: int,
    repeats: int,
    console: Console,
) -> None:
    """Measure `count` random architectures end to end and print them beside the prediction."""
    rng = random.Random(seed)
    rows, errors = [], []
    for arch in progress(
        [graph.sample(rng) for _ in range(count)], "checking predictions"
    ):
        predicted = predict_latency(arch, target, table)
        measured = measure_arch_total(arch, target, repeats)
        errors.append(predicted / measured - 1)
        label = ", ".join(f"{node.name}={node.op}" for node in arch.nodes)
        rows.append(
            [label, f"{predicted:.3f}", f"{measured:.3f}", f"{errors[-1]:+.1%}"]
        )
    title = (
        f"predicted vs measured latency (ms, summed over {len(target.shapes)} shapes)"
    )
    _print_table(
        title, ["architecture", "predicted", "measured", "error"], rows, markdown=False
    )
    within = sum(abs(error) <= 0.10 for error in errors)
    median = statistics.median(map(abs, errors))
    console.print(f"{within} of {len(errors)} within ±10%; median |error| {median:.1%}")


@main.command()
@click.option(
    "--copy",
    "copy_to",
    type=click.Path(file_okay=False),
    default=None,
    help="Copy every example space into this folder, to edit.",
)
def examples(copy_to: str | None) -> None:
    """List the example spaces shipped with mixsearch; any command takes one by name (`mixsearch run default`)."""
    spaces = example_spaces()
    if copy_to is not None:
        folder = Path(copy_to)
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in spaces.items():
            shutil.copyfile(path, folder / path.name)
            click.echo(f"wrote {folder / path.name}")
        return
    for name, path in spaces.items():
        click.echo(f"{name:<18} {path}")


@main.command()
@click.argument("space", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write ARCH.json here (default: stdout).",
)
def sample(space: str, seed: int, out: str | None) -> None:
    """Draw a random valid architecture of SPACE.yaml and print or save it as ARCH.json."""
    arch = _load_graph(space).sample(random.Random(seed))
    if out is None:
        click.echo(arch.dumps(), nl=False)
    else:
        arch.save(out)
        click.echo(f"wrote {out}", err=True)


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


@main.command()
@click.argument("arch_json", metavar="ARCH.json", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Folder for <name>.py and the Ultralytics files.",
)
@click.option(
    "--scales",
    default=",".join(DEFAULT_SCALES),
    show_default=True,
    help="YOLOv8 scales to emit a model YAML for (n, s, m, l, x), comma-separated.",
)
@click.option(
    "--positions",
    default=",".join(DEFAULT_POSITIONS),
    show_default=True,
    help="Where the module goes, comma-separated: named points (backbone.p2-p5, backbone.sppf, "
    "neck.p4_td, neck.p3_out, neck.p4_out, neck.p5_out) or layer indices; it follows each.",
)
@click.option(
    "--no-ultralytics",
    is_flag=True,
    help="Emit only <name>.py, no Ultralytics model YAMLs or training script.",
)
def generate(
    arch_json: str, out_dir: str, scales: str, positions: str, no_ultralytics: bool
) -> None:
    """Emit the standalone PyTorch module for a resolved architecture, and YOLOv8 model YAMLs using it."""
    arch = Arch.load(arch_json)
    # The Ultralytics files first: a bad --scales or --positions then leaves nothing written.
    extras = (
        []
        if no_ultralytics
        else write_ultralytics(
            arch, out_dir, _comma_list(scales), _comma_list(positions)
        )
    )
    for path in [write_module(arch, out_dir), *extras]:
        click.echo(f"wrote {path}")


def _op_costs(
    info: OpInfo, channels: int, height: int, width: int
) -> tuple[int, int, int]:
    """Parameters, FLOPs and element-wise operations of the op with default parameters."""
    module = info.build(channels, {}, num_inputs=2).eval()
    x = torch.randn(1, channels, height, width)
    inputs = ([x, x],) if info.is_fusion else (x,)
    return (
        count_params(module),
        count_flops(module, *inputs),
        count_elementwise(module, *inputs),
    )


def _op_latency(
    info: OpInfo, target: Target, shape: tuple[int, int, int, int], table: LatencyTable
) -> float:
    """Measured ms of the op with default parameters (two inputs for fusions), through the latency table."""
    measurement = op_measurement(info.name, info.canonical_params({}), 2)
    if not table.has(shape, measurement.key):
        table.put(
            shape,
            measurement.key,
            measure(measurement.build(target, shape), target, repeats=30, warmup=5),
        )
    return table.get(shape, measurement.key)


def _param_text(info: OpInfo) -> str:
    parts = []
    for spec in info.params().values():
        allowed = f" {{{', '.join(map(str, spec.allowed))}}}" if spec.allowed else ""
        parts.append(f"{spec.name}={spec.default!r}{allowed}")
    return "; ".join(parts) or "-"


@main.command()
@click.argument("space", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder (default: generated/<name>-darts).",
)
@DEVICE_OPTION
@TABLE_OPTION
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=DartsConfig.epochs,
    show_default=True,
)
@click.option(
    "--warmup-epochs",
    type=click.IntRange(min=0),
    default=DartsConfig.warmup_epochs,
    show_default=True,
)
@click.option(
    "--order",
    type=click.Choice(["first", "second"]),
    default="first",
    show_default=True,
    help="First-order DARTS, or second-order with the unrolled weight step.",
)
@click.option(
    "--hardware-loss",
    type=click.Choice(["additive", "multiplicative"]),
    default="additive",
    show_default=True,
)
@click.option(
    "--latency-weight",
    type=float,
    default=DartsConfig.latency_weight,
    show_default=True,
)
@click.option(
    "--retrain-epochs",
    type=click.IntRange(min=1),
    default=TrainConfig.epochs,
    show_default=True,
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the search from the run folder's last checkpoint.",
)
def darts(
    space: str,
    out_dir: str | None,
    device: str | None,
    table_path: str | None,
    epochs: int,
    warmup_epochs: int,
    order: str,
    hardware_loss: str,
    latency_weight: float,
    retrain_epochs: int,
    seed: int,
    resume: bool,
) -> None:
    """Search SPACE.yaml with hardware-aware DARTS on its proxy task; write the winner and its module."""
    graph = _load_graph(space)
    target = _target(graph, device)
    run_dir = (
        Path(out_dir)
        if out_dir is not None
        else Path("generated") / f"{graph.space.name}-darts"
    )
    device_name = str(torch_device(target))
    search = DartsConfig(
        epochs=epochs,
        warmup_epochs=min(warmup_epochs, epochs - 1),
        order=order,
        hardware_loss=hardware_loss,
        latency_weight=latency_weight,
        seed=seed,
        device=device_name,
    )
    retrain = TrainConfig(epochs=retrain_epochs, seed=seed, device=device_name)
    outcome = run_darts(
        graph, target, search, retrain, run_dir, table_path, resume=resume
    )
    for path in _emit(outcome.arch, run_dir, graph.space.export):
        click.echo(f"wrote {path}")
    click.echo(
        f"{describe(outcome.arch)}\ntest accuracy {outcome.retrained.test_acc:.2%} after retraining "
        f"{retrain_epochs} epochs; {outcome.cost.summary()} on {torch_device(target)}"
    )


def _print_table(
    title: str, columns: list[str], rows: list[list[str]], markdown: bool
) -> None:
    """A rich table for people, or a GitHub markdown table (for READMEs and reports)."""
    if markdown:
        click.echo(f"{title}\n")
        for row in [columns, ["---"] * len(columns), *rows]:
            click.echo(
                "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
            )
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*map(escape, row))
    _console().print(table)


@main.command()
@click.option("--channels", type=click.IntRange(min=8), default=64, show_default=True)
@click.option(
    "--shape",
    type=(click.IntRange(min=1), click.IntRange(min=1)),
    default=(80, 80),
    show_default=True,
    metavar="H W",
)
@click.option(
    "--device",
    default=None,
    help="Also measure each op's latency on this device (auto, cpu, cuda, cuda:N).",
)
@click.option("--markdown", is_flag=True, help="Print a markdown table.")
def ops(
    channels: int, shape: tuple[int, int], device: str | None, markdown: bool
) -> None:
    """Table of every op and fusion function with its parameters, params and FLOPs at one shape.

    With --device, also the measured latency of each op there (cached in the device's latency table).
    """
    height, width = shape
    target = _device_target(Target(), device) if device is not None else None
    latencies = LatencyTable.open(target) if target is not None else None
    columns = [
        "op",
        "kind",
        "description",
        "parameters (default {allowed})",
        "params",
        "MFLOPs",
        "M elem-ops",
    ]
    if latencies is not None:
        columns.append(f"ms ({latencies.fingerprint['device']})")
    rows = []
    for info in progress(list(OPS), "measuring ops", enabled=latencies is not None):
        params, flops, elementwise = _op_costs(info, channels, height, width)
        row = [
            info.name,
            info.kind,
            info.description,
            _param_text(info),
            f"{params:,}",
            f"{flops / 1e6:.3f}",
            f"{elementwise / 1e6:.3f}",
        ]
        if latencies is not None:
            row.append(
                f"{_op_latency(info, target, (1, channels, height, width), latencies):.3f}"
            )
        rows.append(row)
    if latencies is not None:
        latencies.save()
    title = (
        f"mixsearch ops at 1x{channels}x{height}x{width} (fusion functions: 2 inputs)"
    )
    _print_table(title, columns, rows, markdown)


def _emit(arch: Arch, out_dir: Path, export: UltralyticsExport) -> list[Path]:
    """arch.json, the module and the Ultralytics files of `arch` in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arch.save(out_dir / "arch.json")
    paths = [out_dir / "arch.json", write_module(arch, out_dir)]
    return paths + write_ultralytics(arch, out_dir, export.scales, export.positions)


@main.command()
@click.argument("space", type=click.Path(dir_okay=False))
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default=None,
    help="Search strategy (default: the space's search.strategy, else hybrid).",
)
@click.option(
    "--sampler",
    type=click.Choice(SAMPLERS),
    default=None,
    help="Optuna sampler for optuna and hybrid (default: the space's, else tpe).",
)
@click.option(
    "--budget",
    type=click.Choice(BUDGETS),
    default=None,
    help="Trials and epochs: quick (about 10 min on a 2-core CPU), standard (a GPU), full; tiny is for tests.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=None,
    help="Override the budget's trial count.",
)
@click.option(
    "--objectives",
    default=None,
    help=f"Comma-separated, among {', '.join(OBJECTIVES)} (accuracy and latency_ms always).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed (default: the space's, else 0).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder (default: generated/<name>).",
)
@DEVICE_OPTION
@TABLE_OPTION
@click.option(
    "--storage",
    default=None,
    help="Optuna storage URL (default: sqlite:///<run folder>/study.db).",
)
@click.option(
    "--study",
    "study_name",
    default=None,
    help="Optuna study name (default: <name>-<strategy>); workers on one storage and study share the search.",
)
@click.option(
    "--stage",
    type=click.Choice(["all", "darts"]),
    default="all",
    show_default=True,
    help="darts: run only the DARTS stage and store it with the study, for the workers that follow.",
)
@click.option(
    "--heartbeat",
    type=click.IntRange(min=1),
    default=HEARTBEAT_SECONDS,
    show_default=True,
    help="Seconds between a worker's heartbeats; a trial silent for 3x this is failed and queued again.",
)
@click.option(
    "--quiet", is_flag=True, help="No progress bars (the per-trial lines stay)."
)
def run(
    space: str,
    strategy: str | None,
    sampler: str | None,
    budget: str | None,
    trials: int | None,
    objectives: str | None,
    seed: int | None,
    out_dir: str | None,
    device: str | None,
    table_path: str | None,
    storage: str | None,
    study_name: str | None,
    stage: str,
    heartbeat: int,
    quiet: bool,
) -> None:
    """Search SPACE.yaml and write the winner, its report and plots; run it again to resume."""
    graph = _load_graph(space)
    target = _target(graph, device)
    spec = graph.space.search
    chosen_objectives = spec.objectives
    if objectives is not None:
        try:
            chosen_objectives = ordered_objectives(_comma_list(objectives))
        except ValueError as error:
            raise MixsearchError(f"--objectives: {error}") from None
    options = RunOptions(
        strategy=strategy or spec.strategy,
        sampler=sampler or spec.sampler,
        budget=get_budget(budget or spec.budget, trials or spec.trials),
        objectives=chosen_objectives,
        keep=spec.keep,
        seed=spec.seed if seed is None else seed,
        device=str(torch_device(target)),
        storage=storage,
        study_name=study_name,
        table_path=table_path,
        command=" ".join(["mixsearch", *map(shlex.quote, sys.argv[1:])]),
        show_progress=not quiet,
        heartbeat_seconds=heartbeat,
    )
    run_dir = (
        Path(out_dir) if out_dir is not None else Path("generated") / graph.space.name
    )
    report = lambda line: click.echo(line, err=True)  # noqa: E731
    if stage == "darts":
        if options.strategy not in ("hybrid", "darts"):
            raise MixsearchError(
                f"--stage darts: the {options.strategy} strategy has no DARTS stage"
            )
        run_darts_stage(graph, target, options, run_dir, report)
        click.echo("DARTS stage done and stored with the study")
        return
    result = run_search(graph, target, options, run_dir, report)
    winner = result.winner
    arch = replace(
        winner.arch,
        metrics={
            "test_acc": round(winner.test_acc, 4),
            "val_acc": round(winner.val_acc, 4),
            "latency_ms": round(winner.latency_ms, 4),
            "flops": winner.flops,
            "params": winner.params,
        },
    )
    paths = [result.save(run_dir), *_emit(arch, run_dir, graph.space.export)]
    paths += write_report(result, run_dir)
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(
        f"winner: {describe(arch)}\ntest accuracy {winner.test_acc:.2%}, {winner.latency_ms:.3f} ms measured on "
        f"{result.device}, {winner.flops / 1e6:.2f} MFLOPs, {winner.params:,} params"
    )


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--trial",
    type=click.IntRange(min=0),
    default=None,
    help="Emit this trial's architecture.",
)
@click.option(
    "--pareto", is_flag=True, help="Emit every architecture on the Pareto front."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write (default: RUN_DIR/export/winner, or RUN_DIR/export/trial-N for each trial).",
)
def export(run_dir: str, trial: int | None, pareto: bool, out_dir: str | None) -> None:
    """Emit the module (and Ultralytics files) of the winner, of a trial, or of every Pareto point of a run."""
    if trial is not None and pareto:
        raise MixsearchError("give --trial N or --pareto, not both")
    result = SearchResult.load(run_dir)
    if trial is None and not pareto:
        targets = [("winner", result.winner.arch)]
    else:
        numbers = list(result.pareto) if pareto else [trial]
        targets = [
            (f"trial-{number}", _trial_arch(result, number)) for number in numbers
        ]
    export_settings = (
        _load_graph(result.space).space.export
        if Path(result.space).exists()
        else UltralyticsExport()
    )
    for name, arch in targets:
        folder = (
            Path(out_dir)
            if out_dir is not None and len(targets) == 1
            else Path(out_dir or Path(run_dir) / "export") / name
        )
        for path in _emit(arch, folder, export_settings):
            click.echo(f"wrote {path}")


def _trial_arch(result: SearchResult, number: int) -> Arch:
    """The architecture of trial `number` of a run (a MixsearchError when it has none)."""
    record = result.trial(number)
    if record.arch is None:
        raise MixsearchError(
            f"trial {number} has no architecture ({record.state}: {record.reason})"
        )
    return record.arch
