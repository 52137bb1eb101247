"""Our optimizers against plain NumPy transcriptions of the papers' pseudo-code.

Each reference below is written from the paper, not from the implementation, and runs in
float64 on the same gradient stream (g = 2·(i+1)·θ + noise, see helpers.set_grads).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import clone_params, make_params, run_steps, set_grads

import optim


def numpy_grads(thetas, step, seed=1):
    params = [torch.tensor(t).requires_grad_(True) for t in thetas]
    set_grads(params, step, seed)
    return [p.grad.numpy() for p in params]


def run_reference(update, base, steps, seed=1):
    thetas = [p.detach().numpy().astype(np.float64).copy() for p in base]
    state = [dict() for _ in thetas]
    for t in range(steps):
        grads = numpy_grads(thetas, t, seed)
        for i in range(len(thetas)):
            thetas[i] = update(thetas[i], grads[i], state[i], t + 1)
    return thetas


def assert_same(got, expected, rtol=1e-9):
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=rtol, atol=1e-11)


# --- Adam without bias correction (Kingma & Ba §6.4) and AMSGrad (Reddi et al., 2018) ------
def uncorrected_adam_paper(alpha, b1, b2, eps, amsgrad):
    """Alg. 1 of Kingma & Ba without lines 9-10 (the 1/(1 - beta^t) corrections: the ablation
    of §6.4); with ``amsgrad`` it is Alg. 2 of Reddi et al. with constant alpha and beta1,
    where v̂ is the running maximum of v."""
    def update(theta, g, s, t):
        s.setdefault("m", np.zeros_like(theta)); s.setdefault("v", np.zeros_like(theta))
        s.setdefault("vhat", np.zeros_like(theta))
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        s["vhat"] = np.maximum(s["vhat"], s["v"]) if amsgrad else s["v"]
        return theta - alpha * s["m"] / (np.sqrt(s["vhat"]) + eps)
    return update


@pytest.mark.parametrize("foreach", [False, True])
def test_amsgrad_without_bias_correction_is_algorithm_2(foreach):
    base = make_params(torch.float64)
    params = clone_params(base)
    got = run_steps(optim.AMSGrad(params, lr=1e-2, bias_correction=False, foreach=foreach), params, 100)
    assert_same(got, run_reference(uncorrected_adam_paper(1e-2, 0.9, 0.999, 1e-8, amsgrad=True), base, 100))


@pytest.mark.parametrize("foreach", [False, True])
def test_adam_without_bias_correction_drops_lines_9_and_10(foreach):
    base = make_params(torch.float64)
    params = clone_params(base)
    got = run_steps(optim.Adam(params, lr=1e-2, betas=(0.9, 0.99), bias_correction=False,
                               foreach=foreach), params, 100)
    assert_same(got, run_reference(uncorrected_adam_paper(1e-2, 0.9, 0.99, 1e-8, amsgrad=False), base, 100))


def _steady_sgd_phase_step_of(swats_class, lam=0.1):
    """Step / Λ after 200 SGD-phase steps of ``swats_class`` on a constant unit gradient."""
    from optim.optimizers.swats import sgd_phase_step_sizes

    return sgd_phase_step_sizes(swats_class, steps=200, rate=lam)[-1]


def test_swats_with_the_in_place_bug_takes_the_buggy_sgd_step():
    from optim.optimizers.swats import SWATSWithInPlaceBug

    assert _steady_sgd_phase_step_of(SWATSWithInPlaceBug) == pytest.approx(0.1 / (1 - 0.9 * 0.1), rel=1e-6)


# --- Nadam, Dozat (2016), Algorithm 2 ------------------------------------------------------
def nadam_paper(alpha, b1, b2, eps, psi):
    mu = lambda t: b1 * (1 - 0.5 * 0.96 ** (t * psi))  # noqa: E731

    def update(theta, g, s, t):
        s.setdefault("m", np.zeros_like(theta)); s.setdefault("n", np.zeros_like(theta))
        s["prod"] = s.get("prod", 1.0) * mu(t)
        g_hat = g / (1 - s["prod"])
        s["m"] = mu(t) * s["m"] + (1 - mu(t)) * g
        m_hat = s["m"] / (1 - s["prod"] * mu(t + 1))
        s["n"] = b2 * s["n"] + (1 - b2) * g * g
        n_hat = s["n"] / (1 - b2 ** t)
        m_bar = (1 - mu(t)) * g_hat + mu(t + 1) * m_hat
        return theta - alpha * m_bar / (np.sqrt(n_hat) + eps)
    return update


@pytest.mark.parametrize("foreach", [False, True])
def test_nadam_dozat_variant_is_algorithm_2(foreach):
    base = make_params(torch.float64)
    params = clone_params(base)
    got = run_steps(optim.Nadam(params, lr=1e-2, variant="dozat", foreach=foreach), params, 100)
    # the running product of mu is kept in float32 (as torch.optim.NAdam keeps it)
    assert_same(got, run_reference(nadam_paper(1e-2, 0.9, 0.999, 1e-8, 4e-3), base, 100), rtol=1e-6)


def tensorflow_nesterov_adam(alpha, b1, b2, eps_hat):
    """TensorFlow's ApplyAdam with use_nesterov=True (training_ops.cc), as its docs write it:
    lr_t = α·√(1 − β2ᵗ)/(1 − β1ᵗ); θ ← θ − lr_t·(β1·m + (1 − β1)·g)/(√v + ε̂)."""
    def update(theta, g, s, t):
        s["m"] = b1 * s.get("m", np.zeros_like(theta)) + (1 - b1) * g
        s["v"] = b2 * s.get("v", np.zeros_like(theta)) + (1 - b2) * g * g
        lr_t = alpha * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return theta - lr_t * (b1 * s["m"] + (1 - b1) * g) / (np.sqrt(s["v"]) + eps_hat)
    return update


@pytest.mark.parametrize("foreach", [False, True])
def test_nadam_tensorflow_variant_is_tensorflows_use_nesterov_adam(foreach):
    base = make_params(torch.float64)
    params = clone_params(base)
    got = run_steps(optim.Nadam(params, lr=1e-2, eps=1e-30, variant="tensorflow", foreach=foreach), params, 100)
    assert_same(got, run_reference(tensorflow_nesterov_adam(1e-2, 0.9, 0.999, 1e-30), base, 100))


# --- SGDW, Loshchilov & Hutter (2019), Algorithm 1 with a constant schedule ----------------
def sgdw_paper(alpha, b1, lam, eta=1.0):
    def update(theta, g, s, t):
        s["m"] = b1 * s.get("m", np.zeros_like(theta)) + eta * alpha * g
        return theta - s["m"] - eta * lam * theta
    return update


@pytest.mark.parametrize("foreach", [False, True])
def test_sgdw_is_algorithm_1(foreach):
    alpha, b1, lam = 1e-2, 0.9, 5e-3
    base = make_params(torch.float64)
    params = clone_params(base)
    got = run_steps(optim.SGDW(params, lr=alpha, momentum=b1, weight_decay=lam / alpha,
                               foreach=foreach), params, 100)
    assert_same(got, run_reference(sgdw_paper(alpha, b1, lam), base, 100))


# --- AdamW, Loshchilov & Hutter (2019), Algorithm 2 with a schedule multiplier ------------
def adamw_paper(alpha, b1, b2, eps, lam, eta):
    def update(theta, g, s, t):
        s.setdefault("m", np.zeros_like(theta)); s.setdefault("v", np.zeros_like(theta))
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
        return theta - eta(t) * (alpha * m_hat / (np.sqrt(v_hat) + eps) + lam * theta)
    return update


def test_adamw_is_algorithm_2_with_lr_alpha_eta_and_decay_lambda_over_alpha():
    alpha, lam = 1e-2, 1e-3
    eta = lambda t: 0.5 * (1 + np.cos(np.pi * (t - 1) / 100))  # noqa: E731  cosine multiplier
    base = make_params(torch.float64)
    params = clone_params(base)
    opt = optim.AdamW(params, lr=alpha, weight_decay=lam / alpha)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: eta(step + 1))
    got = run_steps(opt, params, 100, scheduler=sched)
    assert_same(got, run_reference(adamw_paper(alpha, 0.9, 0.999, 1e-8, lam, eta), base, 100))


# --- SWATS, Keskar & Socher (2017), Algorithm 1 ---------------------------------------------
def swats_paper(alpha, b1, b2, eps, switch_eps):
    def update(theta, g, s, t):
        if s.get("phase") == "sgd":
            s["v"] = b1 * s["v"] + g
            return theta - (1 - b1) * s["Lambda"] * s["v"]
        s.setdefault("m", np.zeros_like(theta)); s.setdefault("a", np.zeros_like(theta))
        s.setdefault("lam", 0.0); s["k"] = s.get("k", 0) + 1
        k = s["k"]
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["a"] = b2 * s["a"] + (1 - b2) * g * g
        p = -alpha * np.sqrt(1 - b2 ** k) / (1 - b1 ** k) * s["m"] / (np.sqrt(s["a"]) + eps)
        theta = theta + p
        if p.ravel() @ g.ravel() != 0:
            gamma = (p.ravel() @ p.ravel()) / (-(p.ravel() @ g.ravel()))
            s["lam"] = b2 * s["lam"] + (1 - b2) * gamma
            if k > 1 and abs(s["lam"] / (1 - b2 ** k) - gamma) < switch_eps:
                s["phase"], s["v"], s["Lambda"] = "sgd", np.zeros_like(theta), s["lam"] / (1 - b2 ** k)
        return theta
    return update


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("fused_kernel", [True, False], ids=["fused-kernel", "decomposed"])
def test_swats_is_algorithm_1_and_switches(foreach, fused_kernel, monkeypatch):
    # A loose switch_eps makes the switch happen within the run; float64 keeps the
    # switch decision identical to the reference's. "decomposed" is the path for devices
    # torch's fused Adam kernel does not support.
    if not fused_kernel:
        monkeypatch.setattr("optim.optimizers.swats.fused_supported", lambda *tensors: False)
    alpha, switch_eps, steps = 1e-3, 1e-4, 300
    base = make_params(torch.float64)
    params = clone_params(base)
    opt = optim.SWATS(params, lr=alpha, switch_eps=switch_eps, foreach=foreach)
    got = run_steps(opt, params, steps)
    assert_same(got, run_reference(swats_paper(alpha, 0.9, 0.999, 1e-8, switch_eps), base, steps))
    phases = [opt.phase(p) for p in params]
    assert "sgd" in phases, "the test problem must exercise the SGD phase"
    for p in params:
        assert (opt.sgd_lr(p) is None) == (opt.phase(p) == "adam")


@pytest.mark.parametrize("foreach", [False, True])
def test_swats_whole_model_granularity_is_algorithm_1_on_the_concatenated_vector(foreach):
    alpha, switch_eps, steps = 1e-3, 1e-4, 300
    base = make_params(torch.float64)
    params = clone_params(base)
    opt = optim.SWATS(params, lr=alpha, switch_eps=switch_eps, granularity="model", foreach=foreach)
    got = run_steps(opt, params, steps)
    # the reference: Algorithm 1 on one vector holding every tensor
    thetas = [p.detach().numpy().copy() for p in base]
    sizes = np.cumsum([t.size for t in thetas])[:-1]
    update, state = swats_paper(alpha, 0.9, 0.999, 1e-8, switch_eps), {}
    for t in range(steps):
        flat = update(np.concatenate([x.ravel() for x in thetas]),
                      np.concatenate([g.ravel() for g in numpy_grads(thetas, t)]), state, t + 1)
        thetas = [part.reshape(x.shape) for part, x in zip(np.split(flat, sizes), thetas)]
    assert_same(got, thetas)
    assert state.get("phase") == "sgd", "the test problem must exercise the switch"
    assert {opt.phase(p) for p in params} == {"sgd"} and len({opt.sgd_lr(p) for p in params}) == 1


def test_swats_sgd_phase_follows_the_learning_rate_schedule():
    lam, factor = 0.1, 0.25
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = optim.SWATS([p], lr=1e-3)
    opt.state[p].update(in_sgd=True, sgd_lr=lam, switch_lr=1e-3, momentum_buffer=torch.zeros(3, dtype=torch.float64),
                        step=torch.tensor(5.0), lr_ema=0.0, exp_avg=torch.zeros(3), exp_avg_sq=torch.zeros(3))
    opt.param_groups[0]["lr"] = 1e-3 * factor  # a scheduler decayed α by 4 since the switch
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    # first SGD step: v = g, θ ← θ − (1 − β1)·Λ·(α_t/α_switch)·v
    np.testing.assert_allclose(p.detach().numpy(), -(1 - 0.9) * lam * factor * np.ones(3), rtol=1e-12)


def _sgd_phase_steady_step(step_fn, lam=0.1, beta1=0.9, n=200):
    p = torch.zeros(3, dtype=torch.float64)
    g = torch.ones(3, dtype=torch.float64)
    state: dict = {}
    for _ in range(n):
        before = p.clone()
        step_fn(p, g.clone(), state, lam, beta1)  # a fresh gradient each step, as in training
    return (before - p)[0].item() / lam


def test_swats_sgd_phase_settles_at_lambda_times_gradient_unlike_the_in_place_bug():
    from optim.optimizers.swats import buggy_sgd_phase_step

    ours = _steady_sgd_phase_step_of(optim.SWATS)
    buggy = _sgd_phase_steady_step(buggy_sgd_phase_step)
    assert ours == pytest.approx(1.0, rel=1e-6)
    assert buggy == pytest.approx(0.1 / (1 - 0.9 * 0.1), rel=1e-6)  # ≈ 0.11


def copied_swats_sgd_phase(gs, lam, beta1, nesterov):
    """NumPy transcription of Mrpatekful/swats' SGD phase (optim.py), step by step: returns
    each step's update and the caller's gradient after the step (scaled in place there)."""
    buf, updates, grads_after = None, [], []
    for g in gs:
        g = g.copy()
        if buf is None:
            buf = g.copy()            # buf = torch.clone(grad); ``grad`` stays the caller's tensor
            d = g                     # ...so grad.mul_ below scales the caller's gradient
        else:
            buf = buf * beta1 + g     # buf.mul_(beta1).add_(grad); grad = buf
            d = buf
        d *= 1 - beta1                # grad.mul_(1 - beta1): the buffer itself after step 1
        if nesterov:
            d += beta1 * buf
        updates.append(-lam * d.copy())
        grads_after.append(g)
    return updates, grads_after


@pytest.mark.parametrize("nesterov", [False, True])
def test_in_place_bug_replica_matches_the_copied_implementation_from_its_first_sgd_step(nesterov):
    from optim.optimizers.swats import SWATSWithInPlaceBug

    rng = np.random.default_rng(0)
    gs = [rng.normal(size=4) for _ in range(6)]
    lam, beta1 = 0.05, 0.9
    p = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = SWATSWithInPlaceBug([p], betas=(beta1, 0.999), nesterov=nesterov)
    opt.state[p].update(step=torch.tensor(5.0), in_sgd=True, sgd_lr=lam, lr_ema=0.0,
                        exp_avg=torch.zeros(4, dtype=torch.float64), exp_avg_sq=torch.zeros(4, dtype=torch.float64),
                        momentum_buffer=torch.zeros(4, dtype=torch.float64))  # as SWATS leaves it at the switch
    updates, grads_after = copied_swats_sgd_phase(gs, lam, beta1, nesterov)
    for g, update, g_after in zip(gs, updates, grads_after):
        before = p.detach().clone()
        p.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose((p.detach() - before).numpy(), update, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(p.grad.numpy(), g_after, rtol=1e-12)


def _two_steps_with_a_negative_rate_estimate(require_positive_rate):
    """A large positive then a smaller negative gradient at a tiny step size: the projection
    gives γ_2 < 0 and Λ = (β2 γ_1 + γ_2)/(1 + β2) < 0, with a switch tolerance that accepts it."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = optim.SWATS([p], lr=1e-6, switch_eps=1e3, require_positive_rate=require_positive_rate)
    for g in (10.0, -1.0):
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    return opt, p


