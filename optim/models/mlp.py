"""Fully connected models: logistic regression and the Adam paper's 2×1000 MLP with dropout."""

from __future__ import annotations

import math

from torch import nn


def logistic_regression(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Multiclass logistic regression (Kingma & Ba, 2015, §6.1)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), num_classes))


def mlp(in_shape: tuple[int, int, int], num_classes: int, hidden: int = 1000,
        dropout: float = 0.5) -> nn.Module:
    """Two hidden layers of 1000 ReLU units with dropout (Kingma & Ba, 2015, §6.2)."""
    return nn.Sequential(
        nn.Flatten(), nn.Dropout(0.2),
        nn.Linear(math.prod(in_shape), hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes))
