"""The book's results as data: for every chapter with stored full results, the runs, their
per-epoch metrics, the claims and the claims' comparisons, as CSV and Parquet files that plain
pandas reads (no ``optim`` needed).

``python -m optim.export [--out DIR]`` writes them (the book build does, into the site's
``_static/results/``); the layout and every column are documented on the book's page "The results
as data" (``chapters/data.md``), and a stored run's own JSON
(``data/results/full/<key>.json.gz``) follows ``data/schema/run.schema.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from . import mode
from .cache import RunCache
from .layout import CLAIMS, ROOT

SCHEMA = ROOT / "data" / "schema" / "run.schema.json"
TABLES = ("runs", "epochs", "claims", "comparisons")
FORMATS = ("csv", "parquet")
SPEC_FIELDS = ("model", "dataset", "optimizer", "seed", "epochs", "batch_size", "n_train", "n_test", "augment",
               "schedule", "validation", "precision", "memory_format")
FINAL_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "val_loss", "val_acc")


def stored_runs(chapter: str) -> list[dict]:
    """The stored full-profile training runs a chapter's manifest lists (not its stored
    computations, which are not runs), in the manifest's order."""
    from .publish import manifest_keys

    cache = RunCache(mode.results_root() / "full")
    results = []
    for key in manifest_keys(chapter) or []:
        result = cache.get(key)
        if result is not None and "spec" in result:
            results.append(result | {"key": key})
    return results


def runs_table(chapter: str, results: list[dict]) -> pd.DataFrame:
    """One row per run: chapter, key, method label (``tag``), the spec's fields, its
    hyperparameters (``hp_<name>``), schedule and model options (JSON), the last epoch's
    metrics, divergence, compute time and provenance."""
    rows = []
    for r in results:
        spec, last = r["spec"], (r["epochs"][-1] if r["epochs"] else {})
        provenance = r.get("provenance", {})
        rows.append({"chapter": chapter, "key": r["key"], "tag": spec.get("tag", ""),
                     **{field: spec.get(field) for field in SPEC_FIELDS},
                     **{f"hp_{k}": json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in spec["hparams"].items()},
                     "schedule_args": json.dumps(spec.get("schedule_args", {}), sort_keys=True),
                     "model_args": json.dumps(spec.get("model_args", {}), sort_keys=True),
                     "final_epoch": last.get("epoch"),
                     **{f"final_{m}": last.get(m) for m in FINAL_METRICS},
                     "diverged": bool(r["diverged"]), "diverged_step": r["diverged_step"], "wall_time_s": r["wall_time"],
                     "device": provenance.get("device"), "cpu": provenance.get("cpu"),
                     "threads": provenance.get("threads"), "fingerprint": provenance.get("fingerprint")})
    return pd.DataFrame(rows)


def epochs_table(chapter: str, results: list[dict]) -> pd.DataFrame:
    """One row per run and evaluated epoch: chapter, key, epoch and the metrics logged then."""
    frames = [pd.DataFrame(r["epochs"]).assign(chapter=chapter, key=r["key"]) for r in results if r["epochs"]]
    if not frames:
        return pd.DataFrame(columns=["chapter", "key", "epoch"])
    frame = pd.concat(frames, ignore_index=True)
    return frame[["chapter", "key", *[c for c in frame.columns if c not in ("chapter", "key")]]]


