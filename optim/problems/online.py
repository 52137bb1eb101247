"""Reddi et al. (2018), §3: the online convex problem on which Adam fails to converge.

Linear losses f_t(x) = c_t·x on the domain F = [−1, 1] (projected after every step); the
optimum is x* = −1. Deterministic: c_t = C when t mod period = 1, else −1 (paper: C = 3,
period 3 in Theorem 1; the experiment of §5 uses c_t = 1010 every 101 steps, −10 otherwise,
i.e. ``big=1010, small=10, period=101``). Stochastic (Theorem 3): c_t = big with probability
p, else −small. Regret R_T = Σ f_t(x_t) − min_{x∈F} Σ f_t(x).

:func:`run_online` runs one copy; :func:`run_online_many` runs many settings of the
deterministic problem at once (one scalar per setting, one parameter group per distinct set
of optimizer hyperparameters), for maps and sensitivity studies; :func:`run_online_long` runs
the stochastic problem for millions of steps on many seeds at once, keeping running sums at
log-spaced steps instead of the whole trace (:class:`OnlineSums`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..optimizers.base import check_choice, check_range

KINDS = ("deterministic", "stochastic")
LR_DECAYS = ("sqrt", "none")


@dataclass(frozen=True)
class OnlineResult:
    x: np.ndarray            # x_t before each step, t = 1..T
    coefficients: np.ndarray  # c_t
    regret: np.ndarray        # R_t for t = 1..T

    @property
    def average_regret(self) -> np.ndarray:
        return self.regret / np.arange(1, len(self.regret) + 1)


def coefficients(steps: int, kind: str = "deterministic", big: float = 1010.0, small: float = 10.0,
                 period: int = 101, p: float | None = None, seed: int = 0, phase: int = 1) -> np.ndarray:
    """The sequence c_1..c_T of the counterexample. ``phase``: the deterministic large
    coefficient comes at the steps t with t mod period = phase (the paper: 1, the first step)."""
    check_choice("kind", kind, KINDS)
    check_range("steps", steps, 1)
    t = np.arange(1, int(steps) + 1)
    if kind == "deterministic":
        check_range("period", period, 2)
        check_range("phase", phase, 0, int(period) - 1)
        return np.where(t % int(period) == int(phase), big, -small).astype(float)
    p = 1.0 / period if p is None else p
    check_range("p", p, 0.0, 1.0, low_open=True, high_open=True)
    draws = np.random.default_rng(seed).random(int(steps)) < p
    return np.where(draws, big, -small).astype(float)


def run_online(optimizer: str, steps: int, kind: str = "deterministic", *, big: float = 1010.0,
               small: float = 10.0, period: int = 101, p: float | None = None, seed: int = 0,
               x0: float = 1.0, lr_decay: str = "sqrt", **hyperparameters) -> OnlineResult:
    """Run a registered optimizer on the counterexample, projecting onto [−1, 1].

    ``lr_decay="sqrt"`` uses α_t = α/√t, as in the paper's theorems and experiments.
    """
    from ..registry import build
    from ..schedules import inverse_sqrt

    check_choice("lr_decay", lr_decay, LR_DECAYS)
    cs = coefficients(steps, kind, big, small, period, p, seed)
    x = torch.tensor([float(x0)], dtype=torch.float64, requires_grad=True)
    opt = build(optimizer, [x], **hyperparameters)
    scheduler = inverse_sqrt(opt) if lr_decay == "sqrt" else None
    xs = np.empty(len(cs))
    for i, c in enumerate(cs):
        xs[i] = x.item()
        x.grad = torch.tensor([c], dtype=torch.float64)
        opt.step()
        with torch.no_grad():
            x.clamp_(-1.0, 1.0)
        if scheduler is not None:
            scheduler.step()
    return _result(xs, cs)


def _result(xs: np.ndarray, cs: np.ndarray) -> OnlineResult:
    losses = np.cumsum(cs * xs)
    best = -np.abs(np.cumsum(cs))  # min over [−1, 1] of x·Σc
    return OnlineResult(xs, cs, losses - best)


PROBLEM_KEYS = ("big", "small", "period", "phase")


def run_online_many(optimizer: str, steps: int, settings: list[dict], *, x0: float = 1.0) -> list[OnlineResult]:
    """The deterministic counterexample under many ``settings`` at once, the same numbers as
    :func:`run_online` for each (tested). A setting names problem keys (PROBLEM_KEYS, default
    as :func:`run_online`), ``lr_decay`` and the optimizer's hyperparameters; settings with
    the same hyperparameters share one parameter group, so a map over C costs one step per t."""
    from ..registry import build

    defaults = {k: inspect.signature(coefficients).parameters[k].default for k in PROBLEM_KEYS}
    problems, groups = [], {}
    for i, setting in enumerate(settings):
        problem = {k: setting.get(k, defaults[k]) for k in PROBLEM_KEYS}
        hyper = {k: v for k, v in setting.items() if k not in PROBLEM_KEYS}
        check_choice("lr_decay", hyper.setdefault("lr_decay", "sqrt"), LR_DECAYS)
        problems.append(coefficients(steps, "deterministic", **problem))
        key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in hyper.items()))
        groups.setdefault(key, []).append(i)
    members = list(groups.values())
    xs = [torch.full((len(m),), float(x0), dtype=torch.float64, requires_grad=True) for m in members]
    hypers = [dict(key) for key in groups]
    decays = [h.pop("lr_decay") for h in hypers]
    opt = build(optimizer, [{"params": [x], **h} for x, h in zip(xs, hypers)])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        opt, [(lambda k: (k + 1) ** -0.5) if d == "sqrt" else (lambda k: 1.0) for d in decays])
    cs = [torch.tensor(np.stack([problems[i] for i in m], axis=1)) for m in members]  # (T, members)
    trace = [np.empty((steps, len(m))) for m in members]
    for t in range(steps):
        for x, c, out in zip(xs, cs, trace):
            out[t] = x.detach().numpy()
            x.grad = c[t].clone()
        opt.step()
        with torch.no_grad():
            for x in xs:
                x.clamp_(-1.0, 1.0)
        scheduler.step()
    results: list[OnlineResult | None] = [None] * len(settings)
    for m, out in zip(members, trace):
        for j, i in enumerate(m):
            results[i] = _result(out[:, j].copy(), problems[i])
    return results


@dataclass(frozen=True)
class OnlineSums:
    """Running sums of one long stochastic run, read at log-spaced steps ``t`` (the last is T):
    Σ x_s, Σ c_s·x_s and Σ c_s over s ≤ t, and the problem's expected coefficient E[c] =
    p·big − (1 − p)·small. Everything the claims need follows from them (tested against
    :func:`run_online`'s full trace)."""
    t: np.ndarray
    sum_x: np.ndarray
    sum_loss: np.ndarray
    sum_c: np.ndarray
    drift: float

    @property
    def optimum(self) -> float:
        """x* of the expected loss E[c]·x on [−1, 1]."""
        return -1.0 if self.drift > 0 else 1.0

    @property
    def regret(self) -> np.ndarray:
        """R_t against the best fixed point in hindsight, as :attr:`OnlineResult.regret`: it
        carries the draws' noise, ±(big + small)·√(p·t) in Σ c, and can fall below zero."""
        return self.sum_loss + np.abs(self.sum_c)

    @property
    def expected_regret(self) -> np.ndarray:
        """Σ_s (F(x_s) − F(x*)) with F(x) = E[c]·x, the expected loss (Reddi et al., Theorem 3's
        setting): the regret with the draws' noise taken out (x_s depends only on c_1..c_{s−1}),
        never below zero."""
        return self.drift * self.sum_x + abs(self.drift) * self.t

    @property
    def window_x(self) -> np.ndarray:
        """Mean x_s over each window of steps since the previous read-out (the first: t = 1)."""
        return np.diff(self.sum_x, prepend=0.0) / np.diff(self.t, prepend=0)

    @property
    def window_gap(self) -> np.ndarray:
        """|mean x_s − x*| over each window of :attr:`window_x`."""
        return np.abs(self.window_x - self.optimum)

    def mean_x_since(self, since: float) -> float:
        """Mean x_s over the steps after the first read-out at or past ``since``."""
        i = int(np.searchsorted(self.t, since))
        if i >= len(self.t) - 1:
            raise ValueError(f"since={since!r} is invalid: expected a step before the last read-out {self.t[-2]}")
        return float((self.sum_x[-1] - self.sum_x[i]) / (self.t[-1] - self.t[i]))

    def readings(self) -> pd.DataFrame:
        """One row per read-out: t, the window's mean x and gap |x − x*|, and the average regret
        R_t/t, realized and expected."""
        return pd.DataFrame({"t": self.t, "x": self.window_x, "gap": self.window_gap,
                             "average regret": self.regret / self.t,
                             "expected average regret": self.expected_regret / self.t})

    def to_frame(self) -> pd.DataFrame:
        """The sums as columns (what a stored computation keeps); :meth:`from_frame` inverts it."""
        return pd.DataFrame({"t": self.t, "sum_x": self.sum_x, "sum_loss": self.sum_loss, "sum_c": self.sum_c,
                             "drift": self.drift})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> OnlineSums:
        frame = frame.sort_values("t")
        return cls(frame["t"].to_numpy(), frame["sum_x"].to_numpy(), frame["sum_loss"].to_numpy(),
                   frame["sum_c"].to_numpy(), float(frame["drift"].iloc[0]))


def readout_steps(steps: int, points: int) -> np.ndarray:
    """About ``points`` distinct steps from 1 to ``steps``, evenly spaced on a log scale."""
    check_range("steps", steps, 1)
    check_range("points", points, 2)
    return np.unique(np.geomspace(1, steps, points).round().astype(np.int64))


def run_online_long(optimizer: str, steps: int, seeds, *, big: float = 1010.0, small: float = 10.0,
                    p: float = 0.01, x0: float = 1.0, lr_decay: str = "sqrt", points: int = 200,
                    chunk: int = 100_000, **hyperparameters) -> dict[int, OnlineSums]:
    """The stochastic counterexample on every seed of ``seeds`` at once (one coordinate per seed,
    each with :func:`coefficients`' draws for that seed, so the numbers equal :func:`run_online`'s),
    for as many steps as a trend needs: the draws are made and the sums kept ``chunk`` steps at a
    time, so memory does not grow with ``steps``."""
    check_choice("lr_decay", lr_decay, LR_DECAYS)
    check_range("p", p, 0.0, 1.0, low_open=True, high_open=True)
    check_range("chunk", chunk, 1)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    readout = readout_steps(steps, points)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a step on a handful of numbers: a parallel region per step only waits for busy cores
    try:
        return _run_long(optimizer, steps, seeds, readout, big, small, p, x0, lr_decay, chunk, hyperparameters)
    finally:
        torch.set_num_threads(threads)


def _run_long(optimizer, steps, seeds, readout, big, small, p, x0, lr_decay, chunk, hyperparameters):
    """:func:`run_online_long`'s loop, its arguments checked."""
    from ..registry import build

    x = torch.full((len(seeds),), float(x0), dtype=torch.float64, requires_grad=True)
    opt = build(optimizer, [x], **hyperparameters)
    group = opt.param_groups[0]
    base_lr = group["lr"]
    rngs = [np.random.default_rng(seed) for seed in seeds]
    carry = np.zeros((3, len(seeds)))  # Σx, Σc·x, Σc so far
    sums = np.empty((3, len(readout), len(seeds)))
    for start in range(0, int(steps), chunk):
        n = min(chunk, int(steps) - start)
        cs = np.stack([np.where(rng.random(n) < p, big, -small) for rng in rngs], axis=1)
        grads = torch.from_numpy(cs)
        trace = torch.empty((n, len(seeds)), dtype=torch.float64)
        for i in range(n):
            trace[i] = x.detach()
            x.grad = grads[i].clone()
            opt.step()
            with torch.no_grad():
                x.clamp_(-1.0, 1.0)
            if lr_decay == "sqrt":  # schedules.inverse_sqrt's α/√t, without a scheduler's overhead per step
                group["lr"] = base_lr * (start + i + 2) ** -0.5
        xs = trace.numpy()
        running = carry[:, None, :] + np.cumsum(np.stack([xs, cs * xs, cs]), axis=1)  # (3, n, seeds)
        here = (readout > start) & (readout <= start + n)
        sums[:, here] = running[:, readout[here] - start - 1]
        carry = running[:, -1]
    drift = p * big - (1 - p) * small
    return {seed: OnlineSums(readout, sums[0, :, j], sums[1, :, j], sums[2, :, j], drift)
            for j, seed in enumerate(seeds)}


def log_slope(t: np.ndarray, values: np.ndarray, since: float) -> float:
    """Least-squares slope of log(values) against log(t) over the read-outs with t ≥ ``since``:
    a quantity falling as t^−a has slope −a."""
    keep = np.asarray(t) >= since
    if keep.sum() < 2 or (np.asarray(values)[keep] <= 0).any():
        raise ValueError(f"a log-log slope needs at least two positive values at t >= {since:g}; "
                         f"got {np.asarray(values)[keep]!r}")
    return float(np.polyfit(np.log(np.asarray(t)[keep]), np.log(np.asarray(values)[keep]), 1)[0])
