"""The AMSGrad chapter's online studies (optim.counterexamples) against the problems they read,
run directly: the same iterates, the same tails, each stored once like a run."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from optim import counterexamples, plots, runner  # noqa: E402
from optim.problems import log_slope, run_online, run_online_long  # noqa: E402

METHODS = {"Adam": ("adam", {}), "AMSGrad": ("amsgrad", dict(bias_correction=False))}
SECTION5 = dict(big=1010.0, small=10.0, betas=(0.9, 0.99), lr=0.5)


@pytest.fixture(autouse=True)
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))
    return tmp_path


def test_tail_mean_is_the_mean_of_the_last_tenth():
    assert counterexamples.tail_mean(np.arange(100.0)) == pytest.approx(np.mean(np.arange(90.0, 100.0)))
    assert counterexamples.tail_mean([1.0, 2.0, 3.0, 4.0], share=0.5) == 3.5


def test_curves_are_the_online_runs_subsampled_and_stored_once(results):
    frame = counterexamples.curves(METHODS, "deterministic", 500, "quick", period=101, points=100, **SECTION5)
    for label, (name, extra) in METHODS.items():
        direct = run_online(name, 500, "deterministic", period=101, **SECTION5, **extra)
        part = frame[frame.method == label]
        np.testing.assert_array_equal(part.t, np.arange(1, 501, 5))
        np.testing.assert_allclose(part.x, direct.x[::5])
        np.testing.assert_allclose(part["average regret"], direct.average_regret[::5])
        assert set(part.optimizer) == {name}
    assert len(list(results.rglob("*.json.gz"))) == 1
    again = counterexamples.curves(METHODS, "deterministic", 500, "quick", period=101, points=100, **SECTION5)
    pd.testing.assert_frame_equal(again, frame, check_dtype=False, check_like=True)
    assert len(list(results.rglob("*.json.gz"))) == 1  # read, not computed again


def test_curve_tail_reads_where_each_method_ends():
    frame = pd.DataFrame({"t": np.arange(1, 101).tolist() * 2, "x": [0.0] * 89 + [1.0] * 11 + [-1.0] * 100,
                          "method": ["a"] * 100 + ["b"] * 100})
    assert counterexamples.curve_tail(frame, "a") == 1.0
    assert counterexamples.curve_tail(frame, "b") == -1.0


def test_failure_map_cells_are_each_settings_tail_of_its_own_run():
    c_values, beta2_values = np.array([1.5, 3.0, 5.0]), np.array([0.1, 0.9])
    grid, curve = counterexamples.failure_map("adam", {}, c_values, beta2_values, 300, "quick")
    assert grid.shape == (2, 3) and curve.shape == (2,)  # the curve has C > 2 only
    for i, b2 in enumerate(beta2_values):
        for j, c in enumerate(c_values):
            run = run_online("adam", 300, "deterministic", big=c, small=1.0, period=3, betas=(0.0, b2), lr=1.0)
            assert grid[i, j] == pytest.approx(run.x[270:].mean(), abs=1e-12)
    run = run_online("adam", 300, "deterministic", big=5.0, small=1.0, period=3, betas=(0.0, 1 / 26), lr=1.0)
    assert curve[1] == pytest.approx(run.x[270:].mean(), abs=1e-12)


def test_sensitivity_changes_one_setting_at_a_time():
    variants = {"paper": {}, "β2 = 0.9": dict(betas=(0.9, 0.9))}
    table = counterexamples.sensitivity(METHODS, variants, SECTION5 | dict(period=101), 400, "quick")
    assert list(table.index) == list(variants) and list(table.columns) == list(METHODS)
    run = run_online("amsgrad", 400, "deterministic", **(SECTION5 | dict(period=101, betas=(0.9, 0.9))),
                     bias_correction=False)
    assert table.loc["β2 = 0.9", "AMSGrad"] == pytest.approx(run.x[360:].mean(), abs=1e-12)


def test_the_long_runs_trends_are_log_log_slopes_of_their_sums():
    runs = counterexamples.at_length(METHODS, 3000, [1, 2], "quick", p=0.01, **SECTION5)
    assert set(runs) == {(label, seed) for label in METHODS for seed in (1, 2)}
    direct = run_online_long("adam", 3000, [1, 2], p=0.01, **SECTION5)[2]
    np.testing.assert_allclose(runs[("Adam", 2)].window_gap, direct.window_gap)
    table = counterexamples.trends(runs, 300)
    assert table.loc[("Adam", 2), "gap_slope"] == pytest.approx(log_slope(direct.t, direct.window_gap, 300))
    assert table.loc[("Adam", 2), "mean_x"] == pytest.approx(direct.mean_x_since(300))
    frame = counterexamples.readings(runs, METHODS)
    assert set(frame.optimizer) == {"adam", "amsgrad"} and set(frame.seed) == {1, 2}


def test_noise_horizon_of_section5s_problem():
    noise = counterexamples.noise_horizon(0.01, 1010.0, 10.0)
    assert noise["drift"] == pytest.approx(0.2)
    assert noise["sd"] == pytest.approx(np.sqrt(0.01 * 0.99) * 1020)
    assert noise["horizon"] == pytest.approx(9 * 0.01 * 0.99 * 1020 ** 2 / 0.04)


def test_failure_map_figure_colours_each_cell_by_its_value():
    grid = np.array([[-1.0, 1.0], [0.5, -0.5]])
    fig, ax = plt.subplots()
    plots.failure_map(grid, np.array([1.0]), [2.0, 3.0], [0.1, 0.9], ax=ax, title="map")
    mesh = ax.collections[0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).ravel(), grid.ravel())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "3"]
    plt.close(fig)


def test_a_stored_computation_is_not_recomputed(monkeypatch):
    counterexamples.sensitivity({"Adam": ("adam", {})}, {"paper": {}}, SECTION5 | dict(period=101), 100, "quick")
    monkeypatch.setattr(counterexamples, "run_online_many", lambda *a, **k: pytest.fail("recomputed"))
    before = runner.computed.count
    counterexamples.sensitivity({"Adam": ("adam", {})}, {"paper": {}}, SECTION5 | dict(period=101), 100, "quick")
    assert runner.computed.count == before + 1


CHAPTER_METHODS = {"Adam": ("adam", {}), "AMSGrad (paper)": ("amsgrad", dict(bias_correction=False)),
                   "AMSGrad (torch)": ("amsgrad", dict(bias_correction=True))}


@pytest.fixture
def online_studies():
    """The chapter's online studies, small: (chapter, theorem, deterministic, long runs, maps, C values, sensitivity)."""
    from optim import book

    ch = book.Chapter("amsgrad", "quick", "cpu", [0, 1], dict(theorem_steps=600, online_steps=2000, stochastic_steps=3000))
    c_values = np.array([2.5, 4.0])
    return (ch,
            counterexamples.curves(CHAPTER_METHODS, "deterministic", 600, "quick", big=3.0, small=1.0, period=3,
                                   betas=(0.0, 0.1), lr=1.0),
            counterexamples.curves(CHAPTER_METHODS, "deterministic", 2000, "quick", period=101, **SECTION5),
            counterexamples.at_length(CHAPTER_METHODS, 3000, [1, 2], "quick", p=0.01, **SECTION5),
            {label: counterexamples.failure_map(*CHAPTER_METHODS[label], c_values, [0.1, 0.9], 300, "quick")
             for label in ("Adam", "AMSGrad (paper)")},
            c_values,
            counterexamples.sensitivity(CHAPTER_METHODS, {"paper": {}, "β2 = 0.9": dict(betas=(0.9, 0.9))},
                                        SECTION5 | dict(period=101), 400, "quick"))


