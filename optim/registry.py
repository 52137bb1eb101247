"""One registry of optimizers by name: ``build(name, params, **hyperparameters)``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .optimizers import SGDW, SWATS, AdaMax, Adam, AdamW, AMSGrad, Nadam, NDAdam, nd_param_groups


def _sgd(params, lr=1e-2, weight_decay=0.0, **kw):
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, **kw)


def _momentum(params, lr=1e-2, momentum=0.9, weight_decay=0.0, **kw):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **kw)


def _nesterov(params, lr=1e-2, momentum=0.9, weight_decay=0.0, **kw):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True,
                           weight_decay=weight_decay, **kw)


def _ndadam(params, nd_lr=None, **kw):
    # Given a model, split it into nd / Adam groups (``nd_lr``: the nd group's own rate, the
    # paper's α^v); given tensors or groups, use them as is.
    if isinstance(params, torch.nn.Module):
        params = nd_param_groups(params, **({} if nd_lr is None else {"lr": nd_lr}))
    elif nd_lr is not None:
        raise ValueError("nd_lr needs a model (nn.Module) to find the nd group; got tensors or groups")
    return NDAdam(params, **kw)


_REGISTRY: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": _sgd,
    "momentum": _momentum,
    "nesterov": _nesterov,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adam": Adam,
    "adamax": AdaMax,
    "amsgrad": AMSGrad,
    "nadam": Nadam,
    "adamw": AdamW,
    "sgdw": SGDW,
    "swats": SWATS,
    "ndadam": _ndadam,
}


def available() -> list[str]:
    """Names accepted by :func:`build`, in the book's order."""
    return list(_REGISTRY)


def build(name: str, params, **hyperparameters) -> torch.optim.Optimizer:
    """Construct the optimizer registered as ``name``.

    ``params`` is what torch.optim takes (tensors or param groups); ``ndadam`` also accepts
    an ``nn.Module`` and then uses :func:`optim.nd_param_groups`. Other optimizers given a
    module use its ``parameters()``.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(_REGISTRY)}")
    if isinstance(params, torch.nn.Module) and name != "ndadam":
        params = params.parameters()
    try:
        return _REGISTRY[name](params, **hyperparameters)
    except TypeError as error:  # an unknown hyperparameter name
        raise ValueError(f"bad hyperparameters for {name!r}: {error}") from None


def register(name: str, factory: Callable[..., torch.optim.Optimizer], *, replace: bool = False) -> None:
    """Add an optimizer under ``name`` so that ``build`` and ``RunSpec`` accept it.

    ``factory(params, **hyperparameters)`` is usually the optimizer class itself.
    """
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"name={name!r} is invalid: expected a lowercase identifier")
    if name in _REGISTRY and not replace:
        raise ValueError(f"optimizer {name!r} is already registered; pass replace=True to override it")
    _REGISTRY[name] = factory
