"""The shared verdict rule, checked against scipy's Welch t-test and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from optim import verdicts

A = [0.50, 0.53, 0.49, 0.52, 0.51]
B = [0.61, 0.66, 0.58, 0.63]


def test_difference_interval_is_welchs_t_interval():
    effect, low, high = verdicts.welch_interval(A, B, "difference")
    reference = stats.ttest_ind(A, B, equal_var=False).confidence_interval(0.95)
    assert effect == pytest.approx(np.mean(A) - np.mean(B))
    assert (low, high) == pytest.approx((reference.low, reference.high))


def test_ratio_interval_is_welchs_interval_on_the_logarithms():
    effect, low, high = verdicts.welch_interval(A, B, "ratio")
    reference = stats.ttest_ind(np.log(A), np.log(B), equal_var=False).confidence_interval(0.95)
    assert effect == pytest.approx(np.exp(np.log(A).mean() - np.log(B).mean()))
    assert (low, high) == pytest.approx((np.exp(reference.low), np.exp(reference.high)))


@pytest.mark.parametrize("a, b, direction, margin, outcome", [
    (A, B, "less", None, "supports"),
    (B, A, "less", None, "contradicts"),
    (A, B, "greater", None, "contradicts"),
    ([0.5, 0.9], [0.6, 0.7], "less", None, "inconclusive"),             # two noisy seeds cannot tell
    (A, [0.51, 0.50, 0.52, 0.50], "similar", 1.25, "supports"),
    (A, [1.5, 1.6, 1.55], "similar", 1.25, "contradicts"),
    ([0.5, 0.7], [0.5, 0.6], "similar", 1.25, "inconclusive"),
    (A, [0.49, 0.50, 0.51], "less", 1.25, "inconclusive"),               # lower, but not by the margin
])
def test_outcome_of_a_comparison(a, b, direction, margin, outcome):
    assert verdicts.compare("a", a, "b", b, "loss", direction, "ratio", margin).outcome == outcome


@pytest.mark.parametrize("outcomes, expected", [
    (["supports", "supports"], "reproduced"),
    (["supports", "inconclusive"], "inconclusive"),
    (["inconclusive"], "inconclusive"),
    (["supports", "contradicts"], "partly"),
    (["contradicts", "inconclusive"], "not reproduced"),
    (["contradicts"], "not reproduced"),
])
def test_verdict_of_a_claim(outcomes, expected):
    parts = [verdicts.Comparison("a", "b", "m", "less", "ratio", 1, 1, 3, 3, 1, 1, 1, float("nan"), o) for o in outcomes]
    assert verdicts.verdict(parts) == expected


def test_claim_rows_carry_the_numbers_and_an_untestable_claim_its_reason():
    row = verdicts.claim("A beats B", [verdicts.compare("A", A, "B", B, "loss")], "quick", section="s")
    assert row["verdict"] == "reproduced" and row["seeds"] == "4–5" and row["profile"] == "quick"
    (part,) = row["comparisons"]
    assert part["effect"] < 1 and part["low"] < part["effect"] < part["high"] and part["n_a"] == 5
    assert "[" in row["measured"] and "supports" in row["measured"]
    row = verdicts.untestable("C", "needs 2M steps", "quick")
    assert row["verdict"] == "not testable at this scale" and row["comparisons"] == []


@pytest.mark.parametrize("call, message", [
    (lambda: verdicts.compare("a", [1.0], "b", [1.0, 2.0], "m"), "at least 2 seeds"),
    (lambda: verdicts.compare("a", [1.0, 2.0], "b", [1.0, 2.0], "m", "similar"), "needs a margin"),
    (lambda: verdicts.compare("a", [1.0, 2.0], "b", [1.0, 2.0], "m", "faster"), "direction='faster' is invalid"),
    (lambda: verdicts.compare("a", [0.0, 2.0], "b", [1.0, 2.0], "m"), "needs positive values"),
])
def test_bad_comparisons_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_deterministic_observation_supports_or_contradicts_and_combines_with_comparisons():
    holds = verdicts.observe("steady step / Λg", 1.0000, "greater", 0.95)
    fails = verdicts.observe("steady step / Λg", 0.1099, "greater", 0.95)
    assert (holds.outcome, fails.outcome) == ("supports", "contradicts")
    row = verdicts.claim("c", [holds, verdicts.compare("A", A, "B", B, "loss")], "quick")
    assert row["verdict"] == "reproduced" and row["seeds"] == "4–5"
    assert verdicts.claim("c", [fails], "quick")["seeds"] == "deterministic"
    assert verdicts.verdict([holds, fails]) == "partly"
