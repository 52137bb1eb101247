"""The 2-D testbed chapter's computations, stored like runs (:func:`optim.runner.computed`):
every optimizer's path on the analytic functions (:mod:`optim.problems.functions2d`) and a
blog's momentum experiment on Ackley with and without its gradient's precedence bug."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .problems import get_function, numerical_momentum_descent, trajectory
from .runner import computed


def trajectories(functions, optimizers, steps: int, learning_rates: dict, profile: str) -> pd.DataFrame:
    """Every optimizer's path on each function from its start point, at
    ``learning_rates[function][optimizer]``: one row per (function, optimizer, step), NaN after
    a divergence."""
    def compute():
        return pd.concat([pd.DataFrame({"function": name, "optimizer": o, "step": np.arange(len(path)),
                                        "x": path[:, 0], "y": path[:, 1]})
                          for name in functions for o in optimizers
                          for path in [trajectory(name, o, steps, lr=learning_rates[name][o])]], ignore_index=True)

    return computed("testbed trajectories", compute, profile, steps=steps, functions=functions, optimizers=optimizers,
                    learning_rates=learning_rates)


def blog_experiment(grid: dict, steps: int, profile: str) -> pd.DataFrame:
    """The blog's runs on Ackley from (−2, −2) (:func:`optim.problems.numerical_momentum_descent`),
    one row per setting of ``grid`` (lr × momentum × precedence_bug): its method, gradient,
    outcome and steps."""
    def compute():
        return pd.DataFrame([dict(method="momentum 0.9" if m else "gradient descent", lr=lr,
                                  gradient="buggy" if bug else "correct",
                                  **numerical_momentum_descent("ackley", lr, m, steps, precedence_bug=bug))
                             for lr in grid["lr"] for m in grid["momentum"] for bug in grid["precedence_bug"]])

    return computed("testbed blog experiment", compute, profile, steps=steps, grid=grid)


def paths(steps: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """:func:`trajectories`' frame as {function: {optimizer: array of (x, y) per step}}."""
    return {name: {o: part[["x", "y"]].to_numpy() for o, part in frame.groupby("optimizer", sort=False)}
            for name, frame in steps.groupby("function", sort=False)}


def distance_to_minimum(name: str, path: np.ndarray) -> float:
    """Euclidean distance from a path's last finite point to the function's minimum."""
    finite = path[np.isfinite(path).all(axis=1)]
    return float(np.linalg.norm(finite[-1] - np.array(get_function(name).minimum)))


def draw(ax, name: str, runs: dict[str, np.ndarray], colours: dict, resolution: int = 200) -> None:
    """One function's contours (log(1 + f), grey) with every optimizer's path in its colour,
    the start point (black) and the minimum (gold star)."""
    fn = get_function(name)
    (x0, x1), (y0, y1) = fn.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    zs = fn(torch.tensor(np.stack([xs, ys], -1))).numpy()
    ax.contourf(xs, ys, np.log1p(zs), levels=30, cmap="Greys", alpha=0.6)
    for o, path in runs.items():
        ax.plot(path[:, 0], path[:, 1], lw=1.3, color=colours[o], label=o)
    ax.plot(*fn.start, "ko")
    ax.plot(*fn.minimum, "*", color="gold", ms=14, mec="k")
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=name.capitalize(), xlabel="x", ylabel="y")


def blog_claims(ch, blog: pd.DataFrame) -> tuple[list[dict], dict[str, int]]:
    """The blog experiment's claims (``ch``: the :class:`optim.book.Chapter`; ``blog``:
    :func:`blog_experiment`'s frame), each judged by observations — the testbed is deterministic:
    gradient descent reaches Ackley's minimum at each rate (plan ``ackley``); momentum 0.9 gets
    there in fewer steps than gradient descent's fewest (``momentum``; where either never
    converged, whether momentum converged at all); and the precedence bug's runs never
    converge (``gradient_bug``). Returns the rows and the counts the chapter quotes."""
    from . import verdicts

    correct, buggy = blog[blog.gradient == "correct"], blog[blog.gradient == "buggy"]
    gd_runs = correct[correct.method == "gradient descent"]
    gd = gd_runs[gd_runs.outcome == "converged"]
    mom = correct[(correct.method == "momentum 0.9") & (correct.outcome == "converged")]
    gd_best, mom_best = (int(runs.steps.min()) if len(runs) else None for runs in (gd, mom))
    speed = (verdicts.observe("momentum's fewest steps / gradient descent's", mom_best / gd_best, "less", 1.0)
             if mom_best and gd_best else
             verdicts.observe("momentum 0.9 runs that reached the minimum", len(mom), "greater", 0))
    escaped = int((buggy.outcome == "escaped").sum())
    rows = [
        ch.judge("ackley", [verdicts.observe(f"reached it (1) or stalled (0) at lr = {r.lr:g}",
                                             float(r.outcome == "converged"), "greater", 0.5)
                            for r in gd_runs.itertuples()],
                 note=f"fastest: {gd_best} steps" if gd_best else ""),
        ch.judge("momentum", [speed]),
        ch.judge("gradient_bug", [verdicts.observe("buggy runs that converge",
                                                   int((buggy.outcome == "converged").sum()), "greater", 0)],
                 note=f"{escaped} of {len(buggy)} escape to |x| > 1e6"),
    ]
    return rows, dict(escaped=escaped, buggy_runs=len(buggy), gd=len(gd), rates=blog.lr.nunique(), momentum=len(mom))
