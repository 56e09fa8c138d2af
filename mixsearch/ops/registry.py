"""The op vocabulary: one `OpInfo` per op or fusion function name, and the factories that build them.

An op maps B x C x H x W to the same shape and is built as `cls(channels, **params)`; a fusion function maps a list
of such tensors to one and is built as `cls(channels, num_inputs, **params)`. Searchable parameters, their types
and defaults come from the constructor signature, so the class is the single source of truth; it is read from
the class's source, so that checking a space needs no torch.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mixsearch.arch import Arch, ArchNode
from mixsearch.errors import ArchError, short_repr

if TYPE_CHECKING:
    from torch import nn

SIGNATURE_ARGS = {"channels", "num_inputs"}
# No int setting of an op needs more: a bound keeps sizes derived from settings (ECA's kernel) buildable.
INT_LIMIT = 1 << 16
# The fewest channels an op of the library is built for; the DSL refuses a narrower target shape.
MIN_CHANNELS = 8


@dataclass(frozen=True)
class ParamSpec:
    """One searchable hyper-parameter: its type, default and the values it accepts."""

    name: str
    type: type
    default: Any
    allowed: tuple | None = None
    minimum: float | None = None

    def check(self, value: Any) -> Any:
        """Return `value` converted to this parameter's type, or raise ValueError saying what is accepted."""
        if isinstance(value, (list, tuple)) and tuple(value) == self.default == ():
            return ()
        value = self._coerce(value)
        numbers = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            raise ValueError(f"{self.name} must be finite, got {short_repr(value)}")
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and abs(value) > INT_LIMIT
        ):
            raise ValueError(
                f"{self.name} must be at most {INT_LIMIT} in size, got {short_repr(value)}"
            )
        if self.allowed is not None and value not in self.allowed:
            raise ValueError(
                f"{self.name} must be one of {list(self.allowed)}, got {short_repr(value)}"
            )
        if self.minimum is not None and value < self.minimum:
            raise ValueError(
                f"{self.name} must be >= {self.minimum}, got {short_repr(value)}"
            )
        return value

    def _coerce(self, value: Any) -> Any:
        expected = "a list of numbers" if self.type is tuple else self.type.__name__
        if self.type is tuple and isinstance(value, (list, tuple)) and value:
            if all(_is_number(v) for v in value):
                return tuple(_to_float(self.name, v) for v in value)
        elif self.type is float and _is_number(value):
            return _to_float(self.name, value)
        elif isinstance(value, self.type) and isinstance(value, bool) == (
            self.type is bool
        ):
            return value
        raise ValueError(f"{self.name} must be {expected}, got {short_repr(value)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_float(name: str, value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float") from None


Variant = str | type
"""An op class, or its dotted import path (`mixsearch.ops.eca.EfficientChannelAttention`), imported only to build."""


