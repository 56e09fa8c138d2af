"""Files mixsearch reads at run time, shipped inside the installed package: templates, example spaces, YOLO tables.

In a checkout they are the top-level `templates/` and `search_spaces/` folders; the build maps them to the
packages `mixsearch.templates` and `mixsearch.search_spaces` (pyproject.toml), so an editable install and a
wheel find them the same way, through `importlib.resources`, from any working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

TEMPLATES_PACKAGE = "mixsearch.templates"
SPACES_PACKAGE = "mixsearch.search_spaces"
SPACE_SUFFIX = ".yaml"


def _package_dir(package: str) -> Path:
    """The folder of a resource package (installs are plain folders, never zip files)."""
    return Path(str(files(package)))


def templates_dir() -> Path:
    """Where the Jinja templates and the copies of YOLO layer tables lie."""
    return _package_dir(TEMPLATES_PACKAGE)


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
