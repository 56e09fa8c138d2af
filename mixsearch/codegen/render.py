"""Render an Arch as a standalone, black-formatted PyTorch module file (Jinja template + library sources)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import mixsearch
from mixsearch.arch import (
    INPUT,
    RESIDUAL_INIT,
    RESIDUAL_PREFIX,
    Arch,
    ArchNode,
    describe,
)
from mixsearch.codegen.sources import collect_sources, import_block
from mixsearch.names import check_names
from mixsearch.ops import OPS
from mixsearch.templating import (
    PythonCode,
    python_identifier,
    python_literal,
    render,
)

DOC_WIDTH = 88
CLASS_DOC = "Takes and returns B x c1 x H x W, so it drops into a backbone or neck after any block."


@dataclass(frozen=True)
class _NodeView:
    name: str
    constructor: PythonCode
    call: PythonCode
    residual: str


def _node_class(node: ArchNode) -> type:
    info = OPS.get(node.op)
    variant, _ = info.resolve(node.params)
    return info.load(variant)


def _constructor(node: ArchNode) -> PythonCode:
    _, kwargs = OPS.get(node.op).resolve(node.params)
    args = ["c1"]
    if node.is_fusion:
        args.append(f"num_inputs={len(node.inputs)}")
    args += [
        f"{python_identifier(key)}={python_literal(value)}"
        for key, value in kwargs.items()
    ]
    return PythonCode(f"{_node_class(node).__name__}({', '.join(args)})")


def _call(node: ArchNode) -> PythonCode:
    names = ["x" if name == INPUT else python_identifier(name) for name in node.inputs]
    argument = f"[{', '.join(names)}]" if node.is_fusion else names[0]
    call = f"self.{python_identifier(node.name)}({argument})"
    residual = f" + self.{RESIDUAL_PREFIX}{node.name} * x" if node.residual else ""
    return PythonCode(call + residual)


def _describe_node(node: ArchNode) -> str:
    info = OPS.get(node.op)
    names = ["the input" if name == INPUT else f"`{name}`" for name in node.inputs]
    sources = (
        names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    )
    verb = "fuses" if node.is_fusion else "applies to"
    text = f"- `{node.name}` {verb} {sources}: `{node.label}`. {info.description}"
    if node.residual:
        text += f" Adds the input scaled by a learned weight (init {RESIDUAL_INIT})."
    return textwrap.fill(text, DOC_WIDTH, subsequent_indent="  ")


def render_module(arch: Arch, where: str = "arch") -> str:
    """The complete module file for `arch`, black-formatted (ArchError at `where` for an op or name it cannot
    emit)."""
    arch = OPS.check_arch(arch, where)
    check_names(arch, where)
    classes = list(dict.fromkeys(_node_class(node) for node in arch.nodes))
    sources = collect_sources(classes)
    nodes = [
        _NodeView(
            node.name,
            _constructor(node),
            _call(node),
            RESIDUAL_PREFIX + node.name if node.residual else "",
        )
        for node in arch.nodes
    ]
    summary = textwrap.fill(describe(arch), DOC_WIDTH)
    module_doc = render(
        "module_doc.txt.j2",
        class_name=arch.class_name,
        summary=summary,
        origin=textwrap.fill(arch.origin, DOC_WIDTH),
        node_lines=[_describe_node(node) for node in arch.nodes],
        metrics=", ".join(f"{key} {value:g}" for key, value in arch.metrics.items()),
        space_name=arch.name,
        source=arch.source or "unknown",
        version=mixsearch.__version__,
    )
    return render(
        "module.py.j2",
        module_doc=module_doc,
        class_name=arch.class_name,
        class_doc=f"{summary}\n\n{CLASS_DOC}",
        # The op library's own source: trusted code, emitted as it is.
        imports=PythonCode(import_block("\n".join(sources)).rstrip("\n")),
        sources=[PythonCode(source.rstrip("\n")) for source in sources],
        nodes=nodes,
        residual_init=RESIDUAL_INIT,
        output=arch.output,
    )
