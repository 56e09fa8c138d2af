"""Which names an emitted module can use: node names become attributes and locals of the generated class, the
space's class name its class. Shared by two stages: the DSL checks them at parse time (errors at the node's line),
the generator again for an ARCH.json written by hand.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import sys
from functools import cache
from importlib.resources import files

from mixsearch.arch import INPUT, RESIDUAL_PREFIX, Arch
from mixsearch.errors import ArchError

# The public attributes of `torch.nn.Module` (names with '_' are reserved anyway); a test keeps it complete.
MODULE_ATTRIBUTES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu
    load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to
    to_empty train training type xpu zero_grad""".split()
)
# Module and class names are part of file names (`train_<name>.py`, `yolov8n-<name>.yaml`).
MAX_NAME_LENGTH = 64
# Modules the emitted files and Ultralytics' training import: a `<name>.py` beside them would be imported instead.
_IMPORTED_MODULES = frozenset(
    """torch torchvision ultralytics yaml numpy cv2 PIL matplotlib scipy pandas polars psutil requests
    tqdm onnx onnxruntime onnxscript triton mixsearch""".split()
)
# Names the emitted file itself defines or imports, and the generated class's own locals.
_GENERATED_NAMES = {
    "torch",
    "nn",
    "F",
    "math",
    "typing",
    "List",
    "Tuple",
    "Optional",
    "x",
    "self",
    "c1",
}


@cache
def library_names() -> frozenset[str]:
    """Every module-level name of the op library's files (classes, helpers, constants): an emitted file may
    define any of them. Read as text: neither the library nor torch is imported."""
    names = set()
    for source in (files("mixsearch") / "ops").iterdir():
        if source.name.endswith(".py"):
            for node in ast.parse(source.read_text(encoding="utf-8")).body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Assign):
                    names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(names)


def identifier_problem(name: object) -> str | None:
    """Why `name` cannot name a node in generated code, or None if it can."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        return f"{name!r} is not a valid Python identifier"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name!r} is a Python keyword"
    if name == INPUT:
        return f"{name!r} is reserved for the module input"
    if name.startswith(RESIDUAL_PREFIX):
        return f"{name!r}: names starting with {RESIDUAL_PREFIX!r} are reserved for residual weights"
    if name.startswith("_"):
        return f"{name!r}: names starting with '_' are reserved"
    if (
        name in _GENERATED_NAMES
        or hasattr(builtins, name)
        or name in MODULE_ATTRIBUTES
        or name in library_names()
    ):
        return f"{name!r} would shadow a Python, nn.Module or generated name"
    return None


def class_name_problem(name: object) -> str | None:
    """Why `name` cannot be the generated class's name, or None if it can."""
    if not isinstance(name, str):
        return "class name must be CamelCase letters and digits starting with a capital"
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
        return f"class name {name!r} must be CamelCase letters and digits starting with a capital"
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"class name {name[:20]!r}... is longer than {MAX_NAME_LENGTH} characters"
        )
    if (
        keyword.iskeyword(name)
        or name in _GENERATED_NAMES
        or name in library_names()
        or hasattr(builtins, name)
    ):
        return f"class name {name!r} would shadow a Python or generated name"
    return None


def module_name_problem(name: object) -> str | None:
    """Why `name` cannot name the emitted module (`<name>.py`, imported by its training script), or None."""
    if (
        not isinstance(name, str)
        or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        or keyword.iskeyword(name)
    ):
        return (
            f"name {name!r} must be letters, digits and '_', not starting with a digit "
            "and no Python keyword (it names the generated .py file)"
        )
    if len(name) > MAX_NAME_LENGTH:
        return f"name {name[:20]!r}... is longer than {MAX_NAME_LENGTH} characters (it names files)"
    if name in sys.stdlib_module_names or name in _IMPORTED_MODULES:
        return f"name {name!r} would shadow the Python module {name!r} wherever the generated file is imported"
    return None


def check_names(arch: Arch, where: str = "arch") -> None:
    """ArchError when a name of `arch` cannot be used in the emitted file (module, class or node name)."""
    if problem := class_name_problem(arch.class_name):
        raise ArchError(f"{where}: {problem}")
    if problem := module_name_problem(arch.name):
        raise ArchError(f"{where}: {problem}")
    for node in arch.nodes:
        if problem := identifier_problem(node.name):
            raise ArchError(f"{where}: node {problem}")
