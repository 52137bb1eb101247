"""The DeepOBS outside check: problem specs, the published runs and the per-optimizer verdicts."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from optim import deepobs, registry


def test_every_study_optimizer_maps_to_a_registry_optimizer_with_valid_hyperparameters():
    for tf_name in deepobs.OPTIMIZERS:
        spec = deepobs.spec("mnist_vae", tf_name, seed=0, epochs=1)
        assert spec.optimizer in registry.available()
        assert spec.batch_size == 64 and spec.validation == pytest.approx(1 / 6) and spec.initial_evaluation
    two = deepobs.spec("fmnist_2c2d", "NadamOptimizer", seed=0)
    assert (two.model, two.dataset, two.batch_size, two.epochs) == ("deepobs_2c2d", "fashion-mnist", 128, 100)
    assert two.hyperparameters["variant"] == "tensorflow"
    assert deepobs.PROBLEMS["mnist_vae"].steps_per_epoch == 782  # 50,000 / 64, rounded up


def test_unknown_names_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown DeepOBS problem 'cifar_3c3d'; valid names: fmnist_2c2d, mnist_vae"):
        deepobs.spec("cifar_3c3d", "AdamOptimizer", 0)
    with pytest.raises(ValueError, match="unknown DeepOBS optimizer 'Adam'"):
        deepobs.spec("mnist_vae", "Adam", 0)


def test_published_runs_match_the_study_and_drop_deepobs_filler():
    vae = deepobs.published("mnist_vae")
    assert vae.groupby("label")["seed"].nunique().to_dict() == {
        "AMSGrad": 4, "AdaDelta": 5, "AdaGrad": 5, "Adam": 5, "Momentum": 8, "NAG": 4, "Nadam": 5, "RMSProp": 4, "SGD": 4}
    # the study's AMSGrad runs all diverged in epoch 1: only their epoch 0 remains
    assert set(vae[vae.label == "AMSGrad"]["epoch"]) == {0}
    final = vae[(vae.label == "Adam") & (vae.epoch == 50)]["test_loss"]
    assert final.mean() == pytest.approx(28.74, abs=0.01) and final.std() == pytest.approx(0.16, abs=0.01)
    # within a seed, epoch 0 is the same network for every optimizer
    zero = vae[vae.epoch == 0].groupby("seed")["test_loss"].nunique()
    assert (zero == 1).all()
    accuracy = deepobs.published("fmnist_2c2d")
    assert np.allclose(accuracy["test_acc"] * 9984, np.round(accuracy["test_acc"] * 9984), atol=1e-2)


def test_an_altered_copy_of_the_published_runs_is_refused(tmp_path, monkeypatch):
    altered = tmp_path / deepobs.PER_SEED.name
    shutil.copy(deepobs.PER_SEED, altered)
    altered.write_text(altered.read_text().replace("2.419749", "2.419748", 1))
    monkeypatch.setattr(deepobs, "PER_SEED", altered)
    with pytest.raises(ValueError, match="the published copy was altered"):
        deepobs.published("fmnist_2c2d")


def _ours(label, values, epoch, diverged=False):
    return pd.DataFrame({"tag": label, "key": [f"{label}{i}" for i in range(len(values))], "epoch": epoch,
                         "test_loss": values, "diverged": diverged})


def test_judge_applies_the_verdict_rule_against_the_published_seeds():
    theirs = deepobs.published("mnist_vae")
    adam = theirs[(theirs.label == "Adam") & (theirs.epoch == 3)]["test_loss"].to_numpy()
    same = _ours("Adam", [adam.mean() * 0.999, adam.mean() * 1.001, adam.mean()], 3)
    far = _ours("Adam", [2 * adam.mean(), 2.01 * adam.mean(), 1.99 * adam.mean()], 3)
    match = deepobs.judge(same, "mnist_vae", 3, 0.05)["Adam"]
    assert match.outcome == "supports" and not match.paired and match.test == "Welch t (log ratio)"
    assert deepobs.judge(far, "mnist_vae", 3, 0.05)["Adam"].outcome == "contradicts"
    # all four published AMSGrad runs diverged: five of ours training fine is a difference Fisher's test sees
    # (three would not be: 0 of 3 against 4 of 4 is p = 0.057, two-sided) ...
    fine = deepobs.judge(_ours("AMSGrad", [40.0] * 5, 1), "mnist_vae", 1, 0.05)["AMSGrad"]
    assert fine.outcome == "contradicts" and fine.diverged_a == 0 and fine.diverged_b == fine.n_b
    # ... while ours diverging too is no evidence of a match from three runs: no ratio, no NaN, inconclusive
    both = deepobs.judge(_ours("AMSGrad", [np.nan] * 3, 1, True), "mnist_vae", 1, 0.05)["AMSGrad"]
    assert both.outcome == "inconclusive" and both.test == "Fisher exact (diverged runs)" and np.isfinite(both.low)
    # ours diverged where theirs did not
    assert deepobs.judge(_ours("Adam", [np.nan] * 3, 1, True), "mnist_vae", 1, 0.05)["Adam"].outcome == "contradicts"


def test_gap_compares_means_over_the_runs_that_did_not_diverge():
    theirs = deepobs.published("mnist_vae")
    ok = theirs[(theirs.label == "Adam") & (theirs.status != "diverged")]
    study = {e: ok[ok.epoch == e]["test_loss"].mean() for e in (1, 2)}
    ours = pd.concat([_ours("Adam", [study[1] * 1.1, study[1] * 1.3], 1), _ours("Adam", [study[2], study[2]], 2),
                      _ours("Adam", [1e6], 1, diverged=True).assign(key="Adam-diverged"),
                      _ours("Adam", [181.0, 181.0], 0)])
    ratio = deepobs.gap(ours, "mnist_vae", "test_loss")
    assert list(ratio.columns) == [1, 2] and list(ratio.index) == ["Adam"]  # epoch 0 and the diverged run left out
    np.testing.assert_allclose(ratio.loc["Adam"].to_numpy(), [1.2, 1.0])
    # accuracy: the difference in points; an optimizer whose published runs all diverged has no reference
    accuracy = deepobs.published("fmnist_2c2d")
    sgd = accuracy[(accuracy.label == "SGD") & (accuracy.epoch == 3)]["test_acc"].mean()
    mine = pd.DataFrame({"tag": "SGD", "key": ["a", "b"], "epoch": 3, "test_acc": [sgd + 0.01, sgd + 0.03],
                         "diverged": False})
    np.testing.assert_allclose(deepobs.gap(mine, "fmnist_2c2d", "test_acc").loc["SGD", 3], 2.0)
    assert np.isnan(deepobs.gap(_ours("AMSGrad", [40.0], 1), "mnist_vae", "test_loss").loc["AMSGrad", 1])
    with pytest.raises(ValueError, match="metric='val_acc' is invalid"):
        deepobs.gap(mine, "fmnist_2c2d", "val_acc")


def test_the_pooled_check_averages_the_offsets_of_optimizers_whose_runs_finished():
    theirs = deepobs.published("mnist_vae")
    at = theirs[theirs.epoch == 2]
    study = {label: at[at.label == label]["test_loss"].to_numpy() for label in ("Adam", "Nadam")}
    # ours 2% above the study for Adam and 4% for Nadam: the pooled ratio is their geometric mean
    ours = pd.concat([_ours("Adam", list(study["Adam"][:3] * 1.02), 2), _ours("Nadam", list(study["Nadam"][:3] * 1.04), 2),
                      _ours("AMSGrad", [40.0] * 3, 2)])
    part, left_out = deepobs.judge_pooled(ours, "mnist_vae", 2, 0.05)
    assert left_out == ["AMSGrad"]  # the study's AMSGrad runs all diverged
    log_offsets = [np.log(study[k][:3] * f).mean() - np.log(study[k]).mean() for k, f in (("Adam", 1.02), ("Nadam", 1.04))]
    assert part.effect == pytest.approx(np.exp(np.mean(log_offsets)))
    assert part.test == "Welch t over 2 strata (log ratio)" and part.n_a == 6


def _study_as_ours(label, epochs, shift=0.0):
    """Our runs as the study's own seeds, test accuracy shifted by ``shift``, for fmnist_2c2d."""
    theirs = deepobs.published("fmnist_2c2d")
    part = theirs[(theirs.label == label) & (theirs.epoch <= epochs) & (theirs.status != "diverged")]
    return pd.DataFrame({"tag": label, "key": label + part.seed.astype(str), "seed": part.seed, "epoch": part.epoch,
                         "step": part.epoch * 469, "test_acc": part.test_acc + np.where(part.epoch > epochs / 2, shift, 0),
                         "test_loss": part.test_loss, "diverged": False, "dataset": "fashion-mnist",
                         "n_train": None, "validation": 1 / 6})


