"""Safe YAML loading that remembers the line of every mapping key and list item, for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mixsearch.errors import SpaceError


class LocatedDict(dict):
    """A mapping from YAML; `line` is where it starts, `lines[key]` where each key is written."""

    line: int = 0

    def __init__(self):
        super().__init__()
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class LocatedList(list):
    """A sequence from YAML; `line` is where it starts, `lines[i]` where item i is written."""

    line: int = 0

    def __init__(self):
        super().__init__()
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


class _Loader(yaml.SafeLoader):
    """SafeLoader building Located containers; duplicate keys are an error, not a silent overwrite."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode):
    mapping = LocatedDict()
    mapping.line = node.start_mark.line + 1
    yield mapping
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise SpaceError(
                f"a mapping key must be a plain name, got {type(key).__name__}",
                line=line,
            )
        if key in mapping:
            raise SpaceError(
                f"duplicate name {key!r} (first written on line {mapping.lines[key]})",
                line=line,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode):
    sequence = LocatedList()
    sequence.line = node.start_mark.line + 1
    yield sequence
    for item_node in node.value:
        sequence.append(loader.construct_object(item_node, deep=True))
        sequence.lines.append(item_node.start_mark.line + 1)


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence
)


def load_located_yaml(text: str, path: str | Path) -> Any:
    """Parse YAML text safely into Located containers; any problem becomes a SpaceError naming file and line."""
    try:
        return yaml.load(
            text, Loader=_Loader
        )  # noqa: S506 - _Loader derives from SafeLoader
    except SpaceError as error:
        raise SpaceError(error.message, path, error.line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise SpaceError(
            f"invalid YAML: {error.problem or error.context}", path, line
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise SpaceError(f"invalid YAML: {error}", path) from None
