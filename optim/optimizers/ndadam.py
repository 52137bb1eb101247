"""ND-Adam (Zhang et al., 2017, "Normalized Direction-preserving Adam", Algorithm 1).

For every hidden-unit weight vector w_i (a row ``p[i].flatten()`` of a tensor in a group
with ``nd=True``), kept at unit norm:

    ḡ_t = g_t − (g_t·w_{t-1}) w_{t-1}              (eq. 8: projection on the tangent space)
    m_t = β1 m_{t-1} + (1 − β1) ḡ_t                (vector EMA)
    v_t = β2 v_{t-1} + (1 − β2) ‖ḡ_t‖²             (one scalar per row, eq. 9)
    w̄_t = w_{t-1} − α m̂_t / (√v̂_t + ε),   w_t = w̄_t / ‖w̄_t‖   (eqs. 10–11)

Because v is shared by the whole row, the update stays in the span of past gradients
(direction preserving). Rows are normalized when the optimizer is built. Groups without
``nd`` (biases, batch-norm gains, the classifier) use plain Adam, as in the paper.
Row norms and dot products are batched over rows; there is no Python loop over rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import PaperOptimizer, check_adam_like, check_choice, new_step
from .adam import adam_update


def _rows(t: Tensor) -> Tensor:
    return t.view(t.shape[0], -1)


@torch.no_grad()
def normalize_rows_(p: Tensor) -> Tensor:
    """Rescale every row ``p[i].flatten()`` to unit L2 norm, in place."""
    rows = _rows(p)
    rows.div_(torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_min_(1e-12))
    return p


class NDAdam(PaperOptimizer):
    """ND-Adam for ``nd=True`` groups, Adam (torch form) elsewhere."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, foreach: bool | None = None):
        check_adam_like(lr, betas, eps, weight_decay, foreach)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, nd=False, foreach=foreach))

    def add_param_group(self, param_group: dict) -> None:
        check_choice("nd", param_group.get("nd", False), (True, False))
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if group["nd"]:
            if group["weight_decay"] != 0:
                raise ValueError(f"weight_decay={group['weight_decay']!r} is invalid for an nd group: "
                                 "unit-norm rows make it a no-op; expected 0")
            for p in group["params"]:
                if p.dim() < 2:
                    raise ValueError(f"an nd group needs tensors of >= 2 dims (rows = hidden units), "
                                     f"got shape {tuple(p.shape)}")
                rows = _rows(p.detach())
                norms = torch.linalg.vector_norm(rows, dim=1)
                # Leave rows that are already unit norm alone: a run resumed from a
                # checkpoint then continues bit for bit.
                if (norms - 1).abs().max() > 16 * torch.finfo(p.dtype).eps:
                    normalize_rows_(p)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
        if group["nd"]:
            state["exp_avg_sq"] = torch.zeros(p.shape[0], 1, dtype=p.dtype, device=p.device)
        else:
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update(self, group, params, grads, states, foreach):
        beta1, beta2 = group["betas"]
        steps = [s["step"] for s in states]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        if not group["nd"]:
            adam_update(params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=group["lr"],
                        beta1=beta1, beta2=beta2, eps=group["eps"],
                        weight_decay=group["weight_decay"], amsgrad=False, decoupled=False,
                        foreach=foreach)
            return
        lr, eps = group["lr"], group["eps"]
        ws = [_rows(p) for p in params]
        gs = [_rows(g) for g in grads]
        ms = [_rows(m) for m in exp_avgs]
        for s in steps:
            s += 1
        ts = [s.item() for s in steps]
        # ḡ = g − (g·w) w, batched over the rows of each tensor.
        dots = [(g * w).sum(dim=1, keepdim=True) for g, w in zip(gs, ws)]
        if foreach:
            gbars = torch._foreach_sub(gs, torch._foreach_mul(ws, dots))
            torch._foreach_lerp_(ms, gbars, 1 - beta1)
        else:
            gbars = [g - w * d for g, w, d in zip(gs, ws, dots)]
            for m, gb in zip(ms, gbars):
                m.lerp_(gb, 1 - beta1)
        sq_norms = [(gb * gb).sum(dim=1, keepdim=True) for gb in gbars]
        for v, sq in zip(exp_avg_sqs, sq_norms):
            v.mul_(beta2).add_(sq, alpha=1 - beta2)
        if foreach:
            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_div_(denom, [(1 - beta2 ** t) ** 0.5 for t in ts])
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(ws, ms, denom, [-lr / (1 - beta1 ** t) for t in ts])
        else:
            for w, m, v, t in zip(ws, ms, exp_avg_sqs, ts):
                denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(eps)
                w.addcdiv_(m, denom, value=-lr / (1 - beta1 ** t))
        for p in params:
            normalize_rows_(p)


_SCALE_INVARIANT_NEXT = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_ND_CANDIDATES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def nd_param_groups(model: nn.Module, **nd_options) -> list[dict]:
    """Split ``model``'s parameters into an ``nd`` group and an Adam group.

    A conv/linear weight goes to the ``nd`` group when the next leaf module in registration
    order is a batch norm, i.e. the layer's output is normalized and so its scale is
    irrelevant (the scale invariance ND-Adam relies on). Everything else, its bias included,
    goes to the plain Adam group. ``nd_options`` (e.g. ``lr``) apply to the nd group only.
    """
    leaves = [m for m in model.modules() if not list(m.children())]
    nd_weights = {id(m.weight) for m, nxt in zip(leaves, leaves[1:])
                  if isinstance(m, _ND_CANDIDATES) and isinstance(nxt, _SCALE_INVARIANT_NEXT)}
    nd = [p for p in model.parameters() if id(p) in nd_weights]
    rest = [p for p in model.parameters() if id(p) not in nd_weights and p.requires_grad]
    groups = []
    if nd:
        groups.append({"params": nd, "nd": True, **nd_options})
    if rest:
        groups.append({"params": rest, "nd": False})
    return groups
