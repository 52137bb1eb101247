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
