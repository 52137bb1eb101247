"""Run experiments through the cache: ``run_many(specs)`` → a tidy DataFrame.

Results live under ``data/results/<profile>/<key>.json.gz``, keyed by what the run computes
(:meth:`RunSpec.key`), and each records the **fingerprint** of the code that computed it
(:mod:`optim.fingerprint` states what it covers). Editing a chapter, the plots or the
analysis changes nothing.

When the code behind a stored result has changed since (its fingerprint differs):

* ``quick`` results are recomputed (they are cheap and never committed);
* ``full`` results are kept if a *canary* says the numbers did not change
  (:mod:`optim.canary`: a few steps of the same configuration, recorded when the result was
  stored and re-run on the current code) — a refactor orphans nothing — and are **stale**
  otherwise: ``make run`` recomputes them, a render-only build (``make book``) shows them
  with a warning in the chapter header, and the planner lists them. A canary that does not
  match on another processor than the one that stored the result cannot tell a change from
  that CPU's rounding (:func:`optim.canary.computed_elsewhere`): such a result is
  **unverified** — used, not recomputed, and counted in the header.

The build's mode (:mod:`optim.mode`, set by :mod:`optim.book`): render only (never train: a
missing result is an error, a stale one is used and counted), plan (train nothing: record
every requested run and its status and return placeholders) and the request log (the keys of
every requested run: the chapter manifest).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import mode, registry
from .cache import RunCache
from .data import info
from .executor import execute
from .fingerprint import computation_fingerprint, fingerprint
from .layout import PROFILES
from .probes import PROBES
from .result import Result
from .spec import RunSpec

MAX_STEP_POINTS = 500  # full-profile step logs are thinned to this many points when stored


def select(table: Mapping[str, Any], profile: str) -> Any:
    """The entry of a per-experiment ``{"quick": ..., "full": ...}`` table for ``profile``."""
    if profile not in table:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(map(repr, table))}")
    return table[profile]


def results_dir(profile: str, root: Path | None = None) -> Path:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", str(profile)):
        raise ValueError(f"profile={profile!r} is invalid: expected a lowercase name such as 'quick' or 'full'")
    return (Path(root) if root is not None else mode.results_root()) / profile


def _check_run_request(specs: list, profile: str, root) -> tuple[list[RunSpec], Path]:
    """Every check that can fail, done before any training: one-line errors."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(map(repr, PROFILES))}")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root={root!r} is invalid: expected a folder path")
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"run_many expects RunSpec objects, got {type(spec).__name__}")
        check_trainable(spec)
    from .executor import executor_name
    from .training import resolve_device

    if executor_name() == "local":  # on a cluster, the workers' devices count, not this machine's
        for device in sorted({spec.device for spec in specs}):
            resolve_device(device)  # 'cuda' without CUDA fails here, not after other runs
    return specs, results_dir(profile, None if root is None else Path(root))


MAX_SEED = 2**63 - 3  # the run seeds torch generators with seed, seed + 1 and seed + 2


def check_trainable(spec: RunSpec) -> None:
    """What :meth:`RunSpec.validate` cannot see alone, checked before any run is dispatched:
    the seed's range, the image counts against the dataset's splits, and the schedule's
    arguments (the schedule is built once on a stand-in optimizer). One-line ``ValueError``s."""
    import torch

    from .training import _make_schedule

    if spec.seed > MAX_SEED:
        raise ValueError(f"RunSpec seed={spec.seed!r} is invalid: expected an integer in [0, {MAX_SEED}]")
    meta = info(spec.dataset)
    for name, size in (("n_train", meta.train_size), ("n_test", meta.test_size)):
        value = getattr(spec, name)
        if value is not None and value > size:
            raise ValueError(f"RunSpec {name}={value!r} is invalid: {spec.dataset} has {size} "
                             f"{name[2:]} images (expected None or at most {size})")
    if spec.schedule is None:
        return
    stand_in = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    try:
        _make_schedule(spec, stand_in, steps_per_epoch(spec))
    except (TypeError, ValueError) as error:
        from .schedules import SCHEDULES

        names = [n for n in inspect.signature(SCHEDULES[spec.schedule]).parameters
                 if n not in ("optimizer", "steps_per_epoch")]
        raise ValueError(f"RunSpec schedule_args={dict(spec.schedule_args)!r} are invalid for schedule "
                         f"{spec.schedule!r}: {error} (its arguments: {', '.join(names) or 'none'})") from None


