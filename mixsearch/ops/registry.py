"""The op vocabulary: one `OpInfo` per op or fusion function name, and the factories that build them.

An op maps B x C x H x W to the same shape and is built as `cls(channels, **params)`; a fusion function maps a list
of such tensors to one and is built as `cls(channels, num_inputs, **params)`. Searchable parameters, their types
and defaults come from the constructor signature, so the class is the single source of truth.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import reprlib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from mixsearch.arch import Arch, ArchNode
from mixsearch.errors import ArchError

SIGNATURE_ARGS = {"channels", "num_inputs"}


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


class _ShortRepr(reprlib.Repr):
    """reprlib that also abbreviates list and dict subclasses (YAML's located containers)."""

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, list):
            return self.repr_list(x, level)
        if isinstance(x, dict):
            return self.repr_dict(x, level)
        return super().repr1(x, level)


_SHORT_REPR = _ShortRepr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxdict = 3, 4, 4
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 40


def short_repr(value: Any) -> str:
    """A repr short enough for a one-line error, cheap even for huge nested values (YAML alias bombs)."""
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class OpInfo:
    """An op or fusion function of the library.

    `variants` maps the value of a `variant` parameter to the class computing that published form; an op without
    variants has the single entry `{"default": cls}`.
    """

    name: str
    kind: str
    variants: dict[str, type[nn.Module]]
    allowed: dict[str, tuple] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)
    min_inputs: int = 2

    @property
    def is_fusion(self) -> bool:
        return self.kind == "fusion"

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))

    @property
    def description(self) -> str:
        """First line of the default class's docstring."""
        doc = inspect.getdoc(self.variants[self.default_variant]) or ""
        return doc.splitlines()[0] if doc else ""

    def params(self, variant: str | None = None) -> dict[str, ParamSpec]:
        """Searchable parameters of one variant (all variants' when None), plus `variant` itself if it has several."""
        classes = (
            list(self.variants.values())
            if variant is None
            else [self.variants[variant]]
        )
        specs: dict[str, ParamSpec] = {}
        if len(self.variants) > 1:
            specs["variant"] = ParamSpec(
                "variant", str, self.default_variant, tuple(self.variants)
            )
        for cls in classes:
            for name, spec in _signature_params(cls).items():
                specs.setdefault(
                    name,
                    ParamSpec(
                        name,
                        spec.type,
                        spec.default,
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

    def resolve(self, params: dict[str, Any]) -> tuple[type[nn.Module], dict[str, Any]]:
        """Check `params` and return the class to build and its keyword arguments (defaults filled in)."""
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
        return self.variants[variant], kwargs

    def canonical_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` checked and completed with defaults, with `variant` first when the op has several."""
        _, kwargs = self.resolve(params)
        if len(self.variants) > 1:
            return {"variant": params.get("variant", self.default_variant), **kwargs}
        return kwargs

    def build(
        self, channels: int, params: dict[str, Any], num_inputs: int = 1
    ) -> nn.Module:
        """Instantiate the op (or fusion function over `num_inputs` tensors) for `channels` channels."""
        cls, kwargs = self.resolve(params)
        if channels < 8:
            raise ValueError(f"{self.name} needs at least 8 channels, got {channels}")
        if self.is_fusion:
            return cls(channels, num_inputs, **kwargs)
        return cls(channels, **kwargs)


def _signature_params(cls: type) -> dict[str, ParamSpec]:
    hints = typing.get_type_hints(cls.__init__)
    specs = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or name in SIGNATURE_ARGS:
            continue
        hint = hints.get(name, type(parameter.default))
        base = typing.get_origin(hint) or hint
        specs[name] = ParamSpec(name, base, parameter.default)
    return specs


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
            params = info.canonical_params(node.params)
        except ValueError as error:
            raise ArchError(f"{where}: {error}") from None
        return dataclasses.replace(node, params=params)
