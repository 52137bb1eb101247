"""A fresh machine, a careless user and a damaged file: one-line errors before any work, and
no finished work lost. Each test names the category of mistake it covers."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import optim
from optim import data, registry, runner
from optim.cache import RunCache
from optim.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", epochs=1, batch_size=32, n_train=64, n_test=20)


def _no_training(monkeypatch):
    calls = []
    monkeypatch.setattr("optim.training.train", lambda spec, **kw: calls.append(spec) or 1 / 0)
    return calls


# --- set-up: the datasets reach a fresh machine by themselves ------------------------------------
def test_fashion_mnist_comes_from_debians_archive_when_the_package_is_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPTIM_DEBIAN_DATASETS", str(tmp_path / "not-installed"))
    monkeypatch.setitem(data.SOURCES, "torchvision FashionMNIST (internet)",
                        lambda: pytest.fail("the Debian archive should have served it first"))
    path = data.fetch("fashion-mnist")
    assert path.parent == tmp_path / "cache"
    assert data.arrays_sha256(dict(np.load(path))) == data.DATASETS["fashion-mnist"].sha256
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["fashion-mnist.npz"]  # no leftovers


def test_no_source_reachable_lists_every_source_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPTIM_DEBIAN_DATASETS", str(tmp_path / "absent"))

    def unreachable():
        raise data.DatasetUnavailable("no network")

    for source in data.DATASETS["fashion-mnist"].sources[1:]:
        monkeypatch.setitem(data.SOURCES, source, unreachable)
    with pytest.raises(data.DatasetUnavailable) as info:
        data.fetch("fashion-mnist")
    message = str(info.value)
    assert "\n" not in message and "not installed" in message and message.count("no network") == 2
    assert not list(tmp_path.iterdir())


def test_a_chapter_without_data_fetches_none(tmp_path):
    env = dict(os.environ, OPTIM_DATA_DIR=str(tmp_path / "cache"), OPTIM_RESULTS_DIR=str(tmp_path / "results"))
    code = ("from pathlib import Path; from optim import publish; "
            f"publish.execute('testbed', 'quick', out_dir=Path({str(tmp_path)!r}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "cache").exists()


def test_ci_installs_nothing_the_readme_commands_need():
    script = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "make test" in commands and not any("apt-get" in c or "pip " in c for c in commands)


# --- damaged stored results ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    spec = RunSpec("logreg", optimizer="adam", **TINY)
    (result,) = runner.run_results([spec], root=root, progress=False)
    (path,) = (root / "quick").glob("*.json.gz")
    return spec, root, path.read_bytes(), result


def _damaged(blob: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return blob[: rng.randrange(len(blob))]
    out = bytearray(blob)
    for _ in range(rng.choice([1, 1, 2, 8])):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def test_fuzzed_stored_result_never_crashes_and_is_set_aside(stored, tmp_path, capsys):
    spec, _, blob, result = stored
    key = result["key"]
    cache = RunCache(tmp_path)
    rng = random.Random(0)
    for _ in range(300):
        tmp_path.joinpath(f"{key}.json.gz").write_bytes(_damaged(blob, rng))
        got = cache.get(key)
        kept = sorted(tmp_path.glob(f"{key}.json.gz.damaged-*"))
        if got is None:  # reported and set aside, not deleted
            assert kept and not cache.path(key).exists()
        else:  # only a flip the format cannot see (gzip header's time or OS byte) may pass
            assert json.dumps(got, sort_keys=True) == json.dumps(cache_result(blob), sort_keys=True)
        for p in kept:
            p.unlink()
    assert "damaged" in capsys.readouterr().err


def cache_result(blob: bytes) -> dict:
    return json.loads(gzip.decompress(blob))["result"]


def test_damaged_entry_is_recomputed_by_the_next_run(stored, tmp_path, capsys):
    spec, _, blob, result = stored
    folder = tmp_path / "quick"
    folder.mkdir()
    (folder / f"{result['key']}.json.gz").write_bytes(blob[:40] + bytes([blob[40] ^ 0xFF]) + blob[41:])
    (again,) = runner.run_results([spec], root=tmp_path, progress=False)
    measured = ("train_loss", "train_acc", "test_loss", "test_acc")
    assert [[e[k] for k in measured] for e in again["epochs"]] == [[e[k] for k in measured] for e in result["epochs"]]
    assert "damaged" in capsys.readouterr().err
    assert len(list(folder.glob("*.damaged-*"))) == 1 and RunCache(folder).get(result["key"]) is not None


def test_deeply_nested_json_is_damaged_not_a_recursion_error(tmp_path, capsys):
    cache = RunCache(tmp_path)
    cache.path("k").write_bytes(gzip.compress(b'{"format": 1, "result": {"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"))
    assert cache.get("k") is None
    assert "nested too deeply" in capsys.readouterr().err


def test_a_newer_format_is_reported_as_such(tmp_path, capsys):
    cache = RunCache(tmp_path)
    cache.path("k").write_bytes(gzip.compress(json.dumps({"format": 99, "sha256": "x", "result": {}}).encode()))
    assert cache.get("k") is None
    err = capsys.readouterr().err
    assert "format 99 by a newer version" in err and "checksum" not in err
    assert list(tmp_path.glob("k.json.gz.damaged-*"))


def test_temporary_files_of_killed_writers_are_removed(stored, tmp_path):
    spec, _, _, _ = stored
    folder = tmp_path / "quick"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from optim.cache import HOST

    orphan = folder / f".abc.{HOST}.{dead.stdout.strip()}.x1.tmp"
    live = folder / f".abd.{HOST}.{os.getpid()}.x2.tmp"
    orphan.write_bytes(b"half")
    live.write_bytes(b"half")
    runner.run_results([spec.replace(seed=5)], root=tmp_path, progress=False)
    assert not orphan.exists() and live.exists()


# --- committed data is never overwritten by a side command ---------------------------------------
def test_smoke_benchmark_leaves_the_committed_table_alone(tmp_path):
    committed = ROOT / "data" / "results" / "bench" / "cpu.json"
    before = hashlib.sha256(committed.read_bytes()).hexdigest() if committed.exists() else None
    done = subprocess.run([sys.executable, "-m", "optim.bench", "--smoke", "--device", "cpu",
                           "--out", str(committed)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "smoke numbers never go into" in done.stderr
    after = hashlib.sha256(committed.read_bytes()).hexdigest() if committed.exists() else None
    assert before == after


@pytest.mark.parametrize("out, message", [("{tmp}", "it is a folder"), ("{tmp}/file/x.json", "is not writable")])
def test_benchmark_checks_its_output_before_measuring(tmp_path, out, message):
    (tmp_path / "file").write_text("a file, not a folder")
    done = subprocess.run([sys.executable, "-m", "optim.bench", "--smoke", "--out", out.format(tmp=tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


# --- hyperparameters that can only diverge -------------------------------------------------------
@pytest.mark.parametrize("name", optim.available())
@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -1.0, 0.0, "0.001", True, None])
def test_every_optimizer_rejects_a_learning_rate_that_cannot_train(name, lr):
    with pytest.raises(ValueError, match=r"lr=.* is invalid") as info:
        RunSpec("logreg", optimizer=name, hparams=dict(lr=lr), **TINY)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["adam", "adamw", "amsgrad", "adamax", "nadam", "swats", "ndadam"])
def test_adam_family_rejects_eps_zero(name):
    with pytest.raises(ValueError, match="eps=0.0 is invalid"):
        RunSpec("logreg", optimizer=name, hparams=dict(eps=0), **TINY)
    with pytest.raises(ValueError, match="eps=0 is invalid"):
        registry.build(name, torch.nn.Linear(2, 2), eps=0)


@pytest.mark.parametrize("hparams, message", [
    (dict(lrr=0.1), "unknown hyperparameter 'lrr' for 'adam'; valid names: lr, betas"),
    (dict(betas=(0.9, 1.0)), "betas[1]=1.0 is invalid"),
    (dict(betas=0.9), "betas=0.9 is invalid"),
    (dict(amsgrad=1), "amsgrad=1 is invalid: expected True or False"),
    (dict(weight_decay=-1e-4), "weight_decay=-0.0001 is invalid"),
])
def test_hyperparameter_names_types_and_ranges_are_checked(hparams, message):
    with pytest.raises(ValueError) as info:
        RunSpec("logreg", optimizer="adam", hparams=hparams, **TINY)
    assert message in str(info.value)


def test_paper_optimizers_reject_a_string_learning_rate():
    for cls in (optim.Adam, optim.AdaMax, optim.Nadam, optim.SGDW, optim.SWATS, optim.NDAdam):
        with pytest.raises(ValueError, match="lr='0.1' is invalid: expected a number"):
            cls([torch.zeros(2, requires_grad=True)], lr="0.1")


def test_numpy_and_tensor_scalars_are_numbers_and_equal_settings_are_one_spec():
    specs = [RunSpec("logreg", optimizer="adam", hparams=dict(lr=v, betas=b), **TINY)
             for v, b in [(1, (0.9, 0.99)), (1.0, [0.9, 0.99]), (np.float32(1.0), (np.float64(0.9), 0.99)),
                          (torch.tensor(1.0), (0.9, torch.tensor(0.99, dtype=torch.float64)))]]
    assert len({s.key() for s in specs}) == 1
    assert specs[0].hparams == (("betas", (0.9, 0.99)), ("lr", 1.0))


def test_a_numpy_hyperparameter_is_stored_and_read_back(tmp_path):
    spec = RunSpec("logreg", optimizer="sgd", hparams=dict(lr=np.float64(0.1), momentum=np.float32(0.5)), **TINY)
    first = runner.run_many([spec], root=tmp_path, progress=False)
    again = runner.run_many([spec], root=tmp_path, progress=False)
    assert first["train_loss"].tolist() == again["train_loss"].tolist()
    assert again["hp_lr"].iloc[0] == 0.1


# --- silently ignored parameters -----------------------------------------------------------------
def test_book_run_rejects_an_unknown_parameter_before_executing():
    done = subprocess.run([sys.executable, "-m", "optim.book", "run", "testbed", "-p", "profil", "full"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: unknown parameter 'profil' for chapter 'testbed'; valid parameters: profile, device")


def test_papermill_with_a_mistyped_parameter_fails_the_first_cell(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="unknown parameter 'profil'; valid parameters: profile"):
        papermill.execute_notebook(str(ROOT / "chapters" / "testbed.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=dict(profil="full"), kernel_name="python3",
                                   cwd=str(ROOT / "chapters"), progress_bar=False)


# --- state of another optimizer ------------------------------------------------------------------
def _stepped(opt_or_cls, **kw):
    p = torch.zeros(3, requires_grad=True)
    opt = opt_or_cls([p], **kw)
    p.grad = torch.ones(3)
    opt.step()
    return opt


@pytest.mark.parametrize("source, target", [
    (optim.Adam, optim.AMSGrad), (optim.AMSGrad, optim.Adam), (optim.SWATS, optim.Adam),
    (optim.Adam, optim.SWATS), (optim.Nadam, optim.AdaMax), (torch.optim.Adam, optim.AMSGrad),
    (torch.optim.SGD, optim.Adam)])
def test_loading_another_optimizers_state_is_refused_at_load_time(source, target):
    kw = dict(momentum=0.9) if source is torch.optim.SGD else {}
    saved = _stepped(source, **kw).state_dict()
    fresh = target([torch.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="saved by|does not hold") as info:
        fresh.load_state_dict(saved)
    assert "\n" not in str(info.value)


def test_same_optimizer_state_still_loads_and_continues_identically():
    a = _stepped(optim.AMSGrad)
    b = optim.AMSGrad([torch.zeros(3, requires_grad=True)])
    b.load_state_dict(copy.deepcopy(a.state_dict()))  # state_dict() holds references, as in torch
    pa, pb = a.param_groups[0]["params"][0], b.param_groups[0]["params"][0]
    with torch.no_grad():
        pb.copy_(pa)
    for opt, p in ((a, pa), (b, pb)):
        p.grad = torch.full((3,), 0.5)
        opt.step()
    assert torch.equal(pa, pb)
    torch_state = _stepped(torch.optim.Adam).state_dict()
    optim.Adam([torch.zeros(3, requires_grad=True)]).load_state_dict(torch_state)  # drop-in from torch


# --- work lost at the end, environment and paths --------------------------------------------------
def test_an_unwritable_results_folder_is_found_before_training(tmp_path, monkeypatch):
    calls = _no_training(monkeypatch)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="results folder .* is not writable"):
        runner.run_many([RunSpec("logreg", optimizer="adam", **TINY)], root=tmp_path / "file", progress=False)
    assert calls == []


@pytest.mark.parametrize("setting, message", [("", "OPTIM_DATA_DIR='' is invalid"),
                                              ("{tmp}/file", "it is a file, expected a folder")])
def test_a_bad_data_folder_setting_is_one_line(setting, message, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("OPTIM_DATA_DIR", setting.format(tmp=tmp_path))
    data._MEMORY.clear()
    with pytest.raises(ValueError) as info:
        data.load("digits")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_data_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_DATA_DIR", str(tmp_path / "file" / "cache"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="dataset cache .* is not writable"):
        data.fetch("digits")


def test_results_root_may_be_a_string(tmp_path):
    frame = runner.run_many([RunSpec("logreg", optimizer="adam", **TINY)], root=str(tmp_path), progress=False)
    assert len(frame) == 1 and list((tmp_path / "quick").glob("*.json.gz"))


def test_cuda_on_a_machine_without_it_fails_before_any_run(tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    calls = _no_training(monkeypatch)
    specs = [RunSpec("logreg", optimizer="adam", **TINY), RunSpec("logreg", optimizer="adam", device="cuda", **TINY)]
    with pytest.raises(ValueError, match="no CUDA device"):
        runner.run_many(specs, root=tmp_path)
    assert calls == []
    done = subprocess.run([sys.executable, "-m", "optim.book", "run", "testbed", "--device", "cuda"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "no CUDA device" in done.stderr


# --- duplicate and equal work ---------------------------------------------------------------------
def test_the_same_run_listed_twice_is_trained_once(tmp_path, monkeypatch):
    from optim import training

    calls = []
    real = training.train
    monkeypatch.setattr("optim.training.train", lambda spec, **kw: calls.append(spec) or real(spec, **kw))
    a = RunSpec("logreg", optimizer="adam", hparams=dict(lr=1), tag="first", **TINY)
    b = RunSpec("logreg", optimizer="adam", hparams=dict(lr=1.0), tag="second", **TINY)
    frame = runner.run_many([a, b, a], root=tmp_path, progress=False)
    assert len(calls) == 1 and frame["tag"].tolist() == ["first", "second", "first"]
    assert frame["train_loss"].nunique() == 1


def test_an_unknown_profile_creates_no_folder(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match="profile='medium' is invalid: expected one of 'quick', 'full'"):
        runner.run_many([RunSpec("logreg", optimizer="adam", **TINY)], profile="medium", root=tmp_path)
    assert not list(tmp_path.iterdir())
