"""The command line answers at once: help and validation import neither torch nor Optuna (issue: a fast CLI).

Checked on `sys.modules` in a fresh interpreter, not with a timer; the README records the measured times.
"""

import json
import subprocess
import sys

import pytest
from torch import nn

from mixsearch.names import MODULE_ATTRIBUTES
from mixsearch.ops import OPS

HEAVY = ("torch", "optuna", "matplotlib", "scipy", "jinja2")


def _imported_after(code: str) -> list[str]:
    """The heavy packages a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_package():
    assert _imported_after("import mixsearch.cli") == []


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["darts", "--help"], ["validate", "default"]],
    ids=" ".join,
)
def test_help_and_validating_the_default_space_import_no_torch(args):
    code = (
        "from click.testing import CliRunner\n"
        "from mixsearch.cli import main\n"
        f"result = CliRunner().invoke(main, {args!r})\n"
        "assert result.exit_code == 0, result.output"
    )
    assert _imported_after(code) == []


def test_checking_every_op_setting_imports_no_torch():
    code = (
        "from mixsearch.ops import OPS\n"
        "for info in OPS:\n"
        "    info.description, info.param_text()\n"
        "    for variant in info.variants:\n"
        "        info.check({'variant': variant} if len(info.variants) > 1 else {}, 2)"
    )
    assert _imported_after(code) == []


def test_the_static_module_attribute_names_cover_nn_module():
    public = {name for name in dir(nn.Module()) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES


def test_parameters_read_from_source_match_the_constructor_signatures():
    import inspect

    for info in OPS:
        for variant in info.variants:
            signature = inspect.signature(info.load(variant).__init__).parameters
            expected = {
                name: p.default
                for name, p in signature.items()
                if name not in ("self", "channels", "num_inputs")
            }
            specs = info.params(variant)
            specs.pop("variant", None)
            assert {n: s.default for n, s in specs.items()} == expected, info.name
            assert all(isinstance(s.default, s.type) for s in specs.values())


def test_a_report_renders_from_search_json_without_torch_or_optuna(tmp_path):
    """The outcome (results, verdicts, recommendation) and the report need neither the search nor the hardware."""
    from test_report import RESULT

    RESULT.save(tmp_path)
    code = (
        "from mixsearch.report import render_report\n"
        "from mixsearch.search.outcome.result import SearchResult\n"
        f"render_report(SearchResult.load({str(tmp_path)!r}))"
    )
    assert set(_imported_after(code)) <= {"matplotlib", "scipy", "jinja2"}
