"""Fully connected models: logistic regression and the Adam paper's 2×1000 MLP with dropout."""

from __future__ import annotations

import math

from torch import nn


def logistic_regression(in_shape: tuple[int, int, int], num_classes: int, input_dropout: float = 0.0) -> nn.Module:
    """Multiclass logistic regression (Kingma & Ba, 2015, §6.1); ``input_dropout``: the paper's
    "dropout noise" on the IMDB bag-of-words features (50%), none by default."""
    dropout = [nn.Dropout(input_dropout)] if input_dropout else []
    return nn.Sequential(nn.Flatten(), *dropout, nn.Linear(math.prod(in_shape), num_classes))


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
