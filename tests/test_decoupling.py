"""AdamW's grids on the regime: the paper's parametrization, the best decay between grid points,
the separability slope and the grid's widening, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optim import decoupling, regime
from optim.schedules import normalized_weight_decay


@pytest.mark.parametrize("label, optimizer, decoupled", [("AdamW", "adamw", True), ("Adam + L2", "adam", False),
                                                         ("SGDW", "sgdw", True), ("SGD + L2", "momentum", False)])
def test_a_cell_is_the_papers_alpha_and_normalized_lambda(label, optimizer, decoupled):
    spec = decoupling.cell_spec(label, 4e-3, 0.025, seed=7)
    lam = 0.025 * np.sqrt(regime.BATCH_SIZE / (regime.N_TRAIN * regime.EPOCHS))  # Appendix B.1
    hp = dict(spec.hparams)
    assert spec.optimizer == optimizer and hp["lr"] == 4e-3 and spec.seed == 7 and spec.tag == label
    # decoupled: PyTorch's decay per step is lr·weight_decay = η_t·λ (the paper's Algorithm 2)
    assert hp["weight_decay"] * (hp["lr"] if decoupled else 1.0) == pytest.approx(lam)
    assert spec.eval_every == regime.EPOCHS and spec.model == regime.MODEL and spec.n_train == regime.N_TRAIN
    frame = pd.DataFrame([dict(optimizer=spec.optimizer, hp_lr=hp["lr"], hp_weight_decay=hp["weight_decay"],
                               epochs=spec.epochs)])
    assert decoupling.lambda_norm_of(frame).iloc[0] == 0.025


def test_the_zero_decay_cells_of_a_method_and_its_twin_are_one_run():
    assert decoupling.cell_spec("AdamW", 1e-3, 0.0, 0).key() == decoupling.cell_spec("Adam + L2", 1e-3, 0.0, 0).key()
    assert decoupling.cell_spec("SGDW", 0.1, 0.0, 0).key() == decoupling.cell_spec("SGD + L2", 0.1, 0.0, 0).key()


def test_the_best_decay_is_the_vertex_of_the_parabola_through_the_best_three_points():
    x = np.array([-8.0, -6.0, -4.0, -2.0])   # log2 λ_norm, a factor 4 apart
    error = 0.1 + 0.01 * (x - (-5.3)) ** 2    # a parabola with its vertex at −5.3
    row = pd.Series(np.r_[0.5, error], index=np.r_[0.0, 2.0 ** x])
    assert decoupling.best_decay(row) == pytest.approx(-5.3)
    edge = pd.Series([0.5, 0.1, 0.2, 0.3], index=[0.0, 0.25, 1.0, 4.0])
    assert decoupling.best_decay(edge) == pytest.approx(-2.0)  # at the edge: the edge itself


@pytest.mark.parametrize("true_slope", [-1.0, 0.0, -0.5])
def test_the_slope_of_the_best_decay_against_the_rate(true_slope):
    rates = 2.0 ** np.arange(-10, -5)
    decays = 2.0 ** np.arange(-12.0, 1.0, 2.0)
    rows = [dict(hp_lr=a, lambda_norm=d, error=0.1 + 0.005 * (np.log2(d) - (-6 + true_slope * (np.log2(a) + 8))) ** 2)
            for a in rates for d in decays] + [dict(hp_lr=a, lambda_norm=0.0, error=0.3) for a in rates]
    assert decoupling.slope(pd.DataFrame(rows)) == pytest.approx(true_slope)


def _fake_runs(error_of):
    """A run_many stand-in: each spec's final test accuracy is 1 − error_of(α, λ_norm)."""
    asked = []

    def run_many(specs, profile):
        asked.extend(specs)
        frame = pd.DataFrame([dict(key=s.key(), seed=s.seed, epoch=s.epochs, optimizer=s.optimizer, epochs=s.epochs,
                                   hp_lr=dict(s.hparams)["lr"], hp_weight_decay=dict(s.hparams)["weight_decay"])
                              for s in specs])
        frame["test_acc"] = [1 - error_of(a, d) for a, d in zip(frame.hp_lr, decoupling.lambda_norm_of(frame))]
        return frame

    return run_many, asked


