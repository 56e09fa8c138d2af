"""The main job and what follows it, stage after stage: `run_job` searches a space (`search.run`), emits the
winner (`codegen`) and writes the report (`report`); `export_run` emits modules of a run folder again.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

import optuna

from mixsearch.arch import Arch
from mixsearch.codegen.emit import emit
from mixsearch.errors import MixsearchError
from mixsearch.outdir import inside, within
from mixsearch.report import write_report
from mixsearch.search.engine.context import Report, RunOptions
from mixsearch.search.engine.study import STUDY_FILE, counted, open_storage, storage_url
from mixsearch.search.engine.tracker import PROGRESS_FILE, read_progress
from mixsearch.search.outcome.result import RESULT_FILE, SearchResult, Trained
from mixsearch.search.outcome.verdicts import recommendation
from mixsearch.search.run import RunStopped, run_search
from mixsearch.space.graph import SpaceGraph, compile_space
from mixsearch.space.schema import load_space
from mixsearch.space.sections import Target
from mixsearch.yolo import UltralyticsExport


class JobStopped(Exception):
    """The job stopped before its end; what it saved of the partial run is in `paths`."""

    def __init__(self, result: SearchResult, paths: list[Path], exit_code: int):
        super().__init__(f"stopped during the {result.stopped} stage")
        self.result, self.paths, self.exit_code = result, paths, exit_code


@dataclass(frozen=True)
class JobResult:
    """A finished run: its result, the module written (the one its report recommends, with its measured numbers),
    the files written."""

    result: SearchResult
    module: Arch
    paths: list[Path]


def run_job(
    graph: SpaceGraph,
    target: Target,
    options: RunOptions,
    run_dir: str | Path,
    report: Report = lambda line: None,
) -> JobResult:
    """Search `graph`, then write `search.json`, the winner's files and the report into `run_dir`.

    Stopped (Ctrl-C, SIGTERM), it writes the same files for the run so far, the report marked partial and the
    module that of the best trial so far, then raises JobStopped."""
    try:
        result = run_search(graph, target, options, run_dir, report)
    except RunStopped as stop:
        paths = _write(stop.result, run_dir, graph.space.export)
        raise JobStopped(stop.result, paths, stop.exit_code) from None
    return JobResult(
        result, recommended_arch(result), _write(result, run_dir, graph.space.export)
    )


def _write(
    result: SearchResult, run_dir: str | Path, export: UltralyticsExport
) -> list[Path]:
    """search.json, the report and, when the run has one, the module it recommends or its best trial so far."""
    paths = [result.save(run_dir)]
    arch = recommended_arch(result)
    if arch is not None:
        paths += emit(arch, run_dir, export, force=True)
    return paths + write_report(result, run_dir)


def recommended_arch(result: SearchResult) -> Arch | None:
    """The module the run's report recommends (the winner, or the baseline it names) carrying its measured numbers
    and where it comes from; for a stopped run, its best trial so far (None before any trial finished).
    """
    when = result.date[:10]
    if result.winner is None:
        if result.best_trial is None:
            return None
        record = result.trial(result.best_trial)
        origin = (
            f"The best trial so far of a search stopped during its {result.stopped} stage "
            f"(`{result.command}`, {when}): trial {record.number}, "
            f"{record.values['accuracy']:.2%} validation {result.metric} after its trial's short training, not "
            "retrained. Run the command again to finish the search."
        )
        return replace(record.arch, metrics={}, origin=origin)
    choice = recommendation(
        result.winner, result.baselines, result.constraints.get("latency_ms")
    )
    if choice.baseline is not None:
        arch = _baseline_arch(result, choice.baseline, result.space)
    else:
        origin = (
            f"A search result: the winner ({result.winner.label}) of `{result.command}` ({result.strategy} "
            f"strategy, {result.budget['name']} budget, seed {result.seed}) on {when}; its report.md says how it "
            "compares with the hand-designed modules."
        )
        arch = _retrained_arch(result.winner, origin)
    # Under the space's names (a finalist's), whichever module it is: the run folder's module file.
    space = result.finalists[0].arch
    return replace(arch, name=space.name, class_name=space.class_name)


def _retrained_arch(trained: Trained, origin: str) -> Arch:
    """A module of the final stage as emitted: its architecture carrying its measured numbers and origin."""
    metrics = {
        "test_acc": round(trained.test_acc, 4),
        "val_acc": round(trained.val_acc, 4),
        "latency_ms": round(trained.latency_ms, 4),
        "flops": trained.flops,
        "params": trained.params,
    }
    return replace(trained.arch, metrics=metrics, origin=origin)


def export_run(
    run_dir: str | Path,
    trial: int | None = None,
    pareto: bool = False,
    out_dir: str | Path | None = None,
    baseline: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Emit the module the run in `run_dir` recommends (its winner, or the baseline its report names), one trial
    of it, every trial on its Pareto front, or one of the baselines its final stage trained.

    Default folders: RUN_DIR/export/recommended, RUN_DIR/export/trial-N, RUN_DIR/export/NAME, never through a link out
    of RUN_DIR; `out_dir` names the folder of a single export, or the parent of several. A file there that
    mixsearch did not emit is refused unless `force`."""
    if sum((trial is not None, pareto, baseline is not None)) > 1:
        raise MixsearchError("give one of --trial N, --pareto and --baseline NAME")
    result = SearchResult.load(run_dir)
    if baseline is not None:
        targets = [(baseline, _baseline_arch(result, baseline, run_dir))]
    elif trial is None and not pareto:
        best = recommended_arch(result)
        if best is None:
            raise MixsearchError(
                f"{run_dir}: the run stopped before any trial finished"
            )
        targets = [("recommended" if result.winner else "best-trial", best)]
    else:
        numbers = list(result.pareto) if pareto else [trial]
        targets = [(f"trial-{n}", _trial_arch(result, n)) for n in numbers]
    export = (
        compile_space(load_space(result.space)).space.export
        if Path(result.space).exists()
        else UltralyticsExport()
    )
    folders = [
        _export_folder(run_dir, out_dir, name, len(targets)) for name, _ in targets
    ]
    paths = []
    for folder, (_, arch) in zip(folders, targets):
        paths += emit(arch, folder, export, force=force)
    return paths