def check_trainable_on(spec: RunSpec, device) -> None:
    """A one-line ``ValueError`` if ``spec`` cannot train on ``device`` (a ``torch.device``) at all,
    raised before any run starts: a language model (an LSTM) under bf16 autocast on a CPU
    without native bf16, where oneDNN has no bf16 LSTM primitive and every run would fail
    after its data are loaded ("could not create a primitive descriptor for the LSTM forward
    propagation primitive"). bf16 convolutions and matrix products do run there, in fp32
    kernels (:mod:`optim.bf16`)."""
    from .models import LANGUAGE_MODELS
    from .training import native_bf16

    if spec.precision == "bf16" and spec.model in LANGUAGE_MODELS and not native_bf16(device):
        raise ValueError(f"RunSpec precision='bf16' cannot train model {spec.model!r} on this {device.type} "
                         "without native bf16 (oneDNN has no bf16 LSTM there): expected a CPU with AVX512-BF16 "
                         "or AMX, or a GPU (the stored full results are keyed by their precision)")


def thin_steps(steps: dict[str, list], max_points: int = MAX_STEP_POINTS) -> dict[str, list]:
    """At most ``max_points`` evenly spread entries of every per-step series (the last kept)."""
    n = len(steps.get("step", []))
    if n <= max_points:
        return steps
    keep = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
    return {k: [v[i] for i in keep] if isinstance(v, list) and len(v) == n else v for k, v in steps.items()}


# The columns each probe adds to the step log, for placeholders (each probe names its own,
# checked against its real output in tests/test_engine.py).
PROBE_COLUMNS = {name: probe.COLUMNS for name, probe in PROBES.items()}


def steps_per_epoch(spec: RunSpec) -> int:
    """Optimizer steps in one of ``spec``'s epochs (its training images, less validation, per batch)."""
    n = spec.n_train or info(spec.dataset).train_size
    return math.ceil(n * (1 - spec.validation) / spec.batch_size)


def placeholder(spec: RunSpec) -> Result:
    """A result shaped like :func:`optim.training.train`'s, with made-up constant metrics:
    what a plan-only execution of a chapter gets for a run it must not train (its epoch-0
    evaluation and its probes' columns included, so the chapter's analysis can run on it)."""
    per_epoch = steps_per_epoch(spec)
    lr = dict(spec.hparams).get("lr", registry.entry(spec.optimizer).default_lr) or 0.0
    extra = {"val_loss": 1.0, "val_acc": 0.5} if spec.validation > 0 else {}
    logged = list(range(spec.log_every, spec.epochs * per_epoch + 1, spec.log_every))
    epochs = [dict(epoch=0, test_loss=1.0, test_acc=0.5, lr=lr, time=0.0, **extra)] if spec.initial_evaluation else []
    epochs += [dict(epoch=e, train_loss=1.0, train_acc=0.5, train_time=0.0, lr=lr, time=0.0)
               | (dict(test_loss=1.0, test_acc=0.5, **extra) if spec.evaluated(e) else {})
               for e in range(1, spec.epochs + 1)]
    probed = {column: [0.5] * len(logged) for probe in spec.probes for column in PROBE_COLUMNS[probe]}
    return {"spec": spec.to_dict(), "planned": True, "diverged": False, "diverged_step": None, "wall_time": 0.0,
            "epochs": epochs,
            "steps": {"step": logged, "epoch": [s / per_epoch for s in logged],
                      "train_loss": [1.0] * len(logged), "lr": [lr] * len(logged), **probed},
            "provenance": {"device": "planned", "fingerprint": None, "threads": 0}}


