"""Reddi et al. (2018), §3: the online convex problem on which Adam fails to converge.

Linear losses f_t(x) = c_t·x on the domain F = [−1, 1] (projected after every step); the
optimum is x* = −1. Deterministic: c_t = C when t mod period = 1, else −1 (paper: C = 3,
period 3 in Theorem 1; the experiment of §5 uses c_t = 1010 every 101 steps, −10 otherwise,
i.e. ``big=1010, small=10, period=101``). Stochastic (Theorem 3): c_t = big with probability
p, else −small. Regret R_T = Σ f_t(x_t) − min_{x∈F} Σ f_t(x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..optimizers._base import check_choice, check_range

KINDS = ("deterministic", "stochastic")


@dataclass(frozen=True)
class OnlineResult:
    x: np.ndarray            # x_t before each step, t = 1..T
    coefficients: np.ndarray  # c_t
    regret: np.ndarray        # R_t for t = 1..T

    @property
    def average_regret(self) -> np.ndarray:
        return self.regret / np.arange(1, len(self.regret) + 1)


def coefficients(steps: int, kind: str = "deterministic", big: float = 1010.0, small: float = 10.0,
                 period: int = 101, p: float | None = None, seed: int = 0) -> np.ndarray:
    """The sequence c_1..c_T of the counterexample."""
    check_choice("kind", kind, KINDS)
    check_range("steps", steps, 1)
    t = np.arange(1, int(steps) + 1)
    if kind == "deterministic":
        check_range("period", period, 2)
        return np.where(t % int(period) == 1, big, -small).astype(float)
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

    check_choice("lr_decay", lr_decay, ("sqrt", "none"))
    cs = coefficients(steps, kind, big, small, period, p, seed)
    x = torch.tensor([float(x0)], dtype=torch.float64, requires_grad=True)
    opt = build(optimizer, [x], **hyperparameters)
    scheduler = (torch.optim.lr_scheduler.LambdaLR(opt, lambda k: (k + 1) ** -0.5)
                 if lr_decay == "sqrt" else None)
    xs = np.empty(len(cs))
    for i, c in enumerate(cs):
        xs[i] = x.item()
        x.grad = torch.tensor([c], dtype=torch.float64)
        opt.step()
        with torch.no_grad():
            x.clamp_(-1.0, 1.0)
        if scheduler is not None:
            scheduler.step()
    losses = np.cumsum(cs * xs)
    best = -np.abs(np.cumsum(cs))  # min over [−1, 1] of x·Σc
    return OnlineResult(xs, cs, losses - best)
