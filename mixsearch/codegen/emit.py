"""Everything emitted for one architecture: `arch.json`, the module file and the Ultralytics files, rendered first
and written only once all of them rendered, so a bad setting leaves nothing half-written.
"""

from __future__ import annotations

from pathlib import Path

from mixsearch.arch import Arch
from mixsearch.codegen.render import render_module
from mixsearch.codegen.ultralytics import render_ultralytics
from mixsearch.outdir import refuse_overwrites, write_file
from mixsearch.yolo import UltralyticsExport

ARCH_FILE = "arch.json"


def emit(
    arch: Arch,
    out_dir: str | Path,
    export: UltralyticsExport | None = UltralyticsExport(),
    with_arch: bool = True,
    where: str = "arch",
    force: bool = False,
) -> list[Path]:
    """Write `arch`'s files into `out_dir` (no Ultralytics files when `export` is None); return their paths.

    `where` names the architecture in errors (its file, when it was read from one). A file there that mixsearch
    did not emit is refused unless `force` (a run writes into its vetted run folder with `force`).
    """
    files = {ARCH_FILE: arch.dumps()} if with_arch else {}
    files[f"{arch.name}.py"] = render_module(arch, where)
    if export is not None:
        files.update(
            render_ultralytics(arch, export.scales, export.positions, export.base)
        )
    refuse_overwrites([Path(out_dir) / name for name in files], force)
    return write_files(out_dir, files)


def write_files(out_dir: str | Path, files: dict[str, str]) -> list[Path]:
    """Write each named text into `out_dir` (created here, once everything has rendered), never through a link
    there; return the paths."""
    return [write_file(Path(out_dir) / name, text) for name, text in files.items()]