def _log_failing_cells() -> None:
    """In plan mode inside a notebook, append a record for every cell that raises to the plan
    file, in order with the runs' records: the planner can then tell whether a failure came
    before the last runs were asked for (and may have hidden some) or after."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_optim_plan_hook", False):
        return

    def after(result) -> None:
        plan_file = mode.plan_file()
        if plan_file and (result.error_in_exec or result.error_before_exec):
            _append_jsonl(plan_file, [{"failed_cell": result.execution_count}])

    shell.events.register("post_run_cell", after)
    shell._optim_plan_hook = True


def _append_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    with open(path, "a") as f:
        for record in records:
            f.write(json.dumps(record, default=str) + "\n")


def _read(cache: RunCache, key: str, spec: RunSpec) -> dict | None:
    """The stored result of ``spec`` (key ``key``), or None. A file whose recorded key or spec is
    another run's — copied or renamed into place — is set aside with a warning, never used."""
    result = cache.get(key)
    if result is None or "spec" not in result:  # a computation's record (see ``computed``) has no spec
        return result
    try:
        recorded = RunSpec.from_stored(result["spec"]).key()
    except (TypeError, ValueError, KeyError) as error:
        recorded = f"unreadable ({type(error).__name__}: {error})"
    if result.get("key", key) == key and recorded == key:
        return result
    kept = cache.quarantine(key)
    print(f"warning: stored result {cache.path(key).name} holds another run (its recorded key "
          f"{result.get('key')!r}, its spec's key {recorded!r}); set aside as {kept.name if kept else '?'}, "
          "and the run will be recomputed", file=sys.stderr)
    return None


def _status(result: dict | None, spec: RunSpec, current: str, profile: str, root: Path) -> str:
    """'stored', 'missing', 'stale' or 'unverified' for a stored ``result`` of ``spec`` (see the
    module docstring). A full result of the current code whose canary was never recorded (a
    kill between storing and recording, in versions that stored first) gets it recorded here."""
    if result is None:
        return "missing"
    stored = result.get("provenance", {}).get("fingerprint")
    if stored == current:
        if profile == "full" and mode.plan_file() is None:
            from .canary import record

            record(spec, current, root)
        return "stored"
    if profile != "full" or stored is None:
        return "stale"
    from .canary import changed_here, computed_elsewhere, same_numbers

    if same_numbers(spec, stored, current, root):
        return "stored"
    elsewhere = computed_elsewhere(result.get("provenance", {}))
    return "unverified" if elsewhere and not changed_here(spec, stored, current, root) else "stale"


def run_results(specs: Iterable[RunSpec], profile: str = "quick", root: str | os.PathLike | None = None,
                progress: bool | None = None) -> list[dict]:
    """Results of ``specs`` (stored ones read, missing or stale ones trained and stored), in order.

    Specs that compute the same thing (equal keys) are trained once, the missing ones in
    parallel worker processes on a CPU (:mod:`optim.executor`); each result is stored as
    soon as it finishes, and a run that raises is reported with its spec after the others
    (:class:`~optim.executor.RunFailed`). Each result's ``spec`` is the requesting spec (so
    its ``tag`` shows), its ``key`` the cache key, its ``status`` 'stored', 'stale' or 'unverified'.
    """
    from .data import fetch

    specs, folder = _check_run_request(list(specs), profile, root)
    base = folder.parent
    cache = RunCache(folder)
    keys = [spec.key() for spec in specs]
    first: dict[str, RunSpec] = {}
    for key, spec in zip(keys, specs):
        first.setdefault(key, spec)  # the first spec of each key, in the order requested
    prints = {k: fingerprint(spec) for k, spec in first.items()}
    found: dict[str, dict | None] = {k: _read(cache, k, first[k]) for k in first}
    status = {k: _status(found[k], first[k], prints[k], profile, base) for k in first}
    if requests := mode.request_log():
        _append_jsonl(requests, [{"key": k, "profile": profile} for k in first])
    if plan_file := mode.plan_file():
        _log_failing_cells()
        _append_jsonl(plan_file, [dict(key=k, profile=profile, status=status[k],
                                                           spec=first[k].to_dict()) for k in first])
        return [dict(found[k] if status[k] != "missing" else placeholder(spec), spec=spec.to_dict(), key=k,
                     status=status[k]) for k, spec in zip(keys, specs)]
    render_only = mode.render_only()
    todo = [k for k in first if status[k] == "missing" or (status[k] == "stale" and not render_only)]
    if todo and render_only:
        raise ValueError(f"{len(todo)} {profile}-profile run(s) are not stored and this is a render-only "
                         f"build; compute them with make run PROFILE={profile} (first: {first[todo[0]]!r})")
    from .executor import cpu_model, executor_name

    if todo:
        from .training import resolve_device

        if executor_name() == "local":  # a cluster's workers have their own devices
            for k in todo:
                check_trainable_on(first[k], resolve_device(first[k].device))
        cache.check_writable()
        cache.remove_orphans()
        for dataset in sorted({first[k].dataset for k in todo}):
            fetch(dataset)

    # the local workers run on this machine; a cluster's workers report only their device
    host_cpu = cpu_model() if executor_name() == "local" else None

    def store(i: int, result: dict) -> None:  # as each run finishes: finished work is never lost
        key = todo[i]
        result["key"] = key
        result["provenance"]["fingerprint"] = prints[key]
        if host_cpu and result["provenance"].get("device_type") == "cpu":
            result["provenance"]["cpu"] = host_cpu
        if profile == "full":
            from .canary import record

            result["steps"] = thin_steps(result["steps"])
            record(first[key], prints[key], base)  # first: a stored full result always has its canary
        cache.put(key, result)
        found[key], status[key] = result, "stored"

    if todo:
        execute([first[k] for k in todo], store, progress)
    return [dict(found[k], spec=spec.to_dict(), key=k, status=status[k])  # type: ignore[arg-type]
            for k, spec in zip(keys, specs)]


