"""Which names an emitted module can use: node names become attributes and locals of the generated class, the
space's class name its class. The DSL checks them at parse time (errors at the node's line), the generator again
for an ARCH.json written by hand.
"""

from __future__ import annotations

import builtins
import keyword
import re

import torch
from torch import nn

from mixsearch.arch import INPUT, RESIDUAL_PREFIX, Arch
from mixsearch.errors import ArchError
from mixsearch.ops import OPS

_MODULE_ATTRIBUTES = set(dir(nn.Module()))
# Names the emitted file itself defines or imports, and the generated class's own locals.
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


def check_names(arch: Arch, where: str = "arch") -> None:
    """ArchError when a name of `arch` cannot be used in the emitted file (module, class or node name)."""
    if problem := class_name_problem(arch.class_name):
        raise ArchError(f"{where}: {problem}")
    if not arch.name.isidentifier():
        raise ArchError(
            f"{where}: name {arch.name!r} must be a valid identifier (it names the .py file)"
        )
    for node in arch.nodes:
        if problem := identifier_problem(node.name):
            raise ArchError(f"{where}: node {problem}")
