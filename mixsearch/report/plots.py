"""The report's plots: the Pareto front of a search, and DARTS' architecture weights over epochs.

Figures are drawn on an Agg canvas of their own, never through pyplot, so no window opens and the caller's
matplotlib backend and global state are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mixsearch.outdir import staged
from mixsearch.search.outcome.result import SearchResult, Trained, TrialRecord

DPI = 120
ALPHA_COLUMNS = 3


def _percentages(values: list[float]) -> list[float]:
    """Accuracies in 0..1 as percentages."""
    return [100 * value for value in values]


def _save(figure: Figure, path: str | Path) -> Path:
    """Render `figure` with Agg into `path` (never through a link there)."""
    FigureCanvasAgg(figure)
    with staged(Path(path)) as temporary:
        figure.savefig(temporary, dpi=DPI)
    return Path(path)


def _trained_trials(result: SearchResult) -> list[TrialRecord]:
    """Complete trials with both objectives (failed ones have no values; duplicates repeat a point)."""
    return [
        record
        for record in result.trials
        if record.state == "complete"
        and {"accuracy", "latency_ms"} <= record.values.keys()
    ]


def _plot_trials(ax: Axes, result: SearchResult) -> None:
    """Trained trials (validation accuracy at predicted latency), the Pareto step line, infeasible rug."""
    trained = _trained_trials(result)
    feasible = [record for record in trained if record.feasible]
    points = [record for record in trained if not record.feasible]
    for records, style, label in (
        (
            feasible,
            dict(color="tab:blue"),
            "trials: validation acc., predicted latency",
        ),
        (points, dict(color="tab:red"), "trials over a constraint"),
    ):
        if records:
            ax.scatter(
                [record.values["latency_ms"] for record in records],
                _percentages([record.values["accuracy"] for record in records]),
                s=18,
                alpha=0.6,
                label=label,
                **style,
            )
    front = sorted(
        (record for record in trained if record.number in result.pareto),
        key=lambda record: record.values["latency_ms"],
    )
    if front:
        ax.plot(
            [record.values["latency_ms"] for record in front],
            _percentages([record.values["accuracy"] for record in front]),
            "o-",
            drawstyle="steps-post",
            color="tab:blue",
            markerfacecolor="none",
            markersize=9,
            label="Pareto front (trials)",
        )
    infeasible = [
        record.values["latency_ms"]
        for record in result.trials
        if record.state == "infeasible" and "latency_ms" in record.values
    ]
    if infeasible:
        ax.plot(
            infeasible,
            [0.02] * len(infeasible),
            "x",
            color="tab:gray",
            transform=ax.get_xaxis_transform(),
            label="infeasible, not trained (predicted latency)",
        )


def _retrained(result: SearchResult) -> list[Trained]:
    """Every retrained module once (the winner may also be a finalist or an ablation)."""
    items = {}
    winner = (result.winner,) if result.winner is not None else ()
    for item in (*winner, *result.finalists, *result.baselines, *result.ablation):
        items.setdefault(item.arch.dumps(), item)
    return list(items.values())


def _front(items: list[Trained]) -> list[Trained]:
    """The retrained modules no other is both faster and more accurate than (mean test accuracy), by latency."""
    front, best = [], -1.0
    for item in sorted(items, key=lambda i: (i.latency_ms, -i.test_acc)):
        if item.test_acc > best:
            front.append(item)
            best = item.test_acc
    return front


def _plot_retrained(ax: Axes, result: SearchResult) -> None:
    """Finalists, ablations, baselines (named) and the starred winner: mean test accuracy with its standard
    error over the seeds, at measured latency; the front of the retrained modules as a step line.
    """
    groups: tuple[tuple[tuple[Trained, ...], dict[str, Any], str], ...] = (
        (result.finalists, dict(marker="D", color="tab:green"), "retrained finalists"),
        (result.ablation, dict(marker="v", color="tab:purple"), "ablations"),
        (result.baselines, dict(marker="s", color="tab:orange"), "baselines"),
        (
            (result.winner,) if result.winner is not None else (),
            dict(marker="*", color="gold", markersize=18),
            "winner",
        ),
    )
    for items, style, label in groups:
        if items:
            ax.errorbar(
                [item.latency_ms for item in items],
                _percentages([item.test_acc for item in items]),
                yerr=_percentages([item.test_se or 0.0 for item in items]),
                linestyle="none",
                markeredgecolor="black",
                ecolor="black",
                capsize=3,
                zorder=3,
                label=f"{label}: test acc. ± s.e., measured latency",
                **{"markersize": 7, **style},
            )
    front = _front(_retrained(result))
    if not front:
        return
    ax.plot(
        [item.latency_ms for item in front],
        _percentages([item.test_acc for item in front]),
        drawstyle="steps-post",
        color="tab:orange",
        linestyle="--",
        zorder=2,
        label="front of the retrained modules",
    )
    for item in result.baselines:
        ax.annotate(
            item.label,
            (item.latency_ms, 100 * item.test_acc),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=8,
        )


def plot_pareto(result: SearchResult, path: str | Path) -> Path:
    """Accuracy against latency of the trials, the Pareto front and the retrained modules, saved as PNG."""
    figure = Figure(figsize=(8, 6.5))
    ax = figure.subplots()
    _plot_trials(ax, result)
    _plot_retrained(ax, result)
    if "latency_ms" in result.constraints:
        limit = result.constraints["latency_ms"]
        ax.axvline(
            limit, color="tab:red", linestyle="--", label=f"latency limit {limit:g} ms"
        )
    ax.set_xlabel("latency (ms): predicted for trials, measured after retraining")
    ax.set_ylabel(f"{result.metric} (%): validation for trials, test after retraining")
    ax.set_title(f"{result.name}: {result.metric} vs latency")
    ax.grid(alpha=0.3)
    ax.legend(
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=2,
        frameon=False,
    )
    figure.tight_layout()
    return _save(figure, path)


def _series(
    history: Sequence[dict[str, Any]], key: str
) -> tuple[list[int], list[list[float]]]:
    """The epochs that recorded `key`, and each option's probability over them."""
    entries = [entry for entry in history if key in entry["alphas"]]
    probabilities = [entry["alphas"][key] for entry in entries]
    return [entry["epoch"] for entry in entries], [list(p) for p in zip(*probabilities)]


def plot_alphas(
    history: Sequence[dict[str, Any]],
    path: str | Path,
    labels: dict[str, list[str]] | None = None,
) -> Path:
    """One subplot per choice: each option's probability (softmax of alpha) over the DARTS epochs, as PNG.

    `labels` names each choice's options (else "option i")."""
    labels = labels or {}
    keys = list(dict.fromkeys(key for entry in history for key in entry["alphas"]))
    columns = min(ALPHA_COLUMNS, max(len(keys), 1))
    rows = max(math.ceil(len(keys) / columns), 1)
    figure = Figure(figsize=(4 * columns, 2.8 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for ax, key in zip(axes, keys):
        epochs, options = _series(history, key)
        names = labels.get(key, [])
        for index, probabilities in enumerate(options):
            name = names[index] if index < len(names) else f"option {index}"
            ax.plot(epochs, probabilities, marker=".", label=name)
        ax.set_title(key, fontsize=9)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("probability", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    figure.suptitle("architecture weights: softmax(alpha) per choice")
    figure.tight_layout()
    return _save(figure, path)
