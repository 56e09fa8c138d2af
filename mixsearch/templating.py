"""Every template is rendered here, with one escaping path per target language, so no string from a space, an
arch.json, a run folder or the command line can become code, YAML structure or Markdown markup.

A template's language is its suffix (`module.py.j2` is Python). Each `{{ value }}` goes through the language's
escaper: in Python a plain string becomes a literal (`repr`), in YAML a scalar from the YAML dumper, in
Markdown escaped text. Only values of the language's trusted type pass unchanged (`PythonCode`, `YamlText`,
`MarkdownText`): mixsearch's own op sources and the results of the filters (`identifier`, `docstring`;
`comment`; `code`, `fence`, `table`), which build valid pieces of the language from any string. Forgetting a filter
therefore gives a quoted string where code was meant, which the compile check reports, never an injection.
Plain text (`.txt.j2`) is only ever used through the `docstring` filter.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from mixsearch.resources import templates_dir

if TYPE_CHECKING:
    import jinja2


class GeneratedCodeError(RuntimeError):
    """mixsearch produced text that is not valid in its language: a bug in mixsearch, never the user's input."""


class PythonCode(str):
    """Python source that mixsearch wrote or checked itself; emitted as is."""


class YamlText(str):
    """YAML that mixsearch laid out from dumped scalars; emitted as is."""


class MarkdownText(str):
    """Markdown that mixsearch laid out from escaped pieces; emitted as is."""


# --- Python -------------------------------------------------------------------------------------------------