def test_a_grid_whose_best_cell_sits_on_an_edge_is_widened_past_it(monkeypatch):
    # the optimum at α = 0.02, λ_norm = 0.5: the best cells on the largest rate and decay tried
    run_many, asked = _fake_runs(lambda a, d: 0.2 if d == 0 else 0.1 + (np.log2(a / 0.02)) ** 2 / 100
                                 + (np.log2(d / 0.5)) ** 2 / 100)
    monkeypatch.setattr("optim.runner.run_many", run_many)
    result = decoupling.grid("AdamW", "full", seeds=(1,), widen=2)
    assert result.rates == [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2] and result.widened == dict(rate=1, decay=1)
    assert result.decays == [0.00625, 0.025, 0.1, 0.4, 1.6] and result.best() == (0.016, 0.4)  # now interior
    assert len({s.key() for s in asked}) == 6 * 6  # every cell trained once, λ = 0 included


def test_a_grid_is_not_widened_where_decay_does_not_help(monkeypatch):
    run_many, _ = _fake_runs(lambda a, d: 0.1 + d / 10 + (np.log2(a / 4e-3)) ** 2 / 100)
    monkeypatch.setattr("optim.runner.run_many", run_many)
    result = decoupling.grid("AdamW", "full", seeds=(1,))
    assert result.widened == dict(rate=0, decay=0) and result.best() == (4e-3, 0.0)


def test_the_budget_slope_is_zero_when_the_normalized_decay_stays_and_minus_half_when_the_raw_one_does():
    def frame(raw_stays: bool) -> pd.DataFrame:
        rows = []
        for epochs in decoupling.BUDGETS:
            for d in decoupling.BUDGET_DECAYS:
                best = 0.025 * (np.sqrt(epochs / 30) if raw_stays else 1.0)  # λ fixed ⇒ λ_norm ∝ √T
                spec = decoupling.cell_spec("AdamW", 4e-3, d, 0, epochs=epochs)
                rows.append(dict(key=spec.key(), seed=0, epoch=epochs, epochs=epochs, optimizer="adamw", hp_lr=4e-3,
                                 hp_weight_decay=dict(spec.hparams)["weight_decay"],
                                 test_acc=0.9 - 0.01 * np.log2(d / best) ** 2))
        return pd.DataFrame(rows)

    assert decoupling.budget_slopes(frame(False))[0] == pytest.approx(0.0, abs=1e-9)
    assert decoupling.budget_slopes(frame(True))[0] == pytest.approx(0.5, abs=1e-9)


def test_sgdr_and_step_decay_fill_the_budget():
    runs = decoupling.schedule_specs(4e-3, 0.025, seeds=(0, 1))
    sgdr, step = runs.values()
    assert sum(2 * 2 ** i for i in range(4)) == regime.EPOCHS == sgdr[0].epochs  # periods 2+4+8+16
    assert dict(step[0].schedule_args)["milestones"] == (15, 23) and all(s.eval_every == 1 for s in sgdr + step)
    assert normalized_weight_decay(0.025, regime.BATCH_SIZE, regime.N_TRAIN, regime.EPOCHS) == pytest.approx(
        dict(sgdr[0].hparams)["weight_decay"] * 4e-3)


