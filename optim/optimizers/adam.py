"""Adam (Kingma & Ba, 2015, Algorithm 1), with the AMSGrad and decoupled-decay variants.

One algorithm in three kernels serves :class:`Adam`, :class:`~optim.AdamW` and
:class:`~optim.AMSGrad`, as in ``torch.optim``: :func:`single_tensor_adam` (one parameter at a
time; it reads like the paper), :func:`multi_tensor_adam` (the same operations over all tensors
at once) and :func:`fused_adam` (torch's fused kernel); :class:`~optim.optimizers.base.PaperOptimizer`
picks one. They follow the operation order of ``torch.optim.Adam``, so results agree with it to
the last bit:

    m_t = β1 m_{t-1} + (1 − β1) g_t                      (Alg. 1, line 7)
    v_t = β2 v_{t-1} + (1 − β2) g_t²                     (line 8)
    θ_t = θ_{t-1} − α/(1 − β1ᵗ) · m_t / (√v_t/√(1 − β2ᵗ) + ε)   (lines 9–11, §2 "efficiency")

With ``amsgrad`` v_t is replaced by its running maximum (Reddi et al., 2018, Alg. 2).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from .base import PaperOptimizer, Record, check_adam_like, check_choice, is_dense, new_step


def single_tensor_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                       exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], steps: list[Tensor], *,
                       lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                       amsgrad: bool, decoupled: bool, bias_correction: bool = True) -> None:
    """One Adam step in place, one parameter at a time, as Algorithm 1 reads.
    ``decoupled`` selects AdamW's θ ← θ(1 − lr·λ) instead of L2 decay in the gradient."""
    for i, param in enumerate(params):
        grad, exp_avg, exp_avg_sq, step = grads[i], exp_avgs[i], exp_avg_sqs[i], steps[i]
        step += 1
        if weight_decay != 0:
            if decoupled:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(param, alpha=weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)                                     # line 7
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)       # line 8
        t = step.item()
        bc1 = 1 - beta1 ** t if bias_correction else 1.0                   # line 9
        bc2_sqrt = (1 - beta2 ** t) ** 0.5 if bias_correction else 1.0     # line 10
        if amsgrad:
            torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
            denom = (max_exp_avg_sqs[i].sqrt() / bc2_sqrt).add_(eps)
        else:
            denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
        param.addcdiv_(exp_avg, denom, value=-lr / bc1)                    # line 11


def multi_tensor_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                      exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], steps: list[Tensor], *,
                      lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                      amsgrad: bool, decoupled: bool, bias_correction: bool = True) -> None:
    """:func:`single_tensor_adam` as ``torch._foreach_*`` operations over all tensors at once."""
    torch._foreach_add_(steps, 1)
    if weight_decay != 0:
        if decoupled:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    counts = [s.item() for s in steps]
    bc1 = [1 - beta1 ** t if bias_correction else 1.0 for t in counts]
    bc2_sqrt = [(1 - beta2 ** t) ** 0.5 if bias_correction else 1.0 for t in counts]
    if amsgrad:
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        denom = torch._foreach_sqrt(max_exp_avg_sqs)
    else:
        denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bc2_sqrt)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, [-lr / b for b in bc1])


def fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *,
               lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled, bias_correction=True) -> None:
    """Call torch's own fused Adam/AdamW kernel (same mathematics, one kernel per device).
    The kernel keeps its step counters on the parameters' device and always corrects bias."""
    assert bias_correction, "torch's fused kernel always corrects the bias"
    by_device: dict[torch.device, list[int]] = {}
    for i, p in enumerate(params):
        by_device.setdefault(p.device, []).append(i)
    kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
    for idx in by_device.values():
        pick = lambda xs, idx=idx: [xs[i] for i in idx]
        device_steps = pick(steps)
        torch._foreach_add_(device_steps, 1)
        kernel(pick(params), pick(grads), pick(exp_avgs), pick(exp_avg_sqs),
               pick(max_exp_avg_sqs) if amsgrad else [], device_steps,
               amsgrad=amsgrad, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay,
               eps=eps, maximize=False, grad_scale=None, found_inf=None)


_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def fused_supported(params: list[Tensor], grads: list[Tensor] | None = None) -> bool:
    """True when torch's fused Adam kernel accepts every tensor of ``params``: a float on a CPU
    or CUDA device whose elements fill its memory without gaps, laid out like its gradient.
    The kernel walks each tensor's memory as one flat array, so on a strided view (a slice
    with a step) it would write between the view's elements."""
    grads = [None] * len(params) if grads is None else grads
    return all(p.device.type in ("cpu", "cuda") and p.dtype in _FUSED_DTYPES and is_dense(p)
               and (g is None or g.stride() == p.stride()) for p, g in zip(params, grads))


