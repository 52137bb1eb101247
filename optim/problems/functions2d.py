"""2-D test functions with exact gradients, and a trajectory runner.

Each function takes a tensor ``xy`` of shape (..., 2) and returns f of shape (...), so it
works on a single point (for autograd) and on a meshgrid (for contour plots).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def ackley(xy: Tensor) -> Tensor:
    """Ackley (1987): −20·exp(−0.2√(½(x²+y²))) − exp(½(cos 2πx + cos 2πy)) + e + 20; min 0 at (0, 0)."""
    x, y = xy[..., 0], xy[..., 1]
    r = torch.sqrt(0.5 * (x ** 2 + y ** 2) + 1e-30)  # tiny offset keeps the gradient finite at 0
    return (-20.0 * torch.exp(-0.2 * r) - torch.exp(0.5 * (torch.cos(2 * math.pi * x)
            + torch.cos(2 * math.pi * y))) + math.e + 20.0)


def rosenbrock(xy: Tensor) -> Tensor:
    """Rosenbrock: (1 − x)² + 100 (y − x²)²; min 0 at (1, 1)."""
    x, y = xy[..., 0], xy[..., 1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def beale(xy: Tensor) -> Tensor:
    """Beale: (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²; min 0 at (3, 0.5)."""
    x, y = xy[..., 0], xy[..., 1]
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
            + (2.625 - x + x * y ** 3) ** 2)


def quadratic(xy: Tensor) -> Tensor:
    """An ill-conditioned bowl: ½(x² + 10 y²); min 0 at (0, 0)."""
    x, y = xy[..., 0], xy[..., 1]
    return 0.5 * (x ** 2 + 10 * y ** 2)


@dataclass(frozen=True)
class Function2D:
    name: str
    f: Callable[[Tensor], Tensor]
    minimum: tuple[float, float]
    start: tuple[float, float]
    bounds: tuple[tuple[float, float], tuple[float, float]]

    def __call__(self, xy: Tensor) -> Tensor:
        return self.f(xy)


FUNCTIONS: dict[str, Function2D] = {
    "ackley": Function2D("ackley", ackley, (0.0, 0.0), (-2.0, -2.0), ((-4, 4), (-4, 4))),
    "rosenbrock": Function2D("rosenbrock", rosenbrock, (1.0, 1.0), (-1.5, 2.0), ((-2, 2), (-1, 3))),
    "beale": Function2D("beale", beale, (3.0, 0.5), (1.0, 1.5), ((-4.5, 4.5), (-4.5, 4.5))),
    "quadratic": Function2D("quadratic", quadratic, (0.0, 0.0), (-3.0, 2.0), ((-4, 4), (-3, 3))),
}


def get_function(name: str) -> Function2D:
    if name not in FUNCTIONS:
        raise ValueError(f"unknown 2-D function {name!r}; valid names: {', '.join(FUNCTIONS)}")
    return FUNCTIONS[name]


def gradient(f: Callable[[Tensor], Tensor], xy: Tensor) -> Tensor:
    """Exact gradient of ``f`` at ``xy`` by autograd."""
    xy = xy.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(xy), xy)
    return g


def central_difference(f: Callable[[np.ndarray], float], xy: np.ndarray, h: float = 1e-5,
                       precedence_bug: bool = False) -> np.ndarray:
    """Numerical gradient (f(x+h) − f(x−h)) / 2h, per coordinate.

    ``precedence_bug=True`` evaluates ``f(x+h) - f(x-h) / (2*h)`` as a blog post wrote it:
    division binds first, so the "gradient" is f(x+h) − f(x−h)/(2h).
    """
    grad = np.zeros_like(xy, dtype=float)
    for i in range(xy.size):
        e = np.zeros_like(xy, dtype=float)
        e[i] = h
        if precedence_bug:
            grad[i] = f(xy + e) - f(xy - e) / (2 * h)
        else:
            grad[i] = (f(xy + e) - f(xy - e)) / (2 * h)
    return grad


def trajectory(function: str | Function2D, optimizer: str, steps: int,
               start: tuple[float, float] | None = None, **hyperparameters) -> np.ndarray:
    """Positions (steps + 1, 2) of ``optimizer`` (a registry name) minimizing a 2-D function.

    Stops early (rows filled with NaN) if the iterate becomes non-finite.
    """
    from ..registry import build

    fn = get_function(function) if isinstance(function, str) else function
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps={steps!r} is invalid: expected a positive integer")
    xy = torch.tensor(start if start is not None else fn.start, dtype=torch.float64,
                      requires_grad=True)
    opt = build(optimizer, [xy], **hyperparameters)
    path = np.full((int(steps) + 1, 2), np.nan)
    path[0] = xy.detach().numpy()
    for t in range(1, int(steps) + 1):
        opt.zero_grad()
        fn(xy).backward()
        opt.step()
        point = xy.detach().numpy()
        if not np.isfinite(point).all():
            break
        path[t] = point
    return path



def numerical_momentum_descent(function: str | Function2D, lr: float, momentum: float, steps: int,
                               start: tuple[float, float] | None = None, precedence_bug: bool = False,
                               tol: float = 1e-3, escape: float = 1e6) -> dict:
    """Heavy-ball descent v ← μ·v + ĝ(x), x ← x − η·v on a 2-D function, with the
    :func:`central_difference` gradient ĝ (μ = 0: plain gradient descent), as the blog
    experiment of the testbed chapter runs it.

    Stops at the first step where f(x) < ``tol`` ("converged") or x is non-finite or
    |x| > ``escape`` in a coordinate ("escaped"), else after ``steps`` ("stalled"). Returns
    ``outcome``, ``steps`` (taken), ``final_f`` (NaN when escaped) and ``final_x`` (max |x|).
    """
    fn = get_function(function) if isinstance(function, str) else function
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps={steps!r} is invalid: expected a positive integer")

    def f(xy: np.ndarray) -> float:
        return fn(torch.tensor(xy, dtype=torch.float64)).item()

    x = np.array(start if start is not None else fn.start, dtype=float)
    v = np.zeros(2)
    for t in range(1, int(steps) + 1):
        v = momentum * v + central_difference(f, x, precedence_bug=precedence_bug)
        x = x - lr * v
        if not np.isfinite(x).all() or np.abs(x).max() > escape:
            return dict(outcome="escaped", steps=t, final_f=math.nan, final_x=float(np.abs(x).max()))
        if f(x) < tol:
            return dict(outcome="converged", steps=t, final_f=f(x), final_x=float(np.abs(x).max()))
    return dict(outcome="stalled", steps=int(steps), final_f=f(x), final_x=float(np.abs(x).max()))
