"""Numerical checks the chapters show beside their runs, each stored like a run
(:func:`optim.runner.computed`) so that a build from stored results does not recompute it:
Nadam against torch's NAdam on the book's CNN, and ND-Adam's scale invariance on a WRN."""

from __future__ import annotations

import pandas as pd
import torch
from torch.nn.functional import cross_entropy

from . import data as datasets
from .models import build_model
from .optimizers import Nadam, nd_param_groups
from .runner import computed


def _parity(dataset: str, steps: int, seed: int, lr: float = 2e-3) -> float:
    batch = datasets.load(dataset, "train", n=64)
    x = batch.standardized()
    models = []
    for _ in range(2):
        torch.manual_seed(seed)
        models.append(build_model("cnn", batch.shape, batch.num_classes).eval())
    pair = (Nadam(models[0].parameters(), lr=lr), torch.optim.NAdam(models[1].parameters(), lr=lr))
    for _ in range(steps):
        for model, opt in zip(models, pair):
            opt.zero_grad()
            cross_entropy(model(x), batch.y).backward()
            opt.step()
    return max((a - b).abs().max().item() for a, b in zip(models[0].parameters(), models[1].parameters()))


def nadam_parity(dataset: str, steps: int, seed: int, profile: str) -> float:
    """The largest difference in any weight between two copies of the CNN (same seed) after
    ``steps`` full-batch steps on 64 images, one trained by :class:`optim.Nadam` and one by
    ``torch.optim.NAdam``, both at lr = 0.002 (Dozat's momentum schedule, ψ = 0.004)."""
    return computed("nadam parity", lambda: _parity(dataset, steps, seed), profile, dataset=dataset, steps=steps,
                    seed=seed)


def _scale_check(dataset: str, model_args: dict, c: float, seed: int) -> pd.DataFrame:
    batch = datasets.load(dataset, "train", n=256)
    x = batch.standardized()
    torch.manual_seed(seed)
    model = build_model("wrn", batch.shape, batch.num_classes, **model_args).train()
    names = {id(p): n for n, p in model.named_parameters()}

    def forward_and_grad(p):
        model.zero_grad()
        out = model(x)
        cross_entropy(out, batch.y).backward()
        return out.detach(), p.grad.norm().item()

    rows = []
    for p in nd_param_groups(model)[0]["params"]:
        out1, g1 = forward_and_grad(p)
        with torch.no_grad():
            p.mul_(c)
        out2, g2 = forward_and_grad(p)
        with torch.no_grad():
            p.div_(c)
        rows.append(dict(tensor=names[id(p)], output_change=(out1 - out2).abs().max().item(), gradient_ratio=g1 / g2))
    return pd.DataFrame(rows)


def scale_check(dataset: str, model_args: dict, c: float, seed: int, profile: str) -> pd.DataFrame:
    """ND-Adam's premise (Zhang et al. 2017, §3): each weight tensor it normalizes feeds a
    batch-normalized layer, so scaling the tensor by ``c`` leaves the network's output
    unchanged and divides its gradient by ``c``. Per normalized tensor of a WRN (``model_args``)
    on 256 training images: the largest change of the output and the ratio of gradient norms
    before/after."""
    return computed("nd-adam scale check", lambda: _scale_check(dataset, model_args, c, seed), profile,
                    dataset=dataset, model_args=model_args, c=c, seed=seed)
