"""The report of a search run: `report.md` with the verdicts and tables, and the plots it embeds."""

from __future__ import annotations

from pathlib import Path

from mixsearch.outdir import write_file
from mixsearch.report.markdown import render_report
from mixsearch.report.plots import plot_alphas, plot_pareto
from mixsearch.search.outcome.result import SearchResult

REPORT_FILE = "report.md"
PARETO_PLOT = "pareto.png"
ALPHAS_PLOT = "alphas.png"

__all__ = ["plot_alphas", "plot_pareto", "render_report", "write_report"]


def write_report(result: SearchResult, run_dir: str | Path) -> list[Path]:
    """Write report.md, pareto.png and (for a run with alpha history) alphas.png into `run_dir`."""
    run_dir = Path(run_dir)
    paths = [run_dir / REPORT_FILE, plot_pareto(result, run_dir / PARETO_PLOT)]
    if result.alpha_history:
        paths.append(
            plot_alphas(
                result.alpha_history, run_dir / ALPHAS_PLOT, result.alpha_options
            )
        )
    write_file(paths[0], render_report(result, PARETO_PLOT, ALPHAS_PLOT))
    return paths
