"""AdaMax (Kingma & Ba, 2015, Algorithm 2): Adam with the L∞ norm of past gradients.

    m_t = β1 m_{t-1} + (1 − β1) g_t
    u_t = max(β2 u_{t-1}, |g_t| + ε)      (ε inside the max, as in torch.optim.Adamax)
    θ_t = θ_{t-1} − α/(1 − β1ᵗ) · m_t / u_t
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import PaperOptimizer, Record, check_adam_like, new_step


def single_tensor_adamax(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                         exp_infs: list[Tensor], steps: list[Tensor], *, lr: float, beta1: float, beta2: float,
                         eps: float, weight_decay: float) -> None:
    """One AdaMax step in place, one parameter at a time (Algorithm 2)."""
    for param, grad, exp_avg, exp_inf, step in zip(params, grads, exp_avgs, exp_infs, steps):
        step += 1
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)                                          # m_t
        torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)  # u_t
        param.addcdiv_(exp_avg, exp_inf, value=-lr / (1 - beta1 ** step.item()))


def multi_tensor_adamax(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                        exp_infs: list[Tensor], steps: list[Tensor], *, lr: float, beta1: float, beta2: float,
                        eps: float, weight_decay: float) -> None:
    """:func:`single_tensor_adamax` as ``torch._foreach_*`` operations over all tensors at once."""
    torch._foreach_add_(steps, 1)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_infs, beta2)
    abs_grads = torch._foreach_abs(grads)
    torch._foreach_add_(abs_grads, eps)
    torch._foreach_maximum_(exp_infs, abs_grads)
    step_sizes = [-lr / (1 - beta1 ** s.item()) for s in steps]
    torch._foreach_addcdiv_(params, exp_avgs, exp_infs, step_sizes)


class AdaMax(PaperOptimizer):
    """AdaMax; equal to ``torch.optim.Adamax`` step for step (L2 decay added to the gradient)."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False,
                 foreach: bool | None = None):
        check_adam_like(lr, betas, eps, weight_decay, foreach, maximize)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize, foreach=foreach))

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_inf"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    KERNELS = {"single": single_tensor_adamax, "multi": multi_tensor_adamax}

    def _update(self, group, params, grads, states, path):
        beta1, beta2 = group["betas"]
        self.KERNELS[path](params, grads, [s["exp_avg"] for s in states], [s["exp_inf"] for s in states],
                           [s["step"] for s in states], lr=group["lr"], beta1=beta1, beta2=beta2,
                           eps=group["eps"], weight_decay=group["weight_decay"])


RECORDS = (Record("adamax", AdaMax, "adaptive", dict(lr=1e-2, weight_decay=0.1), reference=(torch.optim.Adamax, {})),)
