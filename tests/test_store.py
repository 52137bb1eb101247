"""Stored results that survive: a refactor keeps full results valid, a numeric change marks
them stale, a completed full chapter writes its manifest, and the planner counts a chapter's
runs without training them."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import optim
from optim import book, fingerprint, publish, runner, training
from optim.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", epochs=1, batch_size=32, n_train=128, n_test=40)


@pytest.fixture
def stored_full(tmp_path):
    spec = RunSpec("logreg", optimizer="swats", hparams=dict(lr=2e-3), **TINY)
    (result,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    canaries = list((tmp_path / "canaries").glob("*.json"))
    assert len(canaries) == 1 and result["provenance"]["fingerprint"] == canaries[0].stem
    return spec, result


@pytest.fixture
def edited_optimizer_file(tmp_path, monkeypatch):
    """The SWATS source edited (a comment): a new fingerprint for SWATS runs."""
    _edit_swats(tmp_path, monkeypatch)


def _edit_swats(tmp_path, monkeypatch):
    fake = tmp_path / "swats.py"
    fake.write_text(Path(optim.optimizers.swats.__file__).read_text() + "\n# a refactor\n")
    original = fingerprint._optimizer_file
    monkeypatch.setattr(fingerprint, "_optimizer_file", lambda name: fake if name == "swats" else original(name))
    monkeypatch.setenv("OPTIM_DATA_DIR", str(tmp_path / "cache"))  # canaries of the new code go here
    from optim import data

    for name in ("digits",):  # the dataset itself stays reachable from the real cache
        data._arrays(name)


def _trained(monkeypatch) -> list[RunSpec]:
    calls = []
    real = training.train
    monkeypatch.setattr("optim.training.train", lambda spec, **kw: calls.append(spec) or real(spec, **kw))
    return calls


def test_a_refactor_keeps_stored_full_results(stored_full, edited_optimizer_file, tmp_path, monkeypatch):
    spec, result = stored_full
    assert runner.fingerprint(spec) != result["provenance"]["fingerprint"]
    calls = _trained(monkeypatch)
    (again,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert again["status"] == "stored" and again["epochs"] == result["epochs"]
    assert all(c.n_train == 96 for c in calls)  # only the canary ran, not the run itself


def test_a_numeric_change_marks_stored_results_stale(stored_full, edited_optimizer_file, tmp_path, monkeypatch):
    spec, result = stored_full
    real = training._normalize
    monkeypatch.setattr(training, "_normalize", lambda x, mean, std: real(x, mean, std) * 1.01)
    calls = _trained(monkeypatch)
    monkeypatch.setenv("OPTIM_RENDER_ONLY", "1")
    frame = runner.run_many([spec], profile="full", root=tmp_path, progress=False)
    assert frame.attrs["stale"] == 1 and all(c.n_train == 96 for c in calls)  # shown as stale, not trained
    assert "are stale" in book.header("x", "full", "digits", frame).data
    monkeypatch.delenv("OPTIM_RENDER_ONLY")
    (again,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert again["status"] == "stored" and any(c.n_train == 128 for c in calls)  # recomputed
    assert again["epochs"][0]["train_loss"] != result["epochs"][0]["train_loss"]


def test_a_canary_that_differs_on_another_cpu_leaves_the_result_unverified(stored_full, edited_optimizer_file,
                                                                           tmp_path, monkeypatch):
    spec, result = stored_full
    assert result["provenance"]["cpu"]  # the CPU that stored it (and recorded its canary)
    monkeypatch.setattr("optim.executor.cpu_model", lambda: "Another CPU")  # now checked on another processor
    real = training._normalize  # its canary differs here: a change, or that CPU's rounding
    monkeypatch.setattr(training, "_normalize", lambda x, mean, std: real(x, mean, std) * 1.01)
    calls = _trained(monkeypatch)
    (again,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert again["status"] == "unverified" and again["epochs"] == result["epochs"]
    assert all(c.n_train == 96 for c in calls)  # only the canary ran: not recomputed
    frame = runner.run_many([spec], profile="full", root=tmp_path, progress=False)
    text = book.header("x", "full", "digits", frame).data
    assert "1 of 1 results were stored by an earlier version of the code on another processor" in text and "stale" not in text


@pytest.mark.parametrize("cpuinfo, model", [
    ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
     "model name\t: Intel(R) Xeon(R) Platinum 8488C\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n",
     "Intel(R) Xeon(R) Platinum 8488C"),  # a name with a model number identifies the processor
    ("processor\t: 0\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n", "AMD EPYC (family 26, model 2)"),
    ("processor\t: 0\ncpu family\t: 23\nmodel\t\t: 49\nmodel name\t: AMD EPYC\n", "AMD EPYC (family 23, model 49)"),
])
def test_a_masked_cpu_name_gets_its_family_and_model(cpuinfo, model):
    from optim.executor import cpu_model

    assert cpu_model(cpuinfo) == model


@pytest.mark.parametrize("provenance, elsewhere", [
    (dict(device_type="cpu", cpu="This CPU"), False),
    (dict(device_type="cpu", cpu="Another CPU"), True),
    (dict(device_type="cpu", native_bf16=True), True),  # stored before CPU models were recorded: unknown
    (dict(device_type="cpu"), True),
    (dict(device_type="cuda", cpu="This CPU"), True),  # its canary ran on the GPU host's CPU
])
def test_a_result_from_another_processor_is_told_apart(provenance, elsewhere, monkeypatch):
    from optim import canary

    monkeypatch.setattr("optim.executor.cpu_model", lambda: "This CPU")
    assert canary.computed_elsewhere(provenance) is elsewhere


def test_a_full_result_without_a_recorded_canary_is_stale(stored_full, edited_optimizer_file, tmp_path):
    spec, _ = stored_full
    for path in (tmp_path / "canaries").glob("*.json"):
        path.unlink()
    assert runner.run_results([spec], profile="full", root=tmp_path, progress=False)[0]["status"] == "stored"
    # it was recomputed (stale without a canary), and now has a canary of its own again
    assert list((tmp_path / "canaries").glob("*.json"))


def test_render_only_never_trains_a_missing_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_RENDER_ONLY", "1")
    calls = _trained(monkeypatch)
    with pytest.raises(ValueError, match="not stored and this is a render-only build"):
        runner.run_many([RunSpec("logreg", optimizer="adam", **TINY)], profile="full", root=tmp_path)
    assert calls == []


def test_full_step_logs_are_thinned_when_stored(tmp_path):
    spec = RunSpec("logreg", optimizer="adam", log_every=1, **{**TINY, "n_train": 1200, "batch_size": 2})
    (result,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    steps = result["steps"]
    assert len(steps["step"]) == runner.MAX_STEP_POINTS and steps["step"][-1] == 600
    assert len(steps["train_loss"]) == len(steps["lr"]) == runner.MAX_STEP_POINTS


def _tiny_chapter(folder: Path, progress: str = "False") -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"\ndevice = "auto"')
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "from optim import book\nfrom optim.runner import run_many\nfrom optim.spec import RunSpec\n"
        "book.check_parameters(profile, device, None)\n"
        f"specs = [RunSpec('logreg', optimizer='adam', seed=s, **{TINY!r}) for s in range(3)]\n"
        f"frame = run_many(specs, profile=profile, progress={progress})\n"
        "assert (frame.groupby('seed').size() == 1).all()")
    nb.cells = [params, body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    (folder / "chapters").mkdir(parents=True)
    path = folder / "chapters" / "tiny.ipynb"
    nbformat.write(nb, path)
    (folder / "_toc.yml").write_text("format: jb-book\nroot: chapters/tiny\n")
    return path


def test_the_planner_counts_a_chapters_runs_without_training(tmp_path, monkeypatch):
    path = _tiny_chapter(tmp_path / "book")
    results = tmp_path / "results"
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(results))
    runner.run_many([RunSpec("logreg", optimizer="adam", seed=0, **TINY)], profile="full", progress=False)
    monkeypatch.setattr("optim.planner.THROUGHPUT_FILE", tmp_path / "throughput.json")
    plan = publish.plan_notebook(path, "full")
    assert plan.errors == 0 and len(plan.specs) == 3
    assert sorted(plan.status) == ["missing", "missing", "stored"]
    assert len(list((results / "full").glob("*.json.gz"))) == 1  # nothing trained
    hours = plan.estimate_hours()
    assert 0 < hours < 0.01
    assert json.loads((tmp_path / "throughput.json").read_text())  # the measurement is kept
    from optim.planner import render

    table = render([plan])
    assert "| tiny | full | 3 | 1 | 2 | 0 |" in table


def test_the_planner_counts_unverified_runs_as_stored_and_plans_only_the_rest(tmp_path, monkeypatch):
    from optim import planner

    monkeypatch.setattr("optim.planner.THROUGHPUT_FILE", tmp_path / "throughput.json")
    specs = [RunSpec("logreg", optimizer="adam", seed=s, **TINY) for s in range(4)]
    plan = planner.ChapterPlan("tiny", "full", specs, ["stored", "unverified", "stale", "missing"])
    assert plan.todo() == specs[2:]
    assert "| tiny | full | 4 | 2 | 1 | 1 |" in planner.render([plan])


@pytest.mark.parametrize("native", [True, False])
def test_the_planner_says_when_this_cpu_would_emulate_bf16(tmp_path, monkeypatch, native):
    from optim import planner

    monkeypatch.setattr("optim.planner.THROUGHPUT_FILE", tmp_path / "throughput.json")
    monkeypatch.setattr("optim.training.native_bf16", lambda device: native)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    specs = [RunSpec("logreg", optimizer="adam", seed=s, precision=p, **TINY) for s, p in enumerate(["bf16", "fp32"])]
    plan = planner.ChapterPlan("tiny", "full", specs, ["missing", "missing"])
    table = planner.render([plan])
    assert ("no native bf16: 1 of the runs to compute train under bf16 autocast" in table) is not native
    bf16_only = plan.estimate_hours(only=lambda spec: spec.precision == "bf16")  # one run, one worker
    assert bf16_only == pytest.approx(planner.run_seconds(specs[0], planner.throughput(specs[0])) / 3600)


def test_the_planner_names_the_runs_this_cpu_cannot_train_without_measuring_them(tmp_path, monkeypatch):
    from optim import planner

    monkeypatch.setattr("optim.planner.THROUGHPUT_FILE", tmp_path / "throughput.json")
    monkeypatch.setattr("optim.training.native_bf16", lambda device: False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr(planner, "throughput", lambda spec: pytest.fail("measured a run it cannot train"))
    lstm = RunSpec("lstm_lm", "ptb", "sgd", precision="bf16", model_args=dict(hidden=8, layers=1))
    plan = planner.ChapterPlan("words", "full", [lstm, lstm.replace(seed=1)], ["missing", "missing"])
    assert plan.estimate_hours() is None
    table = planner.render([plan])
    assert "| words | full | 2 | 0 | 2 | 0 | ? |" in table
    assert "cannot train some runs at all (a bf16 LSTM needs native bf16; oneDNN has none here): words 2." in table


@pytest.mark.parametrize("layout, after_runs", [("runs fail", True), ("runs fail runs", False),
                                                ("fail runs", False)])
def test_the_planner_says_whether_a_failing_cell_came_after_the_last_runs(tmp_path, monkeypatch, layout, after_runs):
    path = _tiny_chapter(tmp_path / "book")
    nb = nbformat.read(path, as_version=4)
    parameters, runs = nb.cells
    failing = nbformat.v4.new_code_cell("raise RuntimeError('analysis of placeholder numbers')")
    cells = dict(runs=lambda: nbformat.v4.new_code_cell(runs.source), fail=lambda: failing)
    nb.cells = [parameters] + [cells[word]() for word in layout.split()]
    nbformat.write(nb, path)
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr("optim.planner.THROUGHPUT_FILE", tmp_path / "throughput.json")
    plan = publish.plan_notebook(path, "full")
    assert plan.errors == 1 and plan.errors_after_runs is after_runs and len(plan.specs) == 3
    from optim.planner import render

    expected = "all in cells after the last one that asked for runs" if after_runs else "the plan may be incomplete"
    assert expected in render([plan])


def test_a_completed_full_chapter_writes_its_manifest_and_renders_from_it(tmp_path, monkeypatch):
    root = tmp_path / "book"
    _tiny_chapter(root)
    results = tmp_path / "results"
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(results))
    monkeypatch.setattr(publish, "ROOT", root)
    assert publish.stored_profile("tiny") == "quick"
    publish.execute("tiny", "full", out_dir=tmp_path / "out")
    manifest = json.loads((results / "manifests" / "tiny.json").read_text())
    assert len(manifest["keys"]) == 3 and publish.stored_profile("tiny") == "full"
    publish.execute("tiny", "full", out_dir=tmp_path / "out", render_only=True)  # renders, trains nothing
    (results / "full" / f"{manifest['keys'][0]}.json.gz").unlink()  # a listed result goes missing
    with pytest.raises(publish.IncompleteResults, match=f"'tiny': 1 of the 3 .* \\(first: {manifest['keys'][0]}\\); "
                                                        "see which with make plan CHAPTER=tiny"):
        publish.stored_profile("tiny")  # the build stops: never a silent drop to the quick profile
    assert publish.stored_profile("tiny", fallback=True) == "quick"  # make book FALLBACK=quick


def test_running_a_chapter_streams_its_runs_progress_to_the_terminal(tmp_path, monkeypatch, capsys):
    root = tmp_path / "book"
    _tiny_chapter(root, progress="None")  # the chapters' default: a bar only where someone watches
    monkeypatch.setattr(publish, "ROOT", root)
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path / "built"))
    publish.execute("tiny", "quick", out_dir=tmp_path / "out")  # a book build: no bar on the page or here
    assert "runs:" not in capsys.readouterr().err
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path / "run"))
    publish.execute("tiny", "quick", out_dir=tmp_path / "out", log=True)  # `optim.book run`
    err = capsys.readouterr().err
    assert "runs: 100%" in err and "3/3" in err


def test_a_stored_computation_is_computed_once_and_reused_until_its_code_changes(tmp_path, monkeypatch):
    import pandas as pd

    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"t": [1, 2, 3], "x": [0.5, -0.25, 1.0]})

    count_before = runner.computed.count
    first = runner.computed("demo", compute, "full", root=tmp_path, steps=3)
    again = runner.computed("demo", compute, "full", root=tmp_path, steps=3)
    assert len(calls) == 1 and again.equals(first)
    assert runner.computed.count == count_before + 2  # each value returned counts, computed or stored (the header)
    runner.computed("demo", compute, "full", root=tmp_path, steps=4)  # other parameters: another result
    assert len(calls) == 2
    monkeypatch.setattr(runner, "computation_fingerprint", lambda: "edited")
    monkeypatch.setenv("OPTIM_RENDER_ONLY", "1")
    stale_before = runner.computed.stale
    assert runner.computed("demo", compute, "full", root=tmp_path, steps=3).equals(first)  # used, counted stale
    assert len(calls) == 2 and runner.computed.stale == stale_before + 1
    with pytest.raises(ValueError, match="computation 'demo' is not stored and this is a render-only build"):
        runner.computed("demo", compute, "full", root=tmp_path, steps=5)
    monkeypatch.delenv("OPTIM_RENDER_ONLY")
    monkeypatch.setenv("OPTIM_PLAN_FILE", str(tmp_path / "plan.jsonl"))  # make plan: used, not recomputed
    assert runner.computed("demo", compute, "full", root=tmp_path, steps=3).equals(first) and len(calls) == 2
    monkeypatch.delenv("OPTIM_PLAN_FILE")
    runner.computed("demo", compute, "full", root=tmp_path, steps=3)  # the code changed: recomputed
    assert len(calls) == 3


def test_a_stored_result_names_the_cpu_it_was_computed_on(stored_full):
    from optim.executor import cpu_model

    _, result = stored_full
    assert result["provenance"]["cpu"] == cpu_model() and cpu_model()
    assert runner.hardware(result["provenance"]).startswith(f"{cpu_model()} CPU (")


@pytest.mark.parametrize("provenance, label", [
    (dict(device="CPU (x86_64, 1 threads)", device_type="cpu", cpu="AMD EPYC", native_bf16=False),
     "AMD EPYC CPU (x86_64, 1 threads)"),
    (dict(device="CPU (x86_64, 1 threads)", device_type="cpu", cpu="AMD EPYC", native_bf16=False, bf16_by_fp32=True),
     "AMD EPYC CPU (x86_64, 1 threads), bf16 in fp32 kernels"),
    (dict(device="CPU (x86_64, 1 threads)", device_type="cpu", native_bf16=True),  # stored before the model was
     "CPU (x86_64, 1 threads) with native bf16"),
    (dict(device="CPU (x86_64, 1 threads)", device_type="cpu", native_bf16=False),
     "CPU (x86_64, 1 threads) without native bf16"),
    (dict(device="NVIDIA H100 80GB HBM3", device_type="cuda", native_bf16=True), "NVIDIA H100 80GB HBM3"),
    (dict(device="planned", fingerprint=None, threads=0), "planned"),
])
def test_the_hardware_label_tells_machines_apart(provenance, label):
    assert runner.hardware(provenance) == label


def test_a_header_lists_each_machine_its_runs_came_from():
    import pandas as pd

    results = [dict(spec=RunSpec("logreg", optimizer="adam", seed=s, **TINY).to_dict(), diverged=False,
                    diverged_step=None, wall_time=1.0, epochs=[dict(epoch=1, train_loss=1.0)], provenance=p)
               for s, p in enumerate([dict(device="CPU (x86_64, 1 threads)", device_type="cpu", native_bf16=True),
                                      dict(device="CPU (x86_64, 1 threads)", device_type="cpu", cpu="AMD EPYC")])]
    frame = runner.tidy(results)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 2
    assert frame.hardware.tolist() == ["CPU (x86_64, 1 threads) with native bf16", "AMD EPYC CPU (x86_64, 1 threads)"]
    text = book.header("tiny", "full", "digits", frame).data
    assert "**Hardware:** AMD EPYC CPU (x86_64); CPU (x86_64) with native bf16 ·" in text


def _tidy_runs(seconds_by_seed: dict[int, float]):
    results = [dict(spec=RunSpec("logreg", optimizer="adam", seed=s, **TINY).to_dict(), key=f"run-{s}", diverged=False,
                    diverged_step=None, wall_time=t, epochs=[dict(epoch=e, train_loss=1.0) for e in (1, 2)],
                    provenance=dict(device="CPU (x86_64, 1 threads)", device_type="cpu", cpu="AMD EPYC"))
               for s, t in seconds_by_seed.items()]
    return runner.tidy(results)


def test_a_run_that_two_frames_share_counts_once_in_the_header():
    import pandas as pd

    grid, reused = _tidy_runs({0: 100.0, 1: 200.0}), _tidy_runs({1: 200.0, 2: 400.0})  # run 1 in both
    text = book.header("tiny", "full", "digits", [grid, reused]).data
    assert "**Compute:** 700.0 s, summed over 3 stored runs" in text
    # pd.concat drops attrs that differ: a frame glued from new runs and a slice of another still counts its runs
    glued = pd.concat([_tidy_runs({3: 50.0}), grid[grid.seed == 0]])
    assert not glued.attrs
    text = book.header("tiny", "full", "digits", [grid, glued]).data
    assert "**Compute:** 350.0 s, summed over 3 stored runs" in text and "**Precision:** fp32" in text


def test_the_header_adds_runs_and_stored_computations_compute_time():
    import pandas as pd

    from optim import book

    frame = pd.DataFrame()
    frame.attrs.update(compute_seconds=5400.0, runs=3, devices=["CPU (x86_64, 1 threads)"], precisions=["fp32"],
                       threads=[1], stale=1, planned=0)
    text = book.header("tiny", "full", "digits", frame, seconds=1800.0).data
    assert "**Compute:** 2.00 h, summed over 3 stored runs" in text and "**Hardware:** CPU (x86_64)" in text
    assert "1 of 3 results are stale" in text
    assert "**Compute:** 42.0 s" in book.header("tiny", "full", "none", seconds=42.0, devices=["CPU, float64"]).data
    text = book.header("tiny", "full", "none", seconds=42.0, computations=2, devices=["CPU"], precision="float64").data
    assert "**Hardware:** CPU · **Precision:** float64 · **Compute:** 42.0 s, summed over 2 stored computations" in text
    text = book.header("tiny", "full", "digits", frame, seconds=1800.0, computations=1).data
    assert "**Compute:** 2.00 h, summed over 3 stored runs and 1 stored computation" in text


def _add_canaries(folder: str, rates: list[float]) -> None:
    """A worker process: record one canary per learning rate in one fingerprint's table."""
    import time

    from optim import canary, sidefile

    canary.canary_values = lambda spec: [dict(spec.hparams)["lr"]]  # this process only: no training
    write = sidefile.write_json_atomic

    def slow_write(*args, **kwargs):  # widen the window between reading the table and writing it
        time.sleep(0.01)
        return write(*args, **kwargs)

    sidefile.write_json_atomic = slow_write
    for lr in rates:
        spec = RunSpec("logreg", optimizer="sgd", hparams=dict(lr=lr), **TINY)
        canary._known_or_computed(spec, "f" * 16, [], Path(folder))


