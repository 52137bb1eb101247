"""The shared verdict rule, checked against scipy and statsmodels on made-up data whose answers are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from optim import verdicts

A = [0.50, 0.53, 0.49, 0.52, 0.51]
B = [0.61, 0.66, 0.58, 0.63]
PA = pd.Series([0.50, 0.53, 0.49, 0.52, 0.51], index=range(5))   # paired: seeds 0-4
PB = pd.Series([0.55, 0.59, 0.54, 0.58, 0.55], index=range(5))
PLAN = verdicts.Plan("final training loss", "last epoch", 0.1, "a stated practical threshold", "superiority", "f")


# --- the intervals ---------------------------------------------------------------------------
def test_unpaired_difference_interval_is_welchs_t_interval_at_90_percent():
    c = verdicts.compare("a", A, "b", B, "m", "less", 0.01, "difference")
    reference = stats.ttest_ind(A, B, equal_var=False).confidence_interval(0.90)
    assert not c.paired and c.test.startswith("Welch")
    assert c.effect == pytest.approx(np.mean(A) - np.mean(B))
    assert (c.low, c.high) == pytest.approx((reference.low, reference.high))


def test_paired_ratio_interval_is_the_paired_t_interval_on_the_log_ratios():
    c = verdicts.compare("a", PA, "b", PB, "m", "less", 0.05)
    reference = stats.ttest_rel(np.log(PA), np.log(PB)).confidence_interval(0.90)
    assert c.paired and c.test == "paired t (log ratio)" and c.n_a == 5
    assert c.effect == pytest.approx(np.exp(np.mean(np.log(PA) - np.log(PB))))
    assert (c.low, c.high) == pytest.approx((np.exp(reference.low), np.exp(reference.high)))


def test_pairing_follows_the_seeds_not_the_order():
    shuffled = PB.iloc[[3, 0, 4, 1, 2]]
    assert verdicts.compare("a", PA, "b", shuffled, "m", "less", 0.05).effect == \
        pytest.approx(verdicts.compare("a", PA, "b", PB, "m", "less", 0.05).effect)
    other_seeds = pd.Series(PB.to_numpy(), index=range(10, 15))
    assert not verdicts.compare("a", PA, "b", other_seeds, "m", "less", 0.05).paired


def test_pairing_narrows_the_interval_when_seeds_share_their_noise():
    seed_noise = np.array([0.0, 0.2, -0.1, 0.3, -0.2])
    a, b = pd.Series(1.0 + seed_noise), pd.Series(1.1 + seed_noise + [0.01, -0.01, 0.0, 0.01, -0.01])
    paired = verdicts.compare("a", a, "b", b, "m", "less", 0.02, "difference")
    unpaired = verdicts.compare("a", list(a), "b", list(b), "m", "less", 0.02, "difference")
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 10
    assert (paired.outcome, unpaired.outcome) == ("supports", "inconclusive")


# --- the symmetric decision ------------------------------------------------------------------
def test_directional_p_values_are_one_sided_t_tests_at_the_sesoi():
    c = verdicts.compare("a", PA, "b", PB, "m", "less", 0.05)
    d = np.log(PA) - np.log(PB)
    support = stats.ttest_1samp(d, -math.log(1.05), alternative="less").pvalue
    contradict = stats.ttest_1samp(d, -math.log(1.05), alternative="greater").pvalue
    assert (c.p_support, c.p_contradict) == pytest.approx((support, contradict))


def test_support_and_contradiction_need_the_same_evidence_on_either_side_of_the_sesoi():
    """A gap as far above the SESOI as another is below it gets the mirrored outcome."""
    base = np.array([1.0, 1.02, 0.98, 1.01, 0.99])
    better = verdicts.compare("a", pd.Series(base - 0.15), "b", pd.Series(base), "m", "less", 0.1, "difference")
    worse = verdicts.compare("a", pd.Series(base - 0.05), "b", pd.Series(base), "m", "less", 0.1, "difference")
    assert (better.outcome, worse.outcome) == ("supports", "contradicts")
    assert better.p_support == pytest.approx(worse.p_contradict)
    # the old rule's asymmetry: a small gap in the claimed direction no longer "supports"
    assert worse.effect < 0


def test_equivalence_is_tost_against_statsmodels():
    a, b = PA, PA * np.array([1.01, 0.99, 1.02, 1.0, 0.98])
    c = verdicts.compare("a", a, "b", b, "m", "similar", 0.05)
    d = math.log(1.05)
    p_tost, _, _ = ttost_paired(np.log(a.to_numpy()), np.log(b.to_numpy()), -d, d)
    assert c.p_support == pytest.approx(p_tost) and c.outcome == "supports"
    p_ind, _, _ = ttost_ind(np.log(A), np.log(B), -d, d, usevar="unequal")
    assert verdicts.compare("a", A, "b", B, "m", "similar", 0.05).p_support == pytest.approx(p_ind)
    assert verdicts.compare("a", A, "b", B, "m", "similar", 0.05).outcome == "contradicts"


def test_non_inferiority_thresholds_sit_on_the_other_side():
    a = PB * 1.02   # 2% worse than B, well inside a 10% non-inferiority margin
    assert verdicts.compare("a", a, "b", PB, "m", "at_most", 0.10).outcome == "supports"
    assert verdicts.compare("a", PB * 1.3, "b", PB, "m", "at_most", 0.10).outcome == "contradicts"


# --- divergence ------------------------------------------------------------------------------
def test_a_diverged_run_is_counted_not_turned_into_nan():
    c = verdicts.compare("a", [0.1, 0.1, np.inf], "b", [0.2, 0.21, 0.19], "m", "less", 0.1)
    assert (c.diverged_a, c.diverged_b, c.n_a) == (1, 0, 3)
    assert all(np.isfinite([c.effect, c.low, c.high])) and c.test == "Welch t (log ratio)"
    p_fisher = stats.fisher_exact([[1, 2], [0, 3]], alternative="greater").pvalue
    assert c.p_fisher_contradict == pytest.approx(p_fisher)


def test_a_method_that_always_diverges_loses_by_fishers_test_and_never_gets_a_ratio_against_a_cap():
    diverged = pd.Series([np.inf] * 6, index=range(6))
    fine = pd.Series([170.0, 180, 175, 178, 172, 181], index=range(6))
    c = verdicts.compare("without", diverged, "with", fine, "loss", "greater", 0.1)
    assert c.test == "Fisher exact (diverged runs)" and c.scale == "divergence rate difference"
    reference = confint_proportions_2indep(6, 6, 0, 6, method="newcomb", compare="diff", alpha=0.10)
    assert (c.effect, c.low, c.high) == pytest.approx((1.0, *reference))
    assert c.p_support == pytest.approx(stats.fisher_exact([[6, 0], [0, 6]], alternative="greater").pvalue)
    assert c.outcome == "supports"
    row = verdicts.claim("c", [c], PLAN, "full")
    assert json.loads(json.dumps(row, allow_nan=False))["comparisons"][0]["a_mean"] is None   # all diverged: null
    three = verdicts.compare("without", diverged[:3], "with", fine[:3], "loss", "greater", 0.1)
    assert three.outcome == "inconclusive" and three.seeds_for_power == 4   # 3 vs 3 cannot reach p < 0.05
    assert three.p_support == pytest.approx(0.05)


def test_newcombe_interval_matches_statsmodels():
    for k_a, n_a, k_b, n_b in [(2, 5, 1, 5), (0, 3, 3, 3), (4, 10, 7, 9)]:
        reference = confint_proportions_2indep(k_a, n_a, k_b, n_b, method="newcomb", compare="diff", alpha=0.10)
        assert verdicts.newcombe_interval(k_a, n_a, k_b, n_b)[1:] == pytest.approx(reference)


# --- multiplicity, power, sensitivity --------------------------------------------------------
def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.2, 0.005]
    assert verdicts.holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_holm_can_turn_a_lone_contradiction_among_many_into_inconclusive():
    rng = np.random.default_rng(0)
    base = pd.Series(1 + rng.normal(0, 0.02, 5))
    strong = [verdicts.compare(f"x{i}", base * 0.5, "b", base, "m", "less", 0.1) for i in range(4)]
    log_ratio = -math.log(1.1) + 0.01 + np.array([0.01, -0.01, 0.006, -0.006, 0.0])   # t = 2.7 above the SESOI
    weak = verdicts.compare("w", base * np.exp(log_ratio), "b", base, "m", "less", 0.1)
    assert weak.outcome == "contradicts" and 0.01 < weak.p_contradict < 0.05
    row = verdicts.claim("c", strong + [weak], PLAN, "full")
    assert row["comparisons"][-1]["adjusted"] == "Holm"
    assert row["comparisons"][-1]["outcome"] == "inconclusive" and row["verdict"] == "inconclusive"


@pytest.mark.parametrize("sd, sesoi, paired", [(0.1, 0.05, True), (0.2, 0.05, False), (0.03, 0.02, True)])
def test_seeds_for_power_match_statsmodels(sd, sesoi, paired):
    n = verdicts.seeds_for_power(sd, sesoi, paired, equivalence=False)
    solver = TTestPower() if paired else TTestIndPower()
    reference = solver.solve_power(effect_size=sesoi / sd, alpha=0.05, power=0.8, alternative="larger")
    assert n == math.ceil(reference)


def test_inconclusive_rows_say_how_many_seeds_would_resolve_them():
    c = verdicts.compare("a", [0.5, 0.9], "b", [0.6, 0.7], "m", "less", 0.1)
    assert c.outcome == "inconclusive" and c.seeds_for_power > 2 and c.seeds_to_resolve > 2
    assert f"would need ≈{c.seeds_to_resolve} seeds" in c.text()


def test_seeds_to_resolve_power_the_observed_gap_to_the_threshold():
    """An effect right at the SESOI needs far more seeds than one well past it."""
    base = pd.Series([1.0, 1.1, 0.9, 1.05, 0.95])
    near = verdicts.compare("a", base * np.exp(-math.log(1.1) + np.array([0.01, -0.01, 0.012, -0.008, 0.0])),
                            "b", base, "m", "less", 0.1)
    far = verdicts.compare("a", base * np.exp(-math.log(1.1) + np.array([0.05, 0.03, 0.052, 0.032, 0.04])),
                           "b", base, "m", "less", 0.1)
    assert near.seeds_to_resolve > 10 * far.seeds_to_resolve


def test_rows_carry_the_plan_and_the_verdict_at_half_and_double_the_sesoi():
    a = PB * np.array([0.88, 0.87, 0.89, 0.88, 0.87])   # about 12% lower: beyond 10%, not beyond 20%
    row = verdicts.claim("A beats B", [verdicts.compare("A", a, "B", PB, "loss", "less", 0.1)], PLAN, "full")
    assert row["verdict"] == "reproduced" and row["plan"]["sesoi"] == 0.1 and row["plan"]["kind"] == "superiority"
    assert row["sensitivity"] == {"half": "reproduced", "double": "not reproduced"}
    part = row["comparisons"][0]
    for name in ("test", "paired", "n_a", "n_b", "diverged_a", "diverged_b", "effect", "low", "high", "outcome",
                 "seeds_for_power"):
        assert name in part
    assert all(np.isfinite([part["effect"], part["low"], part["high"]]))


# --- aggregates and deterministic quantities -------------------------------------------------
def test_a_noisy_aggregate_gets_a_one_sample_t_interval_over_seeds():
    shares = [0.40, 0.45, 0.38, 0.42]
    c = verdicts.estimate("time to target / budget", shares, "less", 0.5)
    reference = stats.ttest_1samp(shares, 0.5, alternative="less")
    assert c.test == "one-sample t" and c.p_support == pytest.approx(reference.pvalue) and c.outcome == "supports"
    with pytest.raises(ValueError, match="at least 2 finite values"):
        verdicts.estimate("x", [0.4, np.nan, np.inf], "less", 0.5)   # one finite value


@pytest.mark.parametrize("slopes, outcome", [
    ([0.10, -0.05, 0.02, 0.08, -0.01], "supports"),      # inside ±0.5, tightly
    ([-0.90, -1.10, -0.95, -1.05, -1.00], "contradicts"),  # far outside the band
    ([0.9, -0.8, 0.4, -0.6, 0.1], "inconclusive"),       # centred, but too noisy to tell
])
def test_a_noisy_aggregate_within_a_band_is_judged_by_two_one_sided_t_tests(slopes, outcome):
    c = verdicts.estimate("slope of the best decay against the rate", slopes, "similar", 0.0, sesoi=0.5)
    above = stats.ttest_1samp(slopes, -0.5, alternative="greater").pvalue   # TOST: both must reject
    below = stats.ttest_1samp(slopes, 0.5, alternative="less").pvalue
    assert c.p_support == pytest.approx(max(above, below)) and c.outcome == outcome
    assert c.low == pytest.approx(stats.t.interval(0.9, 4, np.mean(slopes), stats.sem(slopes))[0])
    wider = verdicts.rejudged(c, 1.0)   # at twice the band: the TOST p-values at ±1
    assert wider.p_support == pytest.approx(max(stats.ttest_1samp(slopes, -1.0, alternative="greater").pvalue,
                                                stats.ttest_1samp(slopes, 1.0, alternative="less").pvalue))
    with pytest.raises(ValueError, match="sesoi=0.0 is invalid for 'similar'"):
        verdicts.estimate("x", slopes, "similar", 0.0)


def test_many_methods_are_judged_by_friedmans_test_not_best_against_worst():
    table = pd.DataFrame({"a": [1.0, 1.1, 0.9, 1.0], "b": [2.0, 2.1, 1.9, 2.2], "c": [3.0, 3.2, 2.9, 3.1]})
    c = verdicts.omnibus("optimizers differ", table)
    assert c.p_support == pytest.approx(stats.friedmanchisquare(table.a, table.b, table.c).pvalue)
    assert c.effect == pytest.approx(1.0)   # Kendall's W: every seed ranks them alike


def test_a_deterministic_observation_supports_or_contradicts_and_combines_with_comparisons():
    holds = verdicts.observe("steady step / Λg", 1.0000, "greater", 0.95)
    fails = verdicts.observe("steady step / Λg", 0.1099, "greater", 0.95)
    assert (holds.outcome, fails.outcome) == ("supports", "contradicts")
    plan = verdicts.Plan("steady step", "steady state", 0, "Algorithm 1", "deterministic", "f")
    assert verdicts.claim("c", [fails], plan, "quick")["seeds"] == "deterministic"
    assert verdicts.verdict([holds, fails]) == "partly"


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda: verdicts.compare("a", [1.0], "b", [1.0, 2.0], "m", "less", 0.1), "at least 2 runs"),
    (lambda: verdicts.compare("a", [1.0, 2.0], "b", [1.0, 2.0], "m", "faster", 0.1), "direction='faster' is invalid"),
    (lambda: verdicts.compare("a", [0.0, 2.0], "b", [1.0, 2.0], "m", "less", 0.1), "needs positive values"),
    (lambda: verdicts.compare("a", [1.0, 2.0], "b", [1.0, 2.0], "m", "less", -1), "sesoi=-1 is invalid"),
    (lambda: verdicts.Plan("m", "end", 0.1, "paper", "hunch", "f"), "kind='hunch' is invalid"),
    (lambda: verdicts.claim("c", [verdicts.observe("x", 1, "less", 2)], None, "full"), "has no plan"),
])
def test_bad_input_is_a_one_line_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_yes_no_outcome_per_seed_is_an_exact_binomial_share():
    c = verdicts.proportion("runs that switched", [True, True, True], "greater", 0.5)
    assert c.p_support == pytest.approx(stats.binomtest(3, 3, 0.5, alternative="greater").pvalue)   # 0.125
    assert c.outcome == "inconclusive" and c.seeds_to_resolve == 5
    reference = stats.binomtest(3, 3).proportion_ci(confidence_level=0.90, method="exact")
    assert (c.low, c.high) == pytest.approx((reference.low, reference.high))
    assert verdicts.proportion("x", [False] * 10, "greater", 0.5).outcome == "contradicts"


def test_a_rows_reason_names_the_comparison_that_decided_it():
    near = verdicts.compare("A", PB * 0.95, "B", PB, "loss", "less", 0.1)
    row = verdicts.claim("A beats B", [verdicts.compare("A", PB * 0.5, "B", PB, "loss", "less", 0.1), near], PLAN, "full")
    assert row["verdict"] == "partly" and verdicts.reason(row).startswith("A vs B: ratio 0.95")
    assert "on the other side of the SESOI" in verdicts.reason(row)
    blown = verdicts.compare("A", [np.inf] * 3, "B", [1.0, 1.1, 1.2], "loss", "greater", 0.1)
    assert "3 of 3 diverged against 0 of 3" in verdicts.reason(verdicts.claim("c", [blown], PLAN, "full"))


def test_seeds_to_resolve_are_sized_for_holms_level_when_holm_holds_a_comparison_back():
    c = verdicts.compare("a", [0.5, 0.9, 0.7], "b", [0.6, 0.7, 0.8], "m", "less", 0.1)
    assert verdicts.seeds_to_resolve(c) == c.seeds_to_resolve   # the same sizing as compare() made
    both = [verdicts.proportion(f"runs {i}", [True] * 5, "greater", 0.5) for i in range(2)]
    assert all(p.outcome == "supports" and p.seeds_to_resolve <= 5 for p in both)   # 1/32 < 0.05 each ...
    row = verdicts.claim("c", both, PLAN, "full")
    assert row["verdict"] == "inconclusive"                                           # ... but not 1/32 · 2
    assert all(p["seeds_to_resolve"] > 5 for p in row["comparisons"])


def test_the_found_column_states_each_measured_effect_and_interval_against_the_claim():
    plan = verdicts.Plan(metric="final test accuracy", read_at="last epoch", sesoi=0.005, sesoi_source="test",
                         kind="superiority", family="test")
    a = pd.Series([0.80, 0.81, 0.79, 0.80], index=range(4))
    b = a + np.array([0.02, 0.021, 0.019, 0.022])  # b is better: the claim "a > b" points the wrong way
    row = verdicts.claim("A beats B", [verdicts.compare("A", a, "B", b, "final test accuracy", "greater", 0.005,
                                                        "difference", higher_is_better=True)], plan, "full")
    part = row["comparisons"][0]
    text = verdicts.found(row)
    assert row["verdict"] == "not reproduced" and part["effect"] < 0
    low, high = stats.t.interval(0.90, 3, loc=(a - b).mean(), scale=(a - b).std(ddof=1) / 2)
    assert f"[{low:.3g}, {high:.3g}]" in text and f"{(a - b).mean():.3g}" in text
    assert "on the other side of the SESOI" in text and text.startswith("A vs B: difference -")
    untested = verdicts.untestable("C", "no data here", plan, "full")
    assert verdicts.found(untested) == "no data here"


def test_pooled_over_one_stratum_is_welch_s_interval():
    a, b = [0.91, 0.92, 0.905], [0.90, 0.895, 0.91, 0.902]
    part = verdicts.pooled("ours", "theirs", {"Adam": (a, b)}, "test accuracy", "similar", 0.01, "difference")
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(verdicts.CONFIDENCE)
    assert (part.low, part.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert part.effect == pytest.approx(np.mean(a) - np.mean(b)) and part.test.startswith("Welch t over 1 strata")


def test_pooled_interval_covers_the_mean_offset_at_its_level():
    # three optimizers with different offsets, spreads and seed counts; the pooled estimand is
    # the mean offset. The 90% interval must cover it in about 90% of simulated studies.
    rng = np.random.default_rng(7)
    offsets, spreads, sizes = [0.5, 1.5, 1.0], [(0.3, 0.6), (0.5, 0.2), (0.4, 0.4)], [(3, 4), (3, 7), (3, 3)]
    covered, trials = 0, 800
    for _ in range(trials):
        strata = {i: (rng.normal(offsets[i], spreads[i][0], sizes[i][0]), rng.normal(0.0, spreads[i][1], sizes[i][1]))
                  for i in range(3)}
        part = verdicts.pooled("a", "b", strata, "m", "similar", 1.0, "difference")
        covered += part.low <= np.mean(offsets) <= part.high
    assert 0.86 <= covered / trials <= 0.95  # Satterthwaite's df make it slightly conservative


def test_pooled_refuses_a_stratum_with_a_diverged_run_naming_it():
    with pytest.raises(ValueError, match="stratum 'AMSGrad' has a diverged run"):
        verdicts.pooled("a", "b", {"Adam": ([1, 2], [1, 2]), "AMSGrad": ([1, float("nan")], [1, 2])}, "m", "similar", 0.05)


def test_judge_pairs_is_judge_of_each_pairs_comparison_at_the_plans_sesoi():
    plan = verdicts.Plan(metric="loss", read_at="end", sesoi=0.1, sesoi_source="test", kind="superiority", family="t",
                         seeds=3, claim="a beats b and c")
    values = {"a": pd.Series([1.0, 1.1, 0.9]), "b": pd.Series([2.0, 2.1, 1.9]), "c": pd.Series([1.0, 1.2, 0.95])}
    by_hand = verdicts.judge(plan, [verdicts.compare("a", values["a"], o, values[o], "final training loss", "less", 0.1)
                                    for o in ("b", "c")], "full", note="n")
    assert verdicts.judge_pairs(plan, values, [("a", "b"), ("a", "c")], "less", "full", note="n") == by_hand
    mixed = verdicts.judge(plan, [verdicts.compare("a", values["a"], "b", values["b"], "final training loss", "less", 0.1),
                                  verdicts.compare("a", values["a"], "c", values["c"], "final training loss", "similar",
                                                   0.1)], "full")
    assert verdicts.judge_pairs(plan, values, [("a", "b"), ("a", "c", "similar")], "less", "full") == mixed
    accuracy = {k: 1 - v / 10 for k, v in values.items()}
    by_hand = verdicts.judge(plan, [verdicts.compare("a", accuracy["a"], "b", accuracy["b"], "final test accuracy",
                                                     "greater", 0.1, "difference", higher_is_better=True)], "full")
    assert verdicts.judge_accuracy(plan, accuracy, [("a", "b")], "greater", "full") == by_hand


@pytest.mark.parametrize("direction, outcome, low, high, words", [
    ("similar", "supports", 0.95, 1.05, "alike"), ("similar", "contradicts", 1.2, 1.4, "different"),
    ("similar", "inconclusive", 0.8, 1.2, "the seeds cannot tell"),
    ("less", "supports", 0.7, 0.85, "lower by at least 10%"), ("less", "contradicts", 1.1, 1.3, "higher"),
    ("less", "contradicts", 0.92, 1.05, "not lower by 10%"), ("less", "inconclusive", 0.8, 1.05, "the seeds cannot tell"),
    ("greater", "supports", 1.2, 1.4, "higher by at least 10%"), ("greater", "contradicts", 0.7, 0.9, "lower")])
def test_a_ratio_comparison_in_words(direction, outcome, low, high, words):
    c = dict(direction=direction, outcome=outcome, low=low, high=high, effect=(low + high) / 2, sesoi=0.1)
    assert verdicts.ratio_words(c) == f"{(low + high) / 2:.3g}× [{low:.3g}, {high:.3g}], {words}"


def test_a_difference_of_accuracies_in_points_reads_the_comparison_or_its_stored_row():
    c = verdicts.compare("a", {0: 0.91, 1: 0.92, 2: 0.935}, "b", {0: 0.90, 1: 0.905, 2: 0.915}, "accuracy",
                         "similar", 0.01, "difference", higher_is_better=True)
    diffs = np.array([0.01, 0.015, 0.02])
    half = stats.t.ppf(0.95, 2) * diffs.std(ddof=1) / math.sqrt(3)  # the paired 90% t interval, by hand
    expected = f"{100 * diffs.mean():+.2f} points [{100 * (diffs.mean() - half):+.2f}, {100 * (diffs.mean() + half):+.2f}]"
    assert verdicts.points_words(c) == expected == "+1.50 points [+0.66, +2.34]"
    assert verdicts.points_words(dict(effect=c.effect, low=c.low, high=c.high)) == expected
