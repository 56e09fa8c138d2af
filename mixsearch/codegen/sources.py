"""Collect the source code an emitted module needs: the op classes it uses and everything they reference.

Dependencies are found by name: any class, function or literal constant of `mixsearch.ops` that a source
mentions is emitted before it. Nothing is listed by hand, so emitted code cannot drift from the library.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Iterable
from typing import Any

LIBRARY_PACKAGE = "mixsearch.ops"
TYPING_NAMES = ("List", "Optional", "Tuple")


def _is_library_object(value: Any) -> bool:
    return (
        inspect.isclass(value) or inspect.isfunction(value)
    ) and value.__module__.startswith(LIBRARY_PACKAGE)


def _is_literal(value: Any) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError):
        return False


def _referenced_names(source: str) -> list[str]:
    names = [
        node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)
    ]
    return list(dict.fromkeys(names))


def _dependencies(obj: Any) -> list[tuple[str, Any]]:
    """(name, value) of library objects and literal constants that `obj`'s source refers to."""
    module_globals = vars(sys.modules[obj.__module__])
    deps = []
    for name in _referenced_names(textwrap.dedent(inspect.getsource(obj))):
        value = module_globals.get(name)
        if value is obj or name not in module_globals:
            continue
        if _is_library_object(value):
            deps.append((name, value))
        elif name.isupper() and _is_literal(value):
            deps.append((name, value))
    return deps


def collect_sources(objects: Iterable[Any]) -> list[str]:
    """Source snippets for `objects` and their dependencies, dependencies first, each emitted once."""
    ordered: list[tuple[str, Any]] = []

    def visit(name: str, value: Any) -> None:
        if any(name == seen for seen, _ in ordered):
            return
        if _is_library_object(value):
            for dep_name, dep_value in _dependencies(value):
                visit(dep_name, dep_value)
        ordered.append((name, value))

    for obj in objects:
        visit(obj.__name__, obj)
    return [
        (
            textwrap.dedent(inspect.getsource(value))
            if _is_library_object(value)
            else f"{name} = {value!r}\n"
        )
        for name, value in ordered
    ]


def import_block(body: str) -> str:
    """The imports `body` needs: torch and nn always, math / F / typing names only when used."""
    names = set(_referenced_names(body))
    stdlib = ["import math"] if "math" in names else []
    typing_names = [name for name in TYPING_NAMES if name in names]
    if typing_names:
        stdlib.append(f"from typing import {', '.join(typing_names)}")
    torch_imports = ["import torch"]
    if "F" in names:
        torch_imports.append("import torch.nn.functional as F")
    torch_imports.append("from torch import nn")
    return "\n".join(stdlib + [""] * bool(stdlib) + torch_imports) + "\n"
