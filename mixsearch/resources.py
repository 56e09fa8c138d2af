"""Files mixsearch reads at run time, shipped inside the installed package: templates, example spaces, YOLO tables.

In a checkout they are the top-level `templates/` and `search_spaces/` folders; the build maps them to the
packages `mixsearch.templates` and `mixsearch.search_spaces` (pyproject.toml), so an editable install and a
wheel find them the same way, through `importlib.resources`, from any working directory.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

TEMPLATES_PACKAGE = "mixsearch.templates"
SPACES_PACKAGE = "mixsearch.search_spaces"
SPACE_SUFFIX = ".yaml"


def _package_dir(package: str) -> Path:
    """The folder of a resource package (installs are plain folders, never zip files)."""
    return Path(str(files(package)))


def templates_dir() -> Path:
    """Where the Jinja templates and the copies of YOLO layer tables lie."""
    return _package_dir(TEMPLATES_PACKAGE)


@cache
def template_environment() -> jinja2.Environment:
    """The one Jinja environment of every template (module file, Ultralytics files, report)."""
    import jinja2  # only the commands that write files need it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def yolo_table_copy(base: str) -> Path:
    """The shipped copy of a YOLO base model's layer table (used when ultralytics is not installed)."""
    return templates_dir() / f"{base}{SPACE_SUFFIX}"


def example_spaces() -> dict[str, Path]:
    """The shipped example spaces by name (`default`, `serial_cbam`, ...)."""
    folder = _package_dir(SPACES_PACKAGE)
    return {path.stem: path for path in sorted(folder.glob(f"*{SPACE_SUFFIX}"))}


def find_space(path: str | Path) -> Path:
    """`path` itself when it names a file; a bare example name (`default`) is the shipped example."""
    given = Path(path)
    if not given.exists() and given.name == str(path) and not given.suffix:
        example = example_spaces().get(given.name)
        if example is not None:
            return example
    return given
