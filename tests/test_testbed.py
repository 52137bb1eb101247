"""optim.testbed's stored computations against the problems they run, its figure and the blog claims."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from optim import book, testbed  # noqa: E402
from optim.problems import get_function, numerical_momentum_descent, trajectory  # noqa: E402


@pytest.fixture(autouse=True)
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))


def test_trajectories_are_each_optimizers_path_at_its_rate():
    rates = {"rosenbrock": {"adam": 0.05, "sgd": 1e-3}, "beale": {"adam": 0.05, "sgd": 1e-3}}
    steps = testbed.trajectories(("rosenbrock", "beale"), ["adam", "sgd"], 20, rates, "quick")
    paths = testbed.paths(steps)
    assert list(paths) == ["rosenbrock", "beale"] and list(paths["beale"]) == ["adam", "sgd"]
    np.testing.assert_allclose(paths["beale"]["sgd"], trajectory("beale", "sgd", 20, lr=1e-3))
    minimum = np.array(get_function("rosenbrock").minimum)
    path = paths["rosenbrock"]["adam"]
    assert testbed.distance_to_minimum("rosenbrock", path) == pytest.approx(np.linalg.norm(path[-1] - minimum))


def test_the_distance_ignores_the_points_after_a_divergence():
    path = np.array([[0.0, 0.0], [0.5, 0.5], [np.nan, np.inf]])
    assert testbed.distance_to_minimum("rosenbrock", path) == pytest.approx(np.hypot(0.5, 0.5))


def test_blog_experiment_has_one_row_per_setting():
    grid = dict(lr=[0.05, 0.1], momentum=[0.0, 0.9], precedence_bug=[False, True])
    blog = testbed.blog_experiment(grid, 200, "quick")
    assert len(blog) == 8 and set(blog.gradient) == {"correct", "buggy"}
    row = blog[(blog.lr == 0.1) & (blog.method == "momentum 0.9") & (blog.gradient == "buggy")].iloc[0]
    direct = numerical_momentum_descent("ackley", 0.1, 0.9, 200, precedence_bug=True)
    assert row.outcome == direct["outcome"] and row.steps == direct["steps"]


def test_draw_puts_every_path_on_the_functions_contours():
    fig, ax = plt.subplots()
    testbed.draw(ax, "beale", {"adam": np.array([[1.0, 1.0], [2.0, 0.5]])}, {"adam": "#d55e00"}, resolution=20)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "adam" in labels and ax.get_title() == "Beale"
    plt.close(fig)


def _blog(rows):
    return pd.DataFrame([dict(method=m, lr=lr, gradient=g, outcome=o, steps=s) for m, lr, g, o, s in rows])


def test_the_blog_claims_read_outcomes_and_fewest_steps():
    ch = book.Chapter("testbed", "full", "cpu", [0])
    blog = _blog([("gradient descent", 0.01, "correct", "stalled", 3000), ("gradient descent", 0.1, "correct", "converged", 400),
                  ("momentum 0.9", 0.01, "correct", "converged", 100), ("momentum 0.9", 0.1, "correct", "stalled", 3000),
                  ("gradient descent", 0.1, "buggy", "escaped", 20), ("momentum 0.9", 0.1, "buggy", "stalled", 3000)])
    rows, counts = testbed.blog_claims(ch, blog)
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in ("ackley", "momentum", "gradient_bug")]
    assert [c["value"] for c in rows[0]["comparisons"]] == [0.0, 1.0] and rows[0]["verdict"] == "partly"
    assert rows[1]["comparisons"][0]["value"] == pytest.approx(100 / 400) and rows[1]["verdict"] == "reproduced"
    assert rows[2]["comparisons"][0]["value"] == 0 and "1 of 2 escape" in rows[2]["measured"]
    assert counts == dict(escaped=1, buggy_runs=2, gd=1, rates=2, momentum=1)
    never = blog[~((blog.method == "momentum 0.9") & (blog.outcome == "converged"))]
    rows, _ = testbed.blog_claims(ch, never)
    assert rows[1]["comparisons"][0]["what"] == "momentum 0.9 runs that reached the minimum"
