"""`SpaceGraph`: a SearchSpace compiled to a networkx DiGraph, checked, and turned into choices and Archs.

The graph holds every edge any choice could make (the union over choices). If that union is acyclic and every
node lies on a path from `input` to the output, every combination of choices is a valid architecture.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx

from mixsearch.arch import INPUT, Arch, ArchNode
from mixsearch.errors import SpaceError, did_you_mean
from mixsearch.space.schema import NodeSpec, OpConfig, SearchSpace


@dataclass(frozen=True)
class Choice:
    """One independent decision of the space: a key like `s.op`, `s.from`, `out.from[1]`, `out.residual`."""

    key: str
    node: str
    options: tuple[Any, ...]
    line: int


class SpaceGraph:
    """The compiled space: `graph` (networkx), the output candidates, and its list of choices."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.nodes = {node.name: node for node in space.nodes}
        self.graph = self._build_graph()
        # Cycles first: a cycle can leave no sink, which would read as "cannot tell the output".
        self._check_acyclic()
        self.outputs = self._find_outputs()
        self._check_paths()
        self.choices = self._collect_choices()
        self.order = self._data_flow_order()

    def _data_flow_order(self) -> list[str]:
        """Node names in an order where inputs come first, otherwise as written in the YAML."""
        position = {name: i for i, name in enumerate([INPUT, *self.nodes])}
        order = nx.lexicographical_topological_sort(
            self.graph, key=position.__getitem__
        )
        return [name for name in order if name != INPUT]

    @property
    def size(self) -> int:
        """Number of distinct choice combinations (architectures before pruning unused nodes)."""
        return math.prod(len(choice.options) for choice in self.choices)

    def _build_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_node(INPUT)
        for node in self.space.nodes:
            graph.add_node(node.name, spec=node)
        for node in self.space.nodes:
            for slot, line in zip(node.inputs, node.input_lines):
                for source in slot:
                    if source not in graph:
                        hint = did_you_mean(source, self.nodes).rstrip(" ")
                        self._fail(
                            f"node {node.name!r} reads {source!r}, which is not a node"
                            + (f"; {hint}" if hint else ""),
                            line,
                        )
                    if source == node.name:
                        self._fail(f"node {node.name!r} reads itself (cycle)", line)
                    graph.add_edge(source, node.name)
        return graph

    def _find_outputs(self) -> tuple[str, ...]:
        """The output candidates: `output:` (a node or a choice of nodes), else the one node feeding nothing."""
        for name in self.space.outputs:
            if name not in self.nodes:
                hint = did_you_mean(name, self.nodes).rstrip(" ")
                self._fail(
                    f"output {name!r} is not a node of the graph"
                    + (f"; {hint}" if hint else ""),
                    self.space.output_line,
                )
        if self.space.outputs:
            return self.space.outputs
        sinks = [name for name in self.nodes if self.graph.out_degree(name) == 0]
        if len(sinks) != 1:
            line = self.nodes[sinks[-1]].line if sinks else self.space.nodes[0].line
            self._fail(
                f"cannot tell the output: nodes {sinks} feed nothing; "
                "set 'output:' (a node, or a list to choose from) or connect them",
                line,
            )
        return (sinks[0],)

    def _check_acyclic(self) -> None:
        try:
            cycle = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return
        names = [edge[0] for edge in cycle] + [cycle[0][0]]
        first = max(
            (self.nodes[name] for name in names[:-1]), key=lambda node: node.line
        )
        self._fail(f"cycle in the graph: {' -> '.join(names)}", first.line)

    def _check_paths(self) -> None:
        reachable = nx.descendants(self.graph, INPUT)
        feeding = set(self.outputs).union(
            *(nx.ancestors(self.graph, name) for name in self.outputs)
        )
        for node in self.space.nodes:
            if node.name not in reachable:
                self._fail(
                    f"node {node.name!r} is not reachable from 'input'", node.line
                )
            if node.name not in feeding:
                self._fail(
                    f"node {node.name!r} does not reach the output {' or '.join(map(repr, self.outputs))}",
                    node.line,
                )

    def _collect_choices(self) -> list[Choice]:
        choices = []
        for node in self.space.nodes:
            kind = "fuse" if node.is_fusion else "op"
            choices.append(
                Choice(f"{node.name}.{kind}", node.name, node.options, node.line)
            )
            for i, (slot, line) in enumerate(zip(node.inputs, node.input_lines)):
                key = (
                    f"{node.name}.from[{i}]" if node.is_fusion else f"{node.name}.from"
                )
                choices.append(Choice(key, node.name, slot, line))
            choices.append(
                Choice(f"{node.name}.residual", node.name, node.residual, node.line)
            )
        choices.append(Choice("output", "", self.outputs, self.space.output_line))
        return choices

    def _fail(self, message: str, line: int) -> None:
        raise SpaceError(message, self.space.path, line)

    def resolve(self, assignment: dict[str, Any]) -> Arch:
        """The Arch for one value per choice key (missing keys take the first option); unused nodes dropped."""
        chosen = {
            choice.key: assignment.get(choice.key, choice.options[0])
            for choice in self.choices
        }
        for choice in self.choices:
            if chosen[choice.key] not in choice.options:
                raise ValueError(
                    f"{chosen[choice.key]!r} is not an option of {choice.key}"
                )
        resolved = {
            name: self._resolve_node(spec, chosen) for name, spec in self.nodes.items()
        }
        used = self._used_nodes(resolved, chosen["output"])
        order = [name for name in self.order if name in used]
        return Arch(
            name=self.space.name,
            class_name=self.space.class_name,
            nodes=tuple(resolved[name] for name in order),
            source=self.space.path,
        )

    def _resolve_node(self, spec: NodeSpec, chosen: dict[str, Any]) -> ArchNode:
        kind = "fuse" if spec.is_fusion else "op"
        config: OpConfig = chosen[f"{spec.name}.{kind}"]
        if spec.is_fusion:
            inputs = tuple(
                chosen[f"{spec.name}.from[{i}]"] for i in range(len(spec.inputs))
            )
        else:
            inputs = (chosen[f"{spec.name}.from"],)
        return ArchNode(
            spec.name,
            config.op,
            config.param_dict,
            inputs,
            chosen[f"{spec.name}.residual"],
            spec.is_fusion,
        )

    def _used_nodes(self, resolved: dict[str, ArchNode], output: str) -> set[str]:
        used, stack = set(), [output]
        while stack:
            name = stack.pop()
            if name != INPUT and name not in used:
                used.add(name)
                stack.extend(resolved[name].inputs)
        return used

    def contains(self, arch: Arch) -> bool:
        """Whether some combination of choices resolves to `arch` (same nodes, ops, settings, inputs)."""
        chosen: dict[str, Any] = {"output": arch.output}
        for node in arch.nodes:
            spec = self.nodes.get(node.name)
            if spec is None or spec.is_fusion != node.is_fusion:
                return False
            config = next(
                (o for o in spec.options if _same_op(o, node.op, node.params)), None
            )
            if config is None:
                return False
            kind = "fuse" if spec.is_fusion else "op"
            chosen[f"{node.name}.{kind}"] = config
            chosen[f"{node.name}.residual"] = node.residual
            if spec.is_fusion:
                chosen.update(
                    (f"{node.name}.from[{i}]", source)
                    for i, source in enumerate(node.inputs)
                )
            else:
                chosen[f"{node.name}.from"] = node.inputs[0]
        try:
            resolved = self.resolve(chosen)
        except ValueError:
            return False
        return [node.to_json() for node in resolved.nodes] == [
            node.to_json() for node in arch.nodes
        ]

    def sample(self, rng: random.Random) -> Arch:
        """A uniformly random choice combination, as an Arch."""
        return self.resolve(
            {choice.key: rng.choice(choice.options) for choice in self.choices}
        )

    def assignments(self) -> Iterator[dict[str, Any]]:
        """Every choice combination, as {choice key: option}."""
        keys = [choice.key for choice in self.choices]
        for combination in itertools.product(*(c.options for c in self.choices)):
            yield dict(zip(keys, combination))

    def enumerate(self) -> Iterator[Arch]:
        """Every distinct architecture of the space (choice combinations that prune to the same Arch once)."""
        seen = set()
        for assignment in self.assignments():
            arch = self.resolve(assignment)
            text = arch.dumps()
            if text not in seen:
                seen.add(text)
                yield arch

    def describe(self) -> Iterable[tuple[str, str]]:
        """(choice key, options) rows for a human-readable summary."""
        for choice in self.choices:
            labels = [
                option.label() if isinstance(option, OpConfig) else str(option).lower()
                for option in choice.options
            ]
            yield choice.key, ", ".join(labels)


def _same_op(config: OpConfig, op: str, params: dict[str, Any]) -> bool:
    """Whether `config` is op `op` with settings `params` (lists and tuples alike, as in JSON)."""
    return config.op == op and json.dumps(
        config.param_dict, sort_keys=True
    ) == json.dumps(params, sort_keys=True)


def compile_space(space: SearchSpace) -> SpaceGraph:
    """Check the space's graph and return its SpaceGraph; problems raise SpaceError with file and line."""
    return SpaceGraph(space)