def test_swats_never_switches_to_a_negative_sgd_rate_by_default():
    opt, p = _two_steps_with_a_negative_rate_estimate(True)
    assert opt.phase(p) == "adam" and opt.sgd_lr(p) is None


def test_swats_as_the_paper_writes_it_switches_to_a_negative_rate():
    opt, p = _two_steps_with_a_negative_rate_estimate(False)
    assert opt.phase(p) == "sgd" and opt.sgd_lr(p) < 0


# --- ND-Adam, Zhang et al. (2017), Algorithm 1 ---------------------------------------------
def ndadam_paper(alpha, b1, b2, eps):
    def update(theta, g, s, t):
        w, g = theta.reshape(theta.shape[0], -1), g.reshape(theta.shape[0], -1)
        if "m" not in s:
            s["m"], s["v"] = np.zeros_like(w), np.zeros(w.shape[0])
        out = np.empty_like(w)
        for i in range(w.shape[0]):  # one hidden unit at a time, as the paper writes it
            g_bar = g[i] - (g[i] @ w[i]) * w[i]
            s["m"][i] = b1 * s["m"][i] + (1 - b1) * g_bar
            s["v"][i] = b2 * s["v"][i] + (1 - b2) * (g_bar @ g_bar)
            m_hat, v_hat = s["m"][i] / (1 - b1 ** t), s["v"][i] / (1 - b2 ** t)
            w_bar = w[i] - alpha * m_hat / (np.sqrt(v_hat) + eps)
            out[i] = w_bar / np.linalg.norm(w_bar)
        return out.reshape(theta.shape)
    return update