ADAM_KERNELS = {"single": single_tensor_adam, "multi": multi_tensor_adam, "fused": fused_adam}


class _AdamFamily(PaperOptimizer):
    """Shared constructor and update of :class:`Adam`, :class:`AdamW` and :class:`AMSGrad`."""

    decoupled_weight_decay = False

    def __init__(self, params, lr, betas, eps, weight_decay, amsgrad, bias_correction,
                 foreach, fused, maximize=False):
        check_adam_like(lr, betas, eps, weight_decay, foreach, maximize)
        check_choice("amsgrad", amsgrad, (True, False))
        check_choice("bias_correction", bias_correction, (True, False))
        check_choice("fused", fused, (None, True, False))
        if fused and foreach:
            raise ValueError("fused=True and foreach=True are mutually exclusive: choose one")
        if fused and not bias_correction:
            raise ValueError("fused=True needs bias_correction=True: torch's kernel always corrects")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, bias_correction=bias_correction, maximize=maximize,
                        foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    KERNELS = ADAM_KERNELS

    def _fused_applies(self, group, params) -> bool:
        grads = [p.grad for p in params]
        fused = group.get("fused")
        if fused is None:
            fused = group.get("foreach") is None and fused_supported(params, grads)
        if fused and not fused_supported(params, grads):
            raise RuntimeError("fused=True needs float parameters on a CPU or CUDA device, each filling its memory "
                               "without gaps and laid out like its gradient (not a strided view)")
        return bool(fused and group["bias_correction"])

    def _update(self, group, params, grads, states, path):
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        if path == "fused":
            for s, p in zip(states, params):
                if s["step"].device != p.device:  # fused kernels keep the step on the device
                    s["step"] = s["step"].to(p.device)
        self.KERNELS[path](
            params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
            [s["max_exp_avg_sq"] for s in states] if amsgrad else [], [s["step"] for s in states],
            lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            amsgrad=amsgrad, decoupled=self.decoupled_weight_decay, bias_correction=group["bias_correction"])


class Adam(_AdamFamily):
    """Adam (Kingma & Ba, 2015, Algorithm 1); L2 ``weight_decay`` is added to the gradient.

    Equal to ``torch.optim.Adam`` step for step. ``bias_correction=False`` drops the
    1/(1 − βᵗ) factors of Alg. 1 lines 9–10 (the ablation of the paper's §6.4). ``fused=None`` uses torch's fused kernel
    when every parameter supports it and ``foreach`` was not forced; ``fused=False`` keeps
    the multi-tensor (``foreach=True``/``None``) or single-tensor (``foreach=False``) path.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 bias_correction: bool = True, maximize: bool = False, foreach: bool | None = None,
                 fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, bias_correction,
                         foreach, fused, maximize)


class AdamW(_AdamFamily):
    """AdamW (Loshchilov & Hutter, 2019, Algorithm 2): decay decoupled from the gradient.

    θ_t = θ_{t-1}(1 − lr·λ) − lr · m̂_t/(√v̂_t + ε); equal to ``torch.optim.AdamW``. The
    paper's form θ ← θ − η_t(α·m̂/(√v̂+ε) + λ_paper·θ) is this optimizer with lr = α·η_t and
    weight_decay = λ_paper/α (a tested identity).
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, True, foreach, fused, maximize)


class AMSGrad(_AdamFamily):
    """AMSGrad (Reddi et al., 2018, Algorithm 2): Adam with v̂_t = max(v̂_{t-1}, v_t).

    ``bias_correction=True`` is ``torch.optim.Adam(amsgrad=True)``. ``bias_correction=False``
    is the paper's algorithm as written (constant α and β1):
    m = β1 m + (1−β1) g, v = β2 v + (1−β2) g², v̂ = max(v̂, v), θ ← θ − α m/(√v̂ + ε).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, bias_correction: bool = True, *,
                 maximize: bool = False, foreach: bool | None = None, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, True, bias_correction,
                         foreach, fused, maximize)


ADAM_PATHS = ("single", "multi", "fused")
RECORDS = (
    Record("adam", Adam, "adaptive", dict(lr=1e-2, weight_decay=0.1), ADAM_PATHS, (torch.optim.Adam, {})),
    Record("amsgrad", AMSGrad, "adaptive", dict(lr=1e-2), ADAM_PATHS, (partial(torch.optim.Adam, amsgrad=True), {})),
    Record("adamw", AdamW, "decoupled", dict(lr=1e-2, weight_decay=0.1), ADAM_PATHS, (torch.optim.AdamW, {})),
)
