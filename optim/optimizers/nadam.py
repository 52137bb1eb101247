"""Nadam (Dozat, 2016, Algorithm 2): Adam with Nesterov momentum and a momentum schedule.

    μ_t = β1 (1 − ½·0.96^(t·ψ))                     (ψ = ``momentum_decay``, 0.004 = 1/250)
    m_t = β m_{t-1} + (1 − β) g_t                    (β = β1 in torch and Keras; β = μ_t in the paper)
    n_t = β2 n_{t-1} + (1 − β2) g_t²,   n̂_t = n_t / (1 − β2ᵗ)
    θ_t = θ_{t-1} − α [ (1 − μ_t) g_t / (1 − Π_{i≤t} μ_i) + μ_{t+1} m_t / (1 − Π_{i≤t+1} μ_i) ]
                       / (√n̂_t + ε)

``variant="torch"`` (default) equals ``torch.optim.NAdam``; ``variant="dozat"`` uses the
scheduled μ_t in the first-moment average, as Algorithm 2 of the paper writes it.

``variant="tensorflow"`` is the schedule-free Nesterov-Adam of TensorFlow's
``ApplyAdam(use_nesterov=True)`` (``tf.contrib.opt.NadamOptimizer``, Keras' ``Nadam`` before
2.3 aside) and of the NAdamW baselines of later benchmarks: μ_t = β1 throughout and one
bias correction for both terms,

    θ_t = θ_{t-1} − α [ β1 m_t + (1 − β1) g_t ] / (1 − β1ᵗ) / (√n̂_t + ε)

(TensorFlow adds its ε to √n_t rather than √n̂_t: the same update with ε scaled by √(1 − β2ᵗ)).
``momentum_decay`` is ignored by this variant.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import PaperOptimizer, Record, advance, check_adam_like, check_choice, check_range, new_step, scalar_dtype

VARIANTS = ("torch", "dozat", "tensorflow")


def momentum_schedule(t: float, beta1: float, momentum_decay: float) -> float:
    """Dozat's warming momentum μ_t = β1 (1 − ½·0.96^(t·ψ))."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


def single_tensor_nadam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                        exp_avg_sqs: list[Tensor], *, grad_coefs: list[float], avg_coefs: list[float],
                        ema_weights: list[float], bc2_sqrts: list[float], beta2: float, eps: float,
                        weight_decay: float, scratch=torch.empty_like) -> None:
    """One Nadam step in place, one parameter at a time. The per-tensor scalars come from
    :meth:`Nadam._update`: ``grad_coefs`` = −α(1 − μ_t)/(1 − Π_{i≤t} μ_i), ``avg_coefs`` =
    −α μ_{t+1}/(1 − Π_{i≤t+1} μ_i), ``ema_weights`` the first moment's 1 − β and ``bc2_sqrts``
    = √(1 − β2ᵗ); ``scratch(t)`` gives a temporary shaped like ``t``."""
    for i, param in enumerate(params):
        grad = grads[i] if weight_decay == 0 else grads[i].add(param, alpha=weight_decay)
        exp_avgs[i].lerp_(grad, ema_weights[i])                                  # m_t
        exp_avg_sqs[i].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)         # n_t
        denom = torch.sqrt(exp_avg_sqs[i], out=scratch(param))
        denom.div_(bc2_sqrts[i]).add_(eps)                                      # √n̂_t + ε
        param.addcdiv_(grad, denom, value=grad_coefs[i])                        # the gradient's share
        param.addcdiv_(exp_avgs[i], denom, value=avg_coefs[i])                  # the momentum's share


def multi_tensor_nadam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                       exp_avg_sqs: list[Tensor], *, grad_coefs: list[float], avg_coefs: list[float],
                       ema_weights: list[float], bc2_sqrts: list[float], beta2: float, eps: float,
                       weight_decay: float) -> None:
    """:func:`single_tensor_nadam` as ``torch._foreach_*`` operations over all tensors at once."""
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if len(set(ema_weights)) == 1:
        torch._foreach_lerp_(exp_avgs, grads, ema_weights[0])
    else:
        for exp_avg, grad, w in zip(exp_avgs, grads, ema_weights):
            exp_avg.lerp_(grad, w)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bc2_sqrts)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, grads, denom, grad_coefs)
    torch._foreach_addcdiv_(params, exp_avgs, denom, avg_coefs)


class Nadam(PaperOptimizer):
    """Nesterov-accelerated Adam; see the module docstring for the three variants."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 variant: str = "torch", *, maximize: bool = False, foreach: bool | None = None):
        check_adam_like(lr, betas, eps, weight_decay, foreach, maximize)
        check_range("momentum_decay", momentum_decay, 0.0)
        check_choice("variant", variant, VARIANTS)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      variant=variant, maximize=maximize, foreach=foreach))

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        # Π μ_i in torch.optim.NAdam's dtype: float64 under a float64 default dtype
        state["mu_product"] = torch.tensor(1.0, dtype=scalar_dtype())
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    KERNELS = {"single": single_tensor_nadam, "multi": multi_tensor_nadam}

    def _update(self, group, params, grads, states, path):
        """The step's scalars, for every tensor at once (one multi-tensor op per counter),
        then the update by the chosen kernel."""
        beta1, beta2 = group["betas"]
        lr, eps, wd, psi = group["lr"], group["eps"], group["weight_decay"], group["momentum_decay"]
        ts = advance([s["step"] for s in states])
        mus = [momentum_schedule(t, beta1, psi) for t in ts]
        mu_nexts = [momentum_schedule(t + 1, beta1, psi) for t in ts]
        prods = advance([s["mu_product"] for s in states], mus, multiply=True)
        if group["variant"] == "tensorflow":  # constant μ = β1, one correction 1/(1 − β1ᵗ)
            grad_coefs = [-lr * (1.0 - beta1) / (1.0 - beta1 ** t) for t in ts]
            avg_coefs = [-lr * beta1 / (1.0 - beta1 ** t) for t in ts]
        else:
            grad_coefs = [-lr * (1.0 - mu) / (1.0 - prod) for mu, prod in zip(mus, prods)]
            avg_coefs = [-lr * mu_next / (1.0 - prod * mu_next) for mu_next, prod in zip(mu_nexts, prods)]
        ema_weights = [1 - mu for mu in mus] if group["variant"] == "dozat" else [1 - beta1] * len(ts)
        bc2_sqrts = [(1 - beta2 ** t) ** 0.5 for t in ts]
        scalars = dict(grad_coefs=grad_coefs, avg_coefs=avg_coefs, ema_weights=ema_weights, bc2_sqrts=bc2_sqrts,
                       beta2=beta2, eps=eps, weight_decay=wd, **self._buffers_for(path))
        self.KERNELS[path](params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                           **scalars)


RECORDS = (Record("nadam", Nadam, "adaptive", dict(lr=1e-2), reference=(torch.optim.NAdam, {})),)
