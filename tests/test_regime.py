"""The generalization regime's helpers against hand-computed values, and its runs' shape."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optim import plots, regime

matplotlib.use("Agg")


def _runs(curves: dict[int, list[float]], tag: str = "m") -> pd.DataFrame:
    rows = [dict(key=f"{tag}{seed}", tag=tag, seed=seed, epoch=e + 1, test_loss=v, train_loss=1.0 / (e + 1),
                 test_acc=0.8 + 0.01 * e) for seed, values in curves.items() for e, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_rise_is_the_final_test_loss_over_its_minimum_per_seed():
    frame = _runs({0: [1.0, 0.5, 0.6], 1: [0.9, 0.8, 0.7], 2: [1.0, float("nan"), float("nan")]})
    rise = regime.rise(frame)
    assert rise[0] == pytest.approx(0.6 / 0.5 - 1) and rise[1] == 0.0
    assert math.isnan(rise[2])  # a diverged run is an outcome, not a number


def test_overfitting_table_averages_each_runs_own_minimum():
    frame = pd.concat([_runs({0: [1.0, 0.5, 0.6], 1: [0.9, 0.4, 0.8]}, "a"), _runs({0: [1.0, 0.9, 0.8]}, "b")])
    table = regime.overfitting_table(frame).set_index("tag")
    assert table.loc["a", "runs"] == 2 and table.loc["a", "lowest_epoch"] == 2
    assert table.loc["a", "lowest_test_loss"] == pytest.approx(0.45)
    assert table.loc["a", "rise"] == pytest.approx(((0.6 / 0.5 - 1) + (0.8 / 0.4 - 1)) / 2)
    assert table.loc["b", "rise"] == 0 and table.loc["b", "lowest_epoch"] == 3
    assert table.loc["b", "test_acc"] == pytest.approx(0.82)


def test_seed_points_draw_every_seed_and_the_t_interval():
    values = {"a": pd.Series([0.1, 0.2, 0.4]), "b": pd.Series([0.3, 0.35])}
    ax = plots.seed_points(values, scale=100)
    dots = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if hasattr(c, "get_offsets")
                           and len(c.get_offsets()) > 1])
    assert sorted(dots) == pytest.approx(sorted([10, 20, 40, 30, 35]))
    a = np.array([10, 20, 40.0])
    half = stats.t.ppf(0.95, 2) * a.std(ddof=1) / np.sqrt(3)
    first_bar = ax.containers[0].lines[2][0].get_segments()[0][:, 1]  # the error bar's vertical segment
    assert sorted(first_bar) == pytest.approx([a.mean() - half, a.mean() + half])
    assert ax.containers[0].lines[0].get_ydata()[0] == pytest.approx(a.mean())
    matplotlib.pyplot.close("all")


def test_the_regime_anneals_to_zero_over_its_epochs_on_its_subset():
    spec = regime.spec("momentum", dict(lr=0.1, momentum=0.9), seed=3)
    assert (spec.model, spec.dataset, spec.n_train, spec.epochs, spec.augment) == ("wrn", "fashion-mnist", 2000, 30, "none")
    assert dict(spec.schedule_args) == dict(t_0=30, t_mult=1) and spec.schedule == "sgdr"
    # one cosine period over the whole run: the rate ends at zero
    import torch

    from optim.schedules import sgdr

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = sgdr(opt, steps_per_epoch=16, **dict(spec.schedule_args))
    rates = []
    for _ in range(30 * 16):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[0] == pytest.approx(0.1) and rates[-1] < 1e-5 and rates[240] == pytest.approx(0.05, rel=0.01)


def test_a_pilot_run_is_tagged_by_its_setting_and_the_quick_profile_shrinks_it():
    full = regime.pilot_spec("crop-flip", 2000, 50, "momentum", dict(lr=0.1, momentum=0.9, weight_decay=5e-4), "full",
                             **regime.fields("full"))  # the regime's own sizes, replaced by the pilot's
    assert full.tag == "crop-flip, 2,000 images, 50 epochs — SGD + momentum, α = 0.1, λ = 0.0005"
    assert (full.n_train, full.epochs, full.seed, full.optimizer) == (2000, 50, 0, "momentum")
    quick = regime.pilot_spec("none", 2000, 30, "adam", dict(lr=1e-3), "quick")
    assert (quick.n_train, quick.epochs, quick.tag) == (250, 2, "none, 250 images, 2 epochs — Adam, α = 0.001")
    styled = regime.pilot_table(_runs({0: [1.0, 0.5, 0.6]}, full.tag))
    assert list(styled.data.columns) == [regime.PILOT_COLUMNS[c] for c in
                                         ("tag", "train_loss", "lowest_epoch", "lowest_test_loss", "final_test_loss",
                                          "test_acc", "rise")]


def test_the_positive_controls_judge_the_rise_and_the_accuracy_gaps():
    from optim import book

    ch = book.Chapter("regime", "full", "cpu", [0, 1, 2])
    zero, best = regime.sgd_label(0.0), regime.sgd_label(5e-4)
    curves = {0: [1.0, 0.5, 0.6], 1: [0.9, 0.5, 0.55], 2: [1.0, 0.6, 0.7]}
    judged = pd.concat([_runs(curves, zero), _runs(curves, regime.ADAM),
                        _runs(curves, best).assign(test_acc=lambda f: f.test_acc + 0.02)])
    rows = regime.claims(ch, judged, judged, zero, best)
    plans = ("overfits", "sgd_beats_adam", "decay_matters", "sgd_beats_adam_extended")
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in plans]
    assert rows[0]["comparisons"][0]["effect"] == pytest.approx(np.mean([0.6 / 0.5 - 1, 0.55 / 0.5 - 1, 0.7 / 0.6 - 1]))
    assert rows[1]["comparisons"][0]["effect"] == pytest.approx(0.02)  # two points, on every seed
    glue = regime.glue_values(rows, judged, zero)
    assert glue["gap"].startswith("+2.00 points [+2.00, +2.00]") and glue["gap_verdict"] == rows[1]["verdict"]
    assert glue["rise_sgd"] == f"{np.mean([0.2, 0.1, 0.7 / 0.6 - 1]):.0%}"