def test_the_online_claims_read_the_problems_run_directly(online_studies):
    ch, theorem, deterministic, long_runs, maps, c_values, table = online_studies
    rows = counterexamples.judge(ch, theorem, deterministic, long_runs, maps, c_values, table)
    plans = ["theorem1", "section5_deterministic", "section5_stochastic", "regret_stochastic", "curve",
             "sensitivity_adam", "sensitivity_amsgrad", "regret", "torch_form"]
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in plans]
    by_plan = dict(zip(plans, rows))
    # Theorem 1 (C = 3, β2 = 0.1): Adam's iterate ends at +1, AMSGrad's at −1, read on the full trace
    adam = run_online("adam", 600, "deterministic", big=3.0, small=1.0, period=3, betas=(0.0, 0.1), lr=1.0)
    ams = run_online("amsgrad", 600, "deterministic", big=3.0, small=1.0, period=3, betas=(0.0, 0.1), lr=1.0,
                     bias_correction=False)
    first, second = by_plan["theorem1"]["comparisons"]
    assert first["value"] == pytest.approx(adam.x[540:].mean(), abs=0.01) and first["value"] > 0.9
    assert second["value"] == pytest.approx(ams.x[540:].mean(), abs=0.01) and second["value"] < -0.9
    assert by_plan["theorem1"]["verdict"] == "reproduced"
    # the sensitivity rows carry the table's values, one comparison per variant, judged by their sign
    assert [c["value"] for c in by_plan["sensitivity_adam"]["comparisons"]] == pytest.approx(list(table["Adam"]))
    assert [c["outcome"] == "supports" for c in by_plan["sensitivity_amsgrad"]["comparisons"]] == \
        [x < 0 for x in table["AMSGrad (paper)"]]
    # Adam on the theorem's curve, one observation per C, threshold +0.9
    assert [c["value"] for c in by_plan["curve"]["comparisons"]] == pytest.approx(list(maps["Adam"][1]))
    # the deterministic regret's slope over the last decade: a least-squares line through log-log points
    part = deterministic[deterministic.method == "Adam"]
    keep = part.t >= 200
    slope = np.polyfit(np.log(part.t[keep]), np.log(part["average regret"][keep]), 1)[0]
    assert by_plan["regret"]["comparisons"][1]["value"] == pytest.approx(slope)
    # the stochastic problem: one value per seed, paired over the seeds
    assert by_plan["section5_stochastic"]["seeds"] == 2


