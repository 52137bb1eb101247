"""Models by name: ``build_model(name, in_shape, num_classes, **options)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from torch import nn

from .convnets import allconv, cifarnet, cnn, elu_net
from .mlp import logistic_regression, mlp
from .resnets import resnet18, resnet20, resnet32, wide_resnet

MODELS: dict[str, Callable[..., nn.Module]] = {
    "logreg": logistic_regression,
    "mlp": mlp,
    "cnn": cnn,
    "allconv": allconv,
    "elu": elu_net,
    "cifarnet": cifarnet,
    "resnet18": resnet18,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "wrn": wide_resnet,
}
INPUT_SHAPES = ((1, 28, 28), (3, 32, 32))


def build_model(name: str, in_shape: tuple[int, int, int], num_classes: int, **options) -> nn.Module:
    """Instantiate the model registered as ``name`` for images of ``in_shape`` (C, H, W)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape={in_shape!r} is invalid: expected (channels, height, width)")
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is invalid: expected at least 2")
    try:
        return MODELS[name](tuple(in_shape), num_classes, **options)
    except TypeError as error:
        raise ValueError(f"bad options for model {name!r}: {error}") from None


def model_source_file(name: str) -> Path:
    """The file defining model ``name`` (part of the run cache's code fingerprint)."""
    return Path(inspect.getsourcefile(MODELS[name]))


__all__ = ["MODELS", "INPUT_SHAPES", "build_model", "model_source_file"]
