"""The search-space DSL: YAML text -> `SearchSpace`, a typed spec whose every part knows its line.

    name: mixattn
    ops:                                   # named candidate sets
      channel: [se: {reduction: [8, 16]}, eca, none]
    graph:
      c:   {op: channel, from: input}
      s:   {op: [cbam_spatial, coord], from: [c, input]}        # a list is a choice
      out: {fuse: [sum, softmax_weights], from: [s, c], residual: [true, false]}

Any list is a choice: candidate ops, parameter values, an op node's input, one input slot of a fusion node,
residual on/off, and the output node (`output: [a, b]`; default: the one node nothing reads). Graph-level checks
(cycles, reachability) live in `mixsearch.space.graph`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixsearch.arch import op_label
from mixsearch.errors import SpaceError, short_repr, unknown
from mixsearch.inputs import InputTooLarge, read_input
from mixsearch.names import (
    class_name_problem,
    identifier_problem,
    module_name_problem,
)
from mixsearch.ops import OPS
from mixsearch.resources import example_spaces, find_space
from mixsearch.space.located_yaml import LocatedDict, LocatedList, load_located_yaml
from mixsearch.space.sections import (
    Constraints,
    ProxySpec,
    SearchSpec,
    Target,
)
from mixsearch.space.settings import (
    parse_constraints,
    parse_export,
    parse_proxy,
    parse_search,
    parse_target,
)
from mixsearch.yolo import UltralyticsExport

TOP_LEVEL_KEYS = (
    "name",
    "class_name",
    "description",
    "ops",
    "graph",
    "output",
    "target",
    "constraints",
    "proxy",
    "export",
    "search",
)
NODE_KEYS = ("op", "fuse", "from", "residual")
VALIDATION_CHANNELS = 16
# The most op configurations the candidates of one node may expand to (the shipped spaces: 9): each one is
# profiled on the device and becomes a branch of the DARTS supernet. It also bounds the work of parsing a node.
MAX_NODE_OPTIONS = 1000
_CLASS_NAME_TAILS = ("attention", "attn", "block", "module")


@dataclass(frozen=True)
class OpConfig:
    """A concrete op: its name and every parameter resolved (hashable, so it can be a choice option)."""

    op: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def label(self) -> str:
        return op_label(self.op, self.param_dict)


@dataclass(frozen=True)
class NodeSpec:
    """A graph node: candidate ops (or fusion functions), input slots of alternatives, residual choice."""

    name: str
    is_fusion: bool
    options: tuple[OpConfig, ...]
    inputs: tuple[tuple[str, ...], ...]
    residual: tuple[bool, ...]
    line: int
    input_lines: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class SearchSpace:
    """A parsed, type-checked search space (graph structure not yet checked)."""

    name: str
    class_name: str
    description: str
    nodes: tuple[NodeSpec, ...]
    outputs: tuple[str, ...]
    path: str
    output_line: int = 0
    target: Target = Target()
    constraints: Constraints = Constraints()
    constraints_line: int = 0
    proxy: ProxySpec = ProxySpec()
    export: UltralyticsExport = UltralyticsExport()
    search: SearchSpec = SearchSpec()

    def node(self, name: str) -> NodeSpec:
        return next(node for node in self.nodes if node.name == name)


def load_space(path: str | Path) -> SearchSpace:
    """Read and parse a space file (or a shipped example, by name); problems raise SpaceError naming file and line."""
    path = find_space(path)
    try:
        text = read_input(path)
    except InputTooLarge as error:
        raise SpaceError(str(error), path) from None
    except FileNotFoundError:
        examples = ", ".join(example_spaces())
        raise SpaceError(
            f"no such file (or give a shipped example by name: {examples})", path
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpaceError(f"cannot read: {error}", path) from None
    return parse_space(text, path)


def parse_space(text: str, path: str | Path = "<space>") -> SearchSpace:
    """Parse YAML text into a SearchSpace; any problem raises SpaceError naming the file and line."""
    try:
        return _Parser(str(path)).parse(load_located_yaml(text, path))
    except SpaceError as error:
        raise SpaceError(error.message, path, error.line) from None


def _check_expansion(count: int, line: int) -> None:
    """SpaceError when a node's candidates expand to more than MAX_NODE_OPTIONS op configurations."""
    if count > MAX_NODE_OPTIONS:
        raise SpaceError(
            f"the candidates of this node expand to more than {MAX_NODE_OPTIONS:,} ops (every combination of "
            "parameter values counts); that many can neither be profiled nor searched: narrow the choice",
            line=line,
        )


