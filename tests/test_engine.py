"""Problems, models, the training runner and the run cache."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import optim
from optim import fingerprint, runner
from optim.models import FIXED_SHAPES, INPUT_SHAPES, LANGUAGE_MODELS, MODELS, build_model, is_autoencoder
from optim.problems import central_difference, get_function, gradient, run_online
from optim.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", epochs=1, batch_size=32, n_train=64, n_test=20)


@pytest.mark.parametrize("shape", INPUT_SHAPES)
@pytest.mark.parametrize("name", [m for m in MODELS if m not in LANGUAGE_MODELS])  # those: tests/test_language.py
def test_every_model_runs_forward_and_backward(name, shape):
    if shape not in FIXED_SHAPES.get(name, INPUT_SHAPES):
        with pytest.raises(ValueError, match="in_shape"):
            build_model(name, shape, 10)
        return
    model = build_model(name, shape, 10)
    x = torch.rand(3, *shape)
    out = model(x)
    if is_autoencoder(model):
        assert out[0].shape == x.shape
        loss = model.loss(x, out)
        assert loss.shape == (3,) and torch.isfinite(loss).all()
        loss.sum().backward()
    else:
        assert out.shape == (3, 10)
        out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_two_d_gradients_are_exact_and_the_precedence_bug_is_reproduced():
    fn = get_function("ackley")
    point = np.array([-2.0, -2.0])
    f = lambda xy: fn(torch.tensor(xy)).item()  # noqa: E731
    exact = gradient(fn, torch.tensor(point)).numpy()
    np.testing.assert_allclose(central_difference(f, point), exact, rtol=1e-5)
    buggy = central_difference(f, point, precedence_bug=True)
    h = 1e-5
    expected = [f(point + e) - f(point - e) / (2 * h) for e in np.eye(2) * h]
    np.testing.assert_allclose(buggy, expected)


@pytest.mark.parametrize("lr, momentum", [(0.05, 0.0), (0.02, 0.9), (0.21, 0.0)])
def test_numerical_momentum_descent_follows_the_heavy_ball_recursion(lr, momentum):
    from optim.problems import numerical_momentum_descent

    # the reference: the same recursion with the quadratic's exact gradient (x, 10 y)
    x, v = np.array([-3.0, 2.0]), np.zeros(2)
    for t in range(1, 401):
        v = momentum * v + np.array([x[0], 10 * x[1]])
        x = x - lr * v
        if np.abs(x).max() > 1e6:
            expected = ("escaped", t)
            break
        if 0.5 * (x[0] ** 2 + 10 * x[1] ** 2) < 1e-3:
            expected = ("converged", t)
            break
    else:
        expected = ("stalled", 400)
    ours = numerical_momentum_descent("quadratic", lr, momentum, 400)
    assert (ours["outcome"], ours["steps"]) == expected
    assert expected[0] == {0.05: "converged", 0.02: "converged", 0.21: "escaped"}[lr]  # lr > 2/10 diverges


def test_the_precedence_bug_throws_descent_off_ackley():
    from optim.problems import numerical_momentum_descent

    assert numerical_momentum_descent("ackley", 0.05, 0.0, 3000)["outcome"] != "escaped"
    buggy = numerical_momentum_descent("ackley", 0.05, 0.0, 3000, precedence_bug=True)
    assert buggy["outcome"] == "escaped" and buggy["steps"] < 100 and np.isnan(buggy["final_f"])
    with pytest.raises(ValueError, match="steps=0 is invalid"):
        numerical_momentum_descent("ackley", 0.05, 0.0, 0)


def test_online_counterexample_adam_drifts_to_plus_one_amsgrad_to_minus_one():
    kw = dict(big=3.0, small=1.0, period=3, betas=(0.0, 0.1))
    adam = run_online("adam", 6000, lr=1.0, **kw)
    ams = run_online("amsgrad", 6000, lr=1.0, bias_correction=False, **kw)
    assert adam.x[-300:].mean() > 0.95
    assert ams.x[-300:].mean() < -0.95
    assert adam.average_regret[-1] > 5 * ams.average_regret[-1]


def test_many_online_settings_at_once_give_each_setting_s_own_numbers():
    from optim.problems import coefficients, run_online_many

    settings = [dict(big=c, small=1.0, period=3, betas=(0.0, b2), lr=1.0) for c in (2.5, 6.0) for b2 in (0.1, 0.9)]
    settings += [dict(betas=(0.9, 0.99), lr=0.5, eps=1e-3, lr_decay="none"), dict(betas=(0.9, 0.99), lr=0.5)]
    many = run_online_many("amsgrad", 500, settings)
    for setting, result in zip(settings, many):
        np.testing.assert_array_equal(result.x, run_online("amsgrad", 500, **setting).x)
    shifted = run_online_many("adam", 300, [dict(phase=0), dict(phase=50)])
    assert shifted[0].coefficients[100] == 1010.0 and shifted[0].coefficients[0] == -10.0  # t = 101
    assert shifted[1].coefficients[49] == 1010.0  # t = 50
    np.testing.assert_array_equal(shifted[1].coefficients, coefficients(300, period=101, phase=50))
    with pytest.raises(ValueError, match="phase=101"):
        coefficients(10, period=101, phase=101)


def test_online_counterexample_stochastic_version():
    kw = dict(big=1010.0, small=10.0, p=0.01, betas=(0.9, 0.99), seed=0)
    adam = run_online("adam", 20000, "stochastic", lr=0.5, **kw)
    assert adam.x[-2000:].mean() > 0.5  # Adam is pushed towards the wrong end, x = +1
    assert np.all(np.abs(adam.x) <= 1.0)


def test_long_stochastic_runs_keep_the_sums_of_each_seed_s_own_run():
    from optim.problems import readout_steps, run_online_long

    kw = dict(big=1010.0, small=10.0, p=0.05, betas=(0.9, 0.99), lr=0.5)
    long = run_online_long("amsgrad", 2500, [0, 3, 7], points=40, chunk=700, bias_correction=False, **kw)
    drift = 0.05 * 1010.0 - 0.95 * 10.0
    for seed, sums in long.items():
        ref = run_online("amsgrad", 2500, "stochastic", seed=seed, bias_correction=False, **kw)
        i = sums.t - 1
        assert sums.t[0] == 1 and sums.t[-1] == 2500
        np.testing.assert_allclose(sums.sum_x, np.cumsum(ref.x)[i], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(sums.regret, ref.regret[i], rtol=1e-12, atol=1e-7)
        expected = np.cumsum(drift * ref.x + abs(drift))[i]  # F(x_s) − F(−1) with F(x) = E[c]·x
        np.testing.assert_allclose(sums.expected_regret, expected, rtol=1e-12, atol=1e-9)
        starts = np.concatenate([[0], sums.t[:-1]])
        gaps = [abs(ref.x[a:b].mean() + 1.0) for a, b in zip(starts, sums.t)]
        np.testing.assert_allclose(sums.window_gap, gaps, rtol=1e-9, atol=1e-12)
        since = sums.t[30]
        assert sums.mean_x_since(since) == pytest.approx(ref.x[since:].mean(), rel=1e-12)
        again = type(sums).from_frame(sums.to_frame().sample(frac=1.0, random_state=0))
        np.testing.assert_array_equal(again.expected_regret, sums.expected_regret)
        readings = sums.readings()
        np.testing.assert_allclose(readings["average regret"], ref.average_regret[i], rtol=1e-12, atol=1e-9)
    assert np.array_equal(readout_steps(2500, 40), long[0].t)
    with pytest.raises(ValueError, match="seeds is empty"):
        run_online_long("adam", 10, [])


def test_log_slope_reads_a_power_law_s_exponent():
    from optim.problems import log_slope

    t = np.geomspace(1, 1e6, 60)
    assert log_slope(t, 3.0 * t ** -0.5, since=1e5) == pytest.approx(-0.5)
    assert log_slope(t, np.full_like(t, 2.0), since=1e5) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="two positive values"):
        log_slope(t, t - 1e6, since=1e5)


def test_same_spec_gives_identical_numbers_on_cpu(tmp_path):
    spec = RunSpec("cnn", optimizer="adam", seed=3, **TINY)
    a = runner.run_many([spec], root=tmp_path / "a", progress=False)
    b = runner.run_many([spec], root=tmp_path / "b", progress=False)
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["test_acc"].tolist() == b["test_acc"].tolist()


def test_cache_hit_miss_and_invalidation(tmp_path, monkeypatch):
    spec = RunSpec("logreg", optimizer="swats", **TINY)
    first = runner.run_many([spec], root=tmp_path, progress=False)
    files = list((tmp_path / "quick").glob("*.json.gz"))
    assert len(files) == 1
    calls = []
    monkeypatch.setattr("optim.training.train", lambda s, **k: calls.append(s) or 1 / 0)
    again = runner.run_many([spec], root=tmp_path, progress=False)  # hit: no training
    assert calls == [] and again["train_loss"].tolist() == first["train_loss"].tolist()
    # a changed optimizer source changes that optimizer's fingerprint only, and a quick
    # result computed by other code is recomputed
    adam = RunSpec("logreg", optimizer="adam", **TINY)
    before = (runner.fingerprint(spec), runner.fingerprint(adam))
    fake = tmp_path / "swats.py"
    fake.write_text(Path(optim.optimizers.swats.__file__).read_text() + "\n_EDITED = True\n")
    original = fingerprint._optimizer_file
    monkeypatch.setattr(fingerprint, "_optimizer_file",
                        lambda name: fake if name == "swats" else original(name))
    assert runner.fingerprint(spec) != before[0]
    assert runner.fingerprint(adam) == before[1]
    with pytest.raises(optim.executor.RunFailed, match="ZeroDivisionError"):
        runner.run_many([spec], root=tmp_path, progress=False)
    assert len(calls) == 1


@pytest.mark.parametrize("edit, changes", [
    (lambda text: text + "\n# a new comment\n\n\n", False),
    (lambda text: text.replace('"""SWATS', '"""SWATS, reworded:', 1), False),  # the module docstring
    (lambda text: text.replace("(self, params", "(\n            self, params", 1), False),  # layout only
    (lambda text: text + "\n_EDITED = True\n", True),
    (lambda text: text.replace("import torch\n", "import torch as torch\n", 1), True),
])
def test_prose_and_layout_leave_the_fingerprint_and_code_changes_it(tmp_path, monkeypatch, edit, changes):
    spec = RunSpec("logreg", optimizer="swats", **TINY)
    source = Path(optim.optimizers.swats.__file__).read_text()
    fake = tmp_path / "swats.py"
    original = fingerprint._optimizer_file
    monkeypatch.setattr(fingerprint, "_optimizer_file", lambda name: fake if name == "swats" else original(name))
    fake.write_text(source)  # a copy, then the edited copy
    before = runner.fingerprint(spec)
    fake.write_text(edit(source))
    assert fake.read_text() != source
    assert (runner.fingerprint(spec) != before) is changes


def test_a_computation_s_fingerprint_ignores_prose_and_follows_code(tmp_path, monkeypatch):
    import shutil

    for part in fingerprint.COMPUTED_CODE:
        source = fingerprint.PACKAGE / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / part)
    monkeypatch.setattr(fingerprint, "PACKAGE", tmp_path)
    online = tmp_path / "problems" / "online.py"
    text = online.read_text()
    before = fingerprint.computation_fingerprint()
    online.write_text(text.replace('"""Reddi et al.', '"""Reworded: Reddi et al.', 1) + "\n# a comment\n")
    assert fingerprint.computation_fingerprint() == before
    online.write_text(text + "\n_EDITED = True\n")
    assert fingerprint.computation_fingerprint() != before


def test_the_fingerprint_follows_the_packages_imports_not_the_chapters():
    files = {p.relative_to(fingerprint.PACKAGE).as_posix() for p in fingerprint._shared_files()}
    assert {"training.py", "data.py", "schedules.py", "registry.py", "probes.py", "spec.py",
            "optimizers/base.py"} <= files
    assert not files & {"book.py", "plots.py", "analysis.py", "bench.py", "runner.py", "optimizers/swats.py"}


def test_evaluating_every_few_epochs_changes_nothing_but_which_epochs_are_evaluated():
    from optim.training import train

    every = RunSpec("wrn", optimizer="momentum", hparams=dict(lr=0.05), model_args=dict(depth=10, widen=1), seed=3,
                    **TINY | dict(epochs=5))
    sparse = every.replace(eval_every=2)
    assert sparse.key() != every.key() and every.key() == every.replace(eval_every=1).key()
    a, b = train(every, progress=False), train(sparse, progress=False)
    assert a["steps"]["train_loss"] == b["steps"]["train_loss"]  # batch norm, yet the same training
    evaluated = [e["epoch"] for e in b["epochs"] if "test_loss" in e]
    assert evaluated == [2, 4, 5] and [e["epoch"] for e in b["epochs"]] == [1, 2, 3, 4, 5]
    for x, y in zip(a["epochs"], b["epochs"]):
        assert {k: v for k, v in x.items() if k in y and k not in ("time", "train_time")} == \
               {k: v for k, v in y.items() if k not in ("time", "train_time")}


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_a_bad_eval_every_is_refused_naming_it(value):
    with pytest.raises(ValueError, match=f"eval_every={value!r} is invalid: expected a positive integer"):
        RunSpec("logreg", optimizer="adam", eval_every=value, **TINY)


def test_corrupted_entry_is_reported_and_recomputed(tmp_path, capsys):
    spec = RunSpec("logreg", optimizer="adam", **TINY)
    runner.run_many([spec], root=tmp_path, progress=False)
    (path,) = (tmp_path / "quick").glob("*.json.gz")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated
    frame = runner.run_many([spec], root=tmp_path, progress=False)
    assert "is damaged" in capsys.readouterr().err
    assert len(frame) == 1 and path.exists()
    blob = gzip.decompress(path.read_bytes()).replace(b'"diverged": false', b'"diverged": true')
    path.write_bytes(gzip.compress(blob))  # valid gzip, wrong checksum
    runner.run_many([spec], root=tmp_path, progress=False)
    assert "checksum mismatch" in capsys.readouterr().err


def test_a_run_killed_mid_way_leaves_nothing_and_is_recomputed(tmp_path):
    code = ("from optim.spec import RunSpec; from optim import runner; from pathlib import Path; "
            "runner.run_many([RunSpec('mlp', 'mnist', 'adam', epochs=50, n_train=5000, n_test=100)],"
            f" root=Path({str(tmp_path)!r}), progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    time.sleep(6)
    assert proc.poll() is None, "the run should still be training"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list(tmp_path.rglob("*.json.gz"))


def test_concurrent_writers_leave_one_valid_entry(tmp_path):
    from optim.cache import RunCache

    code = ("import sys; from optim.cache import RunCache; c = RunCache(sys.argv[1]); "
            "[c.put('k', {'i': i, 'payload': list(range(20000))}) for i in range(30)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT) for _ in range(3)]
    assert all(p.wait() == 0 for p in procs)
    assert RunCache(tmp_path).get("k")["i"] == 29
    assert [p.name for p in tmp_path.iterdir()] == ["k.json.gz"]


def test_divergence_is_recorded_not_raised(tmp_path):
    spec = RunSpec("mlp", optimizer="sgd", hparams=dict(lr=1e6), log_every=1, **TINY)
    frame = runner.run_many([spec], root=tmp_path, progress=False)
    assert bool(frame["diverged"].iloc[0]) and frame["diverged_step"].iloc[0] >= 1


def test_every_model_with_every_optimizer_trains_and_then_comes_from_the_cache(tmp_path):
    specs = [RunSpec(m, optimizer=o, **{**TINY, "n_train": 32}) for m in MODELS if m not in LANGUAGE_MODELS
             for o in optim.available()]
    specs += [RunSpec(m, "ptb", o, epochs=1, batch_size=4, n_train=200, n_test=100, bptt=10,
                      model_args=dict(hidden=16, layers=1)) for m in LANGUAGE_MODELS for o in optim.available()]
    frame = runner.run_many(specs, root=tmp_path, progress=False)
    assert len(frame) == len(specs) and frame.attrs["runs"] == len(specs)
    start = time.perf_counter()
    runner.run_many(specs, root=tmp_path, progress=False)
    assert time.perf_counter() - start < 0.25 * frame.attrs["compute_seconds"]


def test_validation_split_and_step_level_frame(tmp_path):
    spec = RunSpec("logreg", optimizer="adam", validation=0.25, log_every=1, **TINY)
    epochs = runner.run_many([spec], root=tmp_path, progress=False)
    steps = runner.run_many([spec], root=tmp_path, level="step", progress=False)
    assert {"val_loss", "val_acc", "test_acc"} <= set(epochs.columns)
    assert steps["step"].tolist() == [1, 2]  # 48 training images, batches of 32


BAD_INPUTS = [
    (lambda: RunSpec("vgg", "mnist", "adam"), "model='vgg' is invalid"),
    (lambda: RunSpec("cnn", "imagenet", "adam"), "dataset='imagenet' is invalid"),
    (lambda: RunSpec("cnn", "mnist", "lion"), "optimizer='lion' is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", epochs=0), "epochs=0 is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", batch_size=-1), "batch_size=-1 is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", seed=-2), "seed=-2 is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", augment="mixup"), "augment='mixup' is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", schedule="linear"), "schedule='linear' is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", device="tpu"), "device='tpu' is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", n_train=3), "n_train=3 is invalid"),
    (lambda: RunSpec("cnn", "mnist", "adam", validation=0.9), "validation=0.9 is invalid"),
    (lambda: build_model("cnn", (28, 28), 10), "in_shape=(28, 28) is invalid"),
    (lambda: build_model("wrn", (1, 28, 28), 10, depth=15), "depth=15 is invalid"),
    (lambda: build_model("mlp", (1, 28, 28), 1), "num_classes=1 is invalid"),
    (lambda: get_function("himmelblau"), "unknown 2-D function 'himmelblau'"),
    (lambda: runner.select({"quick": 1, "full": 2}, "medium"), "profile='medium' is invalid"),
    (lambda: runner.results_dir("../x"), "profile='../x' is invalid"),
    (lambda: run_online("adam", 10, "adversarial"), "kind='adversarial' is invalid"),
    (lambda: optim.problems.trajectory("beale", "adam", 0), "steps=0 is invalid"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_gives_one_clear_error_and_writes_nothing(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_run_on_missing_cuda_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="no CUDA device"):
        runner.run_many([RunSpec("logreg", optimizer="adam", device="cuda", **TINY)], root=tmp_path)
    assert not list(tmp_path.rglob("*.json.gz"))


def test_inverse_sqrt_schedule_gives_alpha_over_sqrt_t(tmp_path):
    result = train_tiny(tmp_path, "logreg", "sgd", dict(lr=0.5), schedule="inverse_sqrt", log_every=1)
    lrs = np.array(result["steps"]["lr"])
    t = np.arange(1, len(lrs) + 1)
    np.testing.assert_allclose(lrs, 0.5 / np.sqrt(t + 1))  # the rate logged after step t


def train_tiny(tmp_path, model, optimizer, hparams, **fields):
    from optim.training import train

    spec = RunSpec(model, optimizer=optimizer, hparams=hparams, **(TINY | fields))
    return train(spec)


def test_rows_probe_sees_unit_norm_rows_and_moment_aligned_updates_only_under_ndadam(tmp_path):
    fields = dict(model_args=dict(depth=10, widen=1), probes=("rows",), log_every=1)
    nd = train_tiny(tmp_path, "wrn", "ndadam", dict(lr=1e-2), **fields)["steps"]
    adam = train_tiny(tmp_path, "wrn", "adam", dict(lr=1e-2), **fields)["steps"]
    assert max(nd["row_norm_error"]) < 1e-5
    assert min(nd["update_moment_cosine"]) > 0.999   # the update is the moment, rescaled
    assert max(adam["row_norm_error"]) > 0.1          # Adam leaves the norms free
    assert max(adam["update_moment_cosine"][1:]) < 0.99  # per-coordinate scaling turns it


def test_swats_probe_reports_the_switch(tmp_path):
    steps = train_tiny(tmp_path, "logreg", "swats", dict(lr=1e-2, switch_eps=1e9), probes=("swats",),
                       log_every=1)["steps"]
    assert steps["sgd_fraction"][0] == 0.0       # the first step never switches (k > 1)
    assert steps["sgd_fraction"][-1] == 1.0      # an enormous tolerance switches at step 2
    assert np.isfinite(steps["sgd_lr_estimate"]).all()


@pytest.mark.parametrize("model, optimizer, fields", [
    ("logreg", "swats", dict(probes=("swats",), initial_evaluation=True)),
    ("wrn", "ndadam", dict(model_args=dict(depth=10, widen=1), probes=("rows",), validation=0.25)),
])
def test_a_plan_placeholder_is_shaped_like_the_trained_result(tmp_path, model, optimizer, fields):
    """A chapter's analysis runs on placeholders in plan mode: same epochs, logged steps and columns."""
    real = train_tiny(tmp_path, model, optimizer, {}, log_every=2, **fields)
    planned = runner.placeholder(RunSpec(model, optimizer=optimizer, log_every=2, **(TINY | fields)))
    assert [e["epoch"] for e in planned["epochs"]] == [e["epoch"] for e in real["epochs"]]
    assert [set(e) for e in planned["epochs"]] == [set(e) for e in real["epochs"]]
    assert set(planned["steps"]) == set(real["steps"]) and planned["steps"]["step"] == real["steps"]["step"]


