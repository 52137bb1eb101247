"""optim — the optimizer papers, replicated: algorithms, experiments and the book's tools.

>>> import optim, torch
>>> model = torch.nn.Linear(4, 2)
>>> opt = optim.build("adamw", model.parameters(), lr=1e-3)

The algorithms are ``torch.optim.Optimizer`` subclasses (``optim.Adam``, ``optim.SWATS``,
...); :func:`build` and :func:`available` name them all, torch.optim's classics included.
"""

from .optimizers import SGDW, SWATS, Adam, AdaMax, AdamW, AMSGrad, Nadam, NDAdam, Record, nd_param_groups, normalize_rows_
from .registry import available, build, register, register_record
from .schedules import noam, noam_factor, normalized_weight_decay, sgdr, step_decay

__version__ = "0.1.0"

__all__ = ["Adam", "AdaMax", "AMSGrad", "Nadam", "AdamW", "SGDW", "SWATS", "NDAdam",
           "nd_param_groups", "normalize_rows_", "build", "available", "register", "register_record", "Record",
           "sgdr", "step_decay",
           "noam", "noam_factor", "normalized_weight_decay", "__version__"]
