"""The verdict statistics: the winner against each baseline from paired per-seed accuracies, how sure a call is,
and the module to use at the latency the user can afford. Plain data and arithmetic: the report reads them
without importing torch, Optuna or the hardware code.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from mixsearch.arch import function_key
from mixsearch.search.outcome.result import Trained, standard_error

# A difference is called (beats / worse) when it exceeds this many standard errors of the paired differences.
CALL_AT = 2.0


@dataclass(frozen=True)
class Comparison:
    """The winner against one baseline, from their paired per-seed test accuracies (same seeds, same data)."""

    baseline: str
    difference: float  # mean of winner - baseline over the seeds, in accuracy (0..1)
    se: float | None  # its standard error; None from one seed
    latency_ratio: float  # winner's measured latency / the baseline's

    @property
    def verdict(self) -> str:
        """beats, ties, worse, or one-seed (too few seeds to tell)."""
        if self.se is None:
            return "one-seed"
        if self.difference > CALL_AT * self.se:
            return "beats"
        if self.difference < -CALL_AT * self.se:
            return "worse"
        return "ties"

    def sentence(self) -> str:
        """What the winner does against the baseline: `beats eca by 1.80 ± 0.60 points at 3.1× its latency`,
        `is worse than ...`, `is indistinguishable from eca (-0.20 ± 0.90 points) ...`, or the one-seed wording.
        """
        points = 100 * self.difference
        at = f"at {self.latency_ratio:.1f}× its latency"
        if self.se is None:
            return f"differs from {self.baseline} by {points:+.2f} points on one seed, too few to tell, {at}"
        spread = f"{abs(points):.2f} ± {100 * self.se:.2f} points"
        return {
            "beats": f"beats {self.baseline} by {spread} {at}",
            "worse": f"is worse than {self.baseline} by {spread} {at}",
            "ties": (
                f"is indistinguishable from {self.baseline} ({points:+.2f} ± {100 * self.se:.2f} points) "
                f"{at}"
            ),
        }[self.verdict]


def compare(winner: Trained, baseline: Trained) -> Comparison:
    """The paired comparison of `winner` with `baseline` (both trained with the same seeds)."""
    if winner.seeds != baseline.seeds:
        raise ValueError(
            f"{winner.label} and {baseline.label} were trained with other seeds"
        )
    differences = [w - b for w, b in zip(winner.test_accs, baseline.test_accs)]
    return Comparison(
        baseline.label,
        statistics.fmean(differences),
        standard_error(differences),
        winner.latency_ms / baseline.latency_ms,
    )


def call_confidence(seeds: int) -> float | None:
    """How sure a call at `CALL_AT` standard errors is with `seeds` paired seeds (two-sided, Student's t)."""
    if seeds < 2:
        return None
    from scipy.stats import t  # a heavy import that only a report needs

    return float(2 * t.cdf(CALL_AT, df=seeds - 1) - 1)


@dataclass(frozen=True)
class Recommendation:
    """The module to use at the latency limit: one sentence, and the baseline it names (None when it names the
    winner or nothing fits), whose module `mixsearch export RUN_DIR --baseline NAME` writes.
    """

    sentence: str
    baseline: str | None = None


def recommendation(
    winner: Trained, baselines: tuple[Trained, ...], latency_limit: float | None
) -> Recommendation:
    """The module to use at the latency limit (measured), which may be a baseline.

    A baseline better than the winner wins; else the fastest one the seeds cannot tell from it, when it is
    faster; else the winner. Modules over the limit are left out. A winner that computes what a baseline computes
    is named as that baseline."""
    fits = [
        b for b in baselines if latency_limit is None or b.latency_ms <= latency_limit
    ]
    same = [b for b in fits if function_key(b.arch) == function_key(winner.arch)]
    comparisons = {b.label: compare(winner, b) for b in fits}
    better = [b for b in fits if comparisons[b.label].verdict == "worse"]

    def use(baseline: Trained, why: str) -> Recommendation:
        return Recommendation(
            f"Use {baseline.label} (a baseline): {why}.", baseline.label
        )

    if latency_limit is not None and winner.latency_ms > latency_limit:
        where = f"the search's winner measures {winner.latency_ms:.3f} ms, over the {latency_limit:g} ms limit"
        pick = max(fits, key=lambda b: b.test_acc, default=None)
        return use(pick, where) if pick else Recommendation(f"No module fits: {where}.")
    if same and not better:
        return use(
            same[0], f"the search's winner ({winner.label}) is {same[0].label} itself"
        )
    if better:
        pick = max(better, key=lambda b: b.test_acc)
        return use(pick, f"the search's winner {comparisons[pick.label].sentence()}")
    tied = [
        b
        for b in fits
        if comparisons[b.label].verdict == "ties" and b.latency_ms < winner.latency_ms
    ]
    if tied:
        pick = min(tied, key=lambda b: b.latency_ms)
        return use(
            pick,
            f"the search's winner {comparisons[pick.label].sentence()}, "
            "so the simpler, faster module does as well",
        )
    limit = f" within {latency_limit:g} ms" if latency_limit is not None else ""
    beaten = [b.label for b in fits if comparisons[b.label].verdict == "beats"]
    reason = (
        f"it beats {', '.join(beaten)}, and no baseline{limit} as accurate is faster"
        if beaten
        else f"no baseline{limit} is better, or as good and faster"
    )
    return Recommendation(f"Use the search's winner ({winner.label}): {reason}.")