def test_epoch_zero_reads_each_sides_untrained_loss_per_seed():
    theirs = deepobs.published("fmnist_2c2d")
    ours = _study_as_ours("Adam", 2)
    mine, study = deepobs.epoch_zero(ours, "fmnist_2c2d")
    expected = theirs[theirs.epoch == 0].groupby("seed")["test_loss"].first().to_numpy()
    np.testing.assert_allclose(study, expected)
    np.testing.assert_allclose(mine, ours[ours.epoch == 0].sort_values("seed")["test_loss"])


def test_where_they_part_states_the_offset_in_the_later_epochs():
    ours = _study_as_ours("Adam", 4, shift=0.02)
    words = deepobs.where_they_part(ours, "fmnist_2c2d")
    assert "Over epochs 1–2, our mean test accuracy is within 0.0 points" in words
    assert "Over epochs 3–4 it is higher for 1 of 1 optimizers, by up to 2.0 points" in words
    assert "our mean test loss is 1.00–1.00 times the study's" in words
    short = deepobs.where_they_part(_study_as_ours("Adam", 1, shift=0.01), "fmnist_2c2d")
    assert short.startswith("After 1 epoch, our mean test accuracy differs from the study's by +1.0 points")


def test_the_figure_names_a_diverged_run_in_its_panel():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = pd.concat([_study_as_ours("Adam", 3), _study_as_ours("SGD", 3)])
    ours.loc[(ours.tag == "SGD") & (ours.key == ours[ours.tag == "SGD"].key.iloc[0]), "diverged"] = True
    fig = deepobs.figure(ours, "fmnist_2c2d", "test accuracy")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == [f"1 of our {ours[ours.tag == 'SGD'].key.nunique()} runs diverged"]
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["Adam", "SGD"]
    plt.close(fig)