def test_sgdr_share_is_the_first_epoch_at_step_decays_final_error_over_the_run():
    rows = []
    for seed, sgdr, step in [(0, [0.3, 0.09, 0.2, 0.08], [0.4, 0.3, 0.2, 0.1]), (1, [0.3, 0.2, 0.2, 0.15], [0.3, 0.2, 0.1, 0.1])]:
        for tag, curve in (("SGDR", sgdr), ("step", step)):
            rows += [dict(seed=seed, tag=tag, epoch=e + 1, epochs=4, test_acc=1 - v) for e, v in enumerate(curve)]
    shares = decoupling.sgdr_shares(pd.DataFrame(rows), "SGDR", "step")
    assert shares[0] == 2 / 4 and shares[1] == 5 / 4  # seed 1 never gets there: one epoch past the end


def _grid(label, true_slope, seeds=(1, 2, 3)):
    rows = []
    rng = np.random.default_rng(0)
    for seed in seeds:
        s = true_slope + rng.normal(0, 0.05)
        for a in 2.0 ** np.arange(-10, -5):
            for d in [0.0, *2.0 ** np.arange(-12.0, 1.0, 2.0)]:
                error = 0.3 if d == 0 else 0.1 + 0.005 * (np.log2(d) - (-6 + s * (np.log2(a) + 8))) ** 2
                rows.append(dict(key=f"{seed}{a}{d}", seed=seed, epoch=30, hp_lr=a, lambda_norm=d, test_acc=1 - error))
    return decoupling.Grid(label, pd.DataFrame(rows), list(2.0 ** np.arange(-10, -5)),
                           list(2.0 ** np.arange(-12.0, 1.0, 2.0)), dict(rate=0, decay=1))


def test_separability_reads_a_diagonal_and_an_axis_aligned_grid():
    from optim import verdicts

    plan = verdicts.Plan(metric="slope", read_at="end", sesoi=0.5, sesoi_source="test", kind="threshold", family="t",
                         seeds=3, claim="coupled moves, decoupled stays")
    row = decoupling.separability(plan, _grid("Adam + L2", -1.0), _grid("AdamW", 0.0), "full")
    assert row["verdict"] == "reproduced"
    row = decoupling.separability(plan, _grid("Adam + L2", 0.0), _grid("AdamW", -1.0), "full")
    assert row["verdict"] == "not reproduced"
    assert decoupling.torch_axes(plan, _grid("AdamW", 0.0), "full")["verdict"] == "reproduced"  # slope 0 − 1


def test_the_best_decay_lines_are_flat_for_a_decoupled_grid_and_fall_in_pytorchs_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (paper, torch_axes) = plt.subplots(1, 2)
    grid = _grid("AdamW", 0.0)
    decoupling.draw_best_decays(paper, grid, "C0")
    decoupling.draw_best_decays(torch_axes, grid, "C0", torch_axes=True)
    assert len(paper.get_lines()) == 3  # one per grid seed
    for flat, shifted in zip(paper.get_lines(), torch_axes.get_lines()):
        x = np.asarray(flat.get_xdata())
        assert np.polyfit(x, flat.get_ydata(), 1)[0] == pytest.approx(0.0, abs=0.1)
        np.testing.assert_allclose(shifted.get_ydata(), np.asarray(flat.get_ydata()) - x)
    assert paper.get_lines()[0].get_label().startswith("AdamW (") and paper.get_lines()[1].get_label().startswith("_")
    plt.close(fig)


def _per_epoch(tag, curves):
    """Per-epoch rows of ``tag`` with test accuracy 1 − error, one curve per seed."""
    return [dict(seed=seed, tag=tag, epoch=e + 1, epochs=len(curve), test_acc=1 - v, test_error=v, key=f"{tag}{seed}")
            for seed, curve in enumerate(curves) for e, v in enumerate(curve)]


