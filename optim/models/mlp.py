"""Fully connected models: logistic regression and the Adam paper's 2×1000 MLP with dropout."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def logistic_regression(in_shape: tuple[int, int, int], num_classes: int, input_dropout: float = 0.0,
                        sparse_input: bool = False) -> nn.Module:
    """Multiclass logistic regression (Kingma & Ba, 2015, §6.1); ``input_dropout``: the paper's
    "dropout noise" on the IMDB bag-of-words features (50%), none by default. ``sparse_input``:
    the same model computed from each row's nonzero features only (:class:`SparseLogisticRegression`),
    faster where rows are mostly zeros (``python -m optim.sparsebench``)."""
    if sparse_input:
        return SparseLogisticRegression(math.prod(in_shape), num_classes, input_dropout)
    dropout = [nn.Dropout(input_dropout)] if input_dropout else []
    return nn.Sequential(nn.Flatten(), *dropout, nn.Linear(math.prod(in_shape), num_classes))


def bags(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A minibatch's rows as bags: (feature indices, their values, each row's offset into them),
    the nonzero entries of each row in order (``torch.nn.functional.embedding_bag``'s input)."""
    flat = x.reshape(len(x), -1)
    rows, features = flat.nonzero(as_tuple=True)
    counts = torch.bincount(rows, minlength=len(x))
    return features, flat[rows, features], torch.cat([counts.new_zeros(1), counts.cumsum(0)[:-1]])


class SparseLogisticRegression(nn.Module):
    """Logistic regression with dropout noise on the features, computed from each row's nonzero
    features: the logits are the sum of the kept features' weight columns, each times its value
    and 1/(1 − p) — inverted dropout as ``nn.Dropout`` draws it, but over the nonzero features
    only (a dropped zero is still zero), so the same model as the dense ``nn.Sequential`` of
    :func:`logistic_regression`, its weights initialized alike (an ``nn.Linear``). IMDB's reviews
    hold about 1.3% of the vocabulary."""

    def __init__(self, features: int, num_classes: int, input_dropout: float = 0.0):
        super().__init__()
        if not 0 <= input_dropout < 1:
            raise ValueError(f"input_dropout={input_dropout!r} is invalid: expected a probability in [0, 1)")
        self.p = input_dropout
        self.linear = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, values, offsets = bags(x)
        if self.training and self.p:
            values = values * (torch.rand_like(values) >= self.p) / (1 - self.p)
        return F.embedding_bag(features, self.linear.weight.t(), offsets, mode="sum",
                               per_sample_weights=values) + self.linear.bias


def mlp(in_shape: tuple[int, int, int], num_classes: int, hidden: int = 1000,
        dropout: float = 0.5, depth: int = 2, input_dropout: float | None = None) -> nn.Module:
    """``depth`` hidden layers of ``hidden`` ReLU units with dropout. The defaults are the
    Adam paper's (Kingma & Ba, 2015, §6.2: two layers of 1000, dropout 0.5 and 0.2 on the
    input); ``input_dropout=None`` means that 0.2 when there is dropout and none when
    ``dropout=0`` (a network asked for without dropout has none); ``hidden=100, depth=1,
    dropout=0`` is the one-hidden-layer network of Reddi et al. (2018, §5)."""
    if input_dropout is None:
        input_dropout = 0.2 if dropout else 0.0
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} is invalid: expected a positive integer")
    widths = [math.prod(in_shape)] + [hidden] * depth
    layers: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
    for n_in, n_out in zip(widths, widths[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.Linear(hidden, num_classes))
