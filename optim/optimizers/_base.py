"""Shared machinery of the book's optimizers: validation, state set-up, path choice.

Every optimizer in :mod:`optim.optimizers` follows :mod:`torch.optim`'s conventions:
hyperparameters are validated in ``__init__``, per-parameter state lives in
``self.state[p]`` (so ``state_dict``/``load_state_dict`` work unchanged), and ``step``
runs either a single-tensor loop or a multi-tensor (``torch._foreach_*``) path chosen by
the ``foreach`` argument. Both paths apply the same floating-point operations in the same
order, so they give bit-identical results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer


def check_range(name: str, value: Any, low: float, high: float | None = None,
                *, low_open: bool = False, high_open: bool = True) -> None:
    """Raise a one-line ``ValueError`` unless ``low <(=) value <(=) high``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number") from None
    above = number > low if low_open else number >= low
    below = True if high is None else (number < high if high_open else number <= high)
    if not (above and below and math.isfinite(number)):
        left = "(" if low_open else "["
        right = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
        raise ValueError(f"{name}={value!r} is invalid: expected a value in {left}{low}, {right}")


def check_betas(betas: Any) -> None:
    """Both coefficients of ``betas`` must lie in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas={betas!r} is invalid: expected a pair (beta1, beta2) in [0, 1)")
    check_range("betas[0]", betas[0], 0.0, 1.0)
    check_range("betas[1]", betas[1], 0.0, 1.0)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is invalid: expected one of {', '.join(map(repr, choices))}")


def check_adam_like(lr: float, betas: Any, eps: float, weight_decay: float, foreach: Any) -> None:
    """Validation shared by every Adam-family optimizer."""
    check_range("lr", lr, 0.0)
    check_betas(betas)
    check_range("eps", eps, 0.0)
    check_range("weight_decay", weight_decay, 0.0)
    check_choice("foreach", foreach, (None, True, False))


def new_step() -> Tensor:
    """A step counter stored like torch.optim stores it (0-d float32 tensor on the CPU)."""
    return torch.tensor(0.0, dtype=torch.float32)


class PaperOptimizer(Optimizer):
    """Base class: gathers parameters with gradients, initialises state, dispatches paths.

    Subclasses implement ``_init_state(p, state, group)`` and
    ``_update(group, params, grads, states, foreach: bool)``.
    """

    def _gather(self, group: dict) -> tuple[list[Tensor], list[Tensor], list[dict]]:
        params, grads, states = [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients; "
                    "use torch.optim.SparseAdam for sparse embeddings")
            if torch.is_complex(p):
                raise RuntimeError(f"{type(self).__name__} does not support complex parameters")
            state = self.state[p]
            if not state:
                self._init_state(p, state, group)
            params.append(p)
            grads.append(p.grad)
            states.append(state)
        return params, grads, states

    @staticmethod
    def _use_foreach(group: dict, params: list[Tensor]) -> bool:
        foreach = group.get("foreach")
        if foreach is None:
            # torch.optim's default rule: the multi-tensor path whenever the tensors can take it.
            return all(p.device.type in ("cuda", "cpu", "xpu", "mps") for p in params)
        return bool(foreach)

    def _init_state(self, p: Tensor, state: dict, group: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def _update(self, group: dict, params: list[Tensor], grads: list[Tensor],
                states: list[dict], foreach: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step; ``closure`` re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, states = self._gather(group)
            if params:
                self._update(group, params, grads, states, self._use_foreach(group, params))
        return loss

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
