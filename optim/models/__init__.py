"""Models by name: ``build_model(name, in_shape, num_classes, **options)``.

A classifier maps standardized images to logits and is trained on the cross-entropy. A model
may instead declare ``INPUTS = "unit"`` (it takes pixels scaled to [0, 1], as DeepOBS feeds
them) and define ``loss(x, output)``, its own per-example objective (the autoencoders, which
ignore the labels); :func:`is_autoencoder` and :func:`input_scaling` tell the engine. A language
model (:data:`LANGUAGE_MODELS`) maps token ids to next-token logits (``optim.language`` trains it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from torch import nn

from .autoencoders import deepobs_vae, vae
from .convnets import allconv, cifarnet, cnn, deepobs_2c2d, elu_net
from .lstm import lstm_lm
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
    "deepobs_2c2d": deepobs_2c2d,
    "vae": vae,
    "deepobs_vae": deepobs_vae,
    "lstm_lm": lstm_lm,
}
INPUT_SHAPES = ((1, 28, 28), (3, 32, 32))
# Models defined for one image size only (every other model adapts to INPUT_SHAPES).
FIXED_SHAPES = {"deepobs_vae": ((1, 28, 28),)}
# Models that take any input, flattened: the only ones for a dataset of feature vectors (IMDB's words).
FLAT_INPUT = ("logreg", "mlp")
# Language models: they read a token stream (a dataset of shape (1, 1, 1), optim.data.TOKEN_STREAMS)
# and nothing else does; the engine trains them by truncated backpropagation (optim.language).
LANGUAGE_MODELS = ("lstm_lm",)


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


def is_autoencoder(model: nn.Module) -> bool:
    """Whether ``model`` defines its own objective (``loss(x, output)``) instead of logits."""
    return callable(getattr(model, "loss", None))


def input_scaling(model: nn.Module) -> str:
    """How ``model`` wants its pixels: "unit" ([0, 1]) or "standardized" (zero mean, unit variance)."""
    return getattr(model, "INPUTS", "standardized")


def model_source_file(name: str) -> Path:
    """The file defining model ``name`` (part of the run cache's code fingerprint)."""
    return Path(inspect.getsourcefile(MODELS[name]))


__all__ = ["MODELS", "INPUT_SHAPES", "FIXED_SHAPES", "FLAT_INPUT", "LANGUAGE_MODELS", "build_model", "input_scaling",
           "is_autoencoder", "model_source_file"]