def test_the_online_readings_quote_the_same_numbers(online_studies):
    ch, _, deterministic, long_runs, maps, _, table = online_studies
    values = counterexamples.glue_values(ch, deterministic, long_runs, maps, table, SECTION5, 0.01)
    adam = deterministic[deterministic.method == "Adam"]
    assert values["det_adam"] == f"{adam[adam.t >= 1800].x.mean():+.2f}"
    assert values["adam_wrong"] == int((table["Adam"] > 0).sum()) and values["variants"] == 2
    assert values["period_regret"] == "20"  # 2·(1010 − 100·10): x = +1 against −1 over one period
    assert values["drift"] == "0.2" and values["stochastic_seeds"] == 2
    assert values["map_cells"] == 4 and values["curve_points"] == 2


def test_lower_than_adam_compares_paired_ratios_at_the_plans_sesoi():
    from optim import book, verdicts

    ch = book.Chapter("amsgrad", "quick", "cpu", [0, 1, 2])
    losses = {"AMSGrad (paper)": pd.Series([0.5, 0.52, 0.49], index=[0, 1, 2]),
              "Adam": pd.Series([1.0, 1.01, 0.99], index=[0, 1, 2])}
    row = counterexamples.lower_than_adam(ch, "logreg", [("final training loss", "", losses)], note="n")
    expected = verdicts.compare("AMSGrad (paper)", losses["AMSGrad (paper)"], "Adam", losses["Adam"],
                                "final training loss", "less", ch.plans["logreg"].sesoi)
    (comparison,) = row["comparisons"]
    assert comparison["effect"] == pytest.approx(np.exp(np.mean(np.log([0.5, 0.52 / 1.01, 0.49 / 0.99]))))
    assert comparison["effect"] == pytest.approx(expected.effect) and comparison["outcome"] == "supports"
    assert row["verdict"] == "reproduced" and row["measured"].endswith("supports. n")


def test_the_readings_name_the_settings_that_end_on_the_wrong_half(online_studies):
    ch, _, deterministic, long_runs, maps, _, table = online_studies
    table = table.copy()
    table.loc["paper", "AMSGrad (paper)"], table.loc["β2 = 0.9", "AMSGrad (paper)"] = 0.5, -0.5
    words = counterexamples.glue_values(ch, deterministic, long_runs, maps, table, SECTION5, 0.01)["wrong_half"]
    assert "AMSGrad (paper) ends on the wrong half (x > 0) in 1 of 2 settings (paper)" in words.split("; ")


def test_the_map_figure_has_a_panel_per_method_and_the_real_models_are_counted():
    grid = np.array([[-1.0, 1.0], [0.5, -0.5]])
    fig = counterexamples.map_figure({"Adam": (grid, np.array([1.0])), "AMSGrad (paper)": (-grid, np.array([-1.0]))},
                                     [2.0, 3.0], [0.1, 0.9], 300)
    assert [ax.get_title() for ax in fig.axes[:2]] == [
        "Adam: mean iterate over the last 10% of 300 steps", "AMSGrad (paper): mean iterate over the last 10% of 300 steps"]
    plt.close(fig)
    comparison = dict(a="AMSGrad (paper), β2 = 0.99", metric="final training loss", effect=0.9, low=0.8, high=1.01,
                      outcome="inconclusive")
    glue = counterexamples.real_models_glue([("MLP", dict(comparisons=[comparison, comparison | dict(outcome="supports")]))])
    assert glue["real"] == "MLP, β2 = 0.99 training loss 0.9× [0.8, 1.01]; MLP, β2 = 0.99 training loss 0.9× [0.8, 1.01]"
    assert (glue["comparisons"], glue["supports"], glue["inconclusive"], glue["contradicts"]) == (2, 1, 1, 0)
