"""Fast training on the CPU and parallel runs: bf16 chosen by the spec, parallel results equal
to serial ones, a failed run reported without losing the others, interrupted work resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optim import executor, runner
from optim.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", epochs=1, batch_size=32, n_train=128, n_test=40)


def _specs():
    return [RunSpec("cnn", optimizer=o, seed=s, **TINY) for o in ("adam", "nesterov") for s in (0, 1)]


def test_parallel_results_are_identical_to_serial_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_WORKERS", "1")
    serial = runner.run_results(_specs(), root=tmp_path / "serial", progress=False)
    monkeypatch.setenv("OPTIM_WORKERS", "2")
    parallel = runner.run_results(_specs(), root=tmp_path / "parallel", progress=False)
    measured = ("train_loss", "train_acc", "test_loss", "test_acc")
    for a, b in zip(serial, parallel):
        assert a["key"] == b["key"]
        assert [[e[k] for k in measured] for e in a["epochs"]] == [[e[k] for k in measured] for e in b["epochs"]]
        assert a["steps"]["train_loss"] == b["steps"]["train_loss"]
        assert a["provenance"]["threads"] == b["provenance"]["threads"] == executor.threads_per_run()
    assert len({r["provenance"]["threads"] for r in parallel}) == 1


def test_bf16_and_channels_last_are_chosen_by_the_spec_and_keyed(tmp_path):
    fp32 = RunSpec("cnn", optimizer="adam", **TINY)
    bf16 = fp32.replace(precision="bf16", memory_format="channels_last")
    assert fp32.key() != bf16.key()
    a, b = runner.run_results([fp32, bf16], root=tmp_path, progress=False)
    assert (a["provenance"]["precision"], b["provenance"]["precision"]) == ("fp32", "bf16")
    assert b["provenance"]["memory_format"] == "channels_last"
    # bf16 rounding changes the numbers a little, not the training
    assert a["steps"]["train_loss"] != b["steps"]["train_loss"]
    assert abs(a["epochs"][-1]["train_loss"] - b["epochs"][-1]["train_loss"]) < 0.05


def test_bf16_autocast_really_runs_on_the_cpu(monkeypatch):
    import torch

    from optim import training

    seen = []
    real = training.build_model

    def spy(*args, **kw):
        model = real(*args, **kw)
        model.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
        return model

    monkeypatch.setattr(training, "build_model", spy)
    training.train(RunSpec("mlp", optimizer="adam", precision="bf16", device="cpu", **TINY), progress=False)
    assert seen and set(seen) == {torch.bfloat16}


@pytest.mark.parametrize("field, value", [("precision", "fp16"), ("memory_format", "nhwc")])
def test_unknown_precision_or_layout_is_one_line(field, value):
    with pytest.raises(ValueError, match=f"{field}='{value}' is invalid: expected one of"):
        RunSpec("cnn", optimizer="adam", **{field: value}, **TINY)


def test_a_failing_run_is_reported_with_its_spec_and_the_others_are_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_WORKERS", "2")
    good = [RunSpec("logreg", optimizer="adam", seed=s, **TINY) for s in (0, 1)]
    bad = RunSpec("mlp", optimizer="adam", model_args=dict(hidden_units=7), **TINY)
    with pytest.raises(executor.RunFailed, match="1 run\\(s\\) failed; first: RunSpec\\(model='mlp'") as info:
        runner.run_many([good[0], bad, good[1]], root=tmp_path, progress=False)
    assert "bad options for model 'mlp'" in str(info.value)
    assert len(list((tmp_path / "quick").glob("*.json.gz"))) == 2


def test_an_interrupted_call_resumes_with_only_the_missing_runs(tmp_path, monkeypatch):
    # a quick first run, then two that take minutes: the interrupt always lands in the second
    specs = [RunSpec("mlp", "mnist", "adam", dict(lr=lr), epochs=1 if lr == 1e-3 else 20, n_train=2000 if lr == 1e-3 else 30000,
                     n_test=100) for lr in (1e-3, 2e-3, 3e-3)]
    # Ctrl-C's handler, even where this test runs with SIGINT ignored (a background job)
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from optim.spec import RunSpec; from optim import runner; "
            f"runner.run_many({specs!r}, root=sys.argv[1], progress=False)")
    env = dict(os.environ, OPTIM_WORKERS="1")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env)
    deadline = time.time() + 300
    while not list(tmp_path.rglob("*.json.gz")) and time.time() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert len(list(tmp_path.rglob("*.json.gz"))) == 1  # the finished run was kept
    trained = []
    from optim import training

    real = training.train
    # what is trained is recorded; a tiny stand-in result keeps the test short
    monkeypatch.setattr("optim.training.train",
                        lambda spec, **kw: trained.append(spec) or real(spec.replace(n_train=64, epochs=1), **kw))
    monkeypatch.setenv("OPTIM_WORKERS", "1")
    runner.run_many(specs[:1] + specs[1:2], root=tmp_path, progress=False)
    assert trained == [specs[1]]


def _killer(marker: Path | None):
    """An optimizer whose first step SIGKILLs its own process, as the out-of-memory killer would:
    on every attempt, or (``marker``) only on the first one, which leaves the marker behind."""
    import torch

    class Killer(torch.optim.SGD):
        def step(self, closure=None):
            if marker is None or not marker.exists():
                if marker is not None:
                    marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            return super().step(closure)

    return Killer


@pytest.mark.parametrize("dies", ["once", "always"])
def test_a_killed_worker_costs_only_its_own_run(tmp_path, monkeypatch, dies):
    from optim import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the registration ends with the test
    registry.register("killer", _killer(tmp_path / "killed-once" if dies == "once" else None))
    monkeypatch.setenv("OPTIM_WORKERS", "2")
    healthy = [RunSpec("logreg", optimizer="adam", seed=s, **TINY) for s in range(3)]
    doomed = RunSpec("logreg", optimizer="killer", hparams=dict(lr=0.1), **TINY)
    if dies == "once":  # retried alone, it finishes: nothing is lost, nothing is raised
        runner.run_many([healthy[0], doomed, *healthy[1:]], root=tmp_path, progress=False)
        assert len(list((tmp_path / "quick").glob("*.json.gz"))) == 4
        return
    with pytest.raises(executor.RunFailed, match="1 run\\(s\\) failed; first: RunSpec\\(.*optimizer='killer'") as info:
        runner.run_many([healthy[0], doomed, *healthy[1:]], root=tmp_path, progress=False)
    assert "worker process died twice" in str(info.value) and "SIGKILL" in str(info.value)
    assert len(list((tmp_path / "quick").glob("*.json.gz"))) == 3  # every healthy run was stored
