"""Variational autoencoders (Kingma & Welling, 2014): the Adam paper's MLP VAE and DeepOBS's
convolutional ``mnist_vae``.

Both take images scaled to [0, 1] (``INPUTS = "unit"``), return ``(reconstruction, mean,
log_std)`` from ``forward`` and define ``loss(x, output)``: the negative evidence lower
bound per example, a reconstruction term plus the KL divergence of the Gaussian posterior
q(z|x) = N(mean, exp(log_std)²) from the prior N(0, I),

    KL = -½ Σ_j (1 + 2·log_std_j - mean_j² - exp(2·log_std_j)),

averaged over the batch by the training engine. z = mean + ε·exp(log_std) is sampled with
the global generator in training and in evaluation alike (as DeepOBS does), so a test loss
is itself a random number.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

UNIT_INPUTS = "unit"


def kl_to_standard_normal(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_std)²) ‖ N(0, I)) per example (Kingma & Welling, 2014, App. B)."""
    return -0.5 * (1 + 2 * log_std - mean.pow(2) - torch.exp(2 * log_std)).sum(1)


class MLPVAE(nn.Module):
    """The VAE of Kingma & Ba (2015, §6.4), after Kingma & Welling (2014, §5): one hidden layer
    of 500 softplus units in the encoder and in the decoder, a 50-dimensional Gaussian latent
    variable and a Bernoulli decoder (reconstruction term: binary cross-entropy summed over
    the pixels)."""

    INPUTS = UNIT_INPUTS

    def __init__(self, in_shape: tuple[int, int, int], hidden: int = 500, latent: int = 50):
        super().__init__()
        self.in_shape = tuple(in_shape)
        pixels = math.prod(in_shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.Softplus())
        self.mean = nn.Linear(hidden, latent)
        self.log_std = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Softplus(), nn.Linear(hidden, pixels))

    def forward(self, x: torch.Tensor):
        h = self.encoder(x)
        mean, log_std = self.mean(h), self.log_std(h)
        z = mean + torch.randn_like(mean) * torch.exp(log_std)
        return self.decoder(z).view(-1, *self.in_shape), mean, log_std

    @staticmethod
    def loss(x: torch.Tensor, output) -> torch.Tensor:
        logits, mean, log_std = (t.float() for t in output)
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        return reconstruction + kl_to_standard_normal(mean, log_std)


def _glorot(module: nn.Module) -> nn.Module:
    """TF1 layers' default initialization: Glorot-uniform kernels, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def _same_4x4(channels_in: int, channels_out: int) -> nn.Sequential:
    """A stride-1 4×4 convolution with TensorFlow's 'same' padding: 1 pixel before, 2 after."""
    return nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(channels_in, channels_out, 4))


class DeepOBSVAE(nn.Module):
    """DeepOBS's ``mnist_vae`` / ``fmnist_vae`` network (``_vae.py``, TensorFlow), latent size 8.

    Encoder: three 4×4 convolutions of 64 filters (strides 2, 2, 1; 'same' padding), each with
    leaky-ReLU (α = 0.3) and dropout 0.2, then dense layers for the mean and 0.5 × the log
    standard deviation. Decoder: dense 24 and 49 (leaky-ReLU), a 7×7×1 image, three 4×4
    transposed convolutions of 64 filters (strides 2, 1, 1; ReLU; dropout after the first two
    only), a dense layer of 784 and a sigmoid. Reconstruction term: squared error summed over
    the pixels. Glorot-uniform weights and zero biases (TF1's defaults).

    A stride-1 'same' transposed convolution is a 'same' convolution with the kernel flipped;
    it is written as one here (identical function class and initial distribution; for the
    transposed layers TF puts the odd padding pixel on the other side).
    """

    INPUTS = UNIT_INPUTS

    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), latent: int = 8, dropout: float = 0.2):
        super().__init__()
        if tuple(in_shape) != (1, 28, 28):
            raise ValueError(f"in_shape={tuple(in_shape)!r} is invalid: DeepOBS's VAE takes (1, 28, 28) images")
        act = lambda: nn.LeakyReLU(0.3)  # noqa: E731
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 64, 4, stride=2, padding=1), act(), nn.Dropout(dropout),
            nn.Conv2d(64, 64, 4, stride=2, padding=1), act(), nn.Dropout(dropout),
            _same_4x4(64, 64), act(), nn.Dropout(dropout), nn.Flatten())
        self.mean = nn.Linear(7 * 7 * 64, latent)
        self.log_std = nn.Linear(7 * 7 * 64, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, 24), act(), nn.Linear(24, 49), act(), nn.Unflatten(1, (1, 7, 7)),
            nn.ConvTranspose2d(1, 64, 4, stride=2, padding=1), nn.ReLU(), nn.Dropout(dropout),
            _same_4x4(64, 64), nn.ReLU(), nn.Dropout(dropout),
            _same_4x4(64, 64), nn.ReLU(),
            nn.Flatten(), nn.Linear(14 * 14 * 64, 28 * 28), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
        _glorot(self)

    def forward(self, x: torch.Tensor):
        h = self.encoder(x)
        mean, log_std = self.mean(h), 0.5 * self.log_std(h)
        z = mean + torch.randn_like(mean) * torch.exp(log_std)
        return self.decoder(z), mean, log_std

    @staticmethod
    def loss(x: torch.Tensor, output) -> torch.Tensor:
        reconstruction, mean, log_std = (t.float() for t in output)
        return (reconstruction - x).pow(2).flatten(1).sum(1) + kl_to_standard_normal(mean, log_std)


def vae(in_shape: tuple[int, int, int], num_classes: int, hidden: int = 500, latent: int = 50) -> nn.Module:
    """The Adam paper's VAE (§6.4); ``num_classes`` is ignored (the labels are not used)."""
    return MLPVAE(in_shape, hidden, latent)


def deepobs_vae(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """DeepOBS's ``mnist_vae`` / ``fmnist_vae`` model; ``num_classes`` is ignored."""
    return DeepOBSVAE(in_shape)