def hardware(provenance: dict) -> str:
    """Where a run was computed, as chapter headers name it: its device and, for a CPU, the
    model recorded with the result (results stored before models were recorded say whether
    the CPU had native bf16, which tells the book's two CPUs apart); bf16 runs on a CPU
    without it say that their heavy operations ran in fp32 kernels (:mod:`optim.bf16`)."""
    device = provenance["device"]
    if provenance.get("device_type") != "cpu":
        return device
    if provenance.get("cpu"):
        return f"{provenance['cpu']} {device}" + (", bf16 in fp32 kernels" if provenance.get("bf16_by_fp32") else "")
    if "native_bf16" in provenance:
        return f"{device} {'with' if provenance['native_bf16'] else 'without'} native bf16"
    return device


# The measured columns every tidy table has (NaN where a run logged nothing), besides the spec's
# fields, ``hp_<name>`` per hyperparameter, and the run's key, divergence, hardware and wall time.
COLUMNS = {"epoch": ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "time"),
           "step": ("step", "epoch", "train_loss", "lr")}


def tidy(results: list[Result], level: str = "epoch") -> pd.DataFrame:
    """One row per run × epoch (``level="epoch"``) or per logged step (``"step"``); the
    columns of :data:`COLUMNS` are always there."""
    if level not in ("epoch", "step"):
        raise ValueError(f"level={level!r} is invalid: expected 'epoch' or 'step'")
    frames = []
    for r in results:
        spec = r["spec"]
        meta = {k: v for k, v in spec.items() if k not in ("hparams", "schedule_args", "model_args")}
        meta.update({f"hp_{k}": (tuple(v) if isinstance(v, list) else v) for k, v in spec["hparams"].items()})
        meta.update(key=r.get("key"), diverged=r["diverged"], diverged_step=r["diverged_step"],
                    device_name=r["provenance"]["device"], hardware=hardware(r["provenance"]),
                    wall_time=r["wall_time"])
        rows = pd.DataFrame(r["epochs"] if level == "epoch" else r["steps"])
        if rows.empty:  # it diverged before its first log: one row of NaN measurements
            rows = pd.DataFrame([dict.fromkeys(COLUMNS[level], math.nan)])
        for column in COLUMNS[level]:
            if column not in rows:
                rows[column] = math.nan
        for k, v in meta.items():
            rows[k] = [v] * len(rows)
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame.attrs["compute_seconds"] = float(sum(r["wall_time"] for r in results))
    frame.attrs["devices"] = sorted({hardware(r["provenance"]) for r in results})
    frame.attrs["runs"] = len(results)
    frame.attrs["stale"] = sum(r.get("status") == "stale" for r in results)
    frame.attrs["stale_keys"] = sorted({r["key"] for r in results if r.get("status") == "stale" and r.get("key")})
    frame.attrs["unverified_keys"] = sorted({r["key"] for r in results if r.get("status") == "unverified"})
    frame.attrs["planned"] = sum(bool(r.get("planned")) for r in results)
    frame.attrs["threads"] = sorted({r["provenance"].get("threads") for r in results if r["provenance"].get("threads")})
    frame.attrs["precisions"] = sorted({r["spec"].get("precision", "fp32") for r in results})
    return frame


