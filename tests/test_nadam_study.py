"""The Nadam chapter's claims (optim.nadam_study) on hand-made runs, against hand computations."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from optim import book, nadam_study, verdicts


def _runs(losses: dict, accuracy: float = 0.9) -> pd.DataFrame:
    """Two epochs per run: ``losses`` tag → per-seed final training losses (epoch 1: twice that)."""
    return pd.DataFrame([dict(tag=tag, seed=s, key=f"{tag}{s}", epoch=e, train_loss=v * (3 - e), test_acc=accuracy,
                              diverged=False)
                         for tag, per in losses.items() for s, v in enumerate(per) for e in (1, 2)])


def test_the_claims_compare_paired_ratios_under_each_plan_and_quote_them():
    ch = book.Chapter("nadam", "full", "cpu", [0, 1, 2])
    fast = [0.5, 0.52, 0.48]
    models = {"CNN": _runs({nadam_study.TORCH: fast, nadam_study.DOZAT: fast, nadam_study.CONSTANT: fast,
                            "Adam": [1.0, 1.0, 1.0], "SGD + Nesterov": [0.5, 0.52, 0.48]}),
              "MLP": _runs({nadam_study.TORCH: fast, nadam_study.DOZAT: fast, nadam_study.CONSTANT: fast,
                            "Adam": [0.5, 0.52, 0.48], "SGD + Nesterov": [1.0, 1.0, 1.0]})}
    equal = {"cnn": _runs({"Nadam, α = 0.001": fast, "Adam, α = 0.001": [1.0, 1.0, 1.0]})}
    chosen = pd.DataFrame(dict(tag=["Nadam", "Adam"], hp_lr=[1e-3, 1e-3], grid=[(1e-3, 2e-3)] * 2,
                               on_edge=[True, True]))
    tuned = {"mlp": SimpleNamespace(epochs=_runs({"Nadam": fast, "Adam": fast}), chosen=chosen)}
    rows = nadam_study.claims(ch, models, equal, (1e-3,), tuned)
    plans = ["cnn", "mlp", "blog", "mu", "schedule_first", "schedule_end", "equal_rate", "tuned_rate"]
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in plans]
    cnn_vs_adam, cnn_vs_sgd = rows[0]["comparisons"]
    assert cnn_vs_adam["effect"] == pytest.approx(np.exp(np.mean(np.log(fast)))) and cnn_vs_adam["outcome"] == "supports"
    assert cnn_vs_sgd["effect"] == pytest.approx(1.0)  # the same losses: no faster
    assert [c["effect"] for c in rows[4]["comparisons"]] == pytest.approx([1.0, 1.0])  # epoch 1, scheduled vs constant
    assert rows[6]["comparisons"][0]["a"] == "CNN: Nadam, α = 0.001" and rows[6]["verdict"] == "reproduced"
    assert rows[7]["comparisons"][0]["effect"] == pytest.approx(1.0) and "(seed 100)" in rows[7]["measured"]
    glue = nadam_study.glue_values(ch, rows, models)
    assert glue["acc_low"] == glue["acc_high"] == "0.900"
    assert glue["vs_adam"].startswith(f"CNN {verdicts.ratio_words(cnn_vs_adam)}; MLP ")
    assert glue["equal"] == f"CNN, α = 0.001 {verdicts.ratio_words(rows[6]['comparisons'][0])}"


def test_the_schedule_figure_draws_dozats_mu_and_the_update_weights():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from optim.optimizers.nadam import momentum_schedule

    fig = nadam_study.schedule_figure(steps=1000, marks=((100, "a hundred steps"),))
    top, bottom = fig.axes
    mu = top.get_lines()[0].get_ydata()
    # Dozat's μ_t = β1·(1 − ½·0.96^(t·ψ)), read off the figure's first line
    np.testing.assert_allclose(mu[[0, 99, 999]], [0.9 * (1 - 0.5 * 0.96 ** (t * 0.004)) for t in (1, 100, 1000)])
    assert top.texts[0].get_text() == f"a hundred steps: μ = {momentum_schedule(100, 0.9, 0.004):.2f}"
    weights = bottom.get_lines()[0].get_ydata()
    assert weights[0] == pytest.approx(1.0)  # the first step's gradient gets the whole weight: (1 − μ1)/(1 − μ1)
    plt.close(fig)


def test_the_schedule_glue_gives_each_models_steps_and_its_final_mu():
    from optim.spec import RunSpec

    spec = RunSpec("mlp", "mnist", "nadam", dict(lr=1e-3), epochs=2, batch_size=100, n_train=1000)
    glue = nadam_study.schedule_glue({"mlp": spec})
    assert glue["mlp_steps"] == "20" and glue["mu_start"] == f"{0.9 * (1 - 0.5 * 0.96 ** 0.004):.2f}"
    assert glue["mu_mlp"] == f"{0.9 * (1 - 0.5 * 0.96 ** (20 * 0.004)):.2f}"