@pytest.mark.parametrize("foreach", [False, True])
def test_ndadam_is_algorithm_1_and_keeps_rows_unit_norm(foreach):
    shapes = [(5, 3), (4, 3, 3, 2), (6, 8)]
    base = make_params(torch.float64, shapes=shapes)
    reference_start = [optim.normalize_rows_(p.detach().clone()) for p in base]
    params = clone_params(base)
    opt = optim.NDAdam([{"params": params, "nd": True}], lr=1e-2, foreach=foreach)
    for p, r in zip(params, reference_start):  # normalized when built
        torch.testing.assert_close(p.detach(), r)
    got = run_steps(opt, params, 60)
    assert_same(got, run_reference(ndadam_paper(1e-2, 0.9, 0.999, 1e-8), reference_start, 60))
    for p in params:
        norms = p.detach().reshape(p.shape[0], -1).norm(dim=1)
        torch.testing.assert_close(norms, torch.ones_like(norms))


CHANNELS_LAST_MAKERS = {
    "ndadam": lambda params: optim.NDAdam([{"params": params, "nd": True}], lr=1e-2, foreach=False),
    "swats": lambda params: optim.SWATS(params, lr=1e-2, switch_eps=0.0, foreach=False),
    "nadam": lambda params: optim.Nadam(params, lr=1e-2, foreach=False),
}


