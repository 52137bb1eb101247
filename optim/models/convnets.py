"""Convolutional nets of the blog posts and the AMSGrad paper; all adapt to 28×28 or 32×32 inputs."""

from __future__ import annotations

from torch import nn

# Pool, then activate. Max pooling commutes with a non-decreasing activation:
# max(f(a), f(b)) = f(max(a, b)), and the backward pass routes the same gradient to the same
# input, so "conv, pool, ReLU" computes exactly what the published "conv, ReLU, pool" does
# (bit for bit in fp32 and under bf16 autocast, tested in tests/test_models.py) with the
# activation on a quarter of the values. On the CPU under bf16 autocast the activation's
# passes cost more than the convolution's: a `cnn` training step is 1.36x faster so. These
# layers hold no parameters, so state-dict keys and initialization are unchanged. (ELU stays in
# its published place: its bf16 backward pass rounds differently on tensors of other sizes.)


def cnn(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The small CNN of the classic MNIST optimizer comparison (Keras' mnist_cnn):
    conv32-conv64-maxpool-dropout-fc128-dropout-softmax. Pooling comes before the second ReLU
    (the same function, faster; see the note at the top of this module)."""
    c, h, w = in_shape
    return nn.Sequential(
        nn.Conv2d(c, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * ((h - 4) // 2) * ((w - 4) // 2), 128),
        nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, num_classes))


def allconv(in_shape: tuple[int, int, int], num_classes: int, width: int = 96) -> nn.Module:
    """A reduced All-Convolutional Net (Springenberg et al., 2015): strided convs instead of
    pooling and a 1×1-conv classifier with global average pooling."""
    c, _, _ = in_shape
    w2 = 2 * width
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(width, w2, 3, padding=1), nn.ReLU(),
        nn.Conv2d(w2, w2, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(),
        nn.Conv2d(w2, num_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def elu_net(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The ELU network of the blog posts (Clevert et al., 2016 style): conv blocks with ELU,
    max pooling and dropout."""
    c, h, w = in_shape
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ELU(), nn.Conv2d(32, 32, 3, padding=1), nn.ELU(),
        nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ELU(), nn.Conv2d(64, 64, 3, padding=1), nn.ELU(),
        nn.MaxPool2d(2), nn.Dropout(0.3), nn.Flatten(),
        nn.Linear(64 * (h // 4) * (w // 4), 256), nn.ELU(), nn.Dropout(0.5),
        nn.Linear(256, num_classes))


def cifarnet(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """CIFARNET (Reddi et al., 2018, §5): two 5×5 conv layers of 64 channels, each with max
    pooling and local response normalization, then fully connected layers of 384 and 192."""
    c, h, w = in_shape
    return nn.Sequential(
        nn.Conv2d(c, 64, 5, padding=2), nn.MaxPool2d(3, 2, padding=1), nn.ReLU(),  # pool, then activate (see the top)
        nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1.0),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(),
        nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1.0), nn.MaxPool2d(3, 2, padding=1),
        nn.Flatten(), nn.Linear(64 * ((h + 3) // 4) * ((w + 3) // 4), 384), nn.ReLU(),
        nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, num_classes))


def deepobs_2c2d(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """DeepOBS's ``fmnist_2c2d`` / ``mnist_2c2d`` (``_2c2d.py``): two 5×5 'same' convolutions of
    32 and 64 filters, each with ReLU and 2×2 max pooling, a dense layer of 1024 ReLU units and
    a linear output; no dropout, no batch-norm; pixels scaled to [0, 1]. Weights from a normal distribution with
    std 0.05 truncated at two standard deviations, biases 0.05 (DeepOBS's initialization)."""
    c, h, w = in_shape
    net = nn.Sequential(
        nn.Conv2d(c, 32, 5, padding=2), nn.MaxPool2d(2, 2, ceil_mode=True), nn.ReLU(),  # pool, then activate (see the top)
        nn.Conv2d(32, 64, 5, padding=2), nn.MaxPool2d(2, 2, ceil_mode=True), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * -(-h // 4) * -(-w // 4), 1024), nn.ReLU(), nn.Linear(1024, num_classes))
    for layer in net:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(layer.weight, std=0.05, a=-0.1, b=0.1)
            nn.init.constant_(layer.bias, 0.05)
    net.INPUTS = "unit"  # DeepOBS feeds pixels / 255, not standardized ones
    return net
