"""The verdict arithmetic: paired per-seed differences, their standard error, the wordings, and the module to use
(which may be a baseline)."""

from __future__ import annotations

import pytest

from mixsearch.search.engine.baselines import baseline_archs, chain_arch
from mixsearch.search.outcome.result import Trained
from mixsearch.search.outcome.verdicts import (
    Comparison,
    Recommendation,
    call_confidence,
    compare,
    recommendation,
)

ARCHS = baseline_archs()
MIXED = chain_arch("mixed", "Mixed", ("eca", "coord"))  # no baseline computes it
SEEDS = (1, 2, 3)


def module(label, tests, latency, seeds=SEEDS, arch=None):
    arch = arch or ARCHS.get(label, MIXED)
    return Trained(label, arch, seeds, tests, tests, latency, 0, 0, 1.0)


def test_the_difference_is_paired_by_seed():
    winner = module("trial 4", (0.80, 0.84, 0.82), 2.0)
    eca = module("eca", (0.78, 0.83, 0.79), 0.5)
    comparison = compare(winner, eca)
    # Per seed: +2, +1, +3 points; mean 2, sample std 1, standard error 1/sqrt(3).
    assert comparison.difference == pytest.approx(0.02)
    assert comparison.se == pytest.approx(0.01 / 3**0.5)
    assert comparison.latency_ratio == pytest.approx(4.0)
    assert comparison.verdict == "beats"
    assert (
        comparison.sentence() == "beats eca by 2.00 ± 0.58 points at 4.0× its latency"
    )


@pytest.mark.parametrize(
    "difference, se, verdict, sentence",
    [
        (0.018, 0.006, "beats", "beats eca by 1.80 ± 0.60 points at 3.1× its latency"),
        (
            -0.002,
            0.009,
            "ties",
            "is indistinguishable from eca (-0.20 ± 0.90 points) at 3.1× its latency",
        ),
        (
            -0.03,
            0.01,
            "worse",
            "is worse than eca by 3.00 ± 1.00 points at 3.1× its latency",
        ),
        (
            0.004,
            None,
            "one-seed",
            "differs from eca by +0.40 points on one seed, too few to tell, at 3.1× its latency",
        ),
    ],
)
def test_the_four_wordings(difference, se, verdict, sentence):
    comparison = Comparison("eca", difference, se, 3.1)
    assert comparison.verdict == verdict
    assert comparison.sentence() == sentence


def test_a_difference_within_two_standard_errors_is_a_tie():
    assert Comparison("se", 0.019, 0.01, 1.0).verdict == "ties"
    assert Comparison("se", 0.021, 0.01, 1.0).verdict == "beats"


def test_modules_trained_with_other_seeds_do_not_compare():
    with pytest.raises(ValueError, match="other seeds"):
        compare(module("a", (0.8, 0.8, 0.8), 1.0), module("b", (0.8, 0.8), 1.0, (1, 2)))


def test_call_confidence_follows_students_t():
    assert call_confidence(1) is None
    assert call_confidence(2) == pytest.approx(0.705, abs=1e-3)
    assert call_confidence(5) == pytest.approx(0.884, abs=1e-3)


def test_a_faster_baseline_the_seeds_cannot_tell_apart_is_the_recommendation():
    winner = module("trial 4", (0.81, 0.83, 0.82), 4.0)
    eca = module("eca", (0.80, 0.84, 0.81), 0.4)  # +1, -1, +1 points: a tie
    se = module("se", (0.70, 0.72, 0.71), 0.5)  # clearly worse
    use = recommendation(winner, (se, eca), None)
    sentence = use.sentence
    assert use.baseline == "eca"
    assert sentence.startswith(
        "Use eca (a baseline): the search's winner is indistinguishable from eca"
    )
    assert sentence.endswith("so the simpler, faster module does as well.")


def test_a_better_baseline_within_the_limit_is_the_recommendation():
    winner = module("trial 4", (0.80, 0.81, 0.80), 1.0)
    coord = module("coord", (0.85, 0.86, 0.85), 1.5)
    assert recommendation(winner, (coord,), None).sentence.startswith(
        "Use coord (a baseline): the search's winner is worse than coord by 5.00"
    )
    assert recommendation(winner, (coord,), 1.2).sentence == (
        "Use the search's winner (trial 4): no baseline within 1.2 ms is better, or as good and faster."
    )


def test_the_winner_is_recommended_when_it_beats_what_is_faster():
    winner = module("trial 4", (0.84, 0.86, 0.85), 2.0)
    none = module("none", (0.80, 0.81, 0.80), 0.01)
    assert recommendation(winner, (none,), None).sentence == (
        "Use the search's winner (trial 4): it beats none, and no baseline as accurate is faster."
    )


def test_a_winner_over_the_latency_limit_gives_way_to_the_best_baseline_within_it():
    winner = module("trial 4", (0.84, 0.86, 0.85), 3.0)
    eca = module("eca", (0.80, 0.81, 0.80), 0.4)
    assert recommendation(winner, (eca,), 2.0).sentence == (
        "Use eca (a baseline): the search's winner measures 3.000 ms, over the 2 ms limit."
    )


def test_a_winner_that_computes_a_baseline_is_named_as_that_baseline():
    # The identity module, found by the search as a trial: the `none` baseline under another name.
    identity = chain_arch("trial_0", "Trial0", ("identity", "identity"))
    winner = module("trial 0", (0.84, 0.86, 0.85), 0.012, arch=identity)
    none = module("none", (0.84, 0.86, 0.85), 0.011)
    se = module("se", (0.80, 0.81, 0.80), 0.3)
    assert recommendation(winner, (se, none), None).sentence == (
        "Use none (a baseline): the search's winner (trial 0) is none itself."
    )


def test_the_recommendation_names_the_baseline_to_export_or_none_for_the_winner():
    winner = module("trial 4", (0.84, 0.86, 0.85), 3.0)
    eca = module("eca", (0.80, 0.81, 0.80), 0.4)
    assert recommendation(winner, (eca,), 2.0).baseline == "eca"
    assert recommendation(winner, (eca,), None).baseline is None
    assert recommendation(winner, (eca,), 0.1) == Recommendation(
        "No module fits: the search's winner measures 3.000 ms, over the 0.1 ms limit."
    )