def test_a_probe_needs_its_optimizer_or_layers():
    with pytest.raises(ValueError, match="probes='speed' is invalid"):
        RunSpec("logreg", "digits", "adam", probes=("speed",))
    with pytest.raises(ValueError, match="needs the SWATS optimizer"):
        from optim.training import train
        train(RunSpec("logreg", optimizer="adam", probes=("swats",), **TINY))


def test_eval_mode_bug_changes_only_the_epochs_after_the_first(tmp_path):
    honest = train_tiny(tmp_path, "mlp", "adam", {}, epochs=2)["epochs"]
    buggy = train_tiny(tmp_path, "mlp", "adam", {}, epochs=2,
                       evaluation_bugs=("eval-mode-after-first-epoch",))["epochs"]
    clocks = {k: buggy[0][k] for k in ("time", "train_time")}
    assert buggy[0] == pytest.approx(honest[0] | clocks)
    assert buggy[1]["train_loss"] != pytest.approx(honest[1]["train_loss"])


def test_an_epochs_training_time_leaves_its_evaluation_out(tmp_path, monkeypatch):
    import optim.training

    evaluate = optim.training.evaluate

    def slow_evaluate(*args, **kwargs):
        time.sleep(0.3)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(optim.training, "evaluate", slow_evaluate)
    epochs = train_tiny(tmp_path, "logreg", "adam", {}, epochs=2)["epochs"]
    assert epochs[0]["time"] - epochs[0]["train_time"] >= 0.3
    assert (epochs[1]["time"] - epochs[0]["time"]) - epochs[1]["train_time"] >= 0.3
    assert all(e["train_time"] > 0 for e in epochs)