def _export_folder(
    run_dir: str | Path, out_dir: str | Path | None, name: str, count: int
) -> Path:
    """Where export `name` of `count` goes: `out_dir` (or a folder `name` in it), else RUN_DIR/export/NAME."""
    if out_dir is None:
        return within(Path(run_dir), Path(run_dir) / "export" / name)
    return Path(out_dir) if count == 1 else Path(out_dir) / name


def _baseline_arch(result: SearchResult, name: str, run_dir: str | Path) -> Arch:
    """The baseline `name` as the run's final stage retrained it (a MixsearchError when it did not)."""
    retrained = {item.label: item for item in result.baselines}
    if not retrained:
        raise MixsearchError(
            f"{run_dir}: the run stopped before its final stage retrained the baselines"
        )
    if name not in retrained:
        raise MixsearchError(
            f"{run_dir}: no baseline {name!r} was retrained (retrained: {', '.join(retrained)})"
        )
    origin = (
        f"The hand-designed baseline {name}, trained beside the search's candidates in the final stage of "
        f"`{result.command}` ({result.date[:10]}); its report.md compares them."
    )
    return _retrained_arch(retrained[name], origin)


def _trial_arch(result: SearchResult, number: int) -> Arch:
    """The architecture of trial `number` of a run (a MixsearchError when it has none)."""
    record = result.trial(number)
    if record.arch is None:
        raise MixsearchError(
            f"trial {number} has no architecture ({record.state}: {record.reason})"
        )
    accuracy = record.values.get("accuracy")
    score = (
        f", {accuracy:.2%} validation {result.metric} in its trial"
        if accuracy is not None
        else ""
    )
    origin = (
        f"Trial {number} of the search `{result.command}` ({result.date[:10]}){score}: an exported trial, "
        "not retrained."
    )
    return replace(record.arch, origin=origin)


def run_status(run_dir: str | Path, storage: str | None = None) -> list[str]:
    """What the run in `run_dir` has done and what remains, from its folder and its study: while it runs (on
    this machine or another that shares the folder) and after it finished or stopped.

    The study is read from the folder's own study file, or from `storage` when the caller names one: never from
    a storage its progress.json names (a file in the folder is data, not an instruction to connect anywhere).
    """
    run_dir = Path(run_dir)
    progress = read_progress(run_dir)
    result = SearchResult.load(run_dir) if (run_dir / RESULT_FILE).exists() else None
    if progress is None and result is None:
        raise MixsearchError(
            f"{run_dir}: no run here (no {PROGRESS_FILE}, no {RESULT_FILE})"
        )
    lines = []
    if result is not None and not result.partial:
        winner = result.winner
        lines.append(
            f"finished {result.date}: winner {winner.label}, {winner.test_acc:.2%} test {result.metric}, "
            f"{winner.latency_ms:.3f} ms; see {run_dir / 'report.md'}"
        )
    elif result is not None:
        lines.append(
            f"stopped during the {result.stopped} stage ({result.date}); to resume: {result.command}"
        )
    if progress is not None:
        lines += [
            f"{stage['name']}: {stage['state']} ({stage['seconds']:,.0f} s)"
            for stage in progress["stages"]
        ]
        if progress.get("detail"):
            lines.append(progress["detail"])
        lines.append(_trial_count(progress, storage or _own_storage(run_dir, progress)))
        if result is None:
            lines.append(_liveness(progress))
    return lines


def _own_storage(run_dir: Path, progress: dict) -> str | None:
    """The URL of the run folder's own study file, when the run keeps its study in a SQLite file and the folder
    holds it (None when it has none, or it is a link out of the folder)."""
    path = run_dir / STUDY_FILE
    sqlite = str(progress.get("storage", "sqlite:")).startswith("sqlite:")
    if not sqlite or not path.is_file():
        return None
    return storage_url(run_dir) if inside(run_dir, path) else None


def _trial_count(progress: dict, url: str | None) -> str:
    """Trials counted towards the budget, read from the study itself in the storage at `url`."""
    if url is None and "storage" not in progress:
        return "trials: none yet"
    if url is None:
        return (
            "trials: the study is not in this folder (progress.json names another storage); "
            "`mixsearch status RUN_DIR --storage URL` reads it there"
        )
    try:
        study = optuna.load_study(
            study_name=progress["study"], storage=open_storage(url)
        )
    except (KeyError, MixsearchError):
        return "trials: none yet"
    done = sum(counted(trial) for trial in study.get_trials(deepcopy=False))
    return f"trials: {done} of {progress['trial_budget']} counted"


def _liveness(progress: dict) -> str:
    """Whether the process is still there: its last update, and on this host whether its pid lives."""
    age = time.time() - progress["updated"]
    left = progress.get("estimate_left_s")
    estimate = f"; about {left / 60:.0f} min left" if left else ""
    if progress["host"] == socket.gethostname() and not _alive(progress["pid"]):
        return (
            f"the process (pid {progress['pid']}) is gone, last update {age:.0f} s ago: it stopped without "
            f"saving; to resume: {progress['command']}"
        )
    return f"running: last update {age:.0f} s ago (pid {progress['pid']} on {progress['host']}){estimate}"


def _alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True