def test_the_regime_claims_judge_grids_cells_budgets_and_schedules_under_their_plans():
    from optim import book

    ch = book.Chapter("adamw", "full", "cpu", [0, 1, 2])
    grids = {label: _grid(label, slope) for label, slope in
             [("Adam + L2", -1.0), ("AdamW", 0.0), ("SGD + L2", -1.0), ("SGDW", 0.0)]}
    accuracy = {"AdamW": pd.Series([0.93, 0.931, 0.929]), "Adam + L2": pd.Series([0.91, 0.912, 0.909]),
                "SGD": pd.Series([0.925, 0.93, 0.93]), regime.ADAM: pd.Series([0.90, 0.902, 0.899])}
    budget = pd.DataFrame([dict(key=spec.key(), seed=seed, epoch=e, epochs=e, optimizer="adamw", hp_lr=4e-3,
                                hp_weight_decay=dict(spec.hparams)["weight_decay"],
                                test_acc=0.9 - 0.01 * np.log2(d / 0.025) ** 2)
                           for seed in (0, 1) for e in decoupling.BUDGETS for d in decoupling.BUDGET_DECAYS
                           for spec in [decoupling.cell_spec("AdamW", 4e-3, d, seed, epochs=e)]])
    sgdr, step = decoupling.schedule_specs(*grids["AdamW"].best(), [0])
    schedules = pd.DataFrame(_per_epoch(sgdr, [[0.3, 0.09, 0.08, 0.07]] * 3) + _per_epoch(step, [[0.4, 0.3, 0.1, 0.07]] * 3)
                             + _per_epoch("one cosine period", [[0.4, 0.3, 0.1, 0.07]] * 3))
    rows = decoupling.regime_claims(ch, grids, "SGD", accuracy, budget, schedules, None, 4)
    plans = ["regime_decouple_adam", "regime_decouple_sgd", "regime_torch_axes", "regime_adamw_vs_adam",
             "regime_adamw_vs_sgd", "regime_decay_helps", "regime_normalized", "regime_sgdr_sooner", "regime_sgdr_final"]
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in plans]
    verdict = dict(zip(plans, (r["verdict"] for r in rows)))
    assert verdict["regime_decouple_adam"] == verdict["regime_decouple_sgd"] == "reproduced"
    # AdamW 2 points above Adam + L2 and 3 above Adam without decay, paired by seed
    assert rows[3]["comparisons"][0]["effect"] == pytest.approx(np.mean([0.02, 0.019, 0.02]))
    assert verdict["regime_adamw_vs_adam"] == verdict["regime_decay_helps"] == "reproduced"
    assert rows[6]["comparisons"][0]["effect"] == pytest.approx(0.0, abs=1e-9)  # the best λ_norm stays over budgets
    # SGDR reaches step decay's final error (0.07) at epoch 4 of 4 on every seed: a share of 1, not 2× sooner
    assert rows[7]["comparisons"][0]["effect"] == pytest.approx(1.0) and verdict["regime_sgdr_sooner"] == "not reproduced"
    assert "epochs per seed: 4, 4, 4" in rows[7]["measured"]


def test_the_mlp_checks_compare_schedules_by_error_and_the_blogs_by_their_bounds():
    from optim import book

    ch = book.Chapter("adamw", "full", "cpu", [0, 1, 2])
    base = [[0.2, 0.1], [0.21, 0.11], [0.19, 0.09]]
    schedules = pd.DataFrame(_per_epoch("SGDR (T0 = 1, Tmult = 2)", base)
                             + _per_epoch("SGDR (T0 = 1, Tmult = 2), stepped per epoch", base)
                             + _per_epoch("SGDR (T0 = 1, Tmult = 1)", [[0.3, e + 0.05] for _, e in base])
                             + _per_epoch("one cosine cycle (T0 = 2)", base))
    blog = pd.DataFrame(_per_epoch("AdamW + warm restarts", [[0.95, 0.94]] * 3))
    rows = decoupling.mlp_claims(ch, schedules, blog, 2, bounds={"AdamW + warm restarts": 0.09})
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in ("sgdr_per_epoch", "sgdr_periods", "blog")]
    assert rows[0]["comparisons"][0]["effect"] == 0.0
    assert [c["effect"] for c in rows[1]["comparisons"]] == pytest.approx([0.05, 0.0])
    assert rows[2]["comparisons"][0]["effect"] == pytest.approx(0.06)  # accuracy 0.06 against the bound 0.09