@dataclass(frozen=True)
class OpInfo:
    """An op or fusion function of the library.

    `variants` maps the value of a `variant` parameter to the class computing that published form; an op without
    variants has the single entry `{"default": ...}`. Parameters, defaults and description are read from the
    class's source, so checking a space never imports torch. `checks` holds, per variant, a check of the settings
    (given the number of inputs) that the parameter specs cannot express; the class calls the same function.
    """

    name: str
    kind: str
    variants: dict[str, Variant]
    allowed: dict[str, tuple] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)
    min_inputs: int = 2
    checks: dict[str, Callable[[int, dict[str, Any]], object]] = field(
        default_factory=dict
    )

    @property
    def is_fusion(self) -> bool:
        return self.kind == "fusion"

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))

    @property
    def description(self) -> str:
        """First line of the default class's docstring."""
        doc = _class_source(self.variants[self.default_variant]).docstring
        return doc.splitlines()[0] if doc else ""

    def class_name(self, variant: str) -> str:
        """The name of a variant's class, without importing it."""
        ref = self.variants[variant]
        return ref.rsplit(".", 1)[1] if isinstance(ref, str) else ref.__name__

    def load(self, variant: str) -> type[nn.Module]:
        """A variant's class (importing its module, and so torch)."""
        ref = self.variants[variant]
        if not isinstance(ref, str):
            return ref
        module, name = ref.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)

    def params(self, variant: str | None = None) -> dict[str, ParamSpec]:
        """Searchable parameters of one variant (all variants' when None), plus `variant` itself if it has several."""
        refs = (
            list(self.variants.values())
            if variant is None
            else [self.variants[variant]]
        )
        specs: dict[str, ParamSpec] = {}
        if len(self.variants) > 1:
            specs["variant"] = ParamSpec(
                "variant", str, self.default_variant, tuple(self.variants)
            )
        for ref in refs:
            for name, (kind, default) in _class_source(ref).params.items():
                specs.setdefault(
                    name,
                    ParamSpec(
                        name,
                        kind,
                        default,
                        self.allowed.get(name),
                        self.minimum.get(name),
                    ),
                )
        return specs

    def param_text(self) -> str:
        """`kernel=7 {3, 5, 7}; variant='paper' {paper, timm}`: each parameter's default and allowed values."""
        parts = []
        for spec in self.params().values():
            allowed = (
                f" {{{', '.join(map(str, spec.allowed))}}}" if spec.allowed else ""
            )
            parts.append(f"{spec.name}={spec.default!r}{allowed}")
        return "; ".join(parts) or "-"

    def resolve(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Check `params` and return the variant and its keyword arguments, defaults filled in (ValueError says
        what is wrong)."""
        params = dict(params)
        variant = params.pop("variant", self.default_variant)
        if variant not in self.variants:
            raise ValueError(
                f"variant must be one of {list(self.variants)}, got {variant!r}"
            )
        specs = self.params(variant)
        specs.pop("variant", None)
        unknown = sorted(set(params) - set(specs))
        if unknown:
            raise ValueError(
                f"unknown parameter {unknown[0]!r} for {self.name}; accepted: {sorted(specs) or 'none'}"
            )
        kwargs = {name: spec.default for name, spec in specs.items()}
        kwargs.update(
            {name: specs[name].check(value) for name, value in params.items()}
        )
        return variant, kwargs

    def check(
        self, params: dict[str, Any], num_inputs: int = 1
    ) -> tuple[str, dict[str, Any]]:
        """`resolve`, plus the variant's check for a node with `num_inputs` inputs: what building would reject."""
        variant, kwargs = self.resolve(params)
        if variant in self.checks:
            self.checks[variant](num_inputs, kwargs)
        return variant, kwargs

    def canonical_params(
        self, params: dict[str, Any], num_inputs: int | None = None
    ) -> dict[str, Any]:
        """`params` checked (for `num_inputs` inputs, when given) and completed with defaults, with `variant` first
        when the op has several."""
        if num_inputs is None:
            variant, kwargs = self.resolve(params)
        else:
            variant, kwargs = self.check(params, num_inputs)
        if len(self.variants) > 1:
            return {"variant": variant, **kwargs}
        return kwargs

    def build(
        self, channels: int, params: dict[str, Any], num_inputs: int = 1
    ) -> nn.Module:
        """Instantiate the op (or fusion function over `num_inputs` tensors) for `channels` channels."""
        variant, kwargs = self.check(params, num_inputs)
        if channels < MIN_CHANNELS:
            raise ValueError(
                f"{self.name} needs at least {MIN_CHANNELS} channels, got {channels}"
            )
        cls = self.load(variant)
        if self.is_fusion:
            return cls(channels, num_inputs, **kwargs)
        return cls(channels, **kwargs)


@dataclass(frozen=True)
class ClassSource:
    """What the library needs of an op class without importing it: its docstring and constructor parameters."""

    docstring: str
    params: dict[str, tuple[type, Any]]


# How a constructor annotation reads in the source, and the type a space's value must have.
ANNOTATION_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


@cache
def _module_classes(module: str) -> dict[str, ast.ClassDef]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"cannot find the source of module {module!r}")
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


