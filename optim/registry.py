"""One registry of optimizers by name: ``build(name, params, **hyperparameters)``.

Each name maps to an :class:`Entry`: the factory, the optimizer class it builds (whose
module defines the algorithm), its family, and whether it needs the model rather than its
parameters (ND-Adam's parameter groups). :func:`check_hyperparameters` validates a set of
hyperparameters for an entry — names, types and ranges — before any work starts.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .optimizers import RECORDS
from .optimizers.base import RANGE_KINDS, RANGES, Record, as_number

FAMILIES = ("classic", "adaptive", "decoupled", "switching", "user")


def _sgd(params, lr=1e-2, weight_decay=0.0, **kw):
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, **kw)


def _momentum(params, lr=1e-2, momentum=0.9, weight_decay=0.0, **kw):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **kw)


def _nesterov(params, lr=1e-2, momentum=0.9, weight_decay=0.0, **kw):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True,
                           weight_decay=weight_decay, **kw)


@dataclass(frozen=True)
class Entry:
    """A registered optimizer.

    ``factory(params, **hyperparameters)`` builds it; ``cls`` is the optimizer class it
    returns (the file defining ``cls`` defines the algorithm); ``family`` groups the book's
    comparisons; ``needs_model``: the factory takes the ``nn.Module`` itself; ``ranges``: the
    ranges of its own hyperparameter names, on top of the common names' (``RANGES``).
    """

    name: str
    factory: Callable[..., torch.optim.Optimizer]
    cls: type | None
    family: str
    needs_model: bool = False
    ranges: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def signature(self) -> dict[str, inspect.Parameter]:
        """The hyperparameters the factory accepts (a ``**kw`` factory adds ``cls``'s), or
        ``{}`` when they cannot be known (a factory taking anything)."""
        try:
            params = dict(inspect.signature(self.factory).parameters)
        except (TypeError, ValueError):
            return {}
        params.pop("params", None)
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            params = {k: p for k, p in params.items() if p.kind is not p.VAR_KEYWORD}
            if self.cls is None or self.cls is self.factory:
                return {}
            inner = dict(inspect.signature(self.cls).parameters)
            inner.pop("params", None)
            params = inner | params
        return {k: p for k, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    @property
    def default_lr(self) -> float | None:
        """The learning rate used when none is given (the factory's default)."""
        lr = self.signature().get("lr")
        default = None if lr is None else lr.default
        return float(default) if isinstance(default, numbers.Real) else None


_REGISTRY: dict[str, Entry] = {}


def register(name: str, factory: Callable[..., torch.optim.Optimizer], *, replace: bool = False,
             cls: type | None = None, family: str = "user", needs_model: bool = False,
             ranges: Mapping[str, str] | None = None) -> None:
    """Add an optimizer under ``name`` so that ``build`` and ``RunSpec`` accept it.

    ``factory(params, **hyperparameters)`` is usually the optimizer class itself (then
    ``cls`` defaults to it); ``family`` is one of FAMILIES; ``ranges`` maps the optimizer's own
    hyperparameter names to one of RANGE_KINDS (the common names' ranges are ``RANGES``).
    """
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"name={name!r} is invalid: expected a lowercase identifier")
    if name in _REGISTRY and not replace:
        raise ValueError(f"optimizer {name!r} is already registered; pass replace=True to override it")
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is invalid: expected one of {', '.join(FAMILIES)}")
    if not callable(factory):
        raise ValueError(f"factory={factory!r} is invalid: expected a callable (params, **hyperparameters)")
    ranges = dict(ranges or {})
    for key, kind in ranges.items():
        if kind not in RANGE_KINDS:
            raise ValueError(f"ranges[{key!r}]={kind!r} is invalid: expected one of {', '.join(RANGE_KINDS)}")
    if cls is None and inspect.isclass(factory):
        cls = factory
    _REGISTRY[name] = Entry(name, factory, cls, family, needs_model, ranges)


for _name, _factory, _cls, _family in [
        ("sgd", _sgd, torch.optim.SGD, "classic"),
        ("momentum", _momentum, torch.optim.SGD, "classic"),
        ("nesterov", _nesterov, torch.optim.SGD, "classic"),
        ("adagrad", torch.optim.Adagrad, None, "adaptive"),
        ("rmsprop", torch.optim.RMSprop, None, "adaptive"),
        ("adadelta", torch.optim.Adadelta, None, "adaptive")]:
    register(_name, _factory, cls=_cls, family=_family)


def register_record(record: Record, *, replace: bool = False) -> None:
    """Register the optimizer a :class:`~optim.optimizers.base.Record` describes (the package
    registers every record of ``optim.optimizers`` this way)."""
    if not isinstance(record, Record):
        raise ValueError(f"record={record!r} is invalid: expected an optim.optimizers.Record")
    register(record.name, record.factory or record.cls, replace=replace, cls=record.cls, family=record.family,
             needs_model=record.needs_model, ranges=record.ranges)
    _RECORDS[record.name] = record


def records() -> list[Record]:
    """The records of the registered optimizers that have one (the package's own, then any
    registered with :func:`register_record`), in registration order."""
    return [_RECORDS[name] for name in _REGISTRY if name in _RECORDS]


_RECORDS: dict[str, Record] = {}
for _record in RECORDS:
    register_record(_record)


def adopt(found: Entry) -> None:
    """Make ``found`` the entry of its name (a worker process receiving its parent's entry)."""
    if _REGISTRY.get(found.name) is not found:
        _REGISTRY[found.name] = found


def available() -> list[str]:
    """Names accepted by :func:`build`, in the book's order."""
    return list(_REGISTRY)


def entry(name: str) -> Entry:
    """The registry entry of ``name``; a one-line error listing the valid names otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def build(name: str, params, **hyperparameters) -> torch.optim.Optimizer:
    """Construct the optimizer registered as ``name``.

    ``params`` is what torch.optim takes (tensors or param groups); ``ndadam`` also accepts
    an ``nn.Module`` and then uses :func:`optim.nd_param_groups`. Other optimizers given a
    module use its ``parameters()``.
    """
    found = entry(name)
    if isinstance(params, torch.nn.Module) and not found.needs_model:
        params = params.parameters()
    try:
        return found.factory(params, **hyperparameters)
    except TypeError as error:  # an unknown hyperparameter name
        raise ValueError(f"bad hyperparameters for {name!r}: {error}") from None


# --- validation ------------------------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    """``value`` as a finite Python float (:func:`~optim.optimizers.base.as_number` says what a number is)."""
    number = as_number(name, value)
    if not math.isfinite(number):
        raise ValueError(f"{name}={value!r} is invalid: expected a finite number")
    return number


def _canonical(name: str, value: Any, default: Any) -> Any:
    """``value`` checked against the type of ``default`` and put in one canonical form, so
    that equal settings give equal specs (``lr=1`` and ``lr=1.0``)."""
    if isinstance(default, bool):
        if isinstance(value, (bool,)) or (hasattr(value, "dtype") and str(value.dtype) == "bool"):
            return bool(value)
        raise ValueError(f"{name}={value!r} is invalid: expected True or False")
    if isinstance(default, numbers.Real):
        return _number(name, value)  # every numeric hyperparameter here is real-valued
    if isinstance(default, (tuple, list)):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{name}={value!r} is invalid: expected a tuple of {len(default)} numbers")
        items = tuple(value)
        if len(items) != len(default):
            raise ValueError(f"{name}={value!r} is invalid: expected a tuple of {len(default)} numbers")
        return tuple(_canonical(f"{name}[{i}]", v, d) for i, (v, d) in enumerate(zip(items, default)))
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{name}={value!r} is invalid: expected a string")
        return value
    # default None (foreach, fused, nd_lr, ...): None, a flag or a number
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_number(f"{name}[{i}]", v) for i, v in enumerate(value))
    if isinstance(value, str):
        return value
    return _number(name, value)


def _check_range(name: str, value: Any, kind: str | None) -> None:
    """``value`` of hyperparameter ``name`` within its range ``kind`` (one of RANGE_KINDS; None: any)."""
    if kind is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return
    if kind == "positive" and not value > 0:
        raise ValueError(f"{name}={value!r} is invalid: expected a value > 0")
    if kind == "non-negative" and not value >= 0:
        raise ValueError(f"{name}={value!r} is invalid: expected a value >= 0")
    if kind == "unit" and not 0 <= value <= 1:
        raise ValueError(f"{name}={value!r} is invalid: expected a value in [0, 1]")


def check_hyperparameters(name: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """A validated, canonical copy of ``hyperparameters`` for optimizer ``name``.

    Names must be ones the optimizer accepts; values must have the type of the default
    (numbers finite; numpy and 0-d tensor scalars count as numbers, bools do not); learning
    rates and ε must be positive, β's in [0, 1). Finally the optimizer is built once on a
    dummy parameter, so its own checks run too. Raises a one-line ``ValueError``.
    """
    found = entry(name)
    accepted = found.signature()
    ranges = RANGES | dict(found.ranges)
    out: dict[str, Any] = {}
    for key, value in dict(hyperparameters).items():
        if accepted and key not in accepted:
            raise ValueError(f"unknown hyperparameter {key!r} for {name!r}; valid names: {', '.join(accepted)}")
        default = accepted[key].default if key in accepted else None
        if default is inspect.Parameter.empty:
            default = None
        out[key] = _canonical(key, value, default)
        values = out[key] if isinstance(out[key], tuple) else (out[key],)
        for i, item in enumerate(values):
            if key == "betas":
                if not (isinstance(item, numbers.Real) and 0 <= item < 1):
                    raise ValueError(f"betas[{i}]={item!r} is invalid: expected a value in [0, 1)")
            else:
                _check_range(key, item, ranges.get(key))
    dummy: Any = torch.nn.Linear(2, 2) if found.needs_model else [torch.zeros(2, 2, requires_grad=True)]
    try:
        build(name, dummy, **out)
    except (ValueError, RuntimeError, TypeError) as error:
        raise ValueError(f"bad hyperparameters for {name!r}: {str(error).splitlines()[0]}") from None
    return out