def test_the_mlp_checks_run_adamw_under_each_schedule_and_the_warmup_peaks_at_the_same_rate():
    schedules, warmup = decoupling.mlp_check_specs("fashion-mnist", [0, 1], epochs=4, batch_size=128, n_train=1280,
                                                   n_test=100, model_args=dict(dropout=0.0))
    assert len(schedules) == 6 * 2 and len(warmup) == 2
    assert sorted({s.tag for s in schedules}) == sorted([
        "SGDR (T0 = 1, Tmult = 2)", "SGDR (T0 = 1, Tmult = 1)", "one cosine cycle (T0 = 4)",
        "SGDR (T0 = 1, Tmult = 2), stepped per epoch", "step decay (×0.1 at 50%, 75%)", "constant"])
    lam = normalized_weight_decay(0.03, 128, 1280, 4) / 1e-3
    assert dict(schedules[0].hparams) == dict(lr=1e-3, weight_decay=pytest.approx(lam))
    noam = warmup[0]
    w = dict(noam.schedule_args)["warmup"]
    assert w == 4  # 10% of 4 epochs × 10 steps
    lr, decay = dict(noam.hparams)["lr"], dict(noam.hparams)["weight_decay"]
    assert lr * 512 ** -0.5 * w ** -0.5 == pytest.approx(1e-3)  # the peak of noam's factor d^-0.5·w^-0.5
    assert lr * decay == pytest.approx(1e-3 * lam)  # AdamW's decay per step, α·λ, as at the constant rate


@pytest.mark.parametrize("verdicts, says", [
    (dict(regime_adamw_vs_adam="not reproduced", regime_adamw_vs_sgd="reproduced"),
     ["for SGD and for Adam.", "not a better optimum", "no worse than the tuned SGD", "beats Adam without decay."]),
    (dict(regime_decouple_adam="inconclusive", regime_adamw_vs_adam="reproduced", regime_adamw_vs_sgd="inconclusive",
          regime_decay_helps="inconclusive"),
     ["only in part: separability is reproduced for SGD; inconclusive for Adam.", "gives a better optimum",
      "Whether AdamW closes the gap to the tuned SGD, the seeds cannot tell."]),
])
def test_the_reading_says_what_the_regimes_verdicts_mean(verdicts, says):
    from optim import book

    ch = book.Chapter("adamw", "full", "cpu", [0, 1, 2])
    names = ["regime_decouple_adam", "regime_decouple_sgd", "regime_adamw_vs_adam", "regime_adamw_vs_sgd",
             "regime_decay_helps"]
    rows = [dict(claim=ch.plans[n].claim, verdict=verdicts.get(n, "reproduced")) for n in names]
    text = decoupling.meaning(ch, rows)
    assert all(part in text for part in says), text


def test_the_grid_note_names_the_rates_whose_best_decay_is_still_on_an_edge():
    rows = [dict(key=f"{a}{d}", seed=1, epoch=30, hp_lr=a, lambda_norm=d,
                 test_acc=1 - (0.3 if d == 0 else 0.1 + 0.01 * np.log2(d / (4.0 if a == 1e-3 else 0.1)) ** 2))
            for a in (1e-3, 2e-3, 4e-3) for d in (0.0, 0.025, 0.1, 0.4, 1.6)]
    grid = decoupling.Grid("Adam + L2", pd.DataFrame(rows), [1e-3, 2e-3, 4e-3], [0.025, 0.1, 0.4, 1.6],
                           dict(rate=0, decay=2))
    assert decoupling.grid_note(grid) == ("Adam + L2 α 0.001–0.004 × λ_norm 0, 0.025–1.6 (widened: decays 2 times); "
                                          "best decay still on the grid's edge at α = 0.001")