def test_augmented_test_set_bug_changes_the_test_metrics_only(tmp_path):
    honest = train_tiny(tmp_path, "logreg", "adam", {}, augment="crop")["epochs"][0]
    buggy = train_tiny(tmp_path, "logreg", "adam", {}, augment="crop",
                       evaluation_bugs=("augmented-test-set",))["epochs"][0]
    assert buggy["train_loss"] == honest["train_loss"]
    assert buggy["test_loss"] != pytest.approx(honest["test_loss"])


def test_speed_benchmark_smoke_run_writes_its_table(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "optim.bench", "--smoke", "--device", "cpu", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = __import__("json").loads(out.read_text())
    names = [row["optimizer"] for row in result["steps"]["rows"]]
    from optim.optimizers import RECORDS

    assert names == [r.name for r in RECORDS]  # every optimizer of the package, from its record
    assert all(row["ratio"] > 0 and row["reference_ms"] > 0 for row in result["steps"]["rows"])
    assert all(0 < row["ratio_q1"] <= row["ratio_q3"] for row in result["steps"]["rows"])
    assert result["throughput"][0]["images_per_s"] > 0
    assert [row["optimizer"] for row in result["paths"]] == [r.name for r in RECORDS if {"single", "multi"} <= set(r.paths)]
    assert {row["default"] for row in result["paths"]} <= {"foreach", "fused"}  # smoke tensors are tiny: never single
    assert "| ratio |" in done.stdout


@pytest.mark.parametrize("args, message", [(["--numel", "10"], "--numel=10 is too small"),
                                           (["--repeats", "1"], "--repeats=1 is too small")])
def test_speed_benchmark_rejects_bad_sizes(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "optim.bench", *args, "--out", str(tmp_path / "x.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_speed_benchmark_rejects_an_unknown_optimizer(tmp_path):
    done = subprocess.run([sys.executable, "-m", "optim.bench", "--optimizers", "adamm", "--out", str(tmp_path / "x.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--optimizers 'adamm' is invalid: choose from adam, amsgrad" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_method_specs_are_the_runs_a_chapter_would_write_by_hand():
    from optim.spec import method_specs

    methods = {"Adam": ("adam", dict(betas=(0.9, 0.99))),
               "SWATS, decayed": ("swats", dict(switch_eps=1e-5), dict(schedule="step", model_args=dict(dropout=0.0)))}
    got = method_specs(methods, [0, 1], "mlp", "digits", grid=dict(lr=[1e-3, 1e-2]), epochs=2,
                       model_args=dict(hidden=32), n_test=50)
    by_hand = [RunSpec("mlp", "digits", "adam", dict(lr=lr, betas=(0.9, 0.99)), seed=s, tag="Adam", epochs=2,
                       model_args=dict(hidden=32), n_test=50) for lr in (1e-3, 1e-2) for s in (0, 1)]
    by_hand += [RunSpec("mlp", "digits", "swats", dict(switch_eps=1e-5, lr=lr), seed=s, tag="SWATS, decayed", epochs=2,
                        schedule="step", model_args=dict(hidden=32, dropout=0.0), n_test=50)
                for lr in (1e-3, 1e-2) for s in (0, 1)]
    assert got == by_hand
    assert [s.key() for s in got] == [s.key() for s in by_hand]
    assert len({s.key() for s in got}) == 8


def test_a_result_records_the_images_it_used():
    from optim.data import info
    from optim.training import train

    capped = train(RunSpec("logreg", "digits", "adam", dict(lr=1e-2), epochs=1, n_train=300, n_test=100,
                           validation=0.1), progress=False)
    assert capped["sizes"] == {"train": 270, "validation": 30, "test": 100}
    whole = train(RunSpec("logreg", "digits", "adam", dict(lr=1e-2), epochs=1), progress=False)
    record = info("digits")
    assert whole["sizes"] == {"train": record.train_size, "validation": 0, "test": record.test_size}


def test_a_trained_result_and_a_placeholder_have_the_one_result_shape():
    from optim.result import Epoch, Provenance, Result
    from optim.training import train

    spec = RunSpec("logreg", optimizer="adam", eval_every=2, **TINY | dict(epochs=3))
    for result in (train(spec, progress=False), runner.placeholder(spec)):
        assert set(result) <= set(Result.__annotations__)
        assert all(set(epoch) <= set(Epoch.__annotations__) for epoch in result["epochs"])
        assert set(result["provenance"]) <= set(Provenance.__annotations__)
        assert [("test_loss" in e) for e in result["epochs"]] == [False, True, True]  # epochs 1, 2, 3: 2 and the last


def test_a_shuffle_buffer_orders_an_epoch_as_tensorflow_s_dataset_shuffle_does():
    from optim.training import buffered_order

    generator = torch.Generator().manual_seed(0)
    assert buffered_order(50, 1, generator).tolist() == list(range(50))  # a buffer of one keeps the stored order
    for buffer in (5, 17, 60):
        order = buffered_order(50, buffer, generator)
        assert sorted(order.tolist()) == list(range(50))  # every example once
        position = torch.empty(50, dtype=torch.long)
        position[order] = torch.arange(50)
        assert all(position[i] >= i - buffer + 1 for i in range(50))  # no example leaves before it entered
    # a buffer as large as the data is a uniform permutation: each example equally likely first
    firsts = torch.tensor([buffered_order(6, 6, generator)[0].item() for _ in range(3000)])
    assert torch.bincount(firsts, minlength=6).min() > 3000 / 6 * 0.8
    # a small buffer keeps the stored order's drift: the first tenth comes early
    early = buffered_order(1000, 100, generator)[:100]
    assert early.float().mean() < 150


def test_a_run_with_a_shuffle_buffer_has_its_own_key_and_trains():
    spec = RunSpec("logreg", optimizer="sgd", shuffle_buffer=16, **TINY)
    assert spec.key() != spec.replace(shuffle_buffer=0).key() == RunSpec("logreg", optimizer="sgd", **TINY).key()
    from optim.training import train

    assert not train(spec, progress=False)["diverged"]
    with pytest.raises(ValueError, match="shuffle_buffer=-1 is invalid"):
        RunSpec("logreg", optimizer="sgd", shuffle_buffer=-1, **TINY)


def test_without_reshuffling_every_epoch_replays_the_first_epoch_s_batches():
    """TensorFlow 1 with a graph-level seed replays one shuffle each epoch (DeepOBS's runs): at a
    learning rate of 1e-30 no fp32 weight moves, so the second epoch's minibatch losses repeat the
    first's exactly when the order is replayed, and not when it is drawn anew."""
    from optim.training import train

    for buffer in (0, 16):
        base = RunSpec("logreg", optimizer="sgd", hparams={"lr": 1e-30}, log_every=1, shuffle_buffer=buffer,
                       **TINY | dict(epochs=2))
        for reshuffle in (False, True):
            losses = train(base.replace(reshuffle=reshuffle), progress=False)["steps"]["train_loss"]
            first, second = losses[:len(losses) // 2], losses[len(losses) // 2:]
            assert len(first) == 2 and (first == second) is not reshuffle
    replayed = RunSpec("logreg", optimizer="sgd", reshuffle=False, **TINY)
    assert replayed.key() != replayed.replace(reshuffle=True).key() == RunSpec("logreg", optimizer="sgd", **TINY).key()
    with pytest.raises(ValueError, match="reshuffle=0 is invalid"):
        RunSpec("logreg", optimizer="sgd", reshuffle=0, **TINY)


def test_the_step_benchmark_times_every_record_of_the_package_against_its_reference():
    from optim import bench
    from optim.optimizers import RECORDS

    cases = bench.step_cases()
    assert list(cases) == [r.name for r in RECORDS]
    for record in RECORDS:
        _, family, variants = cases[record.name]
        assert family == ("adam" if record.reference is None else "torch")
        params = [torch.ones(4, 100, requires_grad=True)]
        assert all(isinstance(v(params), torch.optim.Optimizer) for v in variants.values())
    swats = cases["swats"][0]([torch.ones(4, 100, requires_grad=True)])
    assert swats.defaults["switch_eps"] == 0.0  # timed in its costly Adam phase