def test_match_claims_state_a_match_or_a_divergence_count_per_optimizer():
    from optim import verdicts

    plan = verdicts.Plan(metric="test loss", read_at="epoch 1", sesoi=0.05, sesoi_source="test", kind="equivalence",
                         family="deepobs", seeds=3, section="DeepOBS", category="outside check")
    theirs = deepobs.published("mnist_vae")
    adam = theirs[(theirs.label == "Adam") & (theirs.epoch == 1)]["test_loss"].mean()
    ours = pd.concat([_ours("Adam", [adam * 0.999, adam * 1.001, adam], 1), _ours("AMSGrad", [40.0] * 5, 1)])
    rows = deepobs.match_claims(ours, "mnist_vae", 1, plan, "full")
    assert [r["claim"] for r in rows] == [
        "mnist_vae, Adam: our test loss after epoch 1 matches DeepOBS's (within 5%)",
        "mnist_vae, AMSGrad: our runs diverge as often as DeepOBS's (the test loss cannot be compared: 0 of 5 of ours "
        "and 4 of 4 of theirs diverged)"]  # all four published AMSGrad runs diverged
    assert [r["verdict"] for r in rows] == ["reproduced", "not reproduced"]


def test_the_chapters_claims_take_the_study_as_our_runs_to_a_match():
    """The study's own runs presented as ours match it: epoch 0, each optimizer and the pooled check."""
    from optim import book

    ch = book.Chapter("deepobs", "full", "cpu", [0, 1, 2])
    runs = {"fmnist_2c2d": pd.concat([_study_as_ours("Adam", 2), _study_as_ours("SGD", 2)])}
    rows = deepobs.chapter_claims(ch, runs, {"fmnist_2c2d": dict(epochs=2, n_train=None, optimizers=["Adam", "SGD"])})
    assert [r["claim"] for r in rows] == [
        f"fmnist_2c2d: {ch.plans['init'].claim}",
        "fmnist_2c2d, Adam: our test accuracy after epoch 2 matches DeepOBS's (within 1 point)",
        "fmnist_2c2d, SGD: our test accuracy after epoch 2 matches DeepOBS's (within 1 point)",
        ch.plans["pooled_2c2d"].claim]
    assert rows[1]["comparisons"][0]["effect"] == pytest.approx(0.0, abs=1e-12)
    assert rows[-1]["comparisons"][0]["effect"] == pytest.approx(0.0, abs=1e-12)
    quick = book.Chapter("deepobs", "quick", "cpu", [0, 1])
    vae = _ours("Adam", [100.0, 101.0], 0).assign(seed=[0, 1])
    rows = deepobs.chapter_claims(quick, {"mnist_vae": vae}, {"mnist_vae": dict(epochs=1, n_train=3000, optimizers=["Adam"])})
    assert rows[-1]["verdict"] == "not testable at this scale" and "3,000 images for one epoch" in str(rows[-1])


