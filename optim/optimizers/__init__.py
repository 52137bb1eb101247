"""The papers' optimizers as drop-in ``torch.optim.Optimizer`` subclasses."""

from .adam import Adam, AdamW, AMSGrad
from .adamax import AdaMax
from .nadam import Nadam
from .ndadam import NDAdam, nd_param_groups, normalize_rows_
from .sgdw import SGDW
from .swats import SWATS

__all__ = ["Adam", "AdamW", "AMSGrad", "AdaMax", "Nadam", "NDAdam", "SGDW", "SWATS",
           "nd_param_groups", "normalize_rows_"]
