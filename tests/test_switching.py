"""optim.switching on hand-made probe logs: which runs switched, when, and how settled Λ is."""

import numpy as np
import pandas as pd
import pytest

from optim import switching


def probes():
    """Three runs of one variant, 10 logged steps each: run a switches at step 6 (half its
    tensors), run b at step 8 (all), run c never; Λ settles at 0.1 in a, drifts in b."""
    rows = []
    for key, seed, first, share in [("a", 0, 6, 0.5), ("b", 1, 8, 1.0), ("c", 2, None, 0.0)]:
        for step in range(1, 11):
            fraction = share if first is not None and step >= first else 0.0
            lr = 0.1 if key != "b" else 0.1 + 0.01 * step
            rows.append(dict(tag="SWATS", key=key, seed=seed, step=step, sgd_fraction=fraction, sgd_lr_estimate=lr))
    return pd.DataFrame(rows)


def test_which_runs_switched_and_when():
    steps = probes()
    assert switching.switched_per_run(steps, "SWATS") == [True, True, False]
    assert switching.switched_per_run(steps, "SWATS", by="seed") == [True, True, False]
    assert switching.runs_switched(steps, "SWATS") == pytest.approx(2 / 3)
    assert switching.share_switched(steps, "SWATS") == pytest.approx(0.5)
    assert switching.first_switch(steps, "SWATS") == 7  # the median of 6 and 8
    assert switching.first_switch(steps[steps.key == "c"], "SWATS") is None


def test_settle_range_is_the_relative_range_of_the_last_fifth():
    steps = probes()
    assert switching.settle_range(steps[steps.key == "a"]) == 0.0
    b = steps[steps.key == "b"]
    tail = 0.1 + 0.01 * np.array([8, 9, 10])
    assert switching.settle_range(b) == pytest.approx((tail.max() - tail.min()) / tail.mean())


def test_the_switch_table_reads_each_variant():
    steps = probes()
    epochs = pd.DataFrame(dict(tag="SWATS", key=["a", "b", "c"], epoch=1, test_acc=[0.9, 0.8, 0.7]))
    row = switching.table(steps, epochs, ["SWATS"]).iloc[0]
    assert row["first switch (step)"] == 7 and row["runs that switched"] == "2 of 3"
    assert row["tensors in SGD at the end"] == pytest.approx(0.5) and row["test accuracy"] == pytest.approx(0.8)



def _probes(tag, switch_at, seeds=(0, 1, 2), steps=10):
    """Logged steps of ``tag``'s runs: a tensor in SGD from ``switch_at`` on (None: never), Λ settling at 0.1."""
    return [dict(tag=tag, seed=s, key=f"{tag}{s}", step=t,
                 sgd_fraction=0.5 if switch_at is not None and t >= switch_at else 0.0,
                 sgd_lr_estimate=0.1 + (0.05 if t < 8 else 0.0)) for s in seeds for t in range(1, steps + 1)]


def test_the_chapters_claims_read_switches_accuracies_and_the_bug_under_their_plans():
    from optim import book

    ch = book.Chapter("swats", "full", "cpu", [0, 1, 2])
    s = switching
    steps = pd.DataFrame(_probes(s.PAPER, None) + _probes(s.LOOSE, 3) + _probes(s.REPLICATION, 5) + _probes(s.WHOLE, 5))
    accuracy = {tag: pd.Series([0.90, 0.91, 0.92]) for tag in (s.REPLICATION, s.WHOLE)}
    on_regime = ["SWATS (ε = 1e-09, paper)", "SWATS (ε = 1e-05, replication)",
                 "SWATS (ε = 1e-09, paper) + step decay", "SWATS (ε = 1e-05, replication) + step decay"]
    regime_steps = pd.DataFrame(_probes(on_regime[0], None))
    regime_acc = {tag: pd.Series([0.90, 0.905, 0.91]) for tag in on_regime} | {
        "Adam": pd.Series([0.90, 0.905, 0.91]), "SGD": pd.Series([0.92, 0.925, 0.93]),
        "SGD + step decay": pd.Series([0.90, 0.905, 0.91])}
    rows = s.claims(ch, accuracy, steps, 0.99, 0.01, regime_acc, regime_steps, on_regime, "Adam", "SGD")
    plans = ["lambda_settles", "switches", "replication", "granularity", "popular_bug", "regime_swats_vs_adam",
             "regime_swats_vs_sgd", "regime_swats_switches", "regime_swats_step"]
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in plans]
    verdict = dict(zip(plans, (r["verdict"] for r in rows)))
    assert verdict["lambda_settles"] == "reproduced"  # Λ constant over the last 20% of the steps
    assert verdict["switches"] == "inconclusive"  # 0 of 3 runs switched: three runs cannot tell (p = 0.125)
    assert verdict["popular_bug"] == "reproduced" and "optim.SWATS: 0.0100·Λ·g" in rows[4]["measured"]
    assert [c["b"] for c in rows[5]["comparisons"]] == ["Adam", "Adam"]  # the cosine variants only
    assert rows[6]["comparisons"][0]["effect"] == pytest.approx(-0.02)
    assert [c["a"] for c in rows[8]["comparisons"]] == on_regime[2:]
    glue = s.glue_values(accuracy | {t: pd.Series([0.9] * 3) for t in (s.LOOSE, s.BUG, s.DECAYED, "Adam", "SGD + momentum",
                                                                         "SGD + momentum + step decay")},
                         steps, 0.99, regime_acc, regime_steps, on_regime, "Adam", "SGD")
    assert glue["regime_sgd"] == "7.5%" and glue["regime_switched"] == "0 of 3" and glue["first_switch"] == 3
    assert glue["runs_switched"] == "100%" and glue["switched_paper"] == "0%" and glue["steps"] == "10"
