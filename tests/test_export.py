"""The results as data: the exported tables agree with the stored runs when read back with
plain pandas (no optim), and every committed stored run follows the published JSON Schema."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from optim import export, publish, runner
from optim.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", epochs=2, batch_size=32, n_train=128, n_test=40)

READ_BACK = r'''
import gzip, json, sys
from pathlib import Path
import pandas as pd

out, results = Path(sys.argv[1]), Path(sys.argv[2])
assert "optim" not in sys.modules
runs = pd.read_parquet(out / "tiny" / "runs.parquet")
epochs = pd.read_csv(out / "tiny" / "epochs.csv")
assert runs.equals(pd.read_parquet(out / "all" / "runs.parquet"))
for row in runs.itertuples():
    stored = json.loads(gzip.decompress((results / "full" / f"{row.key}.json.gz").read_bytes()))["result"]
    assert row.final_test_acc == stored["epochs"][-1]["test_acc"], row.key
    assert row.hp_lr == stored["spec"]["hparams"]["lr"] and row.seed == stored["spec"]["seed"]
    mine = epochs[epochs.key == row.key].sort_values("epoch")
    assert mine.test_loss.tolist() == [e["test_loss"] for e in stored["epochs"]]
claims = pd.read_csv(out / "tiny" / "claims.csv")
comparisons = pd.read_csv(out / "tiny" / "comparisons.csv")
assert claims.verdict.tolist() == ["reproduced"] and comparisons.effect.tolist() == [0.25]
print(len(runs), len(epochs))
'''


def test_exported_tables_read_back_with_plain_pandas_match_the_stored_runs(tmp_path, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(results))
    specs = [RunSpec("logreg", optimizer="adam", hparams=dict(lr=lr), seed=s, tag=f"Adam {lr:g}", **TINY)
             for lr in (1e-3, 1e-2) for s in (0, 1)]
    stored = runner.run_results(specs, profile="full", progress=False)
    publish.write_manifest("tiny", [r["key"] for r in stored])
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "tiny.json").write_text(json.dumps({"chapter": "tiny", "profile": "full", "rows": [
        {"claim": "a claim", "verdict": "reproduced", "profile": "full", "section": "", "seeds": 2, "measured": "m",
         "plan": {"metric": "x", "sesoi": 0.1, "kind": "superiority", "claim": "a claim", "section": ""},
         "sensitivity": {"half": "reproduced"}, "comparisons": [{"a": "A", "b": "B", "effect": 0.25, "low": 0.1,
                                                                 "high": 0.4, "outcome": "supports"}]}]}))
    monkeypatch.setattr(publish, "chapters", lambda: ["tiny"])
    out = tmp_path / "out"
    written = export.export(out, claims_dir=claims)
    assert (out / "run.schema.json") in written and (out / "tiny" / "epochs.parquet") in written
    done = subprocess.run([sys.executable, "-c", READ_BACK, str(out), str(results)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4", "8"]


def test_the_export_refuses_an_unknown_chapter_before_writing(tmp_path):
    with pytest.raises(ValueError, match="unknown chapter 'nope'; valid chapters: intro, testbed"):
        export.export(tmp_path / "out", ["nope"])
    assert not (tmp_path / "out").exists()


def test_every_committed_stored_run_follows_the_published_schema():
    validator = jsonschema.Draft202012Validator(json.loads(export.SCHEMA.read_text()))
    files = sorted((ROOT / "data" / "results" / "full").glob("*.json.gz"))
    assert files
    for path in files:
        error = jsonschema.exceptions.best_match(validator.iter_errors(json.loads(gzip.decompress(path.read_bytes()))))
        assert error is None, f"{path.name}: {error.message}"


def test_the_data_pages_pandas_example_runs_on_an_export(tmp_path):
    import re

    page = (ROOT / "chapters" / "data.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", page, re.S)
    out = tmp_path / "_build" / "html" / "_static" / "results"
    # the committed full results of one chapter: the one with the most stored training runs
    chapter = max(publish.chapters(),
                  key=lambda c: sum(not k.startswith("computed-") for k in publish.manifest_keys(c) or []))
    export.export(out, [chapter])
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert chapter in done.stdout and "mean" in done.stdout


def test_the_cost_of_reproducing_a_chapter_is_summed_from_its_stored_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))
    stored = runner.run_results([RunSpec("logreg", optimizer="adam", seed=s, **TINY) for s in (0, 1)], profile="full",
                                progress=False)
    publish.write_manifest("tiny", [r["key"] for r in stored])
    monkeypatch.setattr(publish, "chapters", lambda: ["tiny", "empty"])
    (row,) = export.costs().to_dict("records")  # a chapter without stored results is left out
    seconds = sum(r["wall_time"] for r in stored)
    assert row["chapter"] == "tiny" and row["runs"] == 2
    assert row["compute (run-hours)"] == pytest.approx(seconds / 3600)
    assert row["wall-clock on 2 cores (hours)"] == pytest.approx(seconds / 7200)
    assert row["computed on"] == runner.hardware(stored[0]["provenance"])
