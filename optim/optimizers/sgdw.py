"""SGDW (Loshchilov & Hutter, 2019, Algorithm 1): SGD with momentum and decoupled decay.

    θ ← θ·(1 − lr·λ)                 (decay first, the torch.optim.AdamW convention)
    b ← μ b + g                       (b = g on the first step, as torch.optim.SGD)
    θ ← θ − lr·(g + μ b if nesterov else b)

The paper writes m_t = β1 m_{t-1} + η_t α g_t, θ_t = θ_{t-1} − m_t − η_t λ θ_{t-1}; with a
constant schedule that is this optimizer with lr = η α and weight_decay = λ/α (a tested
identity). With ``weight_decay=0`` it equals ``torch.optim.SGD``.
"""

from __future__ import annotations

import torch

from .base import PaperOptimizer, check_choice, check_range


class SGDW(PaperOptimizer):
    """SGD (+ momentum, + Nesterov) with decoupled weight decay."""

    def __init__(self, params, lr: float = 1e-2, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, *, foreach: bool | None = None):
        check_range("lr", lr, 0.0)
        check_range("momentum", momentum, 0.0, 1.0)
        check_range("weight_decay", weight_decay, 0.0)
        check_choice("nesterov", nesterov, (True, False))
        check_choice("foreach", foreach, (None, True, False))
        if nesterov and momentum <= 0:
            raise ValueError(f"nesterov=True needs momentum > 0, got momentum={momentum!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov, foreach=foreach))

    def _init_state(self, p, state, group):
        state["momentum_buffer"] = None

    def _update(self, group, params, grads, states, foreach):
        lr, mom, wd, nesterov = group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]
        if wd != 0:
            if foreach:
                torch._foreach_mul_(params, 1 - lr * wd)
            else:
                for p in params:
                    p.mul_(1 - lr * wd)
        if mom != 0:
            fresh = [s["momentum_buffer"] is None for s in states]
            for s, g, new in zip(states, grads, fresh):
                if new:
                    s["momentum_buffer"] = torch.clone(g).detach()
            bufs = [s["momentum_buffer"] for s in states]
            old = [b for b, new in zip(bufs, fresh) if not new]
            old_grads = [g for g, new in zip(grads, fresh) if not new]
            if foreach and old:
                torch._foreach_mul_(old, mom)
                torch._foreach_add_(old, old_grads)
            else:
                for b, g in zip(old, old_grads):
                    b.mul_(mom).add_(g)
            if nesterov:
                grads = (torch._foreach_add(grads, bufs, alpha=mom) if foreach
                         else [g.add(b, alpha=mom) for g, b in zip(grads, bufs)])
            else:
                grads = bufs
        if foreach:
            torch._foreach_add_(params, grads, alpha=-lr)
        else:
            for p, g in zip(params, grads):
                p.add_(g, alpha=-lr)
