"""Shared machinery of the book's optimizers: validation, state set-up, path choice.

Every optimizer in :mod:`optim.optimizers` follows :mod:`torch.optim`'s conventions:
hyperparameters are validated in ``__init__``, per-parameter state lives in
``self.state[p]`` (so ``state_dict``/``load_state_dict`` work unchanged), and each algorithm
is written twice, side by side in its module, as torch.optim writes its own: a single-tensor
function (a loop over parameters that reads like the paper's pseudo-code) and a multi-tensor
function (the same operations as ``torch._foreach_*`` calls over all tensors at once), plus
torch's fused kernel where one exists (Adam, AdamW). Both apply the same floating-point
operations in the same order, so they give bit-identical results. Which one runs is decided in
one place, :meth:`PaperOptimizer.kernel_path`, from the ``foreach``/``fused`` arguments.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

# What a hyperparameter's value must satisfy: > 0, >= 0, or within [0, 1].
RANGE_KINDS = ("positive", "non-negative", "unit")
# The ranges of torch.optim's common hyperparameter names, wherever they appear; an optimizer
# with names of its own states their ranges in its Record (``ranges``).
RANGES = {"lr": "positive", "eps": "positive", "momentum": "unit", "dampening": "unit", "alpha": "unit", "rho": "unit",
          "weight_decay": "non-negative", "lr_decay": "non-negative", "initial_accumulator_value": "non-negative",
          "momentum_decay": "non-negative"}


@dataclass(frozen=True)
class Record:
    """One optimizer as the package knows it, kept beside its code in its module's ``RECORDS``
    (modelled on torch's ``OptimizerInfo``, ``torch/testing/_internal/common_optimizers.py``):
    its registry ``name``, class and ``family`` (the registry's FAMILIES); the ``settings`` the
    generic optimizer contract builds it with and the kernel ``paths`` it has
    (``tests/test_optimizer_contract.py``); its independent ``reference`` where one exists — a
    torch.optim constructor computing the same algorithm, and settings that both take on top of
    ``settings`` to make it so;
    for an optimizer built from more than its parameters, the ``factory`` the registry
    calls (``needs_model``: it takes the ``nn.Module`` itself); and the ``ranges`` of its own
    hyperparameter names (name → one of RANGE_KINDS; the common names' are in RANGES)."""

    name: str
    cls: type
    family: str
    settings: dict = field(default_factory=dict)
    paths: tuple[str, ...] = ("single", "multi")
    reference: tuple[type, dict] | None = None
    factory: Callable | None = None
    needs_model: bool = False
    ranges: dict = field(default_factory=dict)


def as_number(name: str, value: Any) -> float:
    """``value`` as a Python float: Python and NumPy reals and one-element real tensors are
    numbers; strings, bools and None are not (a one-line ``ValueError``)."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.dtype.is_complex and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} is invalid: expected a number")
    return float(value)


def check_range(name: str, value: Any, low: float, high: float | None = None,
                *, low_open: bool = False, high_open: bool = True) -> None:
    """Raise a one-line ``ValueError`` unless ``value`` is a number (:func:`as_number`)
    with ``low <(=) value <(=) high``."""
    number = as_number(name, value)
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


def check_adam_like(lr: float, betas: Any, eps: float, weight_decay: float, foreach: Any, maximize: Any = False) -> None:
    """Validation shared by every Adam-family optimizer."""
    check_range("lr", lr, 0.0)
    check_choice("maximize", maximize, (True, False))
    check_betas(betas)
    # eps = 0 divides 0 by 0 wherever a gradient is zero (a dead unit): the run can only
    # end in NaN, so it is refused here rather than stored as "diverged".
    check_range("eps", eps, 0.0, low_open=True)
    check_range("weight_decay", weight_decay, 0.0)
    check_choice("foreach", foreach, (None, True, False))


_CPU_FOREACH_MAX_BYTES = 128 * 1024


def scalar_dtype() -> torch.dtype:
    """The dtype torch.optim keeps scalar state in: float64 under a float64 default dtype,
    else float32 (``torch.optim.optimizer._get_scalar_dtype``)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def new_step() -> Tensor:
    """A step counter stored like torch.optim stores it (0-d tensor on the CPU)."""
    return torch.tensor(0.0, dtype=scalar_dtype())


def advance(counters: list[Tensor], factors: float | list[float] = 1.0, *, multiply: bool = False) -> list[float]:
    """Add ``factors`` to (or multiply by them) every 0-d state counter; return the new values.

    One multi-tensor op and one host transfer for the whole list, instead of a tensor op and
    an ``.item()`` per parameter: the Python-side bookkeeping of a step must not cost more
    than its arithmetic.
    """
    on_cpu = all(c.device.type == "cpu" for c in counters)
    if multiply:
        torch._foreach_mul_(counters, factors)
    elif on_cpu and not isinstance(factors, list):
        # A 0-d tensor operand, wrapped once: a Python number would be wrapped per counter.
        torch._foreach_add_(counters, torch.tensor(float(factors)), alpha=1.0)
    else:
        torch._foreach_add_(counters, factors)
    if on_cpu:
        return torch.stack(counters).tolist()
    return [c.item() for c in counters]


def is_dense(t: Tensor) -> bool:
    """True when ``t``'s elements fill one block of memory exactly (any dimension order)."""
    expected = 1
    for stride, size in sorted((st, sz) for sz, st in zip(t.shape, t.stride()) if sz != 1):
        if stride != expected:
            return False
        expected *= size
    return True


_TORCH_ONLY = ("differentiable",)  # torch.optim.Optimizer.__setstate__ adds it to ``defaults``


def _plain_rate(group: dict) -> dict:
    """``group`` with a tensor learning rate read as a Python number: torch.optim accepts
    ``lr=torch.tensor(…)`` (a schedule may then change it in place), and the kernels take
    numbers."""
    lr = group["lr"]
    return {**group, "lr": lr.item()} if isinstance(lr, Tensor) else group


class PaperOptimizer(Optimizer):
    """Base class: gathers parameters with gradients, initialises state, dispatches paths.

    Subclasses implement ``_init_state(p, state, group)`` and
    ``_update(group, params, grads, states, path)``, which calls the algorithm's kernel for
    ``path`` (``"single"``, ``"multi"`` or ``"fused"``, from :meth:`kernel_path`); a subclass with a
    fused kernel says when it applies in ``_fused_applies``.
    """

    def _gather(self, group: dict) -> tuple[list[Tensor], list[Tensor], list[dict]]:
        """The group's parameters that have gradients, their gradients — negated under
        ``maximize``, as torch.optim does before anything else reads them — and their states."""
        params, grads, states = [], [], []
        maximize = group.get("maximize", False)
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
            grads.append(torch.neg(p.grad) if maximize else p.grad)
            states.append(state)
        return params, grads, states

    @staticmethod
    def _use_foreach(group: dict, params: list[Tensor]) -> bool:
        foreach = group.get("foreach")
        if foreach is None:
            # Multi-tensor kernels on accelerators, as torch.optim does. On a CPU a _foreach_
            # op is a loop over tensors anyway: it wins on small tensors (one dispatch per op),
            # but for tensors above malloc's 128 KiB mmap threshold every temporary it
            # allocates is faulted in afresh and every sweep evicts the cache, and the
            # single-tensor loop with its reused scratch buffer is up to 2x faster
            # (python -m optim.bench's "single vs multi-tensor" table measures both).
            if all(p.device.type in ("cuda", "xpu") for p in params):
                return True
            return all(p.device.type == "cpu" for p in params) and \
                max(p.numel() * p.element_size() for p in params) < _CPU_FOREACH_MAX_BYTES
        return bool(foreach)

    def _scratch_like(self, t: Tensor) -> Tensor:
        """An uninitialised buffer with ``t``'s shape and strides, reused from tensor to tensor.

        The single-tensor paths need one temporary per parameter; allocating it afresh makes
        the CPU allocator hand back memory that must be faulted in again (measured: a
        temporary's sqrt cost 5x more than the same op into a reused buffer). One buffer the
        size of the largest parameter, kept outside ``state`` (so outside ``state_dict``),
        serves them all; it is only valid until the next call.
        """
        if not is_dense(t):
            return torch.empty_like(t)
        buffers = self.__dict__.setdefault("_scratch", {})
        flat, views = buffers.get((t.device, t.dtype), (None, {}))
        view = views.get((t.shape, t.stride()))
        if view is not None:  # a dict lookup: slicing a fresh view costs more than a small op
            return view
        if flat is None or flat.numel() < t.numel():
            flat, views = torch.empty(t.numel(), dtype=t.dtype, device=t.device), {}
            buffers[t.device, t.dtype] = flat, views
        view = views[t.shape, t.stride()] = flat[:t.numel()].as_strided(t.shape, t.stride())
        return view

    def _buffers_for(self, path: str) -> dict:
        """The keyword a single-tensor kernel takes for its reused scratch buffer
        (:meth:`_scratch_like`); multi-tensor and fused kernels take none."""
        return {"scratch": self._scratch_like} if path == "single" else {}

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_scratch", None)
        return state

    def _init_state(self, p: Tensor, state: dict, group: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def _update(self, group: dict, params: list[Tensor], grads: list[Tensor],
                states: list[dict], path: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def _fused_applies(self, group: dict, params: list[Tensor]) -> bool:
        """Whether this group runs a fused kernel (none by default)."""
        return False

    def kernel_path(self, group: dict, params: list[Tensor] | None = None) -> str:
        """The one place that picks a group's kernel: ``"fused"`` where the optimizer has a fused
        kernel that applies, else ``"multi"`` (multi-tensor) or ``"single"`` (single-tensor)
        by the ``foreach`` argument and, when it is None, by device and tensor size.
        ``params``: the group's parameters that have gradients (default: all of them)."""
        params = group["params"] if params is None else params
        if self._fused_applies(group, params):
            return "fused"
        return "multi" if self._use_foreach(group, params) else "single"

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
                self._update(_plain_rate(group), params, grads, states, self.kernel_path(group, params))
        return loss

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's state dict, plus the class that wrote it (checked when loading)."""
        saved = super().state_dict()
        saved["optimizer"] = f"{type(self).__module__}.{type(self).__qualname__}"
        return saved

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict written by the same optimizer class; refuse any other.

        Without this check, AMSGrad's state loaded into Adam (or the reverse) would run
        silently with the other algorithm's settings, and SWATS' state in Adam would fail
        later with a bare ``KeyError``. A state dict without the class marker (from
        torch.optim) is accepted when its per-parameter state has the keys this optimizer
        keeps."""
        mine = f"{type(self).__module__}.{type(self).__qualname__}"
        saved = state_dict.get("optimizer")
        if saved is not None and saved != mine:
            raise ValueError(f"state_dict was saved by {saved}; this optimizer is {mine}: "
                             "load it into the optimizer type that saved it")
        if saved is None:
            self._check_foreign_state(state_dict)
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "optimizer"})

    def _check_foreign_state(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict.get("param_groups", [])
        if len(groups) != len(self.param_groups):
            return  # torch.optim's own check reports this
        for group, saved_group in zip(self.param_groups, groups):
            for p, index in zip(group["params"], saved_group.get("params", [])):
                saved_state = state_dict.get("state", {}).get(index)
                if not saved_state:
                    continue
                expected: dict = {}
                self._init_state(p, expected, group)
                missing = sorted(set(expected) - set(saved_state))
                if missing:
                    raise ValueError(f"state_dict does not hold {type(self).__name__}'s state "
                                     f"(parameter {index} lacks {', '.join(missing)}): was it saved by another optimizer?")

    def __setstate__(self, state: dict) -> None:
        """After unpickling or ``load_state_dict``: every group has this optimizer's settings
        (a checkpoint from before one existed gets its default), but not torch's
        ``differentiable``, which torch adds to ``defaults`` here and these optimizers do not
        take; a ``step`` stored as a Python number (torch's older format) becomes a tensor."""
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                if key not in _TORCH_ONLY:
                    group.setdefault(key, value)
        for param_state in self.state.values():
            step = param_state.get("step")
            if step is not None and not isinstance(step, Tensor):
                param_state["step"] = torch.tensor(float(step), dtype=scalar_dtype())
