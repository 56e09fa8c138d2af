"""The `mixsearch` command line: each command parses its options, calls one stage, and prints.

Every user-facing failure prints one line and exits with status 2.
"""

from __future__ import annotations

import logging
import os
import random
import shlex
import signal
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mixsearch.errors import (
    MixsearchError,
    Stopped,
    clear_stop,
    did_you_mean,
    request_stop,
)
from mixsearch.search.settings import HEARTBEAT_SECONDS, DartsConfig
from mixsearch.space.sections import (
    BUDGETS,
    OBJECTIVES,
    QUICK_TIME,
    SAMPLERS,
    SEED_MAX,
    STRATEGIES,
    DetectionConfig,
    Target,
    darts_budget,
    get_budget,
    memory_problem,
    ordered_objectives,
    shape_problem,
)
from mixsearch.yolo import DEFAULT_BASE, DEFAULT_POSITIONS, DEFAULT_SCALES

if TYPE_CHECKING:
    from mixsearch.arch import Arch
    from mixsearch.search.engine.context import RunOptions
    from mixsearch.space.graph import SpaceGraph

# Only what --help shows is imported above: each command imports the stages it runs (torch, Optuna, networkx)
# when it runs, so that help and `validate` answer at once.
USAGE_ERROR = 2
# A search's seed reaches numpy, whose seeds are 32-bit.
SEED_RANGE = click.IntRange(0, SEED_MAX)
# Sane caps: a day between heartbeats, a hundred seeds per final training.
MAX_HEARTBEAT_SECONDS = 24 * 3600
MAX_FINAL_SEEDS = 100


class Choice(click.Choice):
    """click's Choice, whose error for a misspelled value suggests the closest one."""

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            choices = [str(choice) for choice in self.choices]
            hint = did_you_mean(value, choices)
            self.fail(
                f"{value!r} is not one of {', '.join(choices)}; {hint}".rstrip("; "),
                param,
                ctx,
            )


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
    from mixsearch.space.graph import compile_space
    from mixsearch.space.schema import load_space

    return compile_space(load_space(space_path))


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _echo_paths(paths: list[Path]) -> None:
    for path in paths:
        click.echo(f"wrote {path}")


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


SPACE_ARGUMENT = click.argument("space", type=click.Path(dir_okay=False))
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
OUT_DIR_HELP = (
    "Run folder (default: runs/<name>-{suffix}-seed<seed>, named for what it is)."
)


def _channels_fit(
    ctx: click.Context, param: click.Parameter, channels: int | None
) -> int | None:
    """Refuse a channel count whose C x C weights (a 1 x 1 convolution's) are more than this machine can hold."""
    if channels is not None and (
        problem := memory_problem(f"{channels} x {channels} weights", channels**2)
    ):
        raise click.BadParameter(problem)
    return channels


ONNX_OPTION = click.option(
    "--onnx",
    "onnx_channels",
    type=click.IntRange(min=8),
    callback=_channels_fit,
    default=None,
    metavar="CHANNELS",
    help="Also write <name>.onnx beside <name>.py for CHANNELS input channels (batch and size dynamic), "
    "checked in onnxruntime; needs pip install 'mixsearch[deploy]'.",
)
QUIET_OPTION = click.option(
    "--quiet", is_flag=True, help="No progress bars (the per-stage lines stay)."
)
RUN_FORCE_OPTION = click.option(
    "--force",
    is_flag=True,
    help="Write into a folder that holds other files than a run of this space (they may be overwritten).",
)
EMIT_FORCE_OPTION = click.option(
    "--force", is_flag=True, help="Write over files there that mixsearch did not emit."
)


@main.command()
@SPACE_ARGUMENT
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
    from mixsearch.search.engine.baselines import baselines_note

    console.print(baselines_note(graph))
    if graph.space.constraints.limits() or device is not None:
        from mixsearch.hardware.cost import feasibility_note
        from mixsearch.hardware.device import on_device

        note = feasibility_note(
            graph, on_device(graph.space.target, device), table_path
        )
        if note:
            console.print(note)


