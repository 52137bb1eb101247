"""optim.analysis against independent references (scipy's distributions, hand-made frames)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optim import analysis


def test_mean_ci_is_the_student_t_interval():
    values = [0.91, 0.87, 0.90, 0.93]
    low, high = stats.t.interval(0.90, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    mean, half = analysis.mean_ci(values)
    assert mean == pytest.approx(np.mean(values))
    assert half == pytest.approx((high - low) / 2)
    assert analysis.mean_ci([0.5]) == (0.5, 0.0)


def test_final_choice_and_steps_to_on_a_hand_made_frame():
    from optim import tuning

    frame = pd.DataFrame(dict(
        key=["a0", "a0", "a1", "a1", "b0", "b0"], lr=[0.1, 0.1, 0.1, 0.1, 0.01, 0.01],
        seed=[0, 0, 1, 1, 0, 0], epoch=[1, 2, 1, 2, 1, 2], test_loss=[1.0, 0.4, 0.9, 0.6, 0.8, 0.7]))
    table = analysis.final(frame, ["lr"], "test_loss").set_index("lr")
    assert table.loc[0.1, "mean"] == pytest.approx(0.5) and table.loc[0.1, "seeds"] == 2
    assert table.loc[0.01, "ci"] == 0.0
    frame["model"] = "m"
    assert tuning.choose(frame, ["model"], "lr", "test_loss")["lr"].item() == 0.1
    assert analysis.steps_to(frame, "test_loss", 0.75).to_dict() == {"a0": 2, "a1": 2, "b0": 2}
    assert np.isnan(analysis.steps_to(frame, "test_loss", 0.3)).all()


def test_per_seed_keys_runs_by_seed_and_leaves_diverged_runs_non_finite():
    rows = [dict(key=f"{tag}{seed}", tag=tag, seed=seed, epoch=e, loss=1.0 / e + seed, diverged=(tag, seed) == ("b", 1))
            for tag in "ab" for seed in (3, 1, 2) for e in (1, 2, 3)]
    frame = pd.DataFrame(rows)
    frame.loc[(frame.key == "b1") & (frame.epoch == 3), "loss"] = np.inf
    values = analysis.per_seed(frame, "tag", "loss")
    assert sorted(values["a"].index) == [1, 2, 3] and values["a"][2] == pytest.approx(1 / 3 + 2)
    assert np.isnan(values["b"][1]) and np.isfinite(values["b"].drop(1)).all()
    assert analysis.per_seed(frame, "tag", "loss", at=1)["a"][3] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="several runs per seed"):
        analysis.per_seed(frame.assign(seed=0), "tag", "loss")


def test_tuning_chooses_on_the_selection_runs_and_flags_a_choice_on_the_grids_edge():
    from optim import tuning

    rows = [dict(key=f"{m}{lr}", optimizer=m, hp_lr=lr, epoch=1, train_loss=loss)
            for m, losses in {"a": {0.1: 3.0, 0.3: 1.0, 1.0: 2.0}, "b": {0.1: 3.0, 0.3: 2.0, 1.0: 1.0}}.items()
            for lr, loss in losses.items()]
    chosen = tuning.choose(pd.DataFrame(rows), ["optimizer"], "hp_lr", "train_loss").set_index("optimizer")
    assert chosen.loc["a", "hp_lr"] == 0.3 and not chosen.loc["a", "on_edge"]
    assert chosen.loc["b", "hp_lr"] == 1.0 and chosen.loc["b", "on_edge"] and chosen.loc["b", "grid"] == (0.1, 0.3, 1.0)
    assert tuning.edge_note(chosen.reset_index(), "optimizer").endswith("b 1 of 0.1–1")


def test_tuning_extends_a_grid_past_its_edge_until_the_optimum_is_interior(monkeypatch):
    """A loss with its minimum at lr = 0.1, searched from a grid that stops at 0.01."""
    from optim import runner, tuning

    asked = []

    def fake_run_many(specs, profile, root=None):
        asked.append(sorted({lr for _, lr in specs}))
        return pd.DataFrame([dict(key=f"{m}{lr}", optimizer=m, hp_lr=lr, epoch=1, train_loss=(np.log10(lr) + 1) ** 2)
                             for m, lr in specs])

    monkeypatch.setattr(runner, "run_many", fake_run_many)
    chosen, _ = tuning.tune(lambda m, lr: [(m, lr)], {"adam": [1e-3, 3e-3, 1e-2]}, "train_loss", "full")
    assert chosen["hp_lr"].item() == pytest.approx(0.09) and not chosen["on_edge"].item()   # nearest to 0.1
    assert asked[-1] == pytest.approx([1e-3, 3e-3, 1e-2, 3e-2, 9e-2, 3e-1])
    assert tuning.step_past([3e-4, 1e-3, 3e-3], "high") == 9e-3 and tuning.step_past([3e-4, 1e-3], "low") == 9e-5
    capped, _ = tuning.tune(lambda m, lr: [(m, lr)], {"adam": [1e-6, 1e-5]}, "train_loss", "full", widen=1)
    assert capped["on_edge"].item()   # still on the edge after the allowed extensions: flagged, not hidden


def test_tuned_curves_chooses_on_the_selection_seeds_and_runs_the_choice_on_the_judged_ones(monkeypatch):
    from optim import runner, tuning

    def loss(m, lr):  # a's optimum at 0.1, b's at 0.01
        return (np.log10(lr) + (1 if m == "a" else 2)) ** 2

    def frame(specs):
        return pd.DataFrame([dict(key=f"{m}{lr}{s}", optimizer=m, hp_lr=lr, seed=s, epoch=1, train_loss=loss(m, lr))
                             for m, lr, s in specs])

    curves = []
    monkeypatch.setattr(runner, "run_many", lambda specs, profile, root=None: frame(specs))
    monkeypatch.setattr(runner, "run_curves", lambda specs, profile: curves.append(specs) or (frame(specs), frame(specs)))
    result = tuning.tuned_curves(lambda m, lr, seeds: [(m, lr, s) for s in seeds], {"a": [0.03, 0.1, 0.3],
                                 "b": [0.003, 0.01, 0.03]}, "train_loss", "full", seeds=[0, 1], selection_seeds=[100])
    assert dict(zip(result.chosen.optimizer, result.chosen.hp_lr)) == pytest.approx({"a": 0.1, "b": 0.01})
    assert set(result.selection.seed) == {100}
    assert curves == [[("a", 0.1, 0), ("a", 0.1, 1), ("b", 0.01, 0), ("b", 0.01, 1)]]
    assert set(result.epochs.seed) == {0, 1}


def test_a_plan_reports_the_choices_left_on_a_grids_edge(tmp_path, monkeypatch):
    from optim import planner, runner, tuning

    plan_file = tmp_path / "plan.jsonl"
    monkeypatch.setenv("OPTIM_PLAN_FILE", str(plan_file))
    monkeypatch.setattr(runner, "run_many", lambda specs, profile, root=None: pd.DataFrame(
        [dict(key=f"{m}{lr}", optimizer=m, hp_lr=lr, epoch=1, train_loss=lr) for m, lr in specs]))
    tuning.tune(lambda m, lr: [(m, lr)], {"adam": [1e-3, 1e-2]}, "train_loss", "full", widen=0)
    edge = json.loads(plan_file.read_text())["edge"]
    assert edge == "adam hp_lr = 0.001 on the edge of [0.001, 0.01] after widening 0 times"
    table = planner.render([planner.ChapterPlan("tiny", "full", [], [], edges=[edge])])
    assert "- tiny: adam hp_lr = 0.001 on the edge" in table


def test_tuning_breaks_ties_by_a_second_metric():
    from optim import tuning

    rows = [dict(key=f"{lr}", optimizer="sgd", hp_lr=lr, epoch=1, val_acc=0.9, val_loss=loss)
            for lr, loss in {0.1: 0.35, 0.3: 0.30, 1.0: 0.40}.items()]
    chosen = tuning.choose(pd.DataFrame(rows), ["optimizer"], "hp_lr", "val_acc", "max", tiebreak=("val_loss", "min"))
    assert chosen["hp_lr"].item() == 0.3 and not chosen["on_edge"].item()
    with pytest.raises(ValueError, match="mode='best' is invalid"):
        tuning.choose(pd.DataFrame(rows), ["optimizer"], "hp_lr", "val_acc", "best")


def test_the_choice_note_names_each_grid_and_flags_an_edge():
    from optim import tuning

    chosen = pd.DataFrame({"optimizer": ["adam", "sgd"], "hp_lr": [1e-3, 0.1], "selection": [0.2, 0.3],
                           "grid": [(3e-4, 1e-3, 3e-3), (0.01, 0.03, 0.1)], "on_edge": [False, True]})
    assert tuning.choice_note(chosen, "optimizer") == ("α chosen on the selection runs: adam 0.001 (grid 0.0003–0.003), "
                                                       "sgd 0.1 (grid 0.01–0.1, on its edge)")


def test_perplexity_is_the_exponential_of_the_loss_in_nats():
    np.testing.assert_allclose(analysis.perplexity(pd.Series([np.log(100.0), np.log(2.0), np.nan])), [100.0, 2.0, np.nan])


def test_edges_text_names_each_choice_left_on_an_edge():
    from optim import tuning

    inside = pd.DataFrame(dict(tag=["a"], hp_lr=[0.1], on_edge=[False]))
    edge = pd.DataFrame(dict(tag=["b", "c"], hp_lr=[1.0, 0.01], on_edge=[True, False]))
    assert tuning.edges_text([("m1", inside)]) == "No step size was left at an edge of its grid."
    assert tuning.edges_text([("m1", inside), ("m2", edge)], widened="three times") == (
        "Step sizes still at an edge of their grid after widening it three times: m2, b: 1.")
