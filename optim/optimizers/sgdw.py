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
from torch import Tensor

from .base import PaperOptimizer, Record, check_choice, check_range


def single_tensor_sgdw(params: list[Tensor], grads: list[Tensor], momentum_buffers: list[Tensor | None], *,
                       lr: float, momentum: float, weight_decay: float, nesterov: bool) -> None:
    """One SGDW step in place, one parameter at a time; a ``None`` buffer (the first step) is
    filled with the gradient, in place in ``momentum_buffers``."""
    for i, (param, grad) in enumerate(zip(params, grads)):
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)                        # decoupled decay
        if momentum != 0:
            buf = momentum_buffers[i]
            if buf is None:
                buf = momentum_buffers[i] = torch.clone(grad).detach()
            else:
                buf.mul_(momentum).add_(grad)                        # b ← μ b + g
            grad = grad.add(buf, alpha=momentum) if nesterov else buf
        param.add_(grad, alpha=-lr)


def multi_tensor_sgdw(params: list[Tensor], grads: list[Tensor], momentum_buffers: list[Tensor | None], *,
                      lr: float, momentum: float, weight_decay: float, nesterov: bool) -> None:
    """:func:`single_tensor_sgdw` as ``torch._foreach_*`` operations over all tensors at once."""
    if weight_decay != 0:
        torch._foreach_mul_(params, 1 - lr * weight_decay)
    if momentum != 0:
        fresh = [b is None for b in momentum_buffers]
        for i, (grad, new) in enumerate(zip(grads, fresh)):
            if new:
                momentum_buffers[i] = torch.clone(grad).detach()
        old = [b for b, new in zip(momentum_buffers, fresh) if not new]
        if old:
            torch._foreach_mul_(old, momentum)
            torch._foreach_add_(old, [g for g, new in zip(grads, fresh) if not new])
        grads = torch._foreach_add(grads, momentum_buffers, alpha=momentum) if nesterov else momentum_buffers
    torch._foreach_add_(params, grads, alpha=-lr)


class SGDW(PaperOptimizer):
    """SGD (+ momentum, + Nesterov) with decoupled weight decay."""

    def __init__(self, params, lr: float = 1e-2, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None):
        check_range("lr", lr, 0.0)
        check_range("momentum", momentum, 0.0, 1.0)
        check_range("weight_decay", weight_decay, 0.0)
        check_choice("nesterov", nesterov, (True, False))
        check_choice("maximize", maximize, (True, False))
        check_choice("foreach", foreach, (None, True, False))
        if nesterov and momentum <= 0:
            raise ValueError(f"nesterov=True needs momentum > 0, got momentum={momentum!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach))

    def _init_state(self, p, state, group):
        state["momentum_buffer"] = None

    KERNELS = {"single": single_tensor_sgdw, "multi": multi_tensor_sgdw}

    def _update(self, group, params, grads, states, path):
        buffers = [s["momentum_buffer"] for s in states]
        self.KERNELS[path](params, grads, buffers, lr=group["lr"], momentum=group["momentum"],
                           weight_decay=group["weight_decay"], nesterov=group["nesterov"])
        for state, buffer in zip(states, buffers):
            state["momentum_buffer"] = buffer


RECORDS = (Record("sgdw", SGDW, "decoupled", dict(lr=1e-2, momentum=0.9, weight_decay=0.1),
                  reference=(torch.optim.SGD, dict(weight_decay=0.0))),)  # without decay it is torch's SGD
