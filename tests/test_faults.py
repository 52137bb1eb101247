"""Faults a shared results repository meets: a session killed between storing a result and
recording its canary, side files from a git merge with conflict markers or of the wrong
shape, a result file copied over another run's, an incomplete manifest in a build, bad
settings and specs that fail only after dispatch. (A worker killed mid-run: test_parallel.)"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from optim import canary, mode, planner, publish, runner, sidefile, training
from optim.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", epochs=1, batch_size=32, n_train=128, n_test=40)


def _trained(monkeypatch) -> list[RunSpec]:
    calls = []
    real = training.train
    monkeypatch.setattr("optim.training.train", lambda spec, **kw: calls.append(spec) or real(spec, **kw))
    return calls


def _conflicted(ours: dict, theirs: dict, common: str = "") -> str:
    """A JSON object as git leaves it when two branches each added entries at one place."""
    def body(table):
        return ",\n".join(f' "{k}": {json.dumps(v)}' for k, v in table.items())
    return (f"{{\n{common}<<<<<<< HEAD\n{body(ours)}\n=======\n{body(theirs)}\n"
            ">>>>>>> other-branch\n}\n")


# --- a kill between storing a result and recording its canary -----------------------------------
class Killed(BaseException):
    """What a SIGKILL looks like from inside: nothing after this point runs."""


def test_a_kill_while_recording_the_canary_leaves_no_result_without_one(tmp_path, monkeypatch):
    spec = RunSpec("logreg", optimizer="adam", **TINY)

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(canary, "record", killed)
    with pytest.raises(Killed):
        runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert not list((tmp_path / "full").glob("*.json.gz"))  # canary first: no result nothing vouches for


def test_a_stored_full_result_missing_its_canary_gets_it_on_the_next_read(tmp_path, monkeypatch):
    spec = RunSpec("logreg", optimizer="adam", **TINY)
    (result,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    table = tmp_path / "canaries" / f"{result['provenance']['fingerprint']}.json"
    table.unlink()  # as older versions left it when killed between the two writes
    calls = _trained(monkeypatch)
    (again,) = runner.run_results([spec], profile="full", root=tmp_path, progress=False)
    assert again["status"] == "stored" and again["epochs"] == result["epochs"]
    assert [c.n_train for c in calls] == [canary.CANARY_SIZE["n_train"]]  # only the canary ran
    assert json.loads(table.read_text()) == {canary.canary_spec(spec).key(): canary.canary_values(spec)}


# --- side files: conflicted, damaged, of the wrong shape ---------------------------------------
def test_a_canary_table_with_merge_conflict_markers_is_merged_not_dropped(tmp_path, monkeypatch):
    folder = tmp_path / "canaries"
    folder.mkdir()
    table = folder / f"{'f' * 16}.json"
    table.write_text(_conflicted({"ours": [1.0, 2.0]}, {"theirs": [3.0, float("nan")]}, ' "both": [0.5],\n'))
    monkeypatch.setattr(canary, "canary_values", lambda spec: [9.0])
    spec = RunSpec("logreg", optimizer="sgd", **TINY)
    canary._known_or_computed(spec, "f" * 16, [], folder)  # adds an entry: the merge is written back
    stored = json.loads(table.read_text())
    assert set(stored) == {"both", "ours", "theirs", canary.canary_spec(spec).key()}
    assert stored["ours"] == [1.0, 2.0] and math.isnan(stored["theirs"][1]) and "<<<<<<<" not in table.read_text()


def test_conflicting_canaries_for_one_configuration_are_an_error_naming_the_file(tmp_path):
    table = tmp_path / "c.json"
    table.write_text(_conflicted({"same": [1.0]}, {"same": [1.5]}))
    with pytest.raises(sidefile.DamagedFile, match=f"canary table {table} has git conflict markers and the two sides "
                                                   "disagree at /same; restore it from git"):
        canary._read(table)


@pytest.mark.parametrize("text, problem", [
    ('["a", "list"]', "expected an object of lists of canary values, found list"),
    ('{"key": 3.0}', "entry 'key': expected a list of numbers"),
    ('{"key": [1.0, ', "invalid JSON"),
])
def test_a_canary_table_of_the_wrong_shape_is_an_error_naming_the_file(tmp_path, text, problem):
    table = tmp_path / "c.json"
    table.write_text(text)
    with pytest.raises(sidefile.DamagedFile, match=f"canary table {table} is not a canary table \\({problem}"):
        canary._read(table)
    assert table.read_text() == text  # left as it was, for repair


def test_stray_temporary_and_lock_files_are_removed_and_ignored_by_git(tmp_path, monkeypatch):
    folder = tmp_path / "canaries"
    folder.mkdir()
    strays = [folder / ".abc.json.k1l2.tmp", folder / ".abc.json.lock"]  # a killed writer; an older version's lock
    for stray in strays:
        stray.write_text("")
    monkeypatch.setattr(canary, "canary_values", lambda spec: [1.0])
    canary._known_or_computed(RunSpec("logreg", optimizer="sgd", **TINY), "a" * 16, [], folder)
    assert sorted(p.name for p in folder.iterdir()) == [sidefile.LOCK_NAME, f"{'a' * 16}.json"]
    ignored = subprocess.run(["git", "check-ignore", "data/results/canaries/.abc.json.k1l2.tmp",
                              "data/results/full/.key.json.gz.x.tmp", "data/results/canaries/.abc.json.lock",
                              f"data/results/canaries/{sidefile.LOCK_NAME}"], cwd=ROOT, capture_output=True, text=True)
    assert ignored.returncode == 0 and len(ignored.stdout.split()) == 4


def test_a_conflicted_throughput_table_keeps_every_machines_measurements(tmp_path, monkeypatch):
    path = tmp_path / "throughput.json"
    monkeypatch.setattr(planner, "THROUGHPUT_FILE", path)
    gpu = {"NVIDIA H100": {"cnn() 1x28x28 c10 b128 bf16 channels_last": {"train_images_per_s": 9e4, "workers": 1}}}
    ours = {"cpu-a": {"x": {"train_images_per_s": 10.0}}}
    path.write_text(_conflicted(ours, gpu))
    spec = RunSpec("logreg", optimizer="adam", **TINY)
    planner.throughput(spec)  # measures this machine, writes the table back
    table = json.loads(path.read_text())
    assert {"cpu-a", "NVIDIA H100", planner.machine()} <= set(table)
    assert table["NVIDIA H100"] == gpu["NVIDIA H100"]


def test_a_throughput_table_of_the_wrong_shape_is_an_error_naming_the_file(tmp_path, monkeypatch):
    path = tmp_path / "throughput.json"
    path.write_text('{"machine": [1, 2]}')
    monkeypatch.setattr(planner, "THROUGHPUT_FILE", path)
    with pytest.raises(sidefile.DamagedFile, match=f"throughput table {path} is not a throughput table .*"
                                                   "; restore it from git"):
        planner.throughput(RunSpec("logreg", optimizer="adam", **TINY))
    assert path.read_text() == '{"machine": [1, 2]}'


# --- a result file under another run's name -----------------------------------------------------
def test_a_result_copied_over_another_runs_file_is_set_aside_and_recomputed(tmp_path, monkeypatch, capsys):
    a, b = (RunSpec("logreg", optimizer="adam", hparams=dict(lr=lr), **TINY) for lr in (1e-3, 1e-2))
    first, second = runner.run_results([a, b], profile="full", root=tmp_path, progress=False)
    folder = tmp_path / "full"
    shutil.copy(folder / f"{first['key']}.json.gz", folder / f"{second['key']}.json.gz")  # a misplaced copy
    monkeypatch.setenv("OPTIM_RENDER_ONLY", "1")
    with pytest.raises(ValueError, match="1 full-profile run\\(s\\) are not stored"):  # never shown as b's numbers
        runner.run_results([b], profile="full", root=tmp_path, progress=False)
    assert f"stored result {second['key']}.json.gz holds another run" in capsys.readouterr().err
    assert list(folder.glob(f"{second['key']}.json.gz.damaged-*"))  # kept for inspection
    monkeypatch.delenv("OPTIM_RENDER_ONLY")
    (again,) = runner.run_results([b], profile="full", root=tmp_path, progress=False)
    assert again["spec"]["hparams"]["lr"] == 1e-2 and again["steps"]["train_loss"] == second["steps"]["train_loss"]


# --- the build and its manifests ----------------------------------------------------------------
@pytest.mark.parametrize("text, problem", [('{"chapter": "tiny", "keys": ["abc", ', "invalid JSON"),
                                           ('{"chapter": "tiny"}', "expected {\"chapter\"")])
def test_a_damaged_manifest_stops_the_build_naming_the_file(tmp_path, monkeypatch, text, problem):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))
    path = tmp_path / "manifests" / "tiny.json"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(sidefile.DamagedFile, match=f"manifest {path} is not a manifest \\({problem}"):
        publish.stored_profile("tiny")


def test_a_conflicted_manifest_lists_both_sides_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))
    path = tmp_path / "manifests" / "tiny.json"
    path.parent.mkdir()
    path.write_text('{\n "chapter": "tiny",\n<<<<<<< HEAD\n "keys": ["a", "b"]\n=======\n "keys": ["a", "c"]\n'
                    ">>>>>>> theirs\n}\n")
    assert publish.manifest_keys("tiny") == ["a", "b", "c"]


def test_the_book_command_stops_on_incomplete_results_before_touching_the_build(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(publish, "chapters", lambda: ["tiny"])
    publish.write_manifest("tiny", ["0123"])
    monkeypatch.setattr(publish, "BUILD", tmp_path / "build")
    assert publish.main(["build"]) == 2
    assert "error: chapter 'tiny': 1 of the 1 full-profile results" in capsys.readouterr().err
    assert not (tmp_path / "build").exists()


# --- settings -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [
    ("", "OPTIM_RESULTS_DIR='' is invalid: expected an absolute folder path"),
    ("results", "OPTIM_RESULTS_DIR='results' is invalid: expected an absolute folder path \\(a relative one"),
])
def test_the_results_folder_setting_must_be_an_absolute_path(monkeypatch, value, message):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", value)
    with pytest.raises(ValueError, match=message):
        runner.run_results([RunSpec("logreg", optimizer="adam", **TINY)], progress=False)


def test_the_results_folder_setting_cannot_be_a_file(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path / "file"))
    with pytest.raises(ValueError, match="it is a file, expected a folder"):
        mode.results_root()


def test_the_chapter_kernels_get_the_same_absolute_results_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("OPTIM_RESULTS_DIR", raising=False)
    with mode.kernel_environment(render_only=True):
        import os

        assert os.environ["OPTIM_RESULTS_DIR"] == str(ROOT / "data" / "results") and mode.render_only()
    assert "OPTIM_RESULTS_DIR" not in os.environ and not mode.render_only()


def test_a_relative_dataset_folder_means_the_same_folder_to_the_chapter_kernels(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPTIM_DATA_DIR", "cache")
    with mode.kernel_environment():
        assert os.environ["OPTIM_DATA_DIR"] == str(tmp_path / "cache")
    assert os.environ["OPTIM_DATA_DIR"] == "cache"


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("yes", True), ("0", False), ("", False),
                                       ("off", False)])
def test_mode_switches_read_the_usual_spellings(monkeypatch, value, on):
    monkeypatch.setenv("OPTIM_RENDER_ONLY", value)
    assert mode.render_only() is on


def test_an_unknown_mode_switch_value_is_an_error_not_a_training_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_RENDER_ONLY", "maybe")
    calls = _trained(monkeypatch)
    with pytest.raises(ValueError, match="OPTIM_RENDER_ONLY='maybe' is invalid: expected one of 1, true"):
        runner.run_results([RunSpec("logreg", optimizer="adam", **TINY)], profile="full", root=tmp_path)
    assert calls == [] and not list(tmp_path.rglob("*.json.gz"))


# --- specs that used to fail only after dispatch ------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    (dict(seed=2**64), "seed=18446744073709551616 is invalid: expected an integer in \\[0, "),
    (dict(n_test=10**6), "n_test=1000000 is invalid: digits has 360 test images"),
    (dict(n_train=10**6), "n_train=1000000 is invalid: digits has 1437 train images"),
    (dict(schedule="sgdr", schedule_args=dict(t0=3)), "got an unexpected keyword argument 't0' \\(its arguments: "
                                                      "t_0, t_mult, eta_min, per_batch\\)"),
    (dict(schedule="step", schedule_args=dict(milestones=[2], gamma=-1.0)), "schedule_args=.* are invalid for "
                                                                             "schedule 'step'"),
])
def test_specs_that_cannot_train_fail_before_any_run_is_dispatched(tmp_path, monkeypatch, changes, message):
    calls = _trained(monkeypatch)
    good = RunSpec("logreg", optimizer="adam", **TINY)
    bad = good.replace(**changes)
    with pytest.raises(ValueError, match=message):
        runner.run_results([good, bad], root=tmp_path, progress=False)
    assert calls == [] and not list(tmp_path.rglob("*.json.gz"))


def test_the_tidy_table_has_its_columns_when_the_only_run_diverged_before_its_first_log(tmp_path):
    spec = RunSpec("mlp", optimizer="sgd", hparams=dict(lr=1e8), log_every=1000, **TINY)
    frame = runner.run_many([spec], root=tmp_path, progress=False)
    assert bool(frame["diverged"].iloc[0])
    assert set(runner.COLUMNS["epoch"]) <= set(frame.columns)
    frame.groupby(["optimizer", "epoch"], dropna=False)["test_acc"].mean()  # the README's example runs
    steps = runner.run_many([spec], level="step", root=tmp_path, progress=False)
    assert set(runner.COLUMNS["step"]) <= set(steps.columns)
