"""optim.testbed's stored computations against the problems they run, and its figure."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from optim import testbed  # noqa: E402
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
