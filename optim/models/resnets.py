"""Residual networks: ResNet-18 (CIFAR variant), ResNet-20/32 (He et al., 2016) and the wide
ResNet with batch norm before every convolution used by ND-Adam (Zhang et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, shortcut: str = "conv"):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        self.pad = 0
        if stride != 1 or c_in != c_out:
            if shortcut == "conv":  # option B of He et al.
                self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                              nn.BatchNorm2d(c_out))
            else:  # option A (CIFAR ResNet-20/32): subsample and zero-pad the channels
                self.shortcut = nn.AvgPool2d(1, stride)
                self.pad = c_out - c_in

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = self.shortcut(x)
        if self.pad:
            skip = F.pad(skip, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + skip)


class ResNet(nn.Module):
    def __init__(self, in_shape, num_classes, widths, blocks, shortcut):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_shape[0], widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, c_in = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(c_in, width, 2 if (i > 0 and j == 0) else 1, shortcut))
                c_in = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet18(in_shape, num_classes) -> nn.Module:
    """ResNet-18, CIFAR variant: 3×3 stem, no max pool, widths 64–512, 2 blocks per stage."""
    return ResNet(in_shape, num_classes, (64, 128, 256, 512), (2, 2, 2, 2), "conv")


def resnet20(in_shape, num_classes) -> nn.Module:
    """ResNet-20 (He et al., 2016, §4.2): 3 stages of 3 blocks, widths 16/32/64, option-A shortcuts."""
    return ResNet(in_shape, num_classes, (16, 32, 64), (3, 3, 3), "pad")


def resnet32(in_shape, num_classes) -> nn.Module:
    """ResNet-32: 3 stages of 5 blocks, widths 16/32/64, option-A shortcuts."""
    return ResNet(in_shape, num_classes, (16, 32, 64), (5, 5, 5), "pad")


class PreActBlock(nn.Module):
    """BN-ReLU-conv, twice: batch norm before every convolution (Zagoruyko & Komodakis, 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class BatchNormSoftmax(nn.Module):
    """ND-Adam's batch-normalized softmax (Zhang et al., 2017, §4): logits normalized by a
    non-affine batch norm, then multiplied by a fixed scale that sets the softmax temperature."""

    def __init__(self, num_classes: int, scale: float):
        super().__init__()
        self.bn = nn.BatchNorm1d(num_classes, affine=False)
        self.scale = scale

    def forward(self, logits):
        return self.scale * self.bn(logits)


class WideResNet(nn.Module):
    def __init__(self, in_shape, num_classes, depth=16, widen=4, logit_scale: float | None = 2.5,
                 bn_scale_fixed: bool = False, logit_penalty: float = 0.0):
        super().__init__()
        if logit_penalty < 0:
            raise ValueError(f"logit_penalty={logit_penalty!r} is invalid: expected a number >= 0")
        if (depth - 4) % 6:
            raise ValueError(f"depth={depth!r} is invalid: expected 6n + 4 (10, 16, 22, 28, ...)")
        n = (depth - 4) // 6
        widths = (16 * widen, 32 * widen, 64 * widen)
        self.stem = nn.Conv2d(in_shape[0], 16, 3, 1, 1, bias=False)
        layers, c_in = [], 16
        for i, width in enumerate(widths):
            for j in range(n):
                layers.append(PreActBlock(c_in, width, 2 if (i > 0 and j == 0) else 1))
                c_in = width
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)
        self.logit_norm = BatchNormSoftmax(num_classes, logit_scale) if logit_scale else None
        self.logit_penalty = logit_penalty
        if bn_scale_fixed:  # γ = 1 throughout: the batch norms stay scale-invariant (ND-Adam's assumption)
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.weight.requires_grad_(False)

    def penalty(self, logits: torch.Tensor) -> torch.Tensor | None:
        """The training loss's extra term: ND-Adam's logit regularization (the authors' code:
        ``logit_penalty`` × ½·mean over the batch of ‖z‖², with z the logits); None when off."""
        if not self.logit_penalty:
            return None
        return self.logit_penalty * 0.5 * logits.float().pow(2).sum(1).mean()

    def forward(self, x):
        x = F.relu(self.bn(self.layers(self.stem(x))))
        logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return self.logit_norm(logits) if self.logit_norm is not None else logits


def wide_resnet(in_shape, num_classes, depth: int = 16, widen: int = 4,
                logit_scale: float | None = 2.5, bn_scale_fixed: bool = False, logit_penalty: float = 0.0) -> nn.Module:
    """WRN-depth-widen with pre-activation blocks (BN before every conv) and the BN-softmax
    (``logit_scale``; None: plain logits). ND-Adam's authors' code holds every batch norm's
    scale γ at 1 (``bn_scale_fixed``) and regularizes the logits instead of normalizing them
    (``logit_scale=None, logit_penalty=1e-3``)."""
    return WideResNet(in_shape, num_classes, depth, widen, logit_scale, bn_scale_fixed, logit_penalty)
