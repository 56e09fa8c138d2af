"""`Arch`: one fully resolved architecture, the contract between search and code generation.

Like DARTS' `Genotype` it is plain data: every choice is made, only the nodes the output depends on are kept, in
the order data flows. It round-trips through JSON so a person can read, diff and store it.
"""

from __future__ import annotations

import builtins
import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mixsearch.errors import ArchError
from mixsearch.ops import OPS

ARCH_FORMAT = "mixsearch.arch/1"
INPUT = "input"
RESIDUAL_PREFIX = "gamma_"
_MODULE_ATTRIBUTES = set(dir(nn.Module()))
_GENERATED_NAMES = {
    "torch",
    "nn",
    "F",
    "math",
    "typing",
    "List",
    "Tuple",
    "Optional",
    "x",
    "self",
    "c1",
}


def _op_class_names() -> set[str]:
    return {cls.__name__ for info in OPS for cls in info.variants.values()}


def identifier_problem(name: object) -> str | None:
    """Why `name` cannot name a node in generated code, or None if it can."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        return f"{name!r} is not a valid Python identifier"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name!r} is a Python keyword"
    if name == INPUT:
        return f"{name!r} is reserved for the module input"
    if name.startswith(RESIDUAL_PREFIX):
        return f"{name!r}: names starting with {RESIDUAL_PREFIX!r} are reserved for residual weights"
    if name.startswith("_"):
        return f"{name!r}: names starting with '_' are reserved"
    if (
        name in _GENERATED_NAMES
        or hasattr(builtins, name)
        or hasattr(torch, name)
        or name in _MODULE_ATTRIBUTES
        or name in _op_class_names()
    ):
        return f"{name!r} would shadow a Python, torch or generated name"
    return None


def class_name_problem(name: object) -> str | None:
    """Why `name` cannot be the generated class's name, or None if it can."""
    if not isinstance(name, str):
        return "class name must be CamelCase letters and digits starting with a capital"
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
        return f"class name {name!r} must be CamelCase letters and digits starting with a capital"
    if (
        name in _op_class_names()
        or hasattr(torch, name)
        or hasattr(nn, name)
        or hasattr(builtins, name)
    ):
        return f"class name {name!r} would shadow a torch or generated name"
    return None


@dataclass(frozen=True)
class ArchNode:
    """One resolved node: an op on one input, or a fusion function over several; optional learned residual."""

    name: str
    op: str
    params: dict[str, Any]
    inputs: tuple[str, ...]
    residual: bool = False

    @property
    def is_fusion(self) -> bool:
        return OPS.get(self.op).is_fusion

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
        """Build and validate an Arch from parsed JSON; problems raise ArchError naming the node."""
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
            source=str(data.get("source", "")),
            metrics=dict(data.get("metrics", {})),
        )
        arch.validate(where)
        return arch

    @classmethod
    def load(cls, path: str | Path) -> Arch:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ArchError(f"{path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ArchError(f"{path}: invalid JSON: {error}") from None
        return cls.from_json(data, str(path))

    def validate(self, where: str = "arch") -> None:
        """Names are legal identifiers, inputs refer to earlier nodes, and every node feeds the output."""
        if problem := class_name_problem(self.class_name):
            raise ArchError(f"{where}: {problem}")
        if not self.name.isidentifier():
            raise ArchError(
                f"{where}: name {self.name!r} must be a valid identifier (it names the .py file)"
            )
        seen = {INPUT}
        for node in self.nodes:
            if problem := identifier_problem(node.name):
                raise ArchError(f"{where}: node {problem}")
            if node.name in seen:
                raise ArchError(f"{where}: node {node.name!r} appears twice")
            missing = [name for name in node.inputs if name not in seen]
            if missing:
                raise ArchError(
                    f"{where}: node {node.name!r} reads {missing[0]!r}, which is not an earlier node"
                )
            seen.add(node.name)
        used = {name for node in self.nodes for name in node.inputs} | {self.output}
        unused = [node.name for node in self.nodes if node.name not in used]
        if unused:
            raise ArchError(
                f"{where}: node {unused[0]!r} does not feed the output {self.output!r}"
            )


def _require(data: dict, key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ArchError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def _node_from_json(data: Any, where: str) -> ArchNode:
    if not isinstance(data, dict):
        raise ArchError(f"{where}: a node must be an object")
    name = _require(data, "name", str, where)
    where = f"{where} ({name})"
    is_fusion = "fuse" in data
    op = _require(data, "fuse" if is_fusion else "op", str, where)
    if op not in OPS:
        raise ArchError(f"{where}: unknown op {op!r}")
    info = OPS.get(op)
    if info.is_fusion != is_fusion:
        raise ArchError(
            f"{where}: {op!r} is {'a fusion function' if info.is_fusion else 'not a fusion function'}"
        )
    inputs = data.get("from")
    if (
        not isinstance(inputs, list)
        or not inputs
        or not all(isinstance(i, str) for i in inputs)
    ):
        raise ArchError(f'{where}: "from" must be a non-empty list of node names')
    if not is_fusion and len(inputs) != 1:
        raise ArchError(
            f"{where}: an op node reads exactly one input, got {len(inputs)}"
        )
    if is_fusion and len(inputs) < info.min_inputs:
        raise ArchError(
            f"{where}: fusion {op!r} needs at least {info.min_inputs} inputs"
        )
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ArchError(f'{where}: "params" must be an object')
    try:
        resolved = info.canonical_params(params)
    except ValueError as error:
        raise ArchError(f"{where}: {error}") from None
    residual = data.get("residual", False)
    if not isinstance(residual, bool):
        raise ArchError(f'{where}: "residual" must be true or false')
    return ArchNode(name, op, resolved, tuple(inputs), residual)