@pytest.mark.parametrize("name", CHANNELS_LAST_MAKERS)
def test_channels_last_weights_give_the_contiguous_run(name):
    # The GPU runner converts models to channels_last: an ND-Adam row is then a permuted
    # block, and the single-tensor paths' scratch buffer must take the weight's strides.
    base = [torch.randn(6, 4, 3, 3, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)]
    runs = []
    for layout in (torch.contiguous_format, torch.channels_last):
        params = [p.clone().contiguous(memory_format=layout if p.dim() == 4 else torch.contiguous_format)
                  .requires_grad_(True) for p in base]
        runs.append(run_steps(CHANNELS_LAST_MAKERS[name](params), params, 30))
        assert params[0].is_contiguous(memory_format=layout)
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_ndadam_reads_a_gradient_of_another_layout_in_the_weights_order():
    base = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    grads = [torch.randn_like(base) for _ in range(5)]
    runs = []
    for layout in (torch.contiguous_format, torch.channels_last):
        p = base.clone().requires_grad_(True)
        opt = optim.NDAdam([{"params": [p], "nd": True}], lr=1e-2, foreach=False)
        for g in grads:
            p.grad = g.contiguous(memory_format=layout)
            opt.step()
        runs.append(p.detach().clone())
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-12, atol=1e-13)