def claim_tables(chapter: str, claims_file: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, comparisons) of a chapter from the claims file its execution wrote: a row per
    claim (its verdict, plan and sensitivity), a row per comparison behind a verdict."""
    path = claims_file or CLAIMS / f"{chapter}.json"
    if not path.exists():
        return pd.DataFrame(), pd.DataFrame()
    data = json.loads(path.read_text())
    claims, comparisons = [], []
    for i, row in enumerate(data["rows"]):
        plan = {f"plan_{k}": v for k, v in row["plan"].items() if k not in ("claim", "section")}
        claims.append({"chapter": chapter, "claim_id": i, "section": row["section"], "claim": row["claim"],
                       "verdict": row["verdict"], "profile": row["profile"], "seeds": row["seeds"],
                       "measured": row["measured"], **plan,
                       **{f"verdict_at_{k}_sesoi": v for k, v in row.get("sensitivity", {}).items()}})
        comparisons += [{"chapter": chapter, "claim_id": i, "claim": row["claim"], **c} for c in row["comparisons"]]
    return pd.DataFrame(claims), pd.DataFrame(comparisons)


def costs(chapters: list[str] | None = None) -> pd.DataFrame:
    """What re-running each chapter's stored full profile costs: its runs, their compute summed
    (each run's wall time where it was computed, beside the other runs of its batch), the
    wall-clock time that is on a 2-core CPU like the book's (the executor trains two runs at
    once there), and the processors that computed them. Chapters without stored full results
    are left out; a machine of another kind gets its own estimate from ``make plan``."""
    from .publish import chapters as book_chapters
    from .runner import hardware

    rows = []
    for chapter in chapters or book_chapters():
        results = stored_runs(chapter)
        if not results:
            continue
        seconds = sum(r["wall_time"] for r in results)
        machines = sorted({hardware(r["provenance"]) for r in results})
        rows.append({"chapter": chapter, "runs": len(results), "compute (run-hours)": seconds / 3600,
                     "wall-clock on 2 cores (hours)": seconds / 3600 / 2,
                     "computed on": "; ".join(machines)})
    return pd.DataFrame(rows)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Columns Parquet can type: a column of mixed Python values (a seed count or a note, a
    list) becomes text, lists and mappings as JSON."""
    table = table.copy()
    for column in [c for c in table.columns if table[c].dtype == "object"]:
        values = table[column].dropna()
        if not values.map(lambda v: isinstance(v, str)).all() and not values.map(lambda v: isinstance(v, bool)).all():
            table[column] = table[column].map(
                lambda v: v if v is None or (isinstance(v, float) and v != v) else
                json.dumps(v) if isinstance(v, (list, dict)) else str(v))
    return table


def export(out: Path, chapters: list[str] | None = None, claims_dir: Path | None = None) -> list[Path]:
    """Write ``out/<chapter>/<table>.<format>`` for every chapter with stored full results or
    claims (default: the book's chapters), ``out/all/<table>.<format>`` with every chapter's
    rows (always, header only when empty, so links to them never dangle) and the stored run's
    JSON Schema as ``out/run.schema.json``; return the paths written."""
    from .publish import chapters as book_chapters

    known = book_chapters()
    unknown = [c for c in chapters or [] if c not in known]
    if unknown:
        raise ValueError(f"unknown chapter {unknown[0]!r}; valid chapters: {', '.join(known)}")
    out = Path(out)
    written: list[Path] = []
    combined: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for chapter in chapters or known:
        results = stored_runs(chapter)
        claims, comparisons = claim_tables(chapter, (claims_dir / f"{chapter}.json") if claims_dir else None)
        tables = dict(runs=runs_table(chapter, results), epochs=epochs_table(chapter, results),
                      claims=claims, comparisons=comparisons)
        for name, table in tables.items():
            if not table.empty:
                written += _write(table, out / chapter, name)
                combined[name].append(table)
    for name, parts in combined.items():
        written += _write(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["chapter"]),
                          out / "all", name)
    out.mkdir(parents=True, exist_ok=True)
    written.append(Path(shutil.copy(SCHEMA, out / SCHEMA.name)))
    return written


def _write(table: pd.DataFrame, folder: Path, name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    table = _typed(table)
    table.to_csv(folder / f"{name}.csv", index=False)
    table.to_parquet(folder / f"{name}.parquet", index=False)
    return [folder / f"{name}.csv", folder / f"{name}.parquet"]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m optim.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "data", help="folder to write (default _build/data)")
    parser.add_argument("chapters", nargs="*", metavar="CHAPTER")
    args = parser.parse_args(argv)
    try:
        written = export(args.out, args.chapters or None)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