def test_the_engine_checks_pair_adam_by_seed_in_points_of_accuracy():
    from optim import book

    ch = book.Chapter("deepobs", "full", "cpu", [0, 1, 2])
    adam = _study_as_ours("Adam", 2)
    fp32 = adam.assign(test_acc=adam.test_acc - 0.002)  # 0.2 points below, on every seed
    buffered = adam.assign(test_acc=adam.test_acc + 0.03)  # 3 points above
    replayed = adam.assign(test_acc=adam.test_acc + 0.01 - 0.001 * (adam.seed % 3))  # 2 to 2.2 points below buffered
    rows, glue = deepobs.engine_checks(ch, adam, fp32, buffered, replayed, 2, "bf16")
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in
                                          ("precision_2c2d", "shuffle_2c2d", "replay_2c2d", "replay_match_2c2d")]
    assert rows[0]["comparisons"][0]["effect"] == pytest.approx(0.002) and rows[0]["verdict"] == "reproduced"
    assert rows[1]["comparisons"][0]["effect"] == pytest.approx(0.03) and rows[1]["verdict"] == "not reproduced"
    replay = rows[2]["comparisons"][0]
    assert replay["test"].startswith("paired") and replay["effect"] == pytest.approx(-0.021)
    assert rows[2]["verdict"] == "reproduced"  # lower by 2.1 ± 0.1 points: more than half a point, on every seed
    # against the study (unpaired): its own seeds shifted by +0.8 to +1.0 points cannot be put within 1 point
    assert rows[3]["comparisons"][0]["effect"] == pytest.approx(0.009) and rows[3]["verdict"] != "reproduced"
    assert glue["precision"].startswith("+0.20 points [+0.20, +0.20]")
    assert glue["precision_outcome"] == "within half a point"
    assert glue["buffered_offset"].startswith("+3.00 points") and glue["fp32_offset"].startswith("-0.20 points")
    assert glue["replay"].startswith("-2.10 points") and glue["replay_verdict"] == "reproduced"


def test_the_check_with_deepobs_data_order_judges_the_other_optimizers_and_pools_all_six():
    from optim import book

    ch = book.Chapter("deepobs", "full", "cpu", [0, 1, 2])
    labels = ["Adam", "SGD", "Momentum"]
    # the study's own seeds as our replayed runs: SGD shifted 3 points above, the others not at all
    replayed = pd.concat([_study_as_ours(label, 2, shift=0.03 if label == "SGD" else 0.0) for label in labels])
    rows, glue = deepobs.order_claims(ch, replayed, 2)
    assert [r["claim"] for r in rows[:-1]] == [
        f"fmnist_2c2d, {label}, with DeepOBS's data order: our test accuracy after epoch 2 matches DeepOBS's "
        "(within 1 point)" for label in labels[1:]]  # Adam's row is replay_match_2c2d, in engine_checks
    assert rows[0]["verdict"] == "not reproduced" and rows[0]["comparisons"][0]["effect"] == pytest.approx(0.03)
    assert rows[1]["comparisons"][0]["effect"] == pytest.approx(0.0, abs=1e-12)
    pooled = rows[-1]
    assert pooled["claim"] == ch.plans["pooled_order_2c2d"].claim
    assert pooled["comparisons"][0]["effect"] == pytest.approx(0.01)  # the mean of 0, +3 and 0 points
    assert glue["order_pooled"].startswith("+1.00 points [") and glue["order_pooled_verdict"] == pooled["verdict"]
    rows, glue = deepobs.order_claims(ch, replayed[replayed.tag == "Adam"], 2)
    assert rows == [] and glue["order_pooled_verdict"] == "not judged"  # one optimizer: nothing to pool


def test_the_order_figure_draws_each_variant_and_the_studys_mean():
    adam = _study_as_ours("Adam", 4)
    fig = deepobs.order_figure({"new order": adam, "replayed": adam.assign(test_loss=adam.test_loss * 2)}, "fmnist_2c2d")
    loss_axes = fig.axes[0]
    lines = {line.get_label(): line for line in loss_axes.get_lines()}
    assert list(lines) == ["ours, new order", "ours, replayed", "DeepOBS (3 seeds)"]
    theirs = deepobs.published("fmnist_2c2d")
    study = theirs[(theirs.label == "Adam") & (theirs.epoch.between(1, 4))].groupby("epoch")["test_loss"].mean()
    np.testing.assert_allclose(lines["DeepOBS (3 seeds)"].get_ydata(), study.to_numpy())
    np.testing.assert_allclose(lines["ours, replayed"].get_ydata(), 2 * study.to_numpy())


def test_the_reading_names_each_subject_once_with_its_number_of_checks():
    rows = [dict(claim="fmnist_2c2d, Adam: matches", verdict="inconclusive"),
            dict(claim="mnist_vae, NAG: matches", verdict="inconclusive"),
            dict(claim="fmnist_2c2d, Adam: bf16 leaves it", verdict="inconclusive"),
            dict(claim="fmnist_2c2d, SGD: matches", verdict="reproduced"),
            dict(claim="fmnist_2c2d, Adam: replaying lowers it", verdict="not reproduced")]
    assert deepobs.by_verdict(rows, ("inconclusive",)) == "fmnist_2c2d, Adam (2 checks); mnist_vae, NAG"
    assert deepobs.by_verdict(rows, ("not reproduced", "partly")) == "fmnist_2c2d, Adam"
    assert deepobs.by_verdict(rows, ("partly",)) == "none"
