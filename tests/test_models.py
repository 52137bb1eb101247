"""The models of published test problems against their definitions: DeepOBS's ``fmnist_2c2d``
and ``mnist_vae`` (as read from DeepOBS's TensorFlow source, ../shared/reference-results) and
the Adam paper's VAE (Kingma & Ba, 2015, §6.4; Kingma & Welling, 2014)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from optim import runner
from optim.models import build_model, input_scaling, is_autoencoder
from optim.spec import RunSpec


def dense(n_in, n_out):
    return n_in * n_out + n_out


def conv(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def test_2c2d_matches_deepobs_layer_by_layer():
    model = build_model("deepobs_2c2d", (1, 28, 28), 10)
    published = [conv(1, 32, 5), conv(32, 64, 5), dense(7 * 7 * 64, 1024), dense(1024, 10)]
    sizes = [m.weight.numel() + m.bias.numel() for m in model.modules() if hasattr(m, "weight")]
    assert sizes == published and sum(sizes) == 3_274_634
    assert not any(isinstance(m, (torch.nn.Dropout, torch.nn.BatchNorm2d)) for m in model.modules())
    assert input_scaling(model) == "unit"  # DeepOBS divides the pixels by 255 and nothing else


def test_2c2d_initialization_is_deepobs_truncated_normal():
    torch.manual_seed(0)
    model = build_model("deepobs_2c2d", (1, 28, 28), 10)
    weight = model[7].weight.detach().numpy().ravel()  # the 3136 × 1024 dense layer
    assert np.abs(weight).max() <= 0.1 + 1e-7  # truncated at two standard deviations
    expected_std = stats.truncnorm(-2, 2, scale=0.05).std()
    assert weight.std() == pytest.approx(expected_std, rel=0.01)
    assert all(torch.all(m.bias == 0.05) for m in model.modules() if hasattr(m, "bias") and m.bias is not None)


def test_deepobs_vae_matches_the_published_definition():
    model = build_model("deepobs_vae", (1, 28, 28), 10)
    encoder = [conv(1, 64, 4), conv(64, 64, 4), conv(64, 64, 4), dense(3136, 8), dense(3136, 8)]
    decoder = [dense(8, 24), dense(24, 49), conv(1, 64, 4), conv(64, 64, 4), conv(64, 64, 4), dense(14 * 14 * 64, 784)]
    assert sum(p.numel() for p in model.parameters()) == sum(encoder) + sum(decoder) == 10_151_489
    assert is_autoencoder(model) and input_scaling(model) == "unit"
    x = torch.rand(5, 1, 28, 28)
    h = x
    shapes = []
    for layer in model.encoder:
        h = layer(h)
        if isinstance(layer, torch.nn.LeakyReLU):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 14, 14), (64, 7, 7), (64, 7, 7)]  # strides 2, 2, 1 with 'same' padding
    biases = [m.bias for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert all(torch.all(b == 0) for b in biases)
    recon, mean, log_std = model.eval()(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1  # a sigmoid output


def test_vae_losses_are_the_negative_elbo_of_their_papers():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    mean, log_std = torch.randn(4, 8), 0.3 * torch.randn(4, 8)
    recon = torch.rand(4, 1, 28, 28)
    m, s, xr, xx = (t.double().numpy() for t in (mean, log_std, recon, x))
    kl = 0.5 * (np.exp(2 * s) + m ** 2 - 1 - 2 * s).sum(1)  # KL(N(m, e^{2s}) || N(0, 1))
    squared = ((xr - xx) ** 2).reshape(4, -1).sum(1)
    deepobs = build_model("deepobs_vae", (1, 28, 28), 10)
    np.testing.assert_allclose(deepobs.loss(x, (recon, mean, log_std)).numpy(), squared + kl, rtol=1e-5)
    logits = torch.randn(4, 1, 28, 28)
    p = 1 / (1 + np.exp(-logits.double().numpy()))
    bernoulli = -(xx * np.log(p) + (1 - xx) * np.log(1 - p)).reshape(4, -1).sum(1)
    adam_vae = build_model("vae", (1, 28, 28), 10)
    np.testing.assert_allclose(adam_vae.loss(x, (logits, mean, log_std)).numpy(), bernoulli + kl, rtol=1e-5)


def test_adam_paper_vae_has_500_softplus_units_and_50_latents():
    model = build_model("vae", (1, 28, 28), 10)
    assert sum(p.numel() for p in model.parameters()) == dense(784, 500) + 2 * dense(500, 50) + dense(50, 500) + dense(500, 784)
    assert sum(isinstance(m, torch.nn.Softplus) for m in model.modules()) == 2
    assert model.mean.out_features == 50 and input_scaling(model) == "unit"


@pytest.mark.parametrize("model", ["vae", "deepobs_vae", "deepobs_2c2d"])
def test_one_training_run_lowers_the_loss_and_records_no_accuracy_for_autoencoders(model, tmp_path):
    spec = RunSpec(model, "digits", "adam", dict(lr=1e-3), epochs=2, batch_size=64, n_train=256, n_test=64)
    frame = runner.run_many([spec], root=tmp_path, progress=False)
    assert frame["test_loss"].iloc[-1] < frame["test_loss"].iloc[0]
    assert ("test_acc" in frame and frame["test_acc"].notna().all()) == (model == "deepobs_2c2d")


def test_a_fixed_size_model_refuses_another_image_size_at_spec_time():
    with pytest.raises(ValueError, match=r"dataset='cifar10' is invalid: expected a dataset of \(1, 28, 28\)"):
        RunSpec("deepobs_vae", "cifar10", "adam")


def test_wide_resnet_as_the_nd_adam_authors_train_it():
    torch.manual_seed(0)
    model = build_model("wrn", (1, 28, 28), 10, depth=10, widen=1, logit_scale=None, bn_scale_fixed=True,
                        logit_penalty=1e-3)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.weight.requires_grad and torch.all(m.weight == 1) for m in bns)
    assert all(m.bias.requires_grad for m in bns)
    logits = torch.randn(4, 10)
    expected = 1e-3 * 0.5 * float((logits.double() ** 2).sum(1).mean())  # the authors' logitDecay term
    assert float(model.penalty(logits)) == pytest.approx(expected, rel=1e-6)
    assert build_model("wrn", (1, 28, 28), 10, depth=10, widen=1).penalty(logits) is None
    with pytest.raises(ValueError, match="logit_penalty=-1"):
        build_model("wrn", (1, 28, 28), 10, depth=10, widen=1, logit_penalty=-1)


def test_a_penalty_enters_the_training_loss_and_not_the_reported_test_loss(tmp_path):
    from optim.training import batch_loss

    torch.manual_seed(0)
    model = build_model("wrn", (1, 28, 28), 10, depth=10, widen=1, logit_scale=None, logit_penalty=0.5).eval()
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    logits, plain = batch_loss(model, x, y, amp=False)
    _, penalized = batch_loss(model, x, y, amp=False, training=True)
    assert float(penalized - plain) == pytest.approx(float(0.5 * 0.5 * (logits ** 2).sum(1).mean()), rel=1e-5)


def _published_order(net: nn.Sequential) -> nn.Sequential:
    """The same layers (shared parameters) with every "pool, activate" pair put back in the
    published "activate, pool" order."""
    layers = list(net)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("name", ["cnn", "cifarnet", "deepobs_2c2d"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-channels-last"])
def test_pooling_before_the_activation_is_the_published_network_bit_for_bit(name, bf16):
    torch.manual_seed(0)
    net = build_model(name, (1, 28, 28), 10)
    reference = _published_order(net)
    assert [type(m) for m in reference] != [type(m) for m in net]  # the order did change
    x = torch.randn(16, 1, 28, 28)
    if bf16:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    results = []
    for model in (net, reference):
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        out.float().square().sum().backward()
        results.append((out.detach().clone(), [p.grad.clone() for p in model.parameters()]))
    (out_a, grads_a), (out_b, grads_b) = results
    assert torch.equal(out_a, out_b)
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))


@pytest.mark.parametrize("options, rates", [
    ({}, [0.2, 0.5, 0.5]),                              # the Adam paper's MLP: 20% on the input, 50% after each layer
    (dict(dropout=0.0), [0.0, 0.0, 0.0]),               # asked for without dropout: none, on the input neither
    (dict(dropout=0.0, input_dropout=0.1), [0.1, 0.0, 0.0]),
    (dict(dropout=0.3, input_dropout=0.0), [0.0, 0.3, 0.3]),
])
def test_an_mlp_has_the_dropout_it_is_asked_for_and_none_when_asked_for_none(options, rates):
    from torch import nn

    model = build_model("mlp", (1, 28, 28), 10, **options)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == rates
