"""Run experiments through the cache: ``run_many(specs)`` → a tidy DataFrame.

Results live under ``data/results/<profile>/`` keyed by the spec and a fingerprint of the
code the run depends on (the training loop, data loading, schedules, the optimizer's module
and the model's module): editing an optimizer or a model invalidates its runs, editing a
chapter or the plotting code does not.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import registry
from .cache import RunCache
from .executor import execute
from .data import ROOT
from .models import model_source_file
from .spec import RunSpec

RESULTS = Path(os.environ.get("OPTIM_RESULTS_DIR", ROOT / "data" / "results"))
PROFILES = ("quick", "full")
_PACKAGE = Path(__file__).resolve().parent
_SHARED = ["training.py", "data.py", "schedules.py", "registry.py", "probes.py",
           "optimizers/_base.py", "optimizers/adam.py"]


def _optimizer_file(name: str) -> Path | str:
    """The file defining optimizer ``name``; for one defined without a file (a notebook
    cell, ``python -c``) its qualified name, so its runs are not invalidated by edits."""
    found = registry.entry(name)
    defining = found.cls if found.cls is not None and found.cls.__module__.startswith("optim.") else found.factory
    try:
        return Path(inspect.getsourcefile(defining))
    except (OSError, TypeError):
        return f"{getattr(defining, '__module__', '?')}.{getattr(defining, '__qualname__', name)}"


def fingerprint(spec: RunSpec) -> str:
    """sha256 of the source files ``spec``'s result depends on."""
    files = [_PACKAGE / f for f in _SHARED] + [model_source_file(spec.model)]
    optimizer = _optimizer_file(spec.optimizer)
    h = hashlib.sha256()
    if isinstance(optimizer, Path):
        files.append(optimizer)
    else:
        h.update(optimizer.encode())
    for path in sorted(set(files)):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def select(table: Mapping[str, Any], profile: str) -> Any:
    """The entry of a per-experiment ``{"quick": ..., "full": ...}`` table for ``profile``."""
    if profile not in table:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(map(repr, table))}")
    return table[profile]


def results_dir(profile: str, root: Path | None = None) -> Path:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", str(profile)):
        raise ValueError(f"profile={profile!r} is invalid: expected a lowercase name such as 'quick' or 'full'")
    return (root or RESULTS) / profile


def _check_run_request(specs: list, profile: str, root) -> tuple[list[RunSpec], Path]:
    """Every check that can fail, done before any training: one-line errors."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(map(repr, PROFILES))}")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root={root!r} is invalid: expected a folder path")
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"run_many expects RunSpec objects, got {type(spec).__name__}")
    from .training import resolve_device

    for device in sorted({spec.device for spec in specs}):
        resolve_device(device)  # 'cuda' without CUDA fails here, not after other runs
    return specs, results_dir(profile, None if root is None else Path(root))


def run_results(specs: Iterable[RunSpec], profile: str = "quick", root: str | os.PathLike | None = None,
                progress: bool | None = None) -> list[dict]:
    """Results of ``specs`` (cached ones read, missing ones trained and stored), in order.

    Specs that compute the same thing (equal keys) are trained once, the missing ones in
    parallel worker processes on a CPU (:mod:`optim.executor`); each result is stored as
    soon as it finishes, and a run that raises is reported with its spec after the others
    (:class:`~optim.executor.RunFailed`). Each result's ``spec`` is the requesting spec (so
    its ``tag`` shows), its ``key`` the cache key.
    """
    from .data import fetch

    specs, folder = _check_run_request(list(specs), profile, root)
    cache = RunCache(folder)
    keys = [spec.key(fingerprint(spec)) for spec in specs]
    found: dict[str, dict | None] = {k: cache.get(k) for k in dict.fromkeys(keys)}
    missing = [k for k, r in found.items() if r is None]
    if missing:
        cache.check_writable()
        cache.remove_orphans()
        first = {k: spec for k, spec in zip(reversed(keys), reversed(specs))}
        for dataset in sorted({first[k].dataset for k in missing}):
            fetch(dataset)

    def store(i: int, result: dict) -> None:  # as each run finishes: finished work is never lost
        result["key"] = missing[i]
        cache.put(missing[i], result)
        found[missing[i]] = result

    execute([first[k] for k in missing], store, progress)
    return [dict(found[k], spec=spec.to_dict()) for k, spec in zip(keys, specs)]  # type: ignore[arg-type]


def tidy(results: list[dict], level: str = "epoch") -> pd.DataFrame:
    """One row per run × epoch (``level="epoch"``) or per logged step (``"step"``)."""
    if level not in ("epoch", "step"):
        raise ValueError(f"level={level!r} is invalid: expected 'epoch' or 'step'")
    frames = []
    for r in results:
        spec = r["spec"]
        meta = {k: v for k, v in spec.items() if k not in ("hparams", "schedule_args", "model_args")}
        meta.update({f"hp_{k}": (tuple(v) if isinstance(v, list) else v) for k, v in spec["hparams"].items()})
        meta.update(key=r.get("key"), diverged=r["diverged"], diverged_step=r["diverged_step"],
                    device_name=r["provenance"]["device"], wall_time=r["wall_time"])
        rows = pd.DataFrame(r["epochs"] if level == "epoch" else r["steps"])
        for k, v in meta.items():
            rows[k] = [v] * len(rows)
        if rows.empty:
            rows = pd.DataFrame([meta])
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame.attrs["compute_seconds"] = float(sum(r["wall_time"] for r in results))
    frame.attrs["devices"] = sorted({r["provenance"]["device"] for r in results})
    frame.attrs["runs"] = len(results)
    return frame


def run_many(specs: Iterable[RunSpec], profile: str = "quick", level: str = "epoch",
             root: str | os.PathLike | None = None, progress: bool | None = None) -> pd.DataFrame:
    """Compute the missing runs of ``specs`` and return all of them as a tidy DataFrame.

    ``frame.attrs`` holds ``compute_seconds`` (total training time of the stored results),
    ``devices`` and ``runs``.
    """
    return tidy(run_results(specs, profile, root, progress), level)


def run_curves(specs: Iterable[RunSpec], profile: str = "quick", root: str | os.PathLike | None = None,
               progress: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Like :func:`run_many`, returning both levels: (per-epoch frame, per-step frame)."""
    results = run_results(specs, profile, root, progress)
    return tidy(results, "epoch"), tidy(results, "step")
