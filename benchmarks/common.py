"""What the benchmark scripts share: their tables (Markdown for the README and the results files, rich on a
terminal), the BxCxHxW shape argument, the machine and timing arguments, and KEY=VALUE settings of a
configuration dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection, Iterable, Sequence

import torch
from rich.console import Console
from rich.table import Table

from mixsearch.arch import INPUT, Arch

# A table: its title, column heads and rows of cells.
Part = tuple[str, list[str], list[list[str]]]
CONVERTERS = {"int": int, "float": float, "str": str}


def shape_arg(text: str) -> tuple[int, ...]:
    """An argparse type: `BxCxHxW` as four positive integers."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {text!r} is not BxCxHxW") from None
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"shape {text!r} is not BxCxHxW")
    return shape


def add_machine_arguments(
    parser: argparse.ArgumentParser, devices: Sequence[str] | None = None
) -> None:
    """--device (one of `devices`, else any torch names) and --threads (torch's intra-op threads)."""
    if devices:
        parser.add_argument("--device", choices=devices, default="cpu")
    else:
        parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch intra-op threads (default: torch's)",
    )


def add_timing_arguments(
    parser: argparse.ArgumentParser, repeats: int, warmup: int, rounds: int
) -> None:
    """--repeats, --warmup and --rounds of a latency measurement; left out, each is the script's default."""
    parser.add_argument(
        "--repeats", type=int, help=f"timed calls per measurement (default {repeats})"
    )
    parser.add_argument(
        "--warmup", type=int, help=f"untimed calls first (default {warmup})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"interleaved rounds the repeats are split in (default {rounds})",
    )


def fill_defaults(args: argparse.Namespace, defaults: dict[str, object]) -> None:
    """Each argument left out (None) set to its default: the script's own, or its --quick one."""
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def module_label(arch: Arch) -> str:
    """The nodes as name=op: +res for a residual, (from X) for an op that does not read the node before it (a
    parallel branch), so that a serial and a parallel module are told apart."""
    parts, previous = [], INPUT
    for node in arch.nodes:
        part = f"{node.name}={node.op}" + ("+res" if node.residual else "")
        if not node.is_fusion and node.inputs != (previous,):
            part += f"(from {', '.join(node.inputs)})"
        parts.append(part)
        previous = node.name
    return " ".join(parts)


def settings(config: type, texts: Iterable[str]) -> dict[str, object]:
    """`KEY=VALUE` texts as keyword arguments of the dataclass `config`, each VALUE converted to its field's type
    (int, float or str); a ValueError names a bad one."""
    types = {
        field.name: str(field.type)
        for field in dataclasses.fields(config)
        if str(field.type) in CONVERTERS
    }
    values = {}
    for text in texts:
        key, _, value = text.partition("=")
        if key not in types or not value:
            raise ValueError(
                f"expected KEY=VALUE with KEY one of {', '.join(types)}; got {text!r}"
            )
        try:
            values[key] = CONVERTERS[types[key]](value)
        except ValueError:
            raise ValueError(f"{key} must be {types[key]}, got {value!r}") from None
    return values


def markdown_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], left: Collection[str]
) -> list[str]:
    """A Markdown table: the `left` columns (text) aligned left, the others (numbers) right."""
    out = ["| " + " | ".join(columns) + " |"]
    out.append("|" + "|".join("---" if c in left else "---:" for c in columns) + "|")
    out += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
        for row in rows
    ]
    return out


def print_markdown(
    lines: Sequence[str],
    parts: Iterable[Part],
    left: Collection[str],
    closing: Sequence[str] = (),
) -> None:
    """The header `lines` (the first is `command: ...`), each table under its title, then the `closing` lines."""
    command = lines[0].removeprefix("command: ")
    out = [f"command: `{command}`  "] + [line + "  " for line in lines[1:]]
    for title, columns, rows in parts:
        out += ["", f"{title}:", ""] + markdown_table(columns, rows, left)
    print("\n".join(out + [""] + [line + "  " for line in closing]))


def print_rich(
    lines: Sequence[str],
    parts: Iterable[Part],
    left: Collection[str],
    closing: Sequence[str] = (),
) -> None:
    """The same as `print_markdown`, as rich tables (200 columns wide when the output is not a terminal)."""
    console = Console() if Console().is_terminal else Console(width=200)
    for line in lines:
        console.print(line, markup=False, highlight=False)
    for title, columns, rows in parts:
        table = Table(title=title, title_justify="left")
        for column in columns:
            justify = "left" if column in left else "right"
            table.add_column(column, justify=justify, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in closing:
        console.print(line, markup=False, highlight=False)
