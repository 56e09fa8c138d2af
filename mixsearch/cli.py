"""The `mixsearch` command line. Every user-facing failure prints one line and exits with status 2."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mixsearch.arch import Arch
from mixsearch.codegen import write_module
from mixsearch.errors import MixsearchError
from mixsearch.hardware import count_flops, count_params
from mixsearch.ops import OPS, OpInfo
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space

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


def _console() -> Console:
    """A console wide enough for the tables even when output goes to a file or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _load_graph(space_path: str) -> SpaceGraph:
    return compile_space(load_space(space_path))


@main.command()
@click.argument("space", type=click.Path(dir_okay=False))
def validate(space: str) -> None:
    """Parse and check SPACE.yaml, then summarise its nodes and choices."""
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


@main.command()
@click.argument("arch_json", metavar="ARCH.json", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Folder for <name>.py.",
)
def generate(arch_json: str, out_dir: str) -> None:
    """Emit the standalone PyTorch module for a resolved architecture."""
    path = write_module(Arch.load(arch_json), out_dir)
    click.echo(f"wrote {path}")


def _op_costs(info: OpInfo, channels: int, height: int, width: int) -> tuple[int, int]:
    module = info.build(channels, {}, num_inputs=2).eval()
    x = torch.randn(1, channels, height, width)
    inputs = ([x, x],) if info.is_fusion else (x,)
    return count_params(module), count_flops(module, *inputs)


def _param_text(info: OpInfo) -> str:
    parts = []
    for spec in info.params().values():
        allowed = f" {{{', '.join(map(str, spec.allowed))}}}" if spec.allowed else ""
        parts.append(f"{spec.name}={spec.default!r}{allowed}")
    return "; ".join(parts) or "-"


@main.command()
@click.option("--channels", type=click.IntRange(min=8), default=64, show_default=True)
@click.option(
    "--shape",
    type=(click.IntRange(min=1), click.IntRange(min=1)),
    default=(80, 80),
    show_default=True,
    metavar="H W",
)
def ops(channels: int, shape: tuple[int, int]) -> None:
    """Table of every op and fusion function with its parameters, params and FLOPs at one shape."""
    height, width = shape
    table = Table(
        title=f"mixsearch ops at 1x{channels}x{height}x{width} (fusion: 2 inputs)",
        title_justify="left",
    )
    for column in ("op", "kind", "description", "parameters (default {allowed})"):
        table.add_column(column, overflow="fold")
    table.add_column("params", justify="right")
    table.add_column("MFLOPs", justify="right")
    for info in OPS:
        params, flops = _op_costs(info, channels, height, width)
        cells = (
            info.name,
            info.kind,
            info.description,
            _param_text(info),
            f"{params:,}",
            f"{flops / 1e6:.3f}",
        )
        table.add_row(*map(escape, cells))
    _console().print(table)
