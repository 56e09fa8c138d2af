"""`Arch`: one fully resolved architecture, the contract between search and code generation.

Like DARTS' `Genotype` it is plain data: every choice is made, only the nodes the output depends on are kept, in
the order data flows. It round-trips through JSON so a person can read, diff and store it. Checking its ops
against the library is the library's job (`OPS.check_arch`); the names emitted code may use are checked by
`mixsearch.names`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixsearch.errors import ArchError
from mixsearch.inputs import InputTooLarge, read_input

ARCH_FORMAT = "mixsearch.arch/1"
INPUT = "input"
RESIDUAL_PREFIX = "gamma_"
# A residual adds `gamma * x` (x: the module input), gamma a learned scalar starting here.
RESIDUAL_INIT = 0.1
# A dropped branch (`none`) in a `function_key`.
ZERO = "0"


def op_label(op: str, params: Mapping[str, Any]) -> str:
    """`se(reduction=8)`, or `eca` without settings: how an op configuration is written everywhere."""
    settings = ", ".join(f"{key}={value}" for key, value in params.items())
    return f"{op}({settings})" if settings else op


@dataclass(frozen=True)
class ArchNode:
    """One resolved node: an op on one input, or a fusion function over several; optional learned residual."""

    name: str
    op: str
    params: dict[str, Any]
    inputs: tuple[str, ...]
    residual: bool = False
    is_fusion: bool = False

    @property
    def label(self) -> str:
        return op_label(self.op, self.params)

    def to_json(self) -> dict[str, Any]:
        params = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()
        }
        key = "fuse" if self.is_fusion else "op"
        return {
            "name": self.name,
            key: self.op,
            "params": params,
            "from": list(self.inputs),
            "residual": self.residual,
        }


@dataclass(frozen=True)
class Arch:
    """A resolved architecture: named nodes in data-flow order; the last one is the module's output."""

    name: str
    class_name: str
    nodes: tuple[ArchNode, ...]
    source: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    # Where it comes from, in a sentence for the emitted module's docstring: a search result, a trial of an
    # unfinished run, a fixed example, a random draw.
    origin: str = ""

    @property
    def output(self) -> str:
        return self.nodes[-1].name

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": ARCH_FORMAT,
            "name": self.name,
            "class_name": self.class_name,
            "source": self.source,
            "nodes": [node.to_json() for node in self.nodes],
        }
        if self.metrics:
            data["metrics"] = self.metrics
        if self.origin:
            data["origin"] = self.origin
        return data

    def dumps(self) -> str:
        """Pretty JSON with one line per node, so architectures diff line by line."""
        data = self.to_json()
        nodes = data.pop("nodes")
        fields = [
            f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in data.items()
        ]
        node_lines = ",\n".join(f"    {json.dumps(node)}" for node in nodes)
        fields.append(f'  "nodes": [\n{node_lines}\n  ]')
        return "{\n" + ",\n".join(fields) + "\n}\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps())

    @classmethod
    def from_json(cls, data: Any, where: str = "arch") -> Arch:
        """Build an Arch from parsed JSON and check its structure; problems raise ArchError naming the node."""
        if not isinstance(data, dict) or data.get("format") != ARCH_FORMAT:
            raise ArchError(
                f'{where}: not a mixsearch architecture (expected "format": "{ARCH_FORMAT}")'
            )
        nodes_data = data.get("nodes")
        if not isinstance(nodes_data, list) or not nodes_data:
            raise ArchError(f'{where}: "nodes" must be a non-empty list')
        nodes = tuple(
            _node_from_json(item, f"{where}: nodes[{i}]")
            for i, item in enumerate(nodes_data)
        )
        arch = cls(
            name=_require(data, "name", str, where),
            class_name=_require(data, "class_name", str, where),
            nodes=nodes,
            source=_optional_text(data, "source", where),
            metrics=_metrics(data.get("metrics", {}), where),
            origin=_optional_text(data, "origin", where),
        )
        arch.validate(where)
        return arch

    @classmethod
    def load(cls, path: str | Path) -> Arch:
        try:
            data = json.loads(read_input(path))
        except InputTooLarge as error:
            raise ArchError(f"{path}: {error}") from None
        except FileNotFoundError:
            raise ArchError(f"{path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ArchError(f"{path}: invalid JSON: {error}") from None
        except RecursionError:
            raise ArchError(f"{path}: invalid JSON: nested too deep") from None
        except OSError as error:
            raise ArchError(f"{path}: cannot read: {error.strerror}") from None
        return cls.from_json(data, str(path))

    def validate(self, where: str = "arch") -> None:
        """Inputs refer to earlier nodes, names are unique, op nodes read one input, and every node feeds the output."""
        seen = {INPUT}
        for node in self.nodes:
            if node.name in seen:
                raise ArchError(f"{where}: node {node.name!r} appears twice")
            missing = [name for name in node.inputs if name not in seen]
            if missing:
                raise ArchError(
                    f"{where}: node {node.name!r} reads {missing[0]!r}, which is not an earlier node"
                )
            if not node.is_fusion and len(node.inputs) != 1:
                raise ArchError(
                    f"{where}: op node {node.name!r} reads exactly one input, got {len(node.inputs)}"
                )
            seen.add(node.name)
        used = {name for node in self.nodes for name in node.inputs} | {self.output}
        unused = [node.name for node in self.nodes if node.name not in used]
        if unused:
            raise ArchError(
                f"{where}: node {unused[0]!r} does not feed the output {self.output!r}"
            )


def describe(arch: Arch) -> str:
    """One sentence saying what the module does, for docstrings, reports and the CLI."""
    output = arch.nodes[-1]
    ops = [node for node in arch.nodes if not node.is_fusion]
    if output.is_fusion:
        shape = f"{len(output.inputs)} branches fused by `{output.op}`"
    else:
        shape = f"a chain of {len(ops)} op{'s' * (len(ops) != 1)}"
    names = ", ".join(dict.fromkeys(node.op for node in ops)) or "no ops"
    count = len(arch.nodes)
    return f"{count} node{'s' * (count != 1)}, {shape}; ops used: {names}."


def function_key(arch: Arch) -> str:
    """What `arch` computes, written as an expression of the input `x`: equal keys, the same module. Identity
    nodes pass their input on, a `sum` ignores branches dropped with `none`, `last` is its last branch, and node
    names do not matter."""
    exprs = {INPUT: "x"}
    for node in arch.nodes:
        exprs[node.name] = _node_expression(node, [exprs[i] for i in node.inputs])
    return exprs[arch.output]


def _node_expression(node: ArchNode, parts: list[str]) -> str:
    if node.op == "identity":
        expr = parts[0]
    elif node.op == "none":
        expr = ZERO
    elif node.op == "sum":
        kept = [part for part in parts if part != ZERO] or [ZERO]
        expr = kept[0] if len(kept) == 1 else f"sum({', '.join(kept)})"
    elif node.op == "last":
        expr = parts[-1]
    else:
        expr = f"{node.label}({', '.join(parts)})"
    return f"{expr} + γ·x" if node.residual else expr


def _require(data: dict, key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ArchError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def _optional_text(data: dict, key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ArchError(f"{where}: {key!r} must be a string")
    return value


def _metrics(metrics: Any, where: str) -> dict[str, float]:
    """The measured numbers an arch.json carries: names to finite numbers."""
    if not isinstance(metrics, dict):
        raise ArchError(f'{where}: "metrics" must be an object')
    for key, value in metrics.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ArchError(
                f'{where}: "metrics" {key!r} must be a finite number, got {value!r:.40}'
            )
    return dict(metrics)


def _node_from_json(data: Any, where: str) -> ArchNode:
    if not isinstance(data, dict):
        raise ArchError(f"{where}: a node must be an object")
    name = _require(data, "name", str, where)
    where = f"{where} ({name})"
    is_fusion = "fuse" in data
    op = _require(data, "fuse" if is_fusion else "op", str, where)
    inputs = data.get("from")
    if (
        not isinstance(inputs, list)
        or not inputs
        or not all(isinstance(i, str) for i in inputs)
    ):
        raise ArchError(f'{where}: "from" must be a non-empty list of node names')
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ArchError(f'{where}: "params" must be an object')
    residual = data.get("residual", False)
    if not isinstance(residual, bool):
        raise ArchError(f'{where}: "residual" must be true or false')
    # JSON has no tuples: the library's list-valued parameters (fixed weights) are tuples.
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    return ArchNode(name, op, params, tuple(inputs), residual, is_fusion)
