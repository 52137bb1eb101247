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
Channels_last weights are handled through a permuted (rows, values) view.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .adam import ADAM_KERNELS
from .base import PaperOptimizer, Record, advance, check_adam_like, check_choice, new_step


def _row_order(t: Tensor) -> list[int]:
    """Dimension order in which ``t``'s memory is row-major (identity when contiguous).

    A channels_last conv weight (O, I, kh, kw) stores each output unit's I·kh·kw values
    together, only permuted; row reductions do not care about the order inside a row, so
    every tensor is viewed as (rows, values) through this permutation, without a copy.
    """
    return [0] + sorted(range(1, t.dim()), key=lambda d: -t.stride(d))


def _rows(t: Tensor, order: list[int] | None = None, *, writable: bool = True) -> Tensor:
    """``t`` as a (rows, values) view, each row's values in the dimension ``order`` (default:
    ``t``'s own, logical order); a read-only ``t`` that cannot be viewed so is copied."""
    permuted = t if order is None else t.permute(order)
    if not writable:
        return permuted.reshape(t.shape[0], -1)
    try:
        return permuted.view(t.shape[0], -1)
    except RuntimeError:
        raise RuntimeError(f"ND-Adam needs each row of a tensor of shape {tuple(t.shape)} and strides "
                           f"{t.stride()} in one block of memory; make it contiguous") from None


@torch.no_grad()
def normalize_rows_(p: Tensor) -> Tensor:
    """Rescale every row ``p[i].flatten()`` to unit L2 norm, in place."""
    rows = _rows(p, _row_order(p))
    rows.mul_(torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_min_(1e-12).reciprocal_())
    return p


def _as_rows(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor]):
    """Weights, gradients and first moments as (rows, values) views, read in the weight's
    memory order whatever their own."""
    orders = [None if p.is_contiguous() else _row_order(p) for p in params]
    return ([_rows(p, o) for p, o in zip(params, orders)], [_rows(g, o, writable=False) for g, o in zip(grads, orders)],
            [_rows(m, o) for m, o in zip(exp_avgs, orders)])


def single_tensor_ndadam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                         exp_avg_sqs: list[Tensor], steps: list[Tensor], *, lr: float, beta1: float,
                         beta2: float, eps: float, scratch=torch.empty_like) -> None:
    """One ND-Adam step (Algorithm 1) in place, one tensor at a time: its rows stay in cache
    from the projection to the renormalization (on a CPU about twice as fast as sweeping every
    op over all tensors); ``scratch(t)`` gives the one full-size temporary."""
    ts = advance(steps)
    for w, g, m, v, t in zip(*_as_rows(params, grads, exp_avgs), exp_avg_sqs, ts):
        buffer = scratch(w)
        gbar = torch.addcmul(g, w, _row_dot(g, w, buffer), value=-1, out=buffer)   # eq. 8
        m.lerp_(gbar, 1 - beta1)
        v.lerp_(_row_sq_norm(gbar), 1 - beta2)                                     # eq. 9
        step_size = -lr / (1 - beta1 ** t)
        coefficient = v.sqrt().div_((1 - beta2 ** t) ** 0.5).add_(eps).reciprocal_().mul_(step_size)
        w.addcmul_(m, coefficient)  # eq. 10, one division per row
        _normalize(w)               # eq. 11


