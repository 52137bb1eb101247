"""optim.shootout on hand-made run frames, against hand computations and scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optim import shootout


def test_standing_names_the_optimizers_near_the_best_and_the_others():
    words = shootout.standing(pd.Series({"adam": 0.10, "sgd": 0.5, "nadam": 0.12}))
    assert words == ("2 of 3 end within 1.5× the lowest final training loss (adam, nadam: 0.100–0.120); "
                     "the others end at sgd 0.5")


def test_near_uniform_lists_the_runs_that_learned_nothing():
    ends = pd.DataFrame(dict(optimizer=["a", "b"], seed=[0, 1], train_loss=[2.29, 0.3], test_acc=[0.1, 0.9]))
    assert shootout.near_uniform(ends, 10) == "a seed 0 (test accuracy 10.0%)"
    assert shootout.near_uniform(ends.iloc[1:], 10) == ""


def _runs():
    rows = []
    for opt, losses in [("a", [1.0, 0.4, 0.2]), ("b", [1.0, 0.8, 0.6])]:
        for seed in (0, 1):
            for step, loss in enumerate(losses, 1):
                rows.append(dict(key=f"{opt}{seed}", optimizer=opt, seed=seed, step=step, epoch=step, wall_time=30.0,
                                 train_loss=loss, test_acc=0.9 if opt == "a" else 0.8 + 0.01 * seed))
    return pd.DataFrame(rows)


def test_tuned_summary_reads_rates_accuracy_and_time_to_target():
    runs = _runs()
    table = shootout.tuned_summary(runs, runs, pd.Series({"a": 0.5, "b": 2.0}), {"a": 1.0, "b": 1.0}, 0.4, ["a", "b"])
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "iterations to target"] == 2 and table.loc["a", "seconds to target"] == pytest.approx(20.0)
    assert np.isnan(table.loc["b", "iterations to target"]) and table.loc["b", "runs reaching target"] == 0
    assert table.loc["b", "× default"] == 2.0 and table.loc["b", "test accuracy"] == pytest.approx(0.805)
    half = stats.t.ppf(0.95, 1) * np.std([0.8, 0.81], ddof=1) / np.sqrt(2)
    assert table.loc["b", "± 90% CI"] == pytest.approx(half)


def test_bug_effects_and_what_the_benchmark_reports():
    rows = [dict(key=f"{tag}{seed}", tag=tag, seed=seed, epoch=1, test_acc=test + 0.01 * seed, train_acc=train)
            for tag, test, train in [("honest", 0.90, 0.85), ("eval mode after epoch 1", 0.92, 0.85),
                                     ("augmented test set", 0.88, 0.85)] for seed in (0, 1)]
    runs = pd.DataFrame(rows)
    effects = shootout.bug_effects(runs)
    assert effects["bug 1"][2] == pytest.approx(0.85 - 0.905)
    assert effects["bug 2"][2] == pytest.approx(0.02) and effects["bug 3"][2] == pytest.approx(-0.02)
    assert list(effects["bug 2"][1]) == pytest.approx([0.92, 0.93])
    reported = shootout.reported(runs)
    assert set(reported.setting) == set(shootout.REPORTED)
    assert reported[reported.setting.str.startswith("bug 1")]["value"].tolist() == [0.85, 0.85]


def test_family_loss_rank_correlation_and_twins():
    final = pd.DataFrame({"a": [1.0, 4.0], "b": [4.0, 1.0], "c": [np.nan, 2.0]}, index=[0, 1])
    np.testing.assert_allclose(shootout.family_loss(final, ["a", "b"]), [2.0, 2.0])
    assert np.isnan(shootout.family_loss(final, ["a", "c"])[0])
    loss = pd.DataFrame({"a": [0.1, 0.3], "b": [0.2, 0.1], "c": [0.3, 0.2]}, index=[0, 1])
    acc = pd.DataFrame({"a": [0.9, 0.7], "b": [0.8, 0.9], "c": [0.85, 0.8]}, index=[0, 1])
    rho = shootout.rank_correlation(loss, acc)
    for seed in (0, 1):
        assert rho[seed] == pytest.approx(stats.spearmanr(loss.loc[seed], -acc.loc[seed]).statistic)
    table = pd.DataFrame({0: [1.0, 1.0, 2.0], 1: [3.0, 3.0, 3.0]}, index=["sgd", "sgdw", "adam"])
    assert shootout.twins([table], "sgd", ["adam", "sgd", "sgdw"]) == ["sgdw"]


def test_bug_words_state_each_effect_and_what_its_verdict_means():
    effects = {"bug 1": ("x", None, -0.061), "bug 2": ("y", None, 0.007)}
    words = shootout.bug_words(effects, {"bug 1": "not reproduced", "bug 2": "inconclusive"})
    assert words == ("bug 1 by -6.1 points (it changes the number; the training accuracy is measured with dropout on "
                     "and on augmented images, so it understates the test accuracy); bug 2 by +0.7 points "
                     "(inconclusive: its interval straddles half a point)")


def _final(values: dict, column: str, by: str = "optimizer") -> pd.DataFrame:
    """One final epoch per (label, seed): ``values`` label → per-seed values of ``column``."""
    return pd.DataFrame([{by: label, "seed": s, "epoch": 1, "key": f"{label}{s}", column: v, "diverged": False}
                         for label, per in values.items() for s, v in enumerate(per)])


def _chapter_runs():
    rng = np.random.default_rng(1)
    losses = {o: list(0.1 * rng.uniform(0.9, 1.1, 3)) for o in shootout.ADAPTIVE} | \
        {o: list(0.3 * rng.uniform(0.9, 1.1, 3)) for o in shootout.SGD_TYPE}
    shoot = _final(losses, "train_loss")
    # tuned accuracies ranked exactly as the shoot-out's losses, per seed: ρ = 1
    tuned = shoot.assign(test_acc=1 - shoot.train_loss).drop(columns="train_loss")
    honest = [0.90, 0.91, 0.92]
    bugs = pd.concat([_final({"honest": honest}, "test_acc", "tag").assign(train_acc=[0.95, 0.96, 0.97]),
                      _final({"eval mode after epoch 1": [0.90, 0.911, 0.92]}, "test_acc", "tag"),
                      _final({"augmented test set": [0.85, 0.86, 0.87]}, "test_acc", "tag")])
    return shoot, tuned, bugs


def test_the_chapters_claims_read_families_ranks_and_bugs_under_their_plans():
    from optim import book

    ch = book.Chapter("benchmark", "full", "cpu", [0, 1, 2])
    shoot, tuned, bugs = _chapter_runs()
    accuracy = tuned.groupby("optimizer")["test_acc"].mean()
    rows = shootout.claims(ch, shoot, tuned, bugs, accuracy)
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in
                                          ("adaptive_faster", "ranking", "differ", "bug1", "bug2", "bug3")]
    family = rows[0]["comparisons"][0]  # the adaptive family's losses are a third of the SGD-type family's
    ratio = [np.exp(np.log(shoot[(shoot.seed == s) & shoot.optimizer.isin(shootout.ADAPTIVE)].train_loss).mean()
                    - np.log(shoot[(shoot.seed == s) & shoot.optimizer.isin(shootout.SGD_TYPE)].train_loss).mean())
             for s in range(3)]
    assert family["effect"] == pytest.approx(np.exp(np.mean(np.log(ratio)))) and rows[0]["verdict"] == "reproduced"
    assert rows[1]["comparisons"][0]["effect"] == pytest.approx(1.0)  # the same ranking on every seed
    assert rows[3]["comparisons"][0]["effect"] == pytest.approx(0.05)  # training minus test accuracy
    assert rows[4]["verdict"] == "reproduced" and rows[5]["verdict"] == "not reproduced"
    glue = shootout.glue_values(ch, rows, shoot, tuned, bugs, accuracy, list(accuracy.index))
    assert glue["rho"] == "1.00" and glue["optimizers"] == len(accuracy)
    assert glue["twins"] == " No optimizer ended exactly where SGD did."
    assert glue["bugs"].startswith("bug 1 by +5.0 points")
    one = shootout.claims(ch, shoot[shoot.seed == 0], tuned, bugs, accuracy)
    assert one[0]["verdict"] == one[1]["verdict"] == "not testable at this scale"


def test_the_shootout_reading_names_who_the_defaults_helped_and_hurt():
    at_0001 = _final({"adam": [0.1, 0.1], "sgd": [1.0, 1.0], "adagrad": [0.5, 0.5]}, "train_loss").assign(test_acc=0.9)
    at_default = _final({"adam": [0.1, 0.1], "sgd": [0.2, 0.2], "adagrad": [2.30, 2.30]}, "train_loss").assign(test_acc=0.1)
    glue = shootout.shootout_glue(at_0001, at_default, {"adam": 1e-3, "sgd": 0.01, "adagrad": 0.01}, 10)
    assert glue["helped"] == "sgd" and glue["helped_by"] == "0.2"  # 0.2 / 1.0, Adam's default is 0.001: left out
    assert glue["hurt"] == "adagrad" and glue["hurt_by"] == "4.6"
    assert glue["uniform"] == f"{np.log(10):.2f}" and "the default rates, these runs end" in glue["stuck"]
    assert glue["shootout_standing"] == shootout.standing(pd.Series({"adagrad": 0.5, "adam": 0.1, "sgd": 1.0}))


def test_the_bug_figure_shows_every_setting_per_epoch_and_per_seed():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, _, bugs = _chapter_runs()
    fig = shootout.bug_figure(bugs.assign(train_acc=bugs.train_acc.fillna(0.95), optimizer="adam"))
    left, right = fig.axes
    assert len(left.get_lines()) >= len(shootout.REPORTED)  # a line per reported setting
    assert [t.get_text() for t in right.get_xticklabels()] == ["honest", "bug 1", "bug 2", "bug 3"]
    plt.close(fig)
