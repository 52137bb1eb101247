"""Learning-rate schedules used by the papers, as ``torch.optim.lr_scheduler`` objects.

All are stepped once per *batch* (call ``scheduler.step()`` after each optimizer step).
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, LambdaLR, LRScheduler

from .optimizers.base import check_range


def sgdr(optimizer: Optimizer, steps_per_epoch: int, t_0: int = 10, t_mult: int = 2,
         eta_min: float = 0.0, per_batch: bool = True) -> LRScheduler:
    """SGDR (Loshchilov & Hutter, 2017, eq. 5): η = η_min + ½(η_max − η_min)(1 + cos(π T_cur/T_i)).

    ``t_0`` is the first period in epochs, each period ``t_mult`` times longer. With
    ``per_batch`` (the paper's choice) T_cur advances by 1/steps_per_epoch every batch; without
    it the rate changes once per epoch (T_cur counts whole epochs, as many code bases do).
    """
    check_range("steps_per_epoch", steps_per_epoch, 1)
    check_range("t_0", t_0, 1)
    check_range("t_mult", t_mult, 1)
    if per_batch not in (True, False):
        raise ValueError(f"per_batch={per_batch!r} is invalid: expected True or False")
    if per_batch:
        return CosineAnnealingWarmRestarts(optimizer, T_0=int(t_0 * steps_per_epoch),
                                           T_mult=int(t_mult), eta_min=eta_min)

    def position(epoch: int) -> tuple[int, int]:
        """(T_cur, T_i) in whole epochs for ``epoch`` (0-based)."""
        period = int(t_0)
        while epoch >= period:
            epoch -= period
            period *= int(t_mult)
        return epoch, period

    def factor(base: float):
        def at(step: int) -> float:
            t_cur, t_i = position(step // steps_per_epoch)
            return (eta_min + 0.5 * (base - eta_min) * (1 + math.cos(math.pi * t_cur / t_i))) / base
        return at

    return LambdaLR(optimizer, [factor(group["lr"]) for group in optimizer.param_groups])


def step_decay(optimizer: Optimizer, steps_per_epoch: int, milestones: list[int] | tuple[int, ...],
               gamma: float = 0.1) -> LambdaLR:
    """Multiply the rate by ``gamma`` at each epoch in ``milestones`` (e.g. ResNet's 0.1 at 50%, 75%)."""
    check_range("steps_per_epoch", steps_per_epoch, 1)
    check_range("gamma", gamma, 0.0, 1.0, low_open=True, high_open=False)
    bounds = sorted(int(m) * steps_per_epoch for m in milestones)
    return LambdaLR(optimizer, lambda step: gamma ** sum(step >= b for b in bounds))


def noam_factor(step: int, d_model: int, warmup: int) -> float:
    """Vaswani et al. (2017, eq. 3): d^-0.5 · min(t^-0.5, t·w^-1.5), with t = step + 1."""
    t = step + 1
    return d_model ** -0.5 * min(t ** -0.5, t * warmup ** -1.5)


def noam(optimizer: Optimizer, d_model: int = 512, warmup: int = 4000) -> LambdaLR:
    """The Transformer warm-up: lr_t = base_lr · d^-0.5 · min(t^-0.5, t·w^-1.5)."""
    check_range("d_model", d_model, 1)
    check_range("warmup", warmup, 1)
    return LambdaLR(optimizer, lambda step: noam_factor(step, d_model, warmup))


def inverse_sqrt(optimizer: Optimizer) -> LambdaLR:
    """α_t = α/√t with t the step count (Kingma & Ba, 2015, §6.1; Reddi et al., 2018, §5)."""
    return LambdaLR(optimizer, lambda step: (step + 1) ** -0.5)


def normalized_weight_decay(lambda_norm: float, batch_size: int, n_train: int, epochs: float) -> float:
    """AdamW paper's normalized decay (Appendix B.1): λ = λ_norm·√(b / (B·T))."""
    check_range("lambda_norm", lambda_norm, 0.0)
    check_range("batch_size", batch_size, 1)
    check_range("n_train", n_train, 1)
    check_range("epochs", epochs, 0.0, low_open=True)
    return lambda_norm * math.sqrt(batch_size / (n_train * epochs))


SCHEDULES = {"sgdr": sgdr, "step": step_decay, "noam": noam, "inverse_sqrt": inverse_sqrt}