@main.command()
@SPACE_ARGUMENT
@DEVICE_OPTION
@TABLE_OPTION
@click.option(
    "--fit",
    "fit_archs",
    type=click.IntRange(min=3),
    help="Random whole modules measured to fit the overhead model on a new table "
    "(default: enough to fit a factor per op).",
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
    fit_archs: int | None,
    check_archs: int,
    repeats: int,
    seed: int,
) -> None:
    """Measure every candidate op of SPACE.yaml at every target shape on the device, cached per device."""
    from mixsearch.hardware.device import on_device
    from mixsearch.hardware.predictor import check_predictions, profiled_table

    graph = _load_graph(space)
    target = on_device(graph.space.target, device)
    table, measured = profiled_table(
        graph, target, table_path, fit_archs, repeats, seed
    )
    click.echo(
        f"latency table {table.path}: {measured} new measurements on {table.fingerprint['device']} "
        f"({sum(map(len, table.entries.values()))} entries)."
    )
    if check_archs:
        checks = check_predictions(graph, target, table, check_archs, seed + 1, repeats)
        _print_checks(checks, len(target.shapes))


def _print_checks(checks: list[tuple[Arch, float, float]], shapes: int) -> None:
    """Predicted beside measured latency, one row per architecture, then the share within 10%."""
    errors = [predicted / measured - 1 for _, predicted, measured in checks]
    rows = [
        [
            ", ".join(f"{node.name}={node.op}" for node in arch.nodes),
            f"{predicted:.3f}",
            f"{measured:.3f}",
            f"{error:+.1%}",
        ]
        for (arch, predicted, measured), error in zip(checks, errors)
    ]
    title = f"predicted vs measured latency (ms, summed over {shapes} shapes)"
    columns = ["architecture", "predicted", "measured", "error"]
    _print_table(title, columns, rows, markdown=False)
    within = sum(abs(error) <= 0.10 for error in errors)
    median = statistics.median(map(abs, errors))
    click.echo(f"{within} of {len(errors)} within ±10%; median |error| {median:.1%}")


@main.command()
@click.option(
    "--copy",
    "copy_to",
    type=click.Path(file_okay=False),
    default=None,
    help="Copy every example space into this folder, to edit.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --copy: write over copies there that differ from the shipped spaces (edited ones).",
)
def examples(copy_to: str | None, force: bool) -> None:
    """List the example spaces shipped with mixsearch; any command takes one by name (`mixsearch run default`)."""
    from mixsearch.outdir import write_file
    from mixsearch.resources import example_spaces

    spaces = example_spaces()
    if copy_to is not None:
        copies = {Path(copy_to) / path.name: path for path in spaces.values()}
        if not force:
            _refuse_edited_copies(copies)
        for copy, path in copies.items():
            click.echo(f"wrote {write_file(copy, path.read_bytes())}")
        return
    for name, path in spaces.items():
        click.echo(f"{name:<18} {path}")


def _refuse_edited_copies(copies: dict[Path, Path]) -> None:
    """Refuse when a copy already there differs from its shipped space: a person's edits are not written over."""
    for copy, path in copies.items():
        if os.path.lexists(copy) and (
            copy.is_symlink()
            or not copy.is_file()
            or copy.read_bytes() != path.read_bytes()
        ):
            raise MixsearchError(
                f"{copy}: exists and differs from the shipped {path.name} (an edited copy?); "
                "--force writes over it"
            )


@main.group()
def proxy() -> None:
    """The proxy task candidates train on, to look at or to train on elsewhere."""


@proxy.command("export-yolo")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--space",
    "space_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Export the detection set this space's proxy section sets up (default: the default settings).",
)
def export_yolo(directory: str, space_path: str | None) -> None:
    """Write the embedded detection set to the new folder DIRECTORY in the Ultralytics YOLO format."""
    from mixsearch.proxy.detection_data import load_detection
    from mixsearch.proxy.yolo_format import export_folder
    from mixsearch.proxy.yolo_format import export_yolo as write_yolo

    config = _detection_config(space_path)
    folder = export_folder(Path(directory))
    data = load_detection(config)
    data_yaml = write_yolo(data, folder)
    counts = ", ".join(
        f"{len(getattr(data, split))} {split}" for split in ("train", "val", "test")
    )
    click.echo(f"wrote {data_yaml} ({counts} images)")


def _detection_config(space_path: str | None) -> DetectionConfig:
    """The default detection set, or the one the space's proxy section sets up (refused if it is another)."""
    if space_path is None:
        return DetectionConfig()
    from mixsearch.space.schema import load_space

    spec = load_space(space_path).proxy
    if spec.dataset != "digits" or spec.task != "detection":
        raise MixsearchError(
            f"{space_path}: its proxy is the {spec.dataset} dataset for {spec.task}, not the embedded "
            "detection digits (proxy: {task: detection})"
        )
    return spec.detection


