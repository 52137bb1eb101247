"""The papers' optimizers as drop-in ``torch.optim.Optimizer`` subclasses.

Each module defines its optimizers and their ``RECORDS`` (:class:`~optim.optimizers.base.Record`):
the registry registers every record it finds here (:data:`RECORDS`, in module order), so adding
an optimizer to the package is adding its module.
"""

import importlib
import pkgutil

from .adam import Adam, AdamW, AMSGrad
from .adamax import AdaMax
from .base import Record
from .nadam import Nadam
from .ndadam import NDAdam, nd_param_groups, normalize_rows_
from .sgdw import SGDW
from .swats import SWATS


def _records() -> tuple[Record, ...]:
    found = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        found += getattr(importlib.import_module(f"{__name__}.{module}"), "RECORDS", ())
    return tuple(found)


RECORDS = _records()

__all__ = ["Adam", "AdamW", "AMSGrad", "AdaMax", "Nadam", "NDAdam", "SGDW", "SWATS", "Record", "RECORDS",
           "nd_param_groups", "normalize_rows_"]
