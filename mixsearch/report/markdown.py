"""report.md of a search run: whether the search paid off against each baseline, the module to use, the winner.

The numbers are formatted here and the page is laid out by `templates/report.md.j2`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from mixsearch.arch import INPUT, Arch, ArchNode, describe
from mixsearch.search.outcome.result import (
    TRIAL_STATES,
    SearchResult,
    Trained,
    TrialRecord,
)
from mixsearch.search.outcome.verdicts import (
    CALL_AT,
    call_confidence,
    compare,
    recommendation,
)
from mixsearch.templating import MarkdownText, render

TEMPLATE = "report.md.j2"
PARTIAL_TEMPLATE = "partial_report.md.j2"
MISSING = "–"


def _percent(value: float) -> str:
    """An accuracy in 0..1 as a percentage with 2 decimals."""
    return f"{100 * value:.2f}%"


def _points(difference: float) -> str:
    """A signed accuracy difference in percentage points."""
    return f"{100 * difference:+.2f}"


def _milliseconds(value: float) -> str:
    """A latency in ms with 3 decimals."""
    return f"{value:.3f}"


def _mega(value: float) -> str:
    """FLOPs in millions."""
    return f"{value / 1e6:,.2f} M"


def _count(value: float) -> str:
    """A parameter count with thousands separators."""
    return f"{int(value):,}"


def _summary(arch: Arch | None) -> str:
    """`describe(arch)`, or a dash for a trial without an architecture."""
    return describe(arch) if arch is not None else MISSING


def _node_formula(node: ArchNode) -> str:
    """`out = dynamic_weights(reduction=4)(chan, spat, ctx) + γ·input` for one node."""
    residual = f" + γ·{INPUT}" if node.residual else ""
    return f"`{node.name} = {node.label}({', '.join(node.inputs)}){residual}`"


def _value(record: TrialRecord, key: str, format_: Callable[[float], str]) -> str:
    """A trial's value formatted, or a dash when the trial has none."""
    return format_(record.values[key]) if key in record.values else MISSING


def _pareto_rows(result: SearchResult) -> list[list[str]]:
    """Trial, arch, val accuracy, predicted latency, FLOPs, params, feasible; winner's trial starred."""
    rows = []
    for number in result.pareto:
        record = result.trial(number)
        rows.append(
            [
                _trial_cell(
                    record,
                    result.winner.trial if result.winner else result.best_trial,
                ),
                _summary(record.arch),
                _value(record, "accuracy", _percent),
                _value(record, "latency_ms", _milliseconds),
                _value(record, "flops", _mega),
                _value(record, "params", _count),
                "yes" if record.feasible else "no",
            ]
        )
    return rows


def _promoted_rows(result: SearchResult) -> list[list[str]]:
    """Each candidate promoted at the rung: trial, architecture, Pareto rank, rung score, predicted latency."""
    rows = []
    for number, rank in result.promoted:
        record = result.trial(number)
        rows.append(
            [
                _trial_cell(record, result.winner.trial if result.winner else None),
                _summary(record.arch),
                str(rank),
                _value(record, "accuracy", _percent),
                _value(record, "latency_ms", _milliseconds),
            ]
        )
    return rows


def _mean_se(item: Trained) -> str:
    """Mean test accuracy ± its standard error over the seeds (the mean alone from one seed)."""
    spread = f" ± {100 * item.test_se:.2f}" if item.test_se is not None else ""
    return f"{100 * item.test_acc:.2f}{spread}%"


def _trial_cell(record: TrialRecord, winner_trial: int | None) -> str:
    """`7`, `2 (eca baseline)`, a star for the winner's trial."""
    cell = str(record.number)
    if record.baseline:
        cell += f" ({record.baseline} baseline)"
    return f"{cell} ★" if record.number == winner_trial else cell


def _trained_cells(item: Trained) -> list[str]:
    """Test accuracy (mean ± SE), val accuracy (mean), measured latency, FLOPs, params of a retrained module."""
    return [
        _mean_se(item),
        _percent(item.val_acc),
        _milliseconds(item.latency_ms),
        _mega(item.flops),
        _count(item.params),
    ]