def multi_tensor_ndadam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                        exp_avg_sqs: list[Tensor], steps: list[Tensor], *, lr: float, beta1: float,
                        beta2: float, eps: float) -> None:
    """:func:`single_tensor_ndadam` with its elementwise updates as ``torch._foreach_*``
    operations over all tensors at once (row reductions have no multi-tensor form)."""
    ts = advance(steps)
    ws, gs, ms = _as_rows(params, grads, exp_avgs)
    gbars = [torch.addcmul(g, w, _row_dot(g, w), value=-1) for g, w in zip(gs, ws)]
    torch._foreach_lerp_(ms, gbars, 1 - beta1)
    sq_norms = [_row_sq_norm(gb) for gb in gbars]
    del gbars
    torch._foreach_lerp_(exp_avg_sqs, sq_norms, 1 - beta2)
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denoms, [(1 - beta2 ** t) ** 0.5 for t in ts])
    torch._foreach_add_(denoms, eps)
    torch._foreach_reciprocal_(denoms)
    torch._foreach_mul_(denoms, [-lr / (1 - beta1 ** t) for t in ts])
    for w, m, coefficient in zip(ws, ms, denoms):
        w.addcmul_(m, coefficient)
        _normalize(w)


class NDAdam(PaperOptimizer):
    """ND-Adam for ``nd=True`` groups, Adam (torch form) elsewhere."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False,
                 foreach: bool | None = None):
        check_adam_like(lr, betas, eps, weight_decay, foreach, maximize)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, nd=False, maximize=maximize, foreach=foreach))

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
                rows = _rows(p.detach(), _row_order(p))
                norms = torch.linalg.vector_norm(rows, dim=1)
                # Leave rows that are already unit norm alone: a run resumed from a
                # checkpoint then continues bit for bit.
                if (norms - 1).abs().max() > 16 * torch.finfo(p.dtype).eps:
                    normalize_rows_(p)

    def _init_state(self, p, state, group):
        state["step"] = new_step()
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["nd"]:
            state["exp_avg_sq"] = torch.zeros(p.shape[0], 1, dtype=p.dtype, device=p.device)
        else:
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    KERNELS = {"single": single_tensor_ndadam, "multi": multi_tensor_ndadam}

    def _update(self, group, params, grads, states, path):
        """ND-Adam's kernel for an ``nd`` group, Adam's for the others."""
        beta1, beta2 = group["betas"]
        steps = [s["step"] for s in states]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        if not group["nd"]:
            ADAM_KERNELS[path](params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=group["lr"], beta1=beta1,
                               beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                               amsgrad=False, decoupled=False)
            return
        self.KERNELS[path](params, grads, exp_avgs, exp_avg_sqs, steps, lr=group["lr"], beta1=beta1, beta2=beta2,
                           eps=group["eps"], **self._buffers_for(path))


def _row_dot(a: Tensor, b: Tensor, scratch: Tensor | None = None) -> Tensor:
    """(rows, 1) dot products of matching rows (eq. 8's g·w); the products go to ``scratch``.

    This is what ``torch.linalg.vecdot`` computes, but vecdot allocates its full-size
    product afresh on every call (a third of ND-Adam's CPU step time in a profile).
    """
    return torch.mul(a, b, out=scratch).sum(1, keepdim=True)


def _row_sq_norm(a: Tensor) -> Tensor:
    """(rows, 1) squared norms ‖ḡ‖² (eq. 9)."""
    return torch.linalg.vector_norm(a, dim=1, keepdim=True).square_()


def _normalize(rows: Tensor) -> None:
    """Eq. 11: w ← w̄ / ‖w̄‖, row by row, in place."""
    rows.mul_(torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_min_(1e-12).reciprocal_())


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


def build_ndadam(params, nd_lr=None, **hyperparameters) -> NDAdam:
    """ND-Adam from a model — split into its nd and Adam groups by :func:`nd_param_groups`
    (``nd_lr``: the nd group's own rate, the paper's α^v) — or from tensors or groups as given."""
    if isinstance(params, torch.nn.Module):
        params = nd_param_groups(params, **({} if nd_lr is None else {"lr": nd_lr}))
    elif nd_lr is not None:
        raise ValueError("nd_lr needs a model (nn.Module) to find the nd group; got tensors or groups")
    return NDAdam(params, **hyperparameters)


RECORDS = (Record("ndadam", NDAdam, "adaptive", dict(lr=1e-2), factory=build_ndadam, needs_model=True,
                   ranges={"nd_lr": "positive"}),)