@cache
def _class_source(ref: Variant) -> ClassSource:
    """The docstring and constructor parameters of a class, read from its module's source; a class without an
    `__init__` of its own takes its base's (a base defined in the same module)."""
    module, name = (
        ref.rsplit(".", 1)
        if isinstance(ref, str)
        else (ref.__module__, ref.__qualname__)
    )
    classes = _module_classes(module)
    node = classes[name]
    init = _init_of(node, classes)
    params = _init_params(init) if init is not None else {}
    return ClassSource(ast.get_docstring(node) or "", params)


def _init_of(
    node: ast.ClassDef, classes: dict[str, ast.ClassDef]
) -> ast.FunctionDef | None:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return item
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            return _init_of(classes[base.id], classes)
    return None


def _init_params(init: ast.FunctionDef) -> dict[str, tuple[type, Any]]:
    args = init.args.args
    defaults = [None] * (len(args) - len(init.args.defaults)) + init.args.defaults
    params = {}
    for arg, default in zip(args, defaults):
        if arg.arg == "self" or arg.arg in SIGNATURE_ARGS:
            continue
        value = ast.literal_eval(default) if default is not None else None
        annotation = ast.unparse(arg.annotation) if arg.annotation else ""
        if annotation.startswith(("Tuple", "tuple")):
            kind = tuple
        else:
            kind = ANNOTATION_TYPES.get(annotation, type(value))
        params[arg.arg] = (kind, value)
    return params


class Registry:
    """Name -> OpInfo table with helpful errors for unknown names."""

    def __init__(self, infos: list[OpInfo]):
        self._infos = {info.name: info for info in infos}

    def __contains__(self, name: object) -> bool:
        return name in self._infos

    def __iter__(self):
        return iter(self._infos.values())

    def get(self, name: str) -> OpInfo:
        if name not in self._infos:
            raise KeyError(
                f"unknown op {name!r}; known: {', '.join(sorted(self._infos))}"
            )
        return self._infos[name]

    def register(self, info: OpInfo) -> OpInfo:
        """Add an op of your own (a module class with the library's constructor conventions) under a new name."""
        if info.name in self._infos:
            raise ValueError(f"an op named {info.name!r} is already registered")
        self._infos[info.name] = info
        return info

    def unregister(self, name: str) -> None:
        """Remove an op added with `register`."""
        self.get(name)
        del self._infos[name]

    def names(
        self, predicate: Callable[[OpInfo], bool] = lambda info: True
    ) -> list[str]:
        return [name for name, info in self._infos.items() if predicate(info)]

    def check_arch(self, arch: Arch, where: str = "arch") -> Arch:
        """`arch` with every node's op checked against the library and its settings completed with defaults.

        Problems (an unknown op, an op used as a fusion or the reverse, too few inputs, a bad setting) raise
        ArchError naming the node."""
        return dataclasses.replace(
            arch,
            nodes=tuple(self._checked_node(node, where) for node in arch.nodes),
        )

    def _checked_node(self, node: ArchNode, where: str) -> ArchNode:
        where = f"{where}: node {node.name!r}"
        if node.op not in self._infos:
            raise ArchError(f"{where}: unknown op {node.op!r}")
        info = self._infos[node.op]
        if info.is_fusion != node.is_fusion:
            kind = "a fusion function" if info.is_fusion else "not a fusion function"
            raise ArchError(f"{where}: {node.op!r} is {kind}")
        if info.is_fusion and len(node.inputs) < info.min_inputs:
            raise ArchError(
                f"{where}: fusion {node.op!r} needs at least {info.min_inputs} inputs"
            )
        try:
            params = info.canonical_params(node.params, len(node.inputs))
        except ValueError as error:
            raise ArchError(f"{where}: {error}") from None
        return dataclasses.replace(node, params=params)