def test_canaries_recorded_by_processes_side_by_side_are_all_kept(tmp_path):
    # chapters rendered side by side (publish.render_stored) may add canaries to one table at once
    import multiprocessing

    context = multiprocessing.get_context("fork")  # the workers inherit _add_canaries' module
    workers = [context.Process(target=_add_canaries, args=(str(tmp_path), [k + i / 100 for i in range(30)]))
               for k in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    table = json.loads((tmp_path / f"{'f' * 16}.json").read_text())
    assert sorted(v for values in table.values() for v in values) == sorted(k + i / 100 for k in (1, 2) for i in range(30))


def test_after_a_code_change_the_canaries_command_vouches_and_records_the_current_canaries(
        stored_full, edited_optimizer_file, tmp_path, monkeypatch):
    spec, result = stored_full  # stored under tmp_path by the old code; the SWATS source has been edited since
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(publish, "chapters", lambda: ["tiny"])
    publish.write_manifest("tiny", [result["key"]])
    new = runner.fingerprint(spec)
    assert not (tmp_path / "canaries" / f"{new}.json").exists()
    (row,) = publish.vouch().to_dict("records")
    assert row == dict(chapter="tiny", results=1, current=0, vouched=1, stale=0, unverified=0, recorded=1, bridged=1,
                       in_chapter=0)
    assert (tmp_path / "canaries" / f"{new}.json").exists()  # a fresh clone now checks it without computing
    calls = _trained(monkeypatch)
    (again,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert again["status"] == "stored" and calls == []  # no canary computed, nothing trained
    assert publish.vouch()[["recorded", "bridged"]].values.tolist() == [[0, 0]]


def _as_if_from_another_cpu(result, tmp_path, monkeypatch):
    """``result`` and its canary as if computed on another processor: this machine becomes "This
    CPU", and the recorded canary is off by a relative 1e-4, as another CPU's rounding can leave it."""
    monkeypatch.setattr("optim.executor.cpu_model", lambda: "This CPU")
    table = tmp_path / "canaries" / f"{result['provenance']['fingerprint']}.json"
    table.write_text(json.dumps({k: [v * (1 + 1e-4) for v in values] for k, values in json.loads(table.read_text()).items()}))


@pytest.mark.parametrize("bridged", [True, False])
def test_bridge_canaries_on_this_cpu_vouch_across_a_refactor_for_results_from_another_cpu(
        stored_full, tmp_path, monkeypatch, bridged):
    from optim import canary

    spec, result = stored_full
    _as_if_from_another_cpu(result, tmp_path, monkeypatch)
    old = result["provenance"]["fingerprint"]
    if bridged:  # before the change: the old code's canary on this CPU
        assert canary.record_here(spec, old, tmp_path) and not canary.record_here(spec, old, tmp_path)
    _edit_swats(tmp_path, monkeypatch)  # a refactor: same numbers, new fingerprint
    new = runner.fingerprint(spec)
    if bridged:  # after it: the new code's canary on this CPU
        assert canary.record_here(spec, new, tmp_path)
        assert {p.stem for p in (tmp_path / "canaries" / "by-cpu" / "this-cpu").glob("*.json")} == {old, new}
    calls = _trained(monkeypatch)
    (again,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert again["status"] == ("stored" if bridged else "unverified") and again["epochs"] == result["epochs"]
    assert all(c.n_train == 96 for c in calls)  # only canaries ran


def test_a_numeric_change_seen_on_this_cpu_makes_a_result_from_another_cpu_stale(stored_full, tmp_path, monkeypatch):
    from optim import canary

    spec, result = stored_full
    _as_if_from_another_cpu(result, tmp_path, monkeypatch)
    canary.record_here(spec, result["provenance"]["fingerprint"], tmp_path)
    _edit_swats(tmp_path, monkeypatch)
    real = training._normalize  # the edit changed the numbers this time
    monkeypatch.setattr(training, "_normalize", lambda x, mean, std: real(x, mean, std) * 1.01)
    canary.record_here(spec, runner.fingerprint(spec), tmp_path)  # after it, on this CPU: the canaries differ
    assert canary.changed_here(spec, result["provenance"]["fingerprint"], runner.fingerprint(spec), tmp_path)
    calls = _trained(monkeypatch)  # no bridge vouches for it, and this CPU saw the numbers change: stale
    (again,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert again["status"] == "stored" and any(c.n_train == 128 for c in calls)  # so it was recomputed


def test_a_chain_of_bridges_links_the_storing_code_to_the_current_code(tmp_path):
    from optim import canary

    spec = RunSpec("logreg", optimizer="swats", hparams=dict(lr=2e-3), **TINY)
    cid = canary.canary_spec(spec).key()

    def table(folder, fingerprint, values):
        path = tmp_path / "canaries" / folder / f"{fingerprint}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({cid: values}))

    table("", "a", [1.0, 2.0])                  # stored by code a on some CPU
    table("by-cpu/cpu-x", "a", [1.5, 2.5])      # a, b and c on CPU x: a = b
    table("by-cpu/cpu-x", "b", [1.5, 2.5])
    table("by-cpu/cpu-y", "b", [1.7, 2.7])      # b = c on CPU y
    table("by-cpu/cpu-y", "c", [1.7, 2.7])
    table("by-cpu/cpu-x", "d", [9.0, 9.0])      # d computes something else
    assert canary._bridged(spec, "a", "c", tmp_path)
    assert not canary._bridged(spec, "a", "d", tmp_path) and not canary._bridged(spec, "d", "c", tmp_path)


def test_the_canaries_command_also_covers_stored_runs_no_manifest_lists(stored_full, tmp_path, monkeypatch):
    spec, result = stored_full  # stored, but no chapter's manifest lists it (a design still being computed)
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(publish, "chapters", lambda: ["tiny"])
    table = publish.vouch().set_index("chapter")
    assert table.loc["tiny", "results"] == 0
    assert table.loc["(no manifest)", ["results", "current", "bridged"]].tolist() == [1, 1, 1]
    assert publish.vouch(["tiny"]).chapter.tolist() == ["tiny"]  # one chapter asked for: that chapter only

