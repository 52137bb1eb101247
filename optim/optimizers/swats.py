"""SWATS (Keskar & Socher, 2017, Algorithm 1): start with Adam, switch to SGD.

Adam phase, step k (ε added to √a as in the paper):

    m_k = β1 m + (1 − β1) g,   a_k = β2 a + (1 − β2) g²
    p_k = −α · √(1 − β2ᵏ)/(1 − β1ᵏ) · m_k/(√a_k + ε),   θ ← θ + p_k
    if pᵀg ≠ 0:  γ_k = pᵀp / (−pᵀg),  λ_k = β2 λ + (1 − β2) γ_k,  Λ = λ_k/(1 − β2ᵏ)
                 switch to SGD with rate Λ when k > 1 and |Λ − γ_k| < switch_eps
                 (and Λ > 0, see below)

SGD phase:  v ← β1 v + g;  θ ← θ − (1 − β1)·Λ·v  (Nesterov: v replaced by g + β1 v).

Granularity: by default (``granularity="tensor"``) the switch and Λ are **per tensor** (each
layer's weight or bias). The paper projects the step of one "variable" at a time; a tensor
is the natural variable of a PyTorch model, and a per-tensor decision keeps one layer's noisy
estimate from holding back (or prematurely switching) the others. ``granularity="model"``
treats every tensor of a parameter group as one vector: one γ_k from the summed products pᵀp
and pᵀg, one Λ, and one switch for all of them (the paper's reading when the whole model is
the variable). ``opt.phase(p)`` and ``opt.sgd_lr(p)`` report the phase and Λ.

A learning-rate schedule scales Λ too: the SGD phase steps with Λ·α_t/α_switch, where α_t is
the group's current ``lr`` and α_switch its value at the switch (the paper decays both phases'
rates by the same factor). Under a constant ``lr`` the factor is 1.

The paper's switch test has no guard against a negative estimate Λ: a large gradient followed
by a smaller one of opposite sign at a small step size gives γ_k < 0, and SGD with a negative
rate would climb the loss. The public implementations switch only when Λ > 0, and so does this
one by default; ``require_positive_rate=False`` is the test exactly as the paper writes it.

The momentum buffer is updated out of place with respect to the step: a popular
implementation scales it in place by (1 − β1) and so settles at ≈0.11·Λ·g per step for a
constant gradient instead of Λ·g (see :func:`buggy_sgd_phase_step`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .adam import fused_supported
from .base import PaperOptimizer, Record, advance, check_adam_like, check_choice, check_range, new_step


def buggy_sgd_phase_step(param: Tensor, grad: Tensor, state: dict, lr: float, beta1: float,
                         nesterov: bool = False, key: str = "momentum_buffer") -> None:
    """The SGD phase of a widely copied SWATS implementation (Mrpatekful/swats), kept to show its bug.

    First SGD step: the buffer starts as a copy of g, and ``grad.mul_(1 - beta1)`` scales the
    caller's gradient tensor (``p.grad``) in place; the step is (1 − β1)·Λ·g. Later steps:
    ``grad = buf`` aliases the momentum buffer, so ``grad.mul_(1 - beta1)`` shrinks the buffer
    itself, b ← (β1 b + g)(1 − β1), with fixed point b = (1−β1)/(1−β1(1−β1))·g ≈ 0.11·g.
    """
    if key not in state:
        buf = state[key] = torch.clone(grad).detach()
    else:
        buf = state[key]
        buf.mul_(beta1).add_(grad)
        grad = buf
    grad.mul_(1 - beta1)
    if nesterov:
        grad.add_(buf, alpha=beta1)
    param.add_(grad, alpha=-lr)


def single_tensor_swats_sgd(params: list[Tensor], grads: list[Tensor], momentum_buffers: list[Tensor], *,
                            rates: list[float], beta1: float, nesterov: bool) -> None:
    """The SGD phase, one parameter at a time: v ← β1 v + g; θ ← θ − (1 − β1)·Λ·v, with
    ``rates`` the (1 − β1)·Λ of each tensor (Nesterov: v replaced by g + β1 v)."""
    for p, g, v, rate in zip(params, grads, momentum_buffers, rates):
        v.mul_(beta1).add_(g)
        p.add_(g.add(v, alpha=beta1) if nesterov else v, alpha=-rate)


def multi_tensor_swats_sgd(params: list[Tensor], grads: list[Tensor], momentum_buffers: list[Tensor], *,
                           rates: list[float], beta1: float, nesterov: bool) -> None:
    """:func:`single_tensor_swats_sgd` with ``torch._foreach_*`` operations for the buffers."""
    torch._foreach_mul_(momentum_buffers, beta1)
    torch._foreach_add_(momentum_buffers, grads)
    directions = torch._foreach_add(grads, momentum_buffers, alpha=beta1) if nesterov else momentum_buffers
    for p, d, rate in zip(params, directions, rates):  # per-tensor rates Λ
        p.add_(d, alpha=-rate)


def single_tensor_swats_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                             exp_avg_sqs: list[Tensor], steps: list[Tensor], ks: list[float], *, lr: float,
                             beta1: float, beta2: float, eps: float, scratch=torch.empty_like) -> list[Tensor]:
    """The Adam phase, one parameter at a time: θ ← θ + p_k with the paper's step
    p_k = −α·√(1 − β2ᵏ)/(1 − β1ᵏ)·m_k/(√a_k + ε) (``steps`` already advanced to ``ks``);
    returns [pᵀp, pᵀg] for every tensor, for the switch test. Where torch's fused Adam kernel
    takes the tensor it computes p_k (see :func:`_fused_paper_step`, one pass over memory
    instead of six); the three lines below it are the same step as the paper writes it."""
    dots = []
    for p, g, m, a, step, k in zip(params, grads, exp_avgs, exp_avg_sqs, steps, ks):
        move = scratch(p).zero_()
        if fused_supported([p], [g]):
            _fused_paper_step([move], [g], [m], [a], [step], [k], lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        else:
            m.lerp_(g, 1 - beta1)
            a.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            torch.div(m, a.sqrt().add_(eps), out=move).mul_(-lr * (1 - beta2 ** k) ** 0.5 / (1 - beta1 ** k))
        p.add_(move)
        flat = move.flatten()
        dots += [torch.dot(flat, flat), torch.dot(flat, g.flatten())]
    return dots


def _fused_paper_step(moves: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor], exp_avg_sqs: list[Tensor],
                      steps: list[Tensor], ks: list[float], *, lr: float, beta1: float, beta2: float,
                      eps: float) -> None:
    """moves ← p_k (zeroed buffers in), m and a updated, by torch's fused Adam kernel. It
    computes θ − α/(1−β1ᵏ)·m/(√a/√(1−β2ᵏ) + ε'); with ε' = ε/√(1−β2ᵏ) that is exactly the
    paper's p_k, so run on zeroed buffers instead of θ it leaves p_k there."""
    eps_primes = [eps / (1 - beta2 ** k) ** 0.5 for k in ks]
    for eps_prime in dict.fromkeys(eps_primes):
        idx = [i for i, e in enumerate(eps_primes) if e == eps_prime]
        pick = lambda xs, idx=idx: [xs[i] for i in idx]
        # The kernel reads the (already advanced) counters where it runs: on an
        # accelerator it needs them there; on a CPU .to() returns them unchanged.
        device_steps = [t.to(move.device) for t, move in zip(pick(steps), pick(moves))]
        torch._fused_adam_(pick(moves), pick(grads), pick(exp_avgs), pick(exp_avg_sqs), [], device_steps,
                           eps=eps_prime, amsgrad=False, lr=lr, beta1=beta1, beta2=beta2, weight_decay=0.0,
                           maximize=False, grad_scale=None, found_inf=None)


def multi_tensor_swats_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                            exp_avg_sqs: list[Tensor], steps: list[Tensor], ks: list[float], *, lr: float,
                            beta1: float, beta2: float, eps: float) -> list[Tensor]:
    """:func:`single_tensor_swats_adam` over all tensors at once (the fused kernel where it
    takes them, ``torch._foreach_*`` operations elsewhere)."""
    moves = [torch.zeros_like(p) for p in params]
    if fused_supported(params, grads):
        _fused_paper_step(moves, grads, exp_avgs, exp_avg_sqs, steps, ks, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    else:
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(moves, exp_avgs, denom,
                                [-lr * (1 - beta2 ** k) ** 0.5 / (1 - beta1 ** k) for k in ks])
    torch._foreach_add_(params, moves)
    return [torch.dot(u.flatten(), x.flatten()) for u, g in zip(moves, grads) for x in (u, g)]


SGD_PHASE_KERNELS = {"single": single_tensor_swats_sgd, "multi": multi_tensor_swats_sgd}
ADAM_PHASE_KERNELS = {"single": single_tensor_swats_adam, "multi": multi_tensor_swats_adam}


GRANULARITIES = ("tensor", "model")


class SWATS(PaperOptimizer):
    """Switches from Adam to SGD when the projected SGD rate estimate Λ settles."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, switch_eps: float = 1e-9, weight_decay: float = 0.0,
                 nesterov: bool = False, require_positive_rate: bool = True, granularity: str = "tensor", *,
                 maximize: bool = False, foreach: bool | None = None):
        check_adam_like(lr, betas, eps, weight_decay, foreach, maximize)
        check_range("switch_eps", switch_eps, 0.0)
        check_choice("nesterov", nesterov, (True, False))
        check_choice("require_positive_rate", require_positive_rate, (True, False))
        check_choice("granularity", granularity, GRANULARITIES)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, switch_eps=switch_eps,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      require_positive_rate=require_positive_rate, granularity=granularity,
                                      maximize=maximize, foreach=foreach))

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:  # optimizers saved before the option existed
            group.setdefault("granularity", "tensor")

    def phase(self, p: Tensor) -> str:
        """``"adam"`` or ``"sgd"``: the phase parameter ``p`` is in."""
        return "sgd" if p in self.state and self.state[p].get("in_sgd") else "adam"

    def sgd_lr(self, p: Tensor) -> float | None:
        """The SGD learning rate Λ chosen at the switch, or None while still in Adam."""
        return self.state[p].get("sgd_lr") if p in self.state else None

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["in_sgd"] = False  # a bool: load_state_dict would mangle a string
        state["sgd_lr"] = None
        state["lr_ema"] = 0.0
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update(self, group, params, grads, states, path):
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        if wd != 0:
            grads = (torch._foreach_add(grads, params, alpha=wd) if path == "multi"
                     else [g.add(p, alpha=wd) for g, p in zip(grads, params)])
        sgd = [i for i, s in enumerate(states) if s["in_sgd"]]
        adam = [i for i, s in enumerate(states) if not s["in_sgd"]]
        if sgd:
            self._sgd_phase([params[i] for i in sgd], [grads[i] for i in sgd],
                            [states[i] for i in sgd], beta1, group["nesterov"], path, lr)
        if adam:
            self._adam_phase([params[i] for i in adam], [grads[i] for i in adam],
                             [states[i] for i in adam], lr, beta1, beta2, eps,
                             group["switch_eps"], path, group["require_positive_rate"],
                             group.get("granularity", "tensor"))

    @staticmethod
    def _sgd_phase(params, grads, states, beta1, nesterov, path, lr):
        """SGD with Λ, scaled by the schedule since the switch (1 under a constant lr)."""
        rates = [(1 - beta1) * s["sgd_lr"] * (lr / s.get("switch_lr", lr)) for s in states]
        SGD_PHASE_KERNELS[path](params, grads, [s["momentum_buffer"] for s in states], rates=rates, beta1=beta1,
                                nesterov=nesterov)

    def _adam_phase(self, params, grads, states, lr, beta1, beta2, eps, switch_eps, path,
                    require_positive_rate=True, granularity="tensor"):
        """The Adam step p_k, then the switch test on γ_k = pᵀp/(−pᵀg) (per tensor or per model)."""
        ks = advance([s["step"] for s in states])
        dots = ADAM_PHASE_KERNELS[path](params, grads, [s["exp_avg"] for s in states],
                                        [s["exp_avg_sq"] for s in states], [s["step"] for s in states], ks,
                                        lr=lr, beta1=beta1, beta2=beta2, eps=eps, **self._buffers_for(path))
        products = torch.stack(dots).double().tolist()
        pp, pg = products[0::2], products[1::2]
        if granularity == "model":  # the group's tensors as one vector: one γ, Λ and switch
            pp, pg = [sum(pp)] * len(states), [sum(pg)] * len(states)
        # One host sync per step for the switch decision, on float64 scalars.
        switches = []
        for s, k, p_dot_p, p_dot_g in zip(states, ks, pp, pg):
            if p_dot_g == 0:
                switches.append(None)
                continue
            gamma = p_dot_p / -p_dot_g
            s["lr_ema"] = beta2 * s["lr_ema"] + (1 - beta2) * gamma
            estimate = s["lr_ema"] / (1 - beta2 ** k)
            settled = k > 1 and abs(estimate - gamma) < switch_eps and (estimate > 0 or not require_positive_rate)
            switches.append(estimate if settled else None)
        if granularity == "model" and None in switches:
            return
        for s, g, estimate in zip(states, grads, switches):
            if estimate is not None:
                s["in_sgd"] = True
                s["sgd_lr"] = estimate
                s["switch_lr"] = lr
                s["momentum_buffer"] = torch.zeros_like(g, memory_format=torch.preserve_format)


class SWATSWithInPlaceBug(SWATS):
    """SWATS whose SGD phase is :func:`buggy_sgd_phase_step`: for the chapter only."""

    @staticmethod
    def _sgd_phase(params, grads, states, beta1, nesterov, path, lr):
        for p, g, s in zip(params, grads, states):
            # its own buffer key: the copied implementation starts it from g at the first SGD step
            buggy_sgd_phase_step(p, g, s, s["sgd_lr"], beta1, nesterov, key="copied_momentum_buffer")


def sgd_phase_step_sizes(optimizer_class: type[SWATS] = SWATS, steps: int = 60, beta1: float = 0.9,
                         rate: float = 0.1) -> list[float]:
    """How far each SGD-phase step moves, in units of Λ·g, under a constant gradient g = 1
    (float64), starting right after a switch to Λ = ``rate``: Algorithm 1 settles at 1, the
    in-place bug (:class:`SWATSWithInPlaceBug`) at (1 − β1)/(1 − β1(1 − β1))."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = optimizer_class([p], betas=(beta1, 0.999))
    opt.state[p].update(in_sgd=True, sgd_lr=rate, momentum_buffer=torch.zeros(1, dtype=torch.float64),
                        step=torch.tensor(5.0), lr_ema=0.0, exp_avg=torch.zeros(1), exp_avg_sq=torch.zeros(1))
    sizes = []
    for _ in range(steps):
        before = p.item()
        p.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
        sizes.append((before - p.item()) / rate)
    return sizes


RECORDS = (Record("swats", SWATS, "switching", dict(lr=1e-2, switch_eps=1e-3), ranges={"switch_eps": "non-negative"}),)