def _finalist_rows(result: SearchResult) -> list[list[str]]:
    """One row per retrained finalist; the winner's label is starred."""
    return [
        [
            f"{item.label} ★" if item.arch == result.winner.arch else item.label,
            str(item.trial) if item.trial is not None else MISSING,
            _summary(item.arch),
            *_trained_cells(item),
            f"{item.seconds:,.1f}",
        ]
        for item in result.finalists
    ]


def _baseline_rows(result: SearchResult) -> list[list[str]]:
    """Each baseline's numbers, whether the space holds it, then the winner's paired difference and latency ratio."""
    held = {record.baseline for record in result.trials if record.baseline}
    rows = []
    for item in result.baselines:
        comparison = compare(result.winner, item)
        spread = f" ± {100 * comparison.se:.2f}" if comparison.se is not None else ""
        rows.append(
            [
                item.label,
                "yes" if item.label in held else "no",
                *_trained_cells(item),
                f"{100 * comparison.difference:+.2f}{spread}",
                f"{comparison.latency_ratio:.2f}×",
                comparison.verdict,
            ]
        )
    return rows


def _no_ablation_reason(result: SearchResult) -> str:
    """Why a finished run trained no ablation: the budget, or a best finalist with nothing to vary."""
    if not result.finalists:
        return "no finalist was retrained"
    if result.budget.get("branch_ablations"):
        return "the best finalist has no branch to remove and no fusion to replace by a sum"
    return "this budget removes no branches, and the best finalist has no fusion to replace by a sum"


def _ablation_rows(result: SearchResult) -> list[list[str]]:
    """Each ablation's numbers, then its accuracy and latency change against the finalist it varies."""
    if not result.ablation:
        return []
    ablated = result.ablated
    return [
        [
            f"{item.label} ★" if item.arch == result.winner.arch else item.label,
            *_trained_cells(item),
            _points(item.test_acc - ablated.test_acc),
            f"{item.latency_ms - ablated.latency_ms:+.3f}",
        ]
        for item in result.ablation
    ]


def _origin(result: SearchResult) -> str:
    """Where the winner comes from: a finalist's trial, or the ablation of the best finalist."""
    winner = result.winner
    trial = f"trial {winner.trial}" if winner.trial is not None else ""
    if not result.finalists or winner.arch == result.ablated.arch:
        return trial
    ablated = result.ablated
    same = f"; the architecture of {trial}" if trial else ""
    return f"{winner.label}: from the ablation, where it beat {ablated.label} on validation{same}"


def _darts_note(result: SearchResult) -> str:
    """What the DARTS stage had to say: the supernet's best training accuracy and the epochs its alphas moved
    (nothing for a history from before the warm-up gate, which recorded neither)."""
    history = result.alpha_history
    if not any("searching" in entry for entry in history):
        return ""
    accuracies = [e["accuracy"] for e in history if e.get("accuracy") is not None]
    reached = (
        f"reached {max(accuracies):.1%} training accuracy" if accuracies else "trained"
    )
    moved = sum(1 for entry in history if entry.get("searching"))
    if moved:
        return f"The supernet {reached}; its alphas moved in {moved} of {len(history)} epochs."
    return (
        f"The supernet {reached} in {len(history)} epochs, short of its warm-up: its alphas never moved, so "
        "they say nothing (hybrid narrowed no choice; darts chose by masking options out of the supernet)."
    )


def _state_counts(result: SearchResult) -> dict[str, int]:
    """How many trials ended in each state, zeros included."""
    counts = Counter(record.state for record in result.trials)
    return {state: counts[state] for state in TRIAL_STATES}


def _budget(budget: dict[str, Any]) -> str:
    """`quick (trials=40, final_epochs=10, …)`: the budget's name, then its set numbers."""
    settings = ", ".join(
        f"{key}={value}"
        for key, value in budget.items()
        if key != "name" and value is not None
    )
    name = budget.get("name", "custom")
    return f"{name} ({settings})" if settings else str(name)