@main.command()
@SPACE_ARGUMENT
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write ARCH.json here (default: stdout).",
)
@click.option(
    "--force", is_flag=True, help="Write over a file there that is not an ARCH.json."
)
def sample(space: str, seed: int, out: str | None, force: bool) -> None:
    """Draw a random valid architecture of SPACE.yaml and print or save it as ARCH.json."""
    arch = _load_graph(space).sample(random.Random(seed))
    origin = f"A random architecture of {space} (`mixsearch sample --seed {seed}`), not a search result."
    arch = replace(arch, origin=origin)
    if out is None:
        click.echo(arch.dumps(), nl=False)
    else:
        from mixsearch.outdir import refuse_overwrites, write_file

        refuse_overwrites([Path(out)], force)
        click.echo(f"wrote {write_file(Path(out), arch.dumps())}", err=True)


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
@ONNX_OPTION
@EMIT_FORCE_OPTION
def generate(
    arch_json: str,
    out_dir: str,
    scales: str,
    positions: str,
    no_ultralytics: bool,
    onnx_channels: int | None,
    force: bool,
) -> None:
    """Emit the standalone PyTorch module for a resolved architecture, and YOLOv8 model YAMLs using it."""
    from mixsearch.arch import Arch
    from mixsearch.codegen.emit import emit
    from mixsearch.yolo import UltralyticsExport

    export = (
        None
        if no_ultralytics
        else UltralyticsExport(
            DEFAULT_BASE, _comma_list(scales), _comma_list(positions)
        )
    )
    arch = Arch.load(arch_json)
    _echo_paths(
        emit(arch, out_dir, export, with_arch=False, where=arch_json, force=force)
    )
    _write_onnx(arch, Path(out_dir), onnx_channels)


def _write_onnx(arch: Arch, folder: Path, channels: int | None) -> None:
    """`--onnx`: the emitted module of `arch` in `folder` as ONNX, for `channels` input channels."""
    if channels is not None:
        from mixsearch.codegen.deploy import write_onnx

        module = folder / f"{arch.name}.py"
        _echo_paths([write_onnx(module, arch.class_name, channels)])


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
    from mixsearch.hardware.cost import op_costs
    from mixsearch.hardware.device import on_device
    from mixsearch.hardware.lut import LatencyTable, op_latency
    from mixsearch.ops import OPS
    from mixsearch.progress import progress

    height, width = shape
    if problem := shape_problem((1, channels, height, width)):
        raise MixsearchError(
            f"--channels {channels} --shape {height} {width}: {problem}"
        )
    target = on_device(Target(), device) if device is not None else None
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
        params, flops, elementwise = op_costs(info, channels, height, width)
        row = [
            info.name,
            info.kind,
            info.description,
            info.param_text(),
            f"{params:,}",
            f"{flops / 1e6:.3f}",
            f"{elementwise / 1e6:.3f}",
        ]
        if latencies is not None:
            at = (1, channels, height, width)
            row.append(f"{op_latency(info.name, target, at, latencies):.3f}")
        rows.append(row)
    if latencies is not None:
        latencies.save()
    title = (
        f"mixsearch ops at 1x{channels}x{height}x{width} (fusion functions: 2 inputs)"
    )
    _print_table(title, columns, rows, markdown)