def run_many(specs: Iterable[RunSpec], profile: str = "quick", level: str = "epoch",
             root: str | os.PathLike | None = None, progress: bool | None = None) -> pd.DataFrame:
    """Compute the missing runs of ``specs`` and return all of them as a tidy DataFrame.

    ``frame.attrs`` holds ``compute_seconds`` (total training time of the stored results),
    ``devices``, ``runs``, ``stale`` (results computed by code whose numbers changed since;
    their keys in ``stale_keys``), ``unverified_keys`` (see the module docstring),
    ``threads`` and ``precisions``.
    """
    return tidy(run_results(specs, profile, root, progress), level)


def run_curves(specs: Iterable[RunSpec], profile: str = "quick", root: str | os.PathLike | None = None,
               progress: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Like :func:`run_many`, returning both levels: (per-epoch frame, per-step frame)."""
    results = run_results(specs, profile, root, progress)
    return tidy(results, "epoch"), tidy(results, "step")


# --- computations that are not training runs --------------------------------------------------
def computed(name: str, compute, profile: str = "quick", root: str | os.PathLike | None = None, **params) -> Any:
    """A deterministic computation that is not a training run — the online problem's sweeps,
    say — stored like one: ``results/<profile>/<key>.json.gz``, keyed by ``name`` and the
    JSON-able ``params`` that determine it, with the fingerprint of the code it calls
    (:data:`optim.fingerprint.COMPUTED_CODE`). ``compute()`` returns a DataFrame (stored as columns) or a
    JSON-able value. A stored result whose code has changed since is recomputed, except in a
    render-only build or a plan (``make plan`` executes the chapter to list its runs and must
    not spend minutes recomputing), which use it and count it as stale (``computed.stale``);
    a computation that is not stored at all is computed, in a plan too (the chapter needs its
    value to go on). The key goes into the chapter's manifest like a run's."""
    base = Path(root) if root is not None else mode.results_root()
    folder = results_dir(profile, base)
    payload = json.dumps({"computation": name, "params": params}, sort_keys=True, default=str)
    key = "computed-" + hashlib.sha256(payload.encode()).hexdigest()[:24]
    current = computation_fingerprint()
    cache = RunCache(folder)
    stored = cache.get(key)
    if requests := mode.request_log():
        _append_jsonl(requests, [{"key": key, "profile": profile}])
    render_only = mode.render_only()
    planning = mode.plan_file() is not None
    if stored is not None and (stored["fingerprint"] == current or render_only or planning):
        if stored["fingerprint"] != current:
            computed.stale += 1
        computed.seconds += stored.get("seconds", 0.0)
        computed.count += 1
        value = stored["value"]
        return pd.DataFrame(value["columns"]) if isinstance(value, dict) and value.get("kind") == "frame" else value
    if render_only:
        raise ValueError(f"the {profile}-profile computation {name!r} is not stored and this is a render-only build; "
                         f"compute it with make run PROFILE={profile}")
    started = time.perf_counter()
    value = compute()
    stored_value = ({"kind": "frame", "columns": {c: value[c].tolist() for c in value.columns}}
                    if isinstance(value, pd.DataFrame) else value)
    cache.check_writable()
    seconds = time.perf_counter() - started
    computed.seconds += seconds
    computed.count += 1
    cache.put(key, {"computation": name, "params": json.loads(payload)["params"], "fingerprint": current,
                    "seconds": seconds, "value": stored_value})
    return value


computed.stale = 0
computed.seconds = 0.0  # compute time of every computation returned in this process (stored or fresh)
computed.count = 0  # how many computations were returned in this process (stored or fresh)
