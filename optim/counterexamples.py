"""The AMSGrad chapter's online problems (Reddi, Kale and Kumar 2018: Theorem 1 and §5) as the
chapter reads them: every method's curves, the failure map over (C, β2), §5's sensitivity to
its settings and the stochastic problem at length — each computed once by
:mod:`optim.problems.online` and stored like a run (:func:`optim.runner.computed`).

``methods`` maps a label to (registry name, extra hyperparameters), e.g.
``{"AMSGrad (paper)": ("amsgrad", {"bias_correction": False})}``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .problems import OnlineSums, log_slope, run_online, run_online_long, run_online_many
from .runner import computed

TAIL = 0.1  # "where the iterate ends": its mean over the last 10% of the steps


def tail_mean(values, share: float = TAIL) -> float:
    """Mean of the last ``share`` of ``values`` (an iterate's or regret's sequence)."""
    values = np.asarray(values, dtype=float)
    return float(values[int((1 - share) * len(values)):].mean())


def curve_tail(frame: pd.DataFrame, method: str, column: str = "x", share: float = TAIL) -> float:
    """:func:`tail_mean` of one method's stored curve (a :func:`curves` frame), read on its
    subsampled points: those with t at or beyond ``1 − share`` of the last step."""
    part = frame[frame.method == method]
    return float(part[part.t >= (1 - share) * part.t.max()][column].mean())


def curves(methods: dict, kind: str, steps: int, profile: str, *, seed: int = 0, points: int = 2000,
           **problem) -> pd.DataFrame:
    """Every method on the online problem (:func:`optim.problems.run_online`): iterate and
    average regret at about ``points`` evenly spaced steps, one row per (method, step), with
    each method's registry name in ``optimizer`` (its colour in every figure)."""
    def compute():
        every = max(1, steps // points)
        return pd.concat([pd.DataFrame({"t": np.arange(1, steps + 1)[::every], "x": result.x[::every],
                                        "average regret": result.average_regret[::every], "method": label,
                                        "seed": seed})
                          for label, (name, extra) in methods.items()
                          for result in [run_online(name, steps, kind, seed=seed, **problem, **extra)]],
                         ignore_index=True)

    frame = computed("online counterexample", compute, profile, kind=kind, steps=steps, seed=seed, methods=methods,
                     **problem)
    return frame.assign(optimizer=frame["method"].map({label: name for label, (name, _) in methods.items()}))


def at_length(methods: dict, steps: int, seeds, profile: str, **problem) -> dict[tuple[str, int], OnlineSums]:
    """Every method on the stochastic problem for ``steps`` steps on every seed at once
    (:func:`optim.problems.run_online_long`), kept as running sums at log-spaced steps:
    {(label, seed): OnlineSums}."""
    def compute():
        return pd.concat([sums.to_frame().assign(method=label, seed=seed)
                          for label, (name, extra) in methods.items()
                          for seed, sums in run_online_long(name, steps, seeds, **problem, **extra).items()],
                         ignore_index=True)

    frame = computed("online stochastic at length", compute, profile, steps=steps, seeds=seeds, methods=methods,
                     **problem)
    return {key: OnlineSums.from_frame(part) for key, part in frame.groupby(["method", "seed"])}


def readings(runs: dict[tuple[str, int], OnlineSums], methods: dict) -> pd.DataFrame:
    """The long runs' per-window readings (:meth:`OnlineSums.readings`), one frame, with
    method, seed and registry name."""
    return pd.concat([sums.readings().assign(method=method, seed=seed, optimizer=methods[method][0])
                      for (method, seed), sums in runs.items()], ignore_index=True)


def trends(runs: dict[tuple[str, int], OnlineSums], since: float) -> pd.DataFrame:
    """Per (method, seed), from ``since`` on: the log-log slope of |window mean x − x*| and of
    the expected average regret against t (:func:`optim.problems.log_slope`), and the mean x."""
    return pd.DataFrame([dict(method=method, seed=seed, gap_slope=log_slope(s.t, s.window_gap, since),
                              regret_slope=log_slope(s.t, s.expected_regret / s.t, since),
                              mean_x=s.mean_x_since(since))
                         for (method, seed), s in runs.items()]).set_index(["method", "seed"])


def noise_horizon(p: float, big: float, small: float) -> dict[str, float]:
    """The stochastic problem's drift E[c] = p·big − (1 − p)·small per step, its standard
    deviation, and the steps after which x* = −1 is the best point in hindsight with 3σ
    confidence: 9·Var(c)/E[c]²."""
    drift = p * big - (1 - p) * small
    variance = p * (1 - p) * (big + small) ** 2
    return dict(drift=drift, sd=variance ** 0.5, horizon=9 * variance / drift ** 2)


def failure_map(name: str, extra: dict, c_values, beta2_values, steps: int, profile: str) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 1's problem (c_t = C every third step, −1 otherwise, β1 = 0, α_t = 1/√t) over
    the grid C × β2 and on the theorem's curve β2 = 1/(1 + C²) (its C > 2): the iterate's
    :func:`tail_mean` per cell, as (array[len(beta2_values), len(c_values)], array over the curve)."""
    c_values, beta2_values = np.asarray(c_values), np.asarray(beta2_values)
    grid = [dict(big=c, small=1.0, period=3, betas=(0.0, b2), lr=1.0, **extra) for b2 in beta2_values for c in c_values]
    curve = [dict(big=c, small=1.0, period=3, betas=(0.0, 1 / (1 + c ** 2)), lr=1.0, **extra)
             for c in c_values[c_values > 2]]

    def compute():
        return [tail_mean(r.x) for r in run_online_many(name, steps, grid + curve)]

    tails = np.array(computed("online failure map", compute, profile, optimizer=name, steps=steps,
                              settings=grid + curve))
    return tails[:len(grid)].reshape(len(beta2_values), len(c_values)), tails[len(grid):]


def sensitivity(methods: dict, variants: dict[str, dict], base: dict, steps: int, profile: str) -> pd.DataFrame:
    """The iterate's :func:`tail_mean` on ``base``'s problem with one change at a time
    (``variants``: label → changed settings), one column per method."""
    def one(name: str, extra: dict) -> list[float]:
        settings = [base | extra | change for change in variants.values()]
        return computed("online sensitivity", lambda: [tail_mean(r.x) for r in run_online_many(name, steps, settings)],
                        profile, optimizer=name, steps=steps, settings=settings)

    return pd.DataFrame({label: one(name, extra) for label, (name, extra) in methods.items()}, index=list(variants))
