"""Safe YAML loading that remembers the line of every mapping key and list item, for error messages."""

from __future__ import annotations

import re
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

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # PyYAML's own constructors fail on some tagged values with plain Python errors (`!!timestamp x`
        # raises AttributeError, `!!bool x` KeyError): report them at the value, like any YAML error.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError):
            tag = node.tag.rsplit(":", 1)[-1]
            if isinstance(node, yaml.ScalarNode):
                value = repr(node.value)
            else:
                value = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {value} as !!{tag}", node.start_mark
            ) from None


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
# YAML 1.1 (PyYAML's) reads `1e-4` as a string since the mantissa has no dot: read it as a float,
# as YAML 1.2 does, so `e_lambda: 1e-4` means what it says.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence
)


def load_located_yaml(text: str, path: str | Path) -> Any:
    """Parse YAML text safely into Located containers; any problem becomes a SpaceError naming file and line."""
    loader = None
    try:
        # _Loader derives from SafeLoader. Reading starts here: a bad character already raises.
        loader = _Loader(text)
        return loader.get_single_data()
    except SpaceError as error:
        raise SpaceError(error.message, path, error.line) from None
    except yaml.reader.ReaderError as error:
        # A character YAML does not accept; the error has no mark, only a position in the text.
        line = text.count("\n", 0, error.position) + 1 if isinstance(text, str) else 1
        char = (
            f"#x{error.character:04x}"
            if isinstance(error.character, int)
            else repr(error.character)
        )
        raise SpaceError(
            f"invalid YAML: unacceptable character {char}: {error.reason}", path, line
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else _current_line(loader)
        raise SpaceError(
            f"invalid YAML: {error.problem or error.context}", path, line
        ) from None
    except RecursionError:
        raise SpaceError(
            "invalid YAML: nested too deeply", path, _current_line(loader)
        ) from None
    except (yaml.YAMLError, ValueError) as error:
        raise SpaceError(
            f"invalid YAML: {error}", path, _current_line(loader)
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _current_line(loader: _Loader | None) -> int:
    """The line the reader had got to: where an error without a mark of its own happened."""
    return loader.get_mark().line + 1 if loader is not None else 1
