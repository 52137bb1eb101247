"""Our optimizers equal torch.optim's step for step wherever torch has the same algorithm."""

from __future__ import annotations

import pytest
import torch
from helpers import clone_params, make_params, run_steps

import optim

STEPS = 120
# (our class, our kwargs, torch class, torch kwargs)
CASES = [
    (optim.Adam, {}, torch.optim.Adam, {}),
    (optim.Adam, dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     torch.optim.Adam, dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (optim.Adam, dict(lr=1e-2, amsgrad=True), torch.optim.Adam, dict(lr=1e-2, amsgrad=True)),
    (optim.AdaMax, {}, torch.optim.Adamax, {}),
    (optim.AdaMax, dict(lr=1e-2, betas=(0.5, 0.9), weight_decay=0.05),
     torch.optim.Adamax, dict(lr=1e-2, betas=(0.5, 0.9), weight_decay=0.05)),
    (optim.AMSGrad, {}, torch.optim.Adam, dict(amsgrad=True)),
    (optim.AMSGrad, dict(lr=2e-2, weight_decay=1e-2),
     torch.optim.Adam, dict(lr=2e-2, weight_decay=1e-2, amsgrad=True)),
    (optim.Nadam, {}, torch.optim.NAdam, {}),
    (optim.Nadam, dict(lr=1e-2, betas=(0.95, 0.99), momentum_decay=1e-2, weight_decay=0.01),
     torch.optim.NAdam, dict(lr=1e-2, betas=(0.95, 0.99), momentum_decay=1e-2, weight_decay=0.01)),
    (optim.AdamW, {}, torch.optim.AdamW, {}),
    (optim.AdamW, dict(lr=1e-2, weight_decay=0.5, amsgrad=True),
     torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.5, amsgrad=True)),
    (optim.SGDW, dict(lr=1e-2), torch.optim.SGD, dict(lr=1e-2)),
    (optim.SGDW, dict(lr=1e-2, momentum=0.9), torch.optim.SGD, dict(lr=1e-2, momentum=0.9)),
    (optim.SGDW, dict(lr=1e-2, momentum=0.9, nesterov=True),
     torch.optim.SGD, dict(lr=1e-2, momentum=0.9, nesterov=True)),
]
IDS = [f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]


def _paths(cls):
    paths = [dict(foreach=False), dict(foreach=True)]
    if cls in (optim.Adam, optim.AdamW, optim.AMSGrad):
        paths.append(dict(fused=True))
    return paths


@pytest.mark.parametrize("ours, ours_kw, ref, ref_kw", CASES, ids=IDS)
def test_equals_torch_optim(ours, ours_kw, ref, ref_kw):
    base = make_params()
    ref_params = clone_params(base)
    expected = run_steps(ref(ref_params, foreach=False, **ref_kw), ref_params, STEPS)
    for path in _paths(ours):
        params = clone_params(base)
        got = run_steps(ours(params, **ours_kw, **path), params, STEPS)
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-7, msg=f"path {path}")


@pytest.mark.parametrize("ours, ours_kw, ref, ref_kw", CASES, ids=IDS)
def test_equals_torch_optim_in_float64(ours, ours_kw, ref, ref_kw):
    base = make_params(torch.float64, seed=3)
    ref_params = clone_params(base)
    expected = run_steps(ref(ref_params, **ref_kw), ref_params, STEPS, seed=4)
    params = clone_params(base)
    got = run_steps(ours(params, **ours_kw), params, STEPS, seed=4)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("ours, ours_kw, ref, ref_kw", CASES[:1] + CASES[7:8] + CASES[9:10],
                         ids=["Adam", "Nadam", "AdamW"])
def test_equals_torch_under_lr_scheduler(ours, ours_kw, ref, ref_kw):
    base = make_params()
    ref_params, params = clone_params(base), clone_params(base)
    ref_opt, opt = ref(ref_params, **ref_kw), ours(params, **ours_kw)
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=30)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)
    expected = run_steps(ref_opt, ref_params, 60, scheduler=ref_sched)
    got = run_steps(opt, params, 60, scheduler=sched)
    assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-7)


def test_param_groups_with_their_own_hyperparameters():
    base = make_params()
    ref_params, params = clone_params(base), clone_params(base)
    ref = torch.optim.Adam([{"params": ref_params[:2], "lr": 1e-2}, {"params": ref_params[2:]}])
    ours = optim.Adam([{"params": params[:2], "lr": 1e-2}, {"params": params[2:]}])
    for g, e in zip(run_steps(ours, params, 50), run_steps(ref, ref_params, 50)):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-7)


@pytest.fixture
def float64_default():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.mark.parametrize("ours, ours_kw, ref, ref_kw", CASES, ids=IDS)
@pytest.mark.parametrize("foreach", [False, True])
def test_equals_torch_optim_under_a_float64_default_dtype(ours, ours_kw, ref, ref_kw, foreach, float64_default):
    # torch.optim keeps its scalar state (step, Nadam's μ-product) in float64 when the default
    # dtype is float64; state kept in float32 drifts from it by ~1e-10 within 100 steps.
    base = make_params(torch.float64, seed=5)
    ref_params = clone_params(base)
    expected = run_steps(ref(ref_params, foreach=foreach, **ref_kw), ref_params, STEPS, seed=6)
    params = clone_params(base)
    got = run_steps(ours(params, foreach=foreach, **ours_kw), params, STEPS, seed=6)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("cls, kw, ref", [(optim.Adam, {}, torch.optim.Adam), (optim.AdamW, dict(weight_decay=0.1),
                                                                             torch.optim.AdamW),
                                          (optim.Adam, dict(amsgrad=True), torch.optim.Adam)])
def test_adam_family_equals_torch_bit_for_bit(cls, kw, ref):
    """The Adam chapter's claim: the single- and multi-tensor kernels follow torch.optim.Adam's
    operation order, so they agree to the last bit (and the fused path with torch's fused)."""
    base = make_params()
    for ours_path, ref_path in [(dict(foreach=False), dict(foreach=False)), (dict(foreach=True), dict(foreach=False)),
                                (dict(fused=True), dict(fused=True))]:
        ref_params, params = clone_params(base), clone_params(base)
        expected = run_steps(ref(ref_params, lr=1e-2, **kw, **ref_path), ref_params, STEPS)
        got = run_steps(cls(params, lr=1e-2, **kw, **ours_path), params, STEPS)
        assert all(torch.equal(g, e) for g, e in zip(got, expected)), ours_path