def test_scratch_buffers_stay_out_of_the_state_dict():
    params = make_params()
    opt = optim.SWATS(params, switch_eps=0.0, foreach=False)
    run_steps(opt, params, 3)
    assert "_scratch" in opt.__dict__
    saved = opt.state_dict()
    assert all(set(s) == {"step", "in_sgd", "sgd_lr", "lr_ema", "exp_avg", "exp_avg_sq"}
               for s in saved["state"].values())
    import pickle
    assert "_scratch" not in pickle.loads(pickle.dumps(opt)).__dict__


def test_ndadam_non_nd_groups_are_plain_adam():
    base = make_params()
    ref_params, params = clone_params(base), clone_params(base)
    expected = run_steps(torch.optim.Adam(ref_params, lr=1e-2), ref_params, 50)
    got = run_steps(optim.NDAdam(params, lr=1e-2), params, 50)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-7)


def test_nd_param_groups_selects_layers_followed_by_batch_norm():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(16, 5), torch.nn.BatchNorm1d(5),
                              torch.nn.Linear(5, 2))
    groups = optim.nd_param_groups(net, lr=0.05)
    nd = {id(p) for p in groups[0]["params"]}
    assert groups[0]["nd"] and groups[0]["lr"] == 0.05
    assert nd == {id(net[0].weight), id(net[4].weight)}
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in net.parameters()} - nd
