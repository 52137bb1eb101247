"""Probes: measurements of the optimizer's inner workings, logged during training.

A :class:`~optim.spec.RunSpec` names its probes (``probes=("rows",)``); the training loop
builds them once and calls ``before_step()`` / ``after_step()`` around the optimizer step
on every logging step (every ``log_every`` steps), adding what ``after_step`` returns to
the step log. Probes read state; they never change the run.

``"swats"``  SWATS' switch: fraction of tensors in the SGD phase and the median over
             tensors of the projected SGD rate estimate Λ = λ_k/(1 − β2ᵏ)
             (Keskar & Socher, 2017, Alg. 1; Λ is the chosen ``sgd_lr`` after a switch).
``"rows"``   the hidden-unit weight vectors w_i (rows of conv/linear weights followed by
             batch norm, the rows ND-Adam normalizes): mean ‖w_i‖, max |‖w_i‖ − 1|, and the
             median over rows of cos(Δw_i, −m_i) and cos(Δw_i, −g_i), Δw_i being the step's
             update, m_i the optimizer's first moment (or momentum buffer) and g_i the
             gradient (Zhang et al., 2017, §3: ND-Adam's update stays in the span of past
             gradients, Adam's per-coordinate scaling turns it away).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .optimizers.ndadam import nd_param_groups


class SwatsProbe:
    COLUMNS = ("sgd_fraction", "sgd_lr_estimate")  # what after_step returns

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        if not hasattr(optimizer, "phase"):
            raise ValueError(f"probe 'swats' needs the SWATS optimizer, got {type(optimizer).__name__}")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = optimizer

    def before_step(self) -> None:
        pass

    def after_step(self) -> dict[str, float]:
        estimates, switched = [], 0
        beta2 = self.optimizer.param_groups[0]["betas"][1]
        for p in self.params:
            state = self.optimizer.state.get(p, {})
            if state.get("in_sgd"):
                switched += 1
                estimates.append(state["sgd_lr"])
            elif state and state["step"].item() > 0 and state["lr_ema"] != 0:
                estimates.append(state["lr_ema"] / (1 - beta2 ** state["step"].item()))
        median = float(torch.tensor(estimates, dtype=torch.float64).median()) if estimates else math.nan
        return {"sgd_fraction": switched / len(self.params), "sgd_lr_estimate": median}


def _rows(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _cosines(a: Tensor, b: Tensor) -> Tensor:
    return nn.functional.cosine_similarity(a.double(), b.double(), dim=1, eps=1e-30)


class RowProbe:
    COLUMNS = ("row_norm_mean", "row_norm_error", "update_moment_cosine", "update_gradient_cosine")

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        groups = nd_param_groups(model)
        if not groups or not groups[0].get("nd"):
            raise ValueError("probe 'rows' needs a model with conv/linear layers followed by batch norm")
        self.weights = groups[0]["params"]
        self.optimizer = optimizer
        self.before: list[Tensor] = []

    def before_step(self) -> None:
        self.before = [w.detach().clone() for w in self.weights]

    def _moment(self, p: Tensor) -> Tensor | None:
        state = self.optimizer.state.get(p, {})
        moment = state.get("exp_avg", state.get("momentum_buffer"))
        return moment if isinstance(moment, Tensor) else None

    def after_step(self) -> dict[str, float]:
        norms, update_m, update_g = [], [], []
        for w, old in zip(self.weights, self.before):
            rows = _rows(w.detach())
            norms.append(torch.linalg.vector_norm(rows.double(), dim=1))
            delta = rows - _rows(old)
            moved = torch.linalg.vector_norm(delta, dim=1) > 0
            moment = self._moment(w)
            if moment is not None:
                update_m.append(_cosines(delta, -_rows(moment))[moved])
            if w.grad is not None:
                update_g.append(_cosines(delta, -_rows(w.grad))[moved])
        norms_all = torch.cat(norms)

        def median(values: list[Tensor]) -> float:
            joined = torch.cat(values) if values else torch.empty(0)
            return float(joined.median()) if joined.numel() else math.nan

        return {"row_norm_mean": float(norms_all.mean()),
                "row_norm_error": float((norms_all - 1).abs().max()),
                "update_moment_cosine": median(update_m),
                "update_gradient_cosine": median(update_g)}


PROBES: dict[str, Callable[[nn.Module, torch.optim.Optimizer], object]] = {
    "swats": SwatsProbe,
    "rows": RowProbe,
}
