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