@contextmanager
def signal_stops() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the block (`Stopped`, exit status 130 or 143), so the run saves what it has; one
    more while it saves is only acknowledged, so that the save finishes (a signal ignored before stays ignored).
    """
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            click.echo(
                "still saving the run so far; it stops once that is done", err=True
            )
            return
        stopping = True
        request_stop(128 + signum)

    replaced = {
        signum: handler
        for signum in (signal.SIGINT, signal.SIGTERM)
        if (handler := signal.getsignal(signum)) not in (signal.SIG_IGN, None)
    }
    for signum in replaced:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)
        clear_stop()


def run_folder(space: str, what: str, seed: int) -> Path:
    """`runs/mixattn-hybrid-quick-seed0`: a run's default folder says it holds a search result, and which; the
    same command finds it again to resume."""
    return Path("runs") / f"{space}-{what}-seed{seed}"


def _report_line(line: str) -> None:
    click.echo(line, err=True)


def _command_line() -> str:
    return " ".join(["mixsearch", *map(shlex.quote, sys.argv[1:])])


def _finish_run(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: Path,
    onnx_channels: int | None = None,
) -> None:
    """Run the main job into `run_dir` and print what it wrote and what it found.

    Ctrl-C or SIGTERM stop it cleanly: it saves the run so far (a partial report, search.json, the best trial's
    module), says how to resume, and exits with 130 or 143."""
    from mixsearch.arch import describe
    from mixsearch.pipeline import JobStopped, run_job
    from mixsearch.search.outcome.verdicts import recommendation

    try:
        with signal_stops():
            job = run_job(graph, target, options, run_dir, _report_line)
    except JobStopped as stop:
        _echo_paths(stop.paths)
        click.echo(
            f"stopped during the {stop.result.stopped} stage; the run so far is in {run_dir} "
            f"(report.md is marked partial). To resume: {stop.result.command}",
            err=True,
        )
        sys.exit(stop.exit_code)
    except KeyboardInterrupt as stop:
        click.echo(
            "stopped before the search started (latency table, proxy data); nothing to save yet",
            err=True,
        )
        sys.exit(stop.exit_code if isinstance(stop, Stopped) else 130)
    _echo_paths(job.paths)
    _write_onnx(job.module, run_dir, onnx_channels)
    winner = job.result.winner
    spread = f" ± {winner.test_se:.2%}" if winner.test_se is not None else ""
    click.echo(
        f"winner: {describe(winner.arch)}\ntest {job.result.metric} {winner.test_acc:.2%}{spread} over "
        f"{len(winner.seeds)} seed(s), {winner.latency_ms:.3f} ms measured on {job.result.device}, "
        f"{winner.flops / 1e6:.2f} MFLOPs, {winner.params:,} params"
    )
    use = recommendation(
        winner, job.result.baselines, job.result.constraints.get("latency_ms")
    )
    click.echo(f"{use.sentence} Its module is {run_dir / job.module.name}.py.")


@main.command()
@SPACE_ARGUMENT
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help=OUT_DIR_HELP.format(suffix="darts"),
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
    type=Choice(["first", "second"]),
    default="first",
    show_default=True,
    help="First-order DARTS, or second-order with the unrolled weight step.",
)
@click.option(
    "--hardware-loss",
    type=Choice(["additive", "multiplicative"]),
    default="additive",
    show_default=True,
)
@click.option(
    "--latency-weight",
    type=float,
    default=0.0,
    show_default=True,
    help="Expected latency in the alpha loss; at 0 latency acts only at derivation, through the constraints.",
)
@click.option(
    "--retrain-epochs",
    type=click.IntRange(min=1),
    default=BUDGETS["quick"].final_epochs,
    show_default=True,
    help="Epochs of the from-scratch trainings: the derived module, the baselines and the ablations "
    "(default: the quick budget's).",
)
@click.option(
    "--final-seeds",
    type=click.IntRange(1, MAX_FINAL_SEEDS),
    default=BUDGETS["quick"].final_seeds,
    show_default=True,
    help="Seeds each of those trainings runs with (accuracy as mean ± standard error).",
)
@click.option("--seed", type=SEED_RANGE, default=0, show_default=True)
@QUIET_OPTION
@RUN_FORCE_OPTION
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
    final_seeds: int,
    seed: int,
    quiet: bool,
    force: bool,
) -> None:
    """Search SPACE.yaml with hardware-aware DARTS alone: `mixsearch run --strategy darts` with DARTS' own knobs.

    The derived module is retrained from scratch beside the baselines and its ablations, and written out with
    its report, like any run; running the command again resumes it.
    """
    from mixsearch.hardware.device import on_device

    graph = _load_graph(space)
    target = on_device(graph.space.target, device)
    options = _run_options(
        graph,
        table_path,
        quiet,
        force,
        strategy="darts",
        sampler="",
        budget=darts_budget(epochs, warmup_epochs, retrain_epochs, final_seeds),
        seed=seed,
        darts={
            "order": order,
            "hardware_loss": hardware_loss,
            "latency_weight": latency_weight,
        },
    )
    folder = Path(out_dir or run_folder(graph.space.name, "darts", seed))
    _finish_run(graph, target, options, folder)


def _run_options(
    graph: SpaceGraph,
    table_path: str | None,
    quiet: bool,
    force: bool,
    **settings: Any,
) -> RunOptions:
    """The RunOptions of `run` and `darts`: the space's search section, overridden by the command's `settings`."""
    from mixsearch.search.engine.context import RunOptions

    spec = graph.space.search
    defaults = {"objectives": spec.objectives, "keep": spec.keep}
    return RunOptions(
        **{**defaults, **settings},
        table_path=table_path,
        command=_command_line(),
        show_progress=not quiet,
        force=force,
    )


def _objectives(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """`--objectives`, comma-separated, in their canonical order (`default` when not given)."""
    if text is None:
        return default
    try:
        return ordered_objectives(_comma_list(text))
    except ValueError as error:
        raise MixsearchError(f"--objectives: {error}") from None


@main.command()
@SPACE_ARGUMENT
@click.option(
    "--strategy",
    type=Choice(STRATEGIES),
    default=None,
    help="Search strategy (default: the space's search.strategy, else hybrid).",
)
@click.option(
    "--sampler",
    type=Choice(SAMPLERS),
    default=None,
    help="Optuna sampler for optuna and hybrid (default: the space's, else tpe).",
)
@click.option(
    "--budget",
    type=Choice(list(BUDGETS)),
    default=None,
    help=f"Trials and epochs: quick ({QUICK_TIME}), standard (a GPU), full; tiny is for tests.",
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
    type=SEED_RANGE,
    default=None,
    help="Seed (default: the space's, else 0).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help=OUT_DIR_HELP.format(suffix="<strategy>-<budget>"),
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
    type=Choice(["all", "darts"]),
    default="all",
    show_default=True,
    help="darts: run only the DARTS stage and store it with the study, for the workers that follow.",
)
@click.option(
    "--heartbeat",
    type=click.IntRange(1, MAX_HEARTBEAT_SECONDS),
    default=HEARTBEAT_SECONDS,
    show_default=True,
    help="Seconds between a worker's heartbeats; a trial silent for 3x this is failed and queued again.",
)
@ONNX_OPTION
@QUIET_OPTION
@RUN_FORCE_OPTION
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
    onnx_channels: int | None,
    quiet: bool,
    force: bool,
) -> None:
    """Search SPACE.yaml and write the winner, its report and plots; run it again to resume."""
    from mixsearch.hardware.device import on_device
    from mixsearch.search.run import run_darts_stage

    graph = _load_graph(space)
    target = on_device(graph.space.target, device)
    spec = graph.space.search
    options = _run_options(
        graph,
        table_path,
        quiet,
        force,
        strategy=strategy or spec.strategy,
        sampler=sampler or spec.sampler,
        budget=get_budget(budget or spec.budget, trials or spec.trials),
        objectives=_objectives(objectives, spec.objectives),
        seed=spec.seed if seed is None else seed,
        storage=storage,
        study_name=study_name,
        heartbeat_seconds=heartbeat,
    )
    folder = Path(
        out_dir
        or run_folder(
            graph.space.name, f"{options.strategy}-{options.budget.name}", options.seed
        )
    )
    if stage == "darts":
        run_darts_stage(graph, target, options, folder, _report_line)
        click.echo("DARTS stage done and stored with the study")
        return
    _finish_run(graph, target, options, folder, onnx_channels)


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
    "--baseline",
    metavar="NAME",
    default=None,
    help="Emit this hand-designed baseline as the final stage retrained it (when the report recommends it).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write (default: RUN_DIR/export/recommended, RUN_DIR/export/trial-N for each trial, or "
    "RUN_DIR/export/NAME).",
)
@EMIT_FORCE_OPTION
def export(
    run_dir: str,
    trial: int | None,
    pareto: bool,
    baseline: str | None,
    out_dir: str | None,
    force: bool,
) -> None:
    """Emit the module (and Ultralytics files) of the winner, of a trial, of every Pareto point, or of a
    retrained baseline of a run."""
    from mixsearch.pipeline import export_run

    _echo_paths(export_run(run_dir, trial, pareto, out_dir, baseline, force))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--storage",
    default=None,
    help="Read the study from this Optuna storage URL (default: the run folder's own study.db; never the "
    "storage its progress.json names).",
)
def status(run_dir: str, storage: str | None) -> None:
    """What the run in RUN_DIR has done and what remains: while it runs, or after it finished or stopped."""
    from mixsearch.pipeline import run_status

    for line in run_status(run_dir, storage):
        click.echo(line)