def python_literal(value: Any) -> PythonCode:
    """`value` as a Python literal that evaluates back to it (strings, numbers, booleans, None, containers)."""
    text = repr(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        same = False
    if not same:
        raise GeneratedCodeError(
            f"cannot write {type(value).__name__} {text[:80]} as a Python literal"
        )
    return PythonCode(text)


def python_identifier(name: object) -> PythonCode:
    """`name` as code, when it is an ASCII identifier and no keyword (which names are allowed where is
    `mixsearch.names`' rule, checked with a user-facing message before rendering)."""
    if (
        not isinstance(name, str)
        or not name.isidentifier()
        or not name.isascii()
        or keyword.iskeyword(name)
    ):
        raise GeneratedCodeError(f"{name!r} is not a Python identifier")
    return PythonCode(name)


def _printable(char: str) -> str:
    """A printable character as it is, any other (control, line separator, lone surrogate) as its escape."""
    return char if char.isprintable() else char.encode("unicode_escape").decode("ascii")


def _escaped_char(char: str) -> str:
    """One character of a docstring body: backslashes doubled, newlines kept, unprintables escaped."""
    return "\\\\" if char == "\\" else "\n" if char == "\n" else _printable(char)


def python_docstring(text: str, indent: str = "") -> PythonCode:
    """`text` as a triple-quoted string literal: lines after the first indented by `indent`, backslashes,
    quote runs and unprintable characters escaped, so the literal's value is exactly the indented text.
    """
    lines = str(text).rstrip("\n").split("\n")
    body = "\n".join(
        lines[:1] + [indent + line if line else line for line in lines[1:]]
    )
    escaped = "".join(map(_escaped_char, body)).replace('"', '\\"')
    closing = f"\n{indent}" if len(lines) > 1 else ""
    literal = f'"""{_unescape_lone_quotes(escaped)}{closing}"""'
    if ast.literal_eval(literal) != body + closing:
        raise GeneratedCodeError(f"docstring escaping failed for {text[:80]!r}")
    return PythonCode(literal)


def _unescape_lone_quotes(escaped: str) -> str:
    """Leave a single `"` unescaped inside the text (readable `"quoted"` words); runs and a final quote keep
    their backslashes, so no `\"\"\"` can form and the literal cannot end early."""
    return re.sub(r'(?<!\\")\\"(?!\\")(?!$)', '"', escaped)


def python_source(code: str, name: str) -> str:
    """`code` formatted by black, after checking that it compiles (GeneratedCodeError naming `name` if not)."""
    import black  # only the commands that write modules need it

    try:
        compile(code, name, "exec")
        formatted = black.format_str(code, mode=black.Mode())
        compile(formatted, name, "exec")
    except (SyntaxError, ValueError, black.InvalidInput) as error:
        raise GeneratedCodeError(
            f"mixsearch generated a {name} that does not compile ({error}); "
            "this is a bug in mixsearch, please report it with the command you ran"
        ) from None
    return formatted


def _python_value(value: Any) -> PythonCode:
    return value if isinstance(value, PythonCode) else python_literal(value)


# --- YAML ---------------------------------------------------------------------------------------------------


def yaml_scalar(value: str | int | float | bool | None) -> YamlText:
    """One scalar as the YAML dumper writes it inside a flow sequence, on one line: plain where that reads
    back the same, else quoted."""
    if isinstance(value, float) and not math.isfinite(value):
        raise GeneratedCodeError(f"{value!r} has no place in a model YAML")
    text = _dump_in_flow(value)
    if len(text.splitlines()) > 1:
        text = _dump_in_flow(value, style='"')
    return YamlText(text)


def _dump_in_flow(value: Any, style: str | None = None) -> str:
    """The dumper's text for `value` as an item of a flow sequence (double quotes escape every line break)."""
    text = yaml.safe_dump(
        [value],
        default_flow_style=True,
        default_style=style,
        allow_unicode=True,
        width=math.inf,
    )
    return text.rstrip("\n").removeprefix("[").removesuffix("]")


def yaml_flow(value: Any) -> YamlText:
    """`value` in YAML flow style as Ultralytics writes its tables (`[-1, 1, Conv, [64, 3, 2]]`, `True`)."""
    if isinstance(value, YamlText):
        return value
    if isinstance(value, (list, tuple)):
        return YamlText(f"[{', '.join(map(yaml_flow, value))}]")
    if isinstance(value, bool):
        return YamlText(str(value))
    return yaml_scalar(value)


def yaml_comment(text: str) -> YamlText:
    """`text` as the body of one `#` comment line: whitespace (line breaks too) collapsed, unprintables escaped."""
    return YamlText("".join(map(_printable, " ".join(str(text).split()))))


# --- Markdown -----------------------------------------------------------------------------------------------

_MARKDOWN_INLINE = re.compile(r"[\\*\[\]<>|&~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What opens a block at a line's start: heading, list item, quote, setext or thematic rule, ordered item.
_MARKDOWN_LINE_START = re.compile(
    r"^(#{1,6}(?= |$)|[-+](?= |$)|>|=+$|-+$|\d{1,9}(?=[.)]( |$)))"
)


def _markdown_escape(text: str) -> str:
    return _MARKDOWN_INLINE.sub(lambda match: "\\" + match.group(), text)


def _line_start_escape(text: str) -> str:
    """A backslash that keeps text placed at a line's start from opening a heading, quote, list or rule."""
    return _MARKDOWN_LINE_START.sub(
        lambda match: (
            match.group() + "\\" if match.group().isdigit() else "\\" + match.group()
        ),
        text,
    )


def markdown_code(text: str) -> MarkdownText:
    """`text` as an inline code span, fenced by more backticks than it holds, on one line."""
    line = " ".join(str(text).split())
    fence = "`" * (max(map(len, re.findall("`+", line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    cell_safe = line.replace("|", "\\|")
    return MarkdownText(f"{fence}{pad}{cell_safe}{pad}{fence}")


def markdown_fence(text: str, info: str = "") -> MarkdownText:
    """`text` as a fenced code block (fence included) that no line of `text` can close."""
    longest = max(map(len, re.findall("`+", str(text))), default=0)
    fence = "`" * max(3, longest + 1)
    return MarkdownText(f"{fence}{markdown_text(info)}\n{text}\n{fence}")


def markdown_table(
    rows: Iterable[Iterable[Any]], headers: Iterable[Any]
) -> MarkdownText:
    """A GitHub table of `rows` under `headers`, every cell escaped by `markdown_text`."""

    def line(cells: Iterable[Any]) -> str:
        return "| " + " | ".join(map(markdown_text, cells)) + " |"

    headers = list(headers)
    rule = "|" + "---|" * len(headers)
    return MarkdownText("\n".join([line(headers), rule, *map(line, rows)]))


def markdown_text(value: Any) -> MarkdownText:
    """`value` as inline Markdown on one line: `code` spans (mixsearch's convention in descriptions) stay code,
    everything else is escaped so it shows literally and cannot open a block, a link, HTML or a table cell.
    """
    if isinstance(value, MarkdownText):
        return value
    parts = re.sub(r"\s+", " ", str(value)).split("`")
    if len(parts) % 2 == 0:
        text = "\\`".join(map(_markdown_escape, parts))
    else:
        text = "".join(
            (
                _markdown_escape(part)
                if i % 2 == 0
                else (markdown_code(part) if part else "\\`\\`")
            )
            for i, part in enumerate(parts)
        )
    return MarkdownText(_line_start_escape(text))


# --- the environments ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Language:
    """How one target language's templates escape values, which filters they get, and how output is checked."""

    finalize: Callable[[Any], str]
    filters: dict[str, Callable[..., str]] = field(default_factory=dict)
    check: Callable[[str, str], str] = lambda text, name: text


LANGUAGES = {
    ".py": Language(
        _python_value,
        {"identifier": python_identifier, "docstring": python_docstring},
        python_source,
    ),
    ".yaml": Language(yaml_flow, {"comment": yaml_comment}),
    ".md": Language(
        markdown_text,
        {"code": markdown_code, "fence": markdown_fence, "table": markdown_table},
    ),
    ".txt": Language(str),
}


def _language(template: str) -> str:
    suffix = "." + template.removesuffix(".j2").rsplit(".", 1)[-1]
    if suffix not in LANGUAGES:
        raise GeneratedCodeError(
            f"template {template}: no escaping rules for {suffix} files"
        )
    return suffix


@cache
def environment(suffix: str) -> jinja2.Environment:
    """The Jinja environment of one language's templates."""
    import jinja2  # only the commands that write files need it

    language = LANGUAGES[suffix]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=language.finalize,
        autoescape=False,
    )
    env.filters.update(language.filters)
    return env


def render(template: str, **context: Any) -> str:
    """`template` rendered with its language's escaping, then checked (a `.py` file compiles and is black-formatted)."""
    suffix = _language(template)
    text = environment(suffix).get_template(template).render(**context)
    return LANGUAGES[suffix].check(text, template.removesuffix(".j2"))
