"""What the installed package carries: every subpackage, the templates and the example spaces, found from any
directory (CI also builds a wheel and runs it from outside the checkout: .ci/run)."""

from __future__ import annotations

from pathlib import Path

import tomllib
from click.testing import CliRunner

from helpers import ROOT
from mixsearch.cli import main
from mixsearch.resources import (
    example_spaces,
    find_space,
    templates_dir,
)
from mixsearch.templating import environment


def test_pyproject_lists_every_package_and_maps_the_resource_folders():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]
    code = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "mixsearch").rglob("__init__.py")
    }
    assert set(settings["packages"]) == code | {
        "mixsearch.templates",
        "mixsearch.search_spaces",
    }
    assert settings["package-dir"] == {
        "mixsearch.templates": "templates",
        "mixsearch.search_spaces": "search_spaces",
    }


def test_every_template_loads_in_its_language_environment():
    names = [path.name for path in templates_dir().glob("*.j2")]
    assert {"module.py.j2", "report.md.j2"} <= set(names)
    for name in names:
        suffix = "." + name.removesuffix(".j2").rsplit(".", 1)[-1]
        environment(suffix).get_template(name)


def test_shipped_examples_are_the_repository_spaces():
    assert example_spaces() == {
        path.stem: path for path in sorted((ROOT / "search_spaces").glob("*.yaml"))
    }


def test_a_bare_example_name_finds_the_shipped_space_from_any_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert find_space("default") == example_spaces()["default"]
    result = CliRunner().invoke(main, ["validate", "default"])
    assert result.exit_code == 0, result.output
    assert "1,920 architectures" in result.output


def test_a_file_of_that_name_wins_over_the_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("default").write_text("name: mine\n")
    assert find_space("default") == Path("default")
