"""The main job and what follows it, stage after stage: `run_job` searches a space (`search.run`), emits the
winner (`codegen`) and writes the report (`report`); `export_run` emits modules of a run folder again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mixsearch.arch import Arch
from mixsearch.codegen.emit import emit
from mixsearch.errors import MixsearchError
from mixsearch.report import write_report
from mixsearch.search.context import Report, RunOptions
from mixsearch.search.result import SearchResult
from mixsearch.search.run import run_search
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import Target
from mixsearch.yolo import UltralyticsExport


@dataclass(frozen=True)
class JobResult:
    """A finished run: its result, the winner as emitted (with its measured numbers), the files written."""

    result: SearchResult
    winner: Arch
    paths: list[Path]


def run_job(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: str | Path,
    report: Report = lambda line: None,
) -> JobResult:
    """Search `graph`, then write `search.json`, the winner's files and the report into `run_dir`."""
    result = run_search(graph, target, options, run_dir, report)
    winner = winner_arch(result)
    paths = [
        result.save(run_dir),
        *emit(winner, run_dir, graph.space.export),
        *write_report(result, run_dir),
    ]
    return JobResult(result, winner, paths)


def winner_arch(result: SearchResult) -> Arch:
    """The winner's architecture carrying its measured numbers (the emitted module's header shows them)."""
    winner = result.winner
    metrics = {
        "test_acc": round(winner.test_acc, 4),
        "val_acc": round(winner.val_acc, 4),
        "latency_ms": round(winner.latency_ms, 4),
        "flops": winner.flops,
        "params": winner.params,
    }
    return replace(winner.arch, metrics=metrics)


def export_run(
    run_dir: str | Path,
    trial: int | None = None,
    pareto: bool = False,
    out_dir: str | Path | None = None,
) -> list[Path]:
    """Emit the winner of the run in `run_dir`, one trial of it, or every trial on its Pareto front.

    Default folders: RUN_DIR/export/winner, RUN_DIR/export/trial-N; `out_dir` names the folder of a single
    export, or the parent of several."""
    if trial is not None and pareto:
        raise MixsearchError("give --trial N or --pareto, not both")
    result = SearchResult.load(run_dir)
    if trial is None and not pareto:
        targets = [("winner", result.winner.arch)]
    else:
        numbers = list(result.pareto) if pareto else [trial]
        targets = [(f"trial-{n}", _trial_arch(result, n)) for n in numbers]
    export = (
        compile_space(load_space(result.space)).space.export
        if Path(result.space).exists()
        else UltralyticsExport()
    )
    paths = []
    for name, arch in targets:
        folder = (
            Path(out_dir)
            if out_dir is not None and len(targets) == 1
            else Path(out_dir or Path(run_dir) / "export") / name
        )
        paths += emit(arch, folder, export)
    return paths


def _trial_arch(result: SearchResult, number: int) -> Arch:
    """The architecture of trial `number` of a run (a MixsearchError when it has none)."""
    record = result.trial(number)
    if record.arch is None:
        raise MixsearchError(
            f"trial {number} has no architecture ({record.state}: {record.reason})"
        )
    return record.arch