def _context(result: SearchResult, alphas_plot: str | None) -> dict[str, Any]:
    """Everything the template shows, already formatted."""
    winner = result.winner
    return {
        "result": result,
        "metric": result.metric,
        "winner": winner,
        "origin": _origin(result),
        "ablated": result.ablated if result.ablation else None,
        "summary": _summary(winner.arch),
        "nodes": "; ".join(map(_node_formula, winner.arch.nodes)),
        "numbers": dict(
            zip(("test", "val", "latency", "flops", "params"), _trained_cells(winner))
        ),
        "budget": _budget(result.budget),
        "constraints": ", ".join(
            f"{key} ≤ {value:g}" for key, value in result.constraints.items()
        ),
        "pareto_rows": _pareto_rows(result),
        "promoted_rows": (
            _promoted_rows(result) if any(rank for _, rank in result.promoted) else []
        ),
        "rung": result.budget.get("rung_epoch"),
        "final_epochs": result.budget.get("final_epochs"),
        "finalist_rows": _finalist_rows(result),
        "baseline_rows": _baseline_rows(result),
        "verdicts": [compare(winner, item).sentence() for item in result.baselines],
        "recommendation": recommendation(
            winner, result.baselines, result.constraints.get("latency_ms")
        ),
        "seeds": len(winner.seeds),
        "confidence": call_confidence(len(winner.seeds)),
        "call_at": CALL_AT,
        "baseline_trials": [
            (record.number, record.baseline)
            for record in result.trials
            if record.baseline
        ],
        "ablation_rows": _ablation_rows(result),
        "no_ablation": _no_ablation_reason(result),
        "state_counts": _state_counts(result),
        "failures": [
            (record.number, " ".join((record.reason or "no reason recorded").split()))
            for record in result.trials
            if record.state == "fail"
        ],
        "stage_rows": _stage_seconds_rows(result),
        "alphas_plot": alphas_plot,
        "darts_note": _darts_note(result),
    }


def render_report(
    result: SearchResult,
    pareto_plot: str = "pareto.png",
    alphas_plot: str | None = "alphas.png",
) -> str:
    """The Markdown report of `result`, embedding the plot files (alphas only when there is a history); a
    stopped run's report is marked partial and shows what it had."""
    plot = alphas_plot if result.alpha_history else None
    if result.partial:
        return render(
            PARTIAL_TEMPLATE, pareto_plot=pareto_plot, **_partial_context(result, plot)
        )
    return render(TEMPLATE, pareto_plot=pareto_plot, **_context(result, plot))


def _partial_context(result: SearchResult, alphas_plot: str | None) -> dict[str, Any]:
    """What a stopped run's report shows: stages done, the trials so far, the best of them."""
    best = result.trial(result.best_trial) if result.best_trial is not None else None
    return {
        "result": result,
        "metric": result.metric,
        "budget": _budget(result.budget),
        "best": best,
        "best_summary": _summary(best.arch) if best else MISSING,
        "best_accuracy": _value(best, "accuracy", _percent) if best else MISSING,
        "best_latency": _value(best, "latency_ms", _milliseconds) if best else MISSING,
        "pareto_rows": _pareto_rows(result),
        "state_counts": _state_counts(result),
        "stages": _stage_rows(result),
        "alphas_plot": alphas_plot,
    }


def _stage_seconds_rows(result: SearchResult) -> list[list[str]]:
    """Each stage's seconds, then their total in bold (empty when no stage was timed)."""
    if not result.stage_seconds:
        return []
    total = f"**{sum(result.stage_seconds.values()):,.1f}**"
    rows = [
        [stage, f"{seconds:,.1f}"] for stage, seconds in result.stage_seconds.items()
    ]
    return [*rows, [MarkdownText("**total**"), MarkdownText(total)]]


def _stage_rows(result: SearchResult) -> list[list[str]]:
    """Each stage that ran: done, or stopped (the stage the run was in), and its seconds."""
    return [
        [stage, "stopped" if stage == result.stopped else "done", f"{seconds:,.1f}"]
        for stage, seconds in result.stage_seconds.items()
    ]