def derive_class_name(name: str) -> str:
    """`mix_attn`, `mix-attn` and `mixattn` all become `MixAttn`."""
    words = []
    for word in re.split(r"[^A-Za-z0-9]+", name):
        tail = next(
            (
                t
                for t in _CLASS_NAME_TAILS
                if word.lower().endswith(t) and len(word) > len(t)
            ),
            None,
        )
        words += [word[: -len(tail)], tail] if tail else [word]
    class_name = "".join(word[:1].upper() + word[1:] for word in words if word)
    return class_name if class_name[:1].isalpha() else f"Attn{class_name}"


class _Parser:
    """Walks the located YAML tree; every error carries the line of the offending item."""

    def __init__(self, path: str):
        self.path = path
        self.sets: dict[str, tuple[LocatedList | Any, int]] = {}

    def parse(self, doc: Any) -> SearchSpace:
        if not isinstance(doc, LocatedDict):
            raise SpaceError(
                "a search space must be a mapping with 'name' and 'graph'", line=1
            )
        self._check_keys(doc, TOP_LEVEL_KEYS, "top level")
        name = self._name(doc)
        class_name = doc.get("class_name", derive_class_name(name))
        if problem := class_name_problem(class_name):
            raise SpaceError(
                problem,
                line=(
                    doc.line_of("class_name")
                    if "class_name" in doc
                    else doc.line_of("name")
                ),
            )
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise SpaceError(
                "'description' must be text", line=doc.line_of("description")
            )
        self._candidate_sets(doc.get("ops", LocatedDict()), doc.line_of("ops"))
        graph = doc.get("graph")
        if not isinstance(graph, LocatedDict) or not graph:
            raise SpaceError(
                "'graph' must be a non-empty mapping of node names to nodes",
                line=doc.line_of("graph"),
            )
        nodes = tuple(
            self._node(str(key), value, graph.line_of(key))
            for key, value in graph.items()
        )
        outputs = (
            self._alternatives(doc["output"], doc.line_of("output"), "output")
            if "output" in doc
            else ()
        )
        target = (
            parse_target(doc["target"], doc.line_of("target"))
            if "target" in doc
            else Target()
        )
        constraints = (
            parse_constraints(doc["constraints"], doc.line_of("constraints"))
            if "constraints" in doc
            else Constraints()
        )
        export = (
            parse_export(doc["export"], doc.line_of("export"))
            if "export" in doc
            else UltralyticsExport()
        )
        proxy = (
            parse_proxy(doc["proxy"], doc.line_of("proxy"), self.path)
            if "proxy" in doc
            else ProxySpec()
        )
        search = (
            parse_search(doc["search"], doc.line_of("search"))
            if "search" in doc
            else SearchSpec()
        )
        return SearchSpace(
            name=name,
            class_name=class_name,
            description=description,
            nodes=nodes,
            outputs=outputs,
            path=self.path,
            output_line=doc.line_of("output"),
            target=target,
            constraints=constraints,
            constraints_line=doc.line_of("constraints"),
            proxy=proxy,
            export=export,
            search=search,
        )

    def _check_keys(
        self, mapping: LocatedDict, allowed: tuple[str, ...], where: str
    ) -> None:
        for key in mapping:
            if key not in allowed:
                raise SpaceError(
                    unknown("key", key, allowed, "accepted", f" in {where}"),
                    line=mapping.line_of(key),
                )

    def _name(self, doc: LocatedDict) -> str:
        name = doc.get("name")
        if problem := module_name_problem(name):
            raise SpaceError(f"'name': {problem}", line=doc.line_of("name"))
        return name

    def _candidate_sets(self, sets: Any, line: int) -> None:
        if not isinstance(sets, LocatedDict):
            raise SpaceError(
                "'ops' must map set names to lists of candidate ops", line=line
            )
        for key, value in sets.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise SpaceError(
                    f"candidate set name {key!r} must be an identifier",
                    line=sets.line_of(key),
                )
            if key in OPS:
                raise SpaceError(
                    f"candidate set {key!r} has the name of an op; rename the set",
                    line=sets.line_of(key),
                )
            self.sets[key] = (value, sets.line_of(key))

    def _node(self, name: str, spec: Any, line: int) -> NodeSpec:
        if problem := identifier_problem(name):
            raise SpaceError(f"node {problem}", line=line)
        if not isinstance(spec, LocatedDict):
            raise SpaceError(
                f"node {name!r} must be a mapping like {{op: ..., from: ...}}",
                line=line,
            )
        self._check_keys(spec, NODE_KEYS, f"node {name!r}")
        if ("op" in spec) == ("fuse" in spec):
            raise SpaceError(
                f"node {name!r} needs exactly one of 'op' or 'fuse'", line=line
            )
        is_fusion = "fuse" in spec
        key = "fuse" if is_fusion else "op"
        if "from" not in spec:
            raise SpaceError(f"node {name!r} needs 'from' (its input)", line=line)
        inputs, input_lines = self._inputs(
            name, spec["from"], spec.line_of("from"), is_fusion
        )
        options = self._options(spec[key], spec.line_of(key), is_fusion, len(inputs))
        residual = self._residual(spec.get("residual", False), spec.line_of("residual"))
        return NodeSpec(name, is_fusion, options, inputs, residual, line, input_lines)

    def _inputs(self, name: str, value: Any, line: int, is_fusion: bool):
        if not is_fusion:
            return (self._alternatives(value, line),), (line,)
        if not isinstance(value, LocatedList):
            raise SpaceError(
                f"fusion node {name!r} needs a list of at least two inputs in 'from'",
                line=line,
            )
        slots = tuple(
            self._alternatives(item, value.line_of(i)) for i, item in enumerate(value)
        )
        if len(slots) < 2:
            raise SpaceError(
                f"fusion node {name!r} has one input; a fusion needs at least two",
                line=line,
            )
        return slots, tuple(value.line_of(i) for i in range(len(slots)))

    def _alternatives(
        self, value: Any, line: int, what: str = "input"
    ) -> tuple[str, ...]:
        names = value if isinstance(value, LocatedList) else [value]
        if not names:
            raise SpaceError(f"empty choice of {what}", line=line)
        for i, item in enumerate(names):
            if not isinstance(item, str):
                where = names.line_of(i) if isinstance(names, LocatedList) else line
                raise SpaceError(
                    f"an {what} must be a node name, got {short_repr(item)}",
                    line=where,
                )
        if len(set(names)) != len(names):
            raise SpaceError(
                f"{what} choice {list(names)} lists a node twice", line=line
            )
        return tuple(names)

    def _residual(self, value: Any, line: int) -> tuple[bool, ...]:
        values = value if isinstance(value, LocatedList) else [value]
        if not values:
            raise SpaceError("empty choice for 'residual'", line=line)
        if not all(isinstance(v, bool) for v in values) or len(set(values)) != len(
            values
        ):
            raise SpaceError(
                "'residual' must be true, false or [true, false]", line=line
            )
        return tuple(values)

    def _options(
        self, value: Any, line: int, is_fusion: bool, num_inputs: int
    ) -> tuple[OpConfig, ...]:
        options: dict[OpConfig, None] = {}
        expanded = 0
        for candidate, candidate_line in self._expand_candidates(
            value, line, set(), set()
        ):
            configs = self._configs(candidate, candidate_line, is_fusion, num_inputs)
            expanded += len(configs)
            _check_expansion(expanded, line)
            options.update(dict.fromkeys(configs))
        return tuple(options)

    def _expand_candidates(
        self, value: Any, line: int, seen_sets: set[str], expanded: set[str]
    ) -> Iterator[tuple[Any, int]]:
        """Yield (candidate, line) with candidate sets replaced by their members; a set already `expanded` for
        this node adds nothing again, so sets that list one another many times over expand once each.
        """
        items = value if isinstance(value, LocatedList) else [value]
        if not items:
            raise SpaceError("empty choice of ops", line=line)
        for i, item in enumerate(items):
            item_line = items.line_of(i) if isinstance(items, LocatedList) else line
            if isinstance(item, str) and item in self.sets:
                if item in seen_sets:
                    raise SpaceError(
                        f"candidate set {item!r} includes itself", line=item_line
                    )
                if item in expanded:
                    continue
                expanded.add(item)
                members, set_line = self.sets[item]
                yield from self._expand_candidates(
                    members, set_line, seen_sets | {item}, expanded
                )
            else:
                yield item, item_line

    def _configs(
        self, candidate: Any, line: int, is_fusion: bool, num_inputs: int
    ) -> list[OpConfig]:
        op, params = self._split_candidate(candidate, line)
        if op not in OPS:
            kind = "fusion function" if is_fusion else "op"
            known = OPS.names(lambda info: info.is_fusion == is_fusion)
            raise SpaceError(unknown(kind, op, known), line=line)
        info = OPS.get(op)
        if info.is_fusion != is_fusion:
            hint = "use it under 'fuse'" if info.is_fusion else "use it under 'op'"
            raise SpaceError(
                f"{op!r} is {'a fusion function' if info.is_fusion else 'an op'}; {hint}",
                line=line,
            )
        choices = self._param_choices(info, params, line)
        _check_expansion(math.prod(map(len, choices.values())), line)
        configs: dict[OpConfig, None] = {}
        for combo in itertools.product(*choices.values()):
            config = self._config(info, dict(zip(choices, combo)))
            try:
                info.check(config.param_dict, num_inputs)
            except ValueError as error:
                raise SpaceError(f"{config.label()}: {error}", line=line) from None
            configs[config] = None
        return list(configs)

    def _split_candidate(self, candidate: Any, line: int) -> tuple[str, LocatedDict]:
        if isinstance(candidate, str):
            return candidate, LocatedDict()
        if isinstance(candidate, LocatedDict) and len(candidate) == 1:
            ((op, params),) = candidate.items()
            if params is None:
                params = LocatedDict()
            if isinstance(op, str) and isinstance(params, LocatedDict):
                return op, params
        raise SpaceError(
            f"a candidate must be an op name or 'op: {{param: value}}', got {short_repr(candidate)}",
            line=line,
        )

    def _param_choices(self, info, params: LocatedDict, line: int) -> dict[str, tuple]:
        specs = info.params()
        choices = {}
        for key, value in params.items():
            key_line = params.line_of(key)
            if key not in specs:
                raise SpaceError(
                    unknown("parameter", key, specs, "accepted", f" for {info.name}"),
                    line=key_line,
                )
            spec = specs[key]
            is_choice = isinstance(value, LocatedList) and (
                spec.type is not tuple or any(isinstance(v, LocatedList) for v in value)
            )
            values = list(value) if is_choice else [value]
            if not values:
                raise SpaceError(f"empty choice for parameter {key!r}", line=key_line)
            try:
                choices[key] = tuple(dict.fromkeys(spec.check(v) for v in values))
            except ValueError as error:
                raise SpaceError(f"{info.name}: {error}", line=key_line) from None
        return choices

    def _config(self, info, params: dict[str, Any]) -> OpConfig:
        variant = params.get("variant", info.default_variant)
        accepted = info.params(variant)
        kept = {k: v for k, v in params.items() if k in accepted}
        return OpConfig(info.name, tuple(info.canonical_params(kept).items()))
