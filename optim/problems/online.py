"""Reddi et al. (2018), §3: the online convex problem on which Adam fails to converge.

Linear losses f_t(x) = c_t·x on the domain F = [−1, 1] (projected after every step); the
optimum is x* = −1. Deterministic: c_t = C when t mod period = 1, else −1 (paper: C = 3,
period 3 in Theorem 1; the experiment of §5 uses c_t = 1010 every 101 steps, −10 otherwise,
i.e. ``big=1010, small=10, period=101``). Stochastic (Theorem 3): c_t = big with probability
p, else −small. Regret R_T = Σ f_t(x_t) − min_{x∈F} Σ f_t(x).

:func:`run_online` runs one copy; :func:`run_online_many` runs many settings of the
deterministic problem at once (one scalar per setting, one parameter group per distinct set
of optimizer hyperparameters), for maps and sensitivity studies.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
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
