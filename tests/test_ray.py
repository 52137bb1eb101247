"""The Ray executor on a real local Ray instance (loopback, 2 CPUs): the same stored results
as the local executor, a failing task retried once and then reported with its spec, and a
second call served from the cache. Deselect with ``-m "not ray"``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import optim
from optim import executor, runner
from optim.spec import RunSpec

ray = pytest.importorskip("ray", reason="the cluster extra is not installed (pip install '.[cluster]')")
pytestmark = pytest.mark.ray
TINY = dict(dataset="digits", epochs=1, batch_size=32, n_train=96, n_test=40)


class FlakyOnce(torch.optim.SGD):
    """SGD that fails the first time it is built for a model (not the spec check's dummy
    parameter) for a given marker file, then works."""

    def __init__(self, params, lr=0.1, marker=""):
        params = list(params)
        if marker and sum(p.numel() for p in params) > 4 and not Path(marker).exists():
            Path(marker).write_text("failed once")
            raise RuntimeError("flaky optimizer: first attempt fails")
        super().__init__(params, lr=lr)


ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def _specs():
    return [RunSpec(m, optimizer=o, seed=s, **TINY) for m, o in [("logreg", "adam"), ("mlp", "nesterov")] for s in (0, 1)]


def test_ray_results_are_identical_to_local_ones_and_come_from_the_cache_after(local_ray, tmp_path, monkeypatch):
    local = runner.run_results(_specs(), root=tmp_path / "local", progress=False)
    monkeypatch.setenv("OPTIM_EXECUTOR", "ray")
    remote = runner.run_results(_specs(), root=tmp_path / "ray", progress=False)
    for a, b in zip(local, remote):
        assert a["key"] == b["key"] and a["steps"]["train_loss"] == b["steps"]["train_loss"]
        assert [e["test_loss"] for e in a["epochs"]] == [e["test_loss"] for e in b["epochs"]]
    assert remote[0]["provenance"]["executor"] == "ray"
    calls = []
    monkeypatch.setattr("optim.ray_executor.results", lambda *a, **k: calls.append(a) or iter(()))
    again = runner.run_results(_specs(), root=tmp_path / "ray", progress=False)
    assert calls == [] and [r["status"] for r in again] == ["stored"] * 4


def test_a_failing_task_is_retried_once_and_a_run_failing_twice_is_reported(local_ray, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_EXECUTOR", "ray")
    optim.register("flaky_once", FlakyOnce, replace=True)
    flaky = RunSpec("logreg", optimizer="flaky_once", hparams=dict(marker=str(tmp_path / "marker")), **TINY)
    broken = RunSpec("mlp", optimizer="adam", model_args=dict(hidden_units=3), **TINY)
    good = RunSpec("logreg", optimizer="adam", **TINY)
    with pytest.raises(executor.RunFailed) as info:
        runner.run_results([flaky, broken, good], root=tmp_path, progress=False)
    assert (tmp_path / "marker").exists()  # the flaky run failed once ...
    message = str(info.value)
    assert "1 run(s) failed" in message and "model='mlp'" in message and "bad options for model" in message
    stored = list((tmp_path / "quick").glob("*.json.gz"))
    assert len(stored) == 2  # ... and its retry was stored, beside the good run


def test_asking_for_ray_without_it_is_one_line(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.setenv("OPTIM_EXECUTOR", "ray")
    with pytest.raises(RuntimeError, match=r"needs Ray, which is not installed: pip install 'optim-book\[cluster\]'"):
        runner.run_many([RunSpec("logreg", optimizer="adam", **TINY)], root=tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_unknown_executor_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("OPTIM_EXECUTOR", "dask")
    with pytest.raises(ValueError, match="OPTIM_EXECUTOR='dask' is invalid: expected one of local, ray"):
        runner.run_many([RunSpec("logreg", optimizer="adam", **TINY)], root=tmp_path)
