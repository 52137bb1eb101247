"""torch.optim conventions: paths, state_dict, validation, sparse grads, registry, schedules."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from helpers import clone_params, make_params, run_steps

import optim

OURS = {
    "adam": dict(amsgrad=True, weight_decay=0.01),
    "adamax": dict(weight_decay=0.01),
    "amsgrad": dict(bias_correction=False),
    "nadam": dict(weight_decay=0.01),
    "nadam-dozat": dict(variant="dozat"),
    "adamw": dict(),
    "sgdw": dict(momentum=0.9, nesterov=True, weight_decay=0.01),
    "swats": dict(switch_eps=1e-4),
    "ndadam": dict(),
}


def build(key, params, **kw):
    name = key.split("-")[0]
    if name == "ndadam":
        params = [{"params": [p for p in params if p.dim() >= 2], "nd": True},
                  {"params": [p for p in params if p.dim() < 2]}]
    return optim.build(name, params, **OURS[key], **kw)


SMALL, LARGE = (32, 32), (256, 256)  # 4 KiB and 256 KiB of float32: either side of the CPU threshold


@pytest.mark.parametrize("name, kwargs, shape, expected", [
    ("adam", {}, SMALL, "fused"),                       # torch's fused kernel where it applies
    ("adamw", {}, LARGE, "fused"),
    ("adam", dict(foreach=True), LARGE, "multi"),       # an explicit foreach wins over fused
    ("adam", dict(foreach=False), SMALL, "single"),
    ("adam", dict(fused=False), SMALL, "multi"),         # the CPU default by tensor size
    ("adam", dict(fused=False), LARGE, "single"),
    ("amsgrad", dict(bias_correction=False), SMALL, "multi"),  # the fused kernel always corrects
    ("nadam", {}, SMALL, "multi"),
    ("nadam", {}, LARGE, "single"),
    ("adamax", dict(foreach=True), LARGE, "multi"),
])
def test_one_place_picks_each_groups_kernel(name, kwargs, shape, expected):
    params = [torch.nn.Parameter(torch.randn(shape)), torch.nn.Parameter(torch.randn(shape[0]))]
    opt = optim.build(name, params, **kwargs)
    assert opt.kernel_path(opt.param_groups[0]) == expected


@pytest.mark.parametrize("key", OURS)
@pytest.mark.parametrize("foreach, path", [(False, "single"), (True, "multi")])
def test_step_runs_the_kernel_of_the_chosen_path(key, foreach, path, monkeypatch):
    """Every optimizer's step goes through its module's kernel table (the one dispatch)."""
    params = make_params()
    opt = build(key, params, foreach=foreach)
    ran = []
    real = opt._update
    monkeypatch.setattr(opt, "_update", lambda group, ps, gs, ss, chosen: (ran.append(chosen), real(group, ps, gs, ss, chosen)))
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()
    assert ran and set(ran) == {path}


@pytest.mark.parametrize("key", OURS)
def test_foreach_and_single_tensor_paths_are_bit_identical(key):
    base = make_params()
    results = []
    for foreach in (False, True):
        params = clone_params(base)
        extra = dict(fused=False) if key in ("adam", "adamw", "amsgrad") else {}
        results.append(run_steps(build(key, params, foreach=foreach, **extra), params, 300))
    for a, b in zip(*results):
        assert torch.equal(a, b)


@pytest.mark.parametrize("key", OURS)
def test_state_dict_round_trip_continues_in_lockstep(key):
    base = make_params()
    params_a = clone_params(base)
    opt_a = build(key, params_a)
    run_steps(opt_a, params_a, 40)
    saved = copy.deepcopy(opt_a.state_dict())
    params_b = [p.detach().clone().requires_grad_(True) for p in params_a]
    opt_b = build(key, params_b)
    opt_b.load_state_dict(saved)
    a = run_steps(opt_a, params_a, 40, seed=9)
    b = run_steps(opt_b, params_b, 40, seed=9)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_swats_phase_survives_state_dict():
    params = make_params(torch.float64)
    opt = optim.SWATS(params, switch_eps=1e-4)
    run_steps(opt, params, 300)
    clone = optim.SWATS(params, switch_eps=1e-4)
    clone.load_state_dict(opt.state_dict())
    assert [clone.phase(p) for p in params] == [opt.phase(p) for p in params]
    assert [clone.sgd_lr(p) for p in params] == [opt.sgd_lr(p) for p in params]


BAD = [
    ("adam", dict(lr=-1.0), "lr=-1.0"),
    ("adam", dict(betas=(1.0, 0.999)), "betas[0]=1.0"),
    ("adam", dict(betas=(0.9,)), "betas=(0.9,)"),
    ("adam", dict(eps=-1e-8), "eps=-1e-08"),
    ("adam", dict(weight_decay=float("nan")), "weight_decay=nan"),
    ("adam", dict(foreach="yes"), "foreach='yes'"),
    ("adam", dict(fused=True, foreach=True), "mutually exclusive"),
    ("adamax", dict(betas=(0.9, -0.1)), "betas[1]=-0.1"),
    ("amsgrad", dict(bias_correction="no"), "bias_correction='no'"),
    ("nadam", dict(momentum_decay=-1), "momentum_decay=-1"),
    ("nadam", dict(variant="keras"), "variant='keras'"),
    ("sgdw", dict(momentum=1.5), "momentum=1.5"),
    ("sgdw", dict(nesterov=True), "nesterov=True needs momentum"),
    ("swats", dict(switch_eps=-1), "switch_eps=-1"),
    ("swats", dict(granularity="layer"), "granularity='layer' is invalid: expected one of 'tensor', 'model'"),
    ("adam", dict(lr="fast"), "lr='fast'"),
    ("adam", dict(momentum=0.9), "bad hyperparameters for 'adam'"),
]


@pytest.mark.parametrize("name, kw, message", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_invalid_hyperparameters_raise_one_line_value_error(name, kw, message):
    with pytest.raises(ValueError) as info:
        optim.build(name, make_params(), **kw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_optimizer_lists_valid_names():
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'; valid names: sgd, momentum"):
        optim.build("adamm", make_params())


def test_nd_group_rejects_vectors_and_weight_decay():
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        optim.NDAdam([{"params": [torch.zeros(7, requires_grad=True)], "nd": True}])
    with pytest.raises(ValueError, match="weight_decay=0.1 is invalid for an nd group"):
        optim.NDAdam([{"params": [torch.ones(2, 2, requires_grad=True)], "nd": True}], weight_decay=0.1)


@pytest.mark.parametrize("name", ["adam", "adamax", "amsgrad", "nadam", "adamw", "sgdw", "swats", "ndadam"])
def test_sparse_gradients_are_rejected(name):
    p = torch.zeros(4, 3, requires_grad=True)
    opt = optim.build(name, [p])
    p.grad = torch.sparse_coo_tensor([[0], [1]], [1.0], (4, 3))
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        opt.step()


def test_step_returns_closure_loss_and_skips_params_without_grad():
    a, b = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (a ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 3.0
    assert torch.equal(b, torch.ones(3)) and b not in opt.state
    assert (a < 1).all()


def test_available_lists_torchs_optimizers_then_every_record_of_the_package():
    from optim.optimizers import RECORDS

    assert optim.available() == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta",
                                 *(r.name for r in RECORDS)]
    assert {r.name for r in RECORDS} == {"adam", "adamax", "amsgrad", "nadam", "adamw", "sgdw", "swats", "ndadam"}


def test_ndadam_built_from_a_module_uses_nd_param_groups():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    opt = optim.build("ndadam", net)
    assert [g["nd"] for g in opt.param_groups] == [True, False]


# --- schedules -------------------------------------------------------------------------
def test_noam_schedule_matches_the_transformer_formula():
    p = torch.zeros(1, requires_grad=True)
    opt = optim.Adam([p], lr=1.0)
    sched = optim.noam(opt, d_model=512, warmup=4000)
    lrs = []
    for _ in range(8000):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert peak == 3999  # t = 4000 is the end of the warm-up
    assert lrs[0] == pytest.approx(512 ** -0.5 * 4000 ** -1.5)
    assert lrs[7999] == pytest.approx(512 ** -0.5 * 8000 ** -0.5)


def test_sgdr_restarts_per_batch_and_doubles_the_period():
    p = torch.zeros(1, requires_grad=True)
    opt = optim.SGDW([p], lr=0.1)
    sched = optim.sgdr(opt, steps_per_epoch=10, t_0=1, t_mult=2)
    lrs = []
    for _ in range(70):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    restarts = [i for i in range(1, 70) if lrs[i] > lrs[i - 1]]
    assert restarts == [10, 30]  # periods of 10 and 20 batches
    assert lrs[5] == pytest.approx(0.05 * (1 + math.cos(math.pi * 5 / 10)))


def test_sgdr_per_epoch_holds_the_rate_within_an_epoch_and_follows_eq_5_between_epochs():
    p = torch.zeros(1, requires_grad=True)
    opt = optim.SGDW([p], lr=0.1)
    sched = optim.sgdr(opt, steps_per_epoch=10, t_0=2, t_mult=2, per_batch=False)
    lrs = []
    for _ in range(60):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    per_epoch = lrs[::10]
    assert all(len(set(lrs[e * 10:(e + 1) * 10])) == 1 for e in range(6))
    # periods of 2 and 4 epochs: T_cur/T_i = 0, 1/2 | 0, 1/4, 2/4, 3/4
    expected = [0.05 * (1 + math.cos(math.pi * f)) for f in (0, 1 / 2, 0, 1 / 4, 2 / 4, 3 / 4)]
    assert per_epoch == pytest.approx(expected)
    with pytest.raises(ValueError, match="per_batch='yes' is invalid"):
        optim.sgdr(opt, steps_per_epoch=10, per_batch="yes")


def test_step_decay_and_normalized_weight_decay():
    p = torch.zeros(1, requires_grad=True)
    opt = optim.SGDW([p], lr=1.0)
    sched = optim.step_decay(opt, steps_per_epoch=2, milestones=[1, 3], gamma=0.1)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert optim.normalized_weight_decay(0.05, 128, 50000, 100) == pytest.approx(0.05 * math.sqrt(128 / 5e6))
    with pytest.raises(ValueError, match="batch_size=0"):
        optim.normalized_weight_decay(0.05, 0, 50000, 100)


# --- convergence sanity -------------------------------------------------------------------
LEARNING_RATES = {"sgd": 1e-3, "momentum": 1e-4, "nesterov": 1e-4, "adagrad": 0.5, "rmsprop": 1e-2,
                  "adadelta": 10.0, "adam": 0.05, "adamax": 0.05, "amsgrad": 0.05, "nadam": 0.05,
                  "adamw": 0.05, "sgdw": 1e-3, "swats": 0.05, "ndadam": 0.05}


@pytest.mark.parametrize("name", optim.available())
def test_every_optimizer_makes_progress_on_rosenbrock(name):
    from optim.problems import get_function, trajectory

    fn = get_function("rosenbrock")
    path = trajectory("rosenbrock", name, 2000, start=(-1.0, 1.5), lr=LEARNING_RATES[name])
    start = fn(torch.tensor(path[0])).item()
    end = fn(torch.tensor(path[-1])).item()
    assert math.isfinite(end) and end < 0.25 * start, (start, end)


@pytest.mark.parametrize("name", optim.available())
def test_every_optimizer_minimizes_a_noisy_quadratic(name):
    torch.manual_seed(0)
    scales = torch.linspace(0.5, 2.0, 20)
    x = torch.full((20, 4), 3.0, requires_grad=True)
    lr = {"adadelta": 10.0, "adagrad": 0.5, "sgd": 0.1, "sgdw": 0.1,
          "momentum": 0.05, "nesterov": 0.05}.get(name, 0.05)
    opt = optim.build(name, [x], lr=lr) if name != "ndadam" else optim.NDAdam([x], lr=lr)
    start = (scales[:, None] * x.detach() ** 2).sum().item()
    for _ in range(500):
        opt.zero_grad()
        loss = (scales[:, None] * x ** 2).sum() + (0.1 * torch.randn_like(x) * x).sum()
        loss.backward()
        opt.step()
    end = (scales[:, None] * x.detach() ** 2).sum().item()
    assert end < 0.05 * start, (start, end)


def test_ndadam_nd_lr_sets_the_rate_of_the_normalized_group_only():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    opt = optim.build("ndadam", model, lr=1e-3, nd_lr=0.05)
    rates = {group["nd"]: group["lr"] for group in opt.param_groups}
    assert rates == {True: 0.05, False: 1e-3}
    with pytest.raises(ValueError, match="nd_lr needs a model"):
        optim.build("ndadam", list(model.parameters()), nd_lr=0.05)
