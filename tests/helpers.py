"""Shared test helpers: reproducible parameter sets and gradient streams."""

from __future__ import annotations

import torch

SHAPES = [(7,), (5, 3), (4, 3, 3, 2), (1,)]


def make_params(dtype=torch.float32, seed=0, shapes=SHAPES):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=dtype).requires_grad_(True) for s in shapes]


def clone_params(params):
    return [p.detach().clone().requires_grad_(True) for p in params]


def set_grads(params, step, seed=1):
    """A gradient that depends on the parameter (g = 2·w·p + noise), so dynamics matter."""
    g = torch.Generator().manual_seed(seed * 100_003 + step)
    for i, p in enumerate(params):
        noise = torch.randn(p.shape, generator=g, dtype=p.dtype)
        p.grad = (2.0 * (i + 1) * p.detach() + noise).to(p.dtype)


def run_steps(opt, params, steps, seed=1, scheduler=None):
    for t in range(steps):
        set_grads(params, t, seed)
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return [p.detach().clone() for p in params]
