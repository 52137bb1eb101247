"""Canaries: did a code change alter the numbers behind stored full-profile results?

A stored result records the fingerprint of the code that computed it
(:func:`optim.fingerprint.fingerprint`). When that code changes, the result is not thrown away:
a *canary* — the same configuration (model, optimizer, hyperparameters, schedule, data
handling) trained for a few steps on a few images, in fp32 on one CPU thread — is run on
the current code and compared with the canary recorded when the result was stored. The same
numbers (to ``RTOL``) mean a refactor: the result stays valid. Different numbers mean the
result is stale.

Recorded canaries live beside the results they vouch for (``<results>/canaries/<fingerprint>.json``,
committed with them); canaries of the current code computed only to check old results go to
the dataset cache folder's ``canaries/`` (not committed), so rendering never writes into the
committed results.

**Processors round differently.** A canary recorded on one CPU model may differ from the same
code's canary on another (fp32 kernels round differently; a near-zero gradient can flip sign),
so comparing a result's canary, recorded where it was computed, with the current code's
canary computed here cannot tell a code change from the other CPU's rounding. *Bridges* can:
``<results>/canaries/by-cpu/<cpu>/<fingerprint>.json`` holds canaries computed on one CPU model
only. ``python -m optim.book canaries`` records the current code's canary of every stored
result there, for this CPU; run it before a change to the code's fingerprint and again after,
and each configuration whose two canaries on this one CPU agree is vouched for across the
change, wherever its result was computed. A result is valid when a chain of such agreements
(:func:`same_numbers`) leads from the code that stored it to the current code.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from .sidefile import mapping_of, numbers, read_table, update_table
from .spec import RunSpec

RTOL = 1e-6
CANARY_SIZE = dict(n_train=96, n_test=32, epochs=1, batch_size=16)
BY_CPU = "by-cpu"  # the bridge folders: canaries computed on one CPU model each


def canary_spec(spec: RunSpec) -> RunSpec:
    """``spec``'s configuration, shrunk to six steps in fp32 on the CPU."""
    return spec.replace(**CANARY_SIZE, seed=0, validation=0.0, log_every=1, probes=(), evaluation_bugs=(),
                        precision="fp32", memory_format="contiguous", device="cpu", tag="")


def canary_values(spec: RunSpec) -> list[float]:
    """Every step's training loss and the final test loss and accuracy of ``spec``'s canary."""
    from .executor import torch_threads
    from .training import train

    with torch_threads(1):
        result = train(canary_spec(spec), progress=False)
    last = result["epochs"][-1] if result["epochs"] else {"test_loss": math.nan, "test_acc": math.nan}
    return [float(v) for v in result["steps"]["train_loss"]] + [last["test_loss"], last.get("test_acc", math.nan)]


TABLE = mapping_of(numbers, "lists of canary values")


def _fix(path: Path) -> str:
    return (f"restore it from git (git checkout -- {path}), or for a merge conflict keep one side of each "
            "disagreeing entry; it vouches for stored results and is never rewritten from nothing")


def _read(path: Path) -> dict:
    """One canary table (``{canary key: values}``); a conflicted one merged, a damaged one an error."""
    return read_table(path, "canary table", TABLE, _fix(path)) or {}


@lru_cache(maxsize=256)
def _cached(path: Path, mtime_ns: int, size: int) -> dict:
    return _read(path)


def _table(path: Path) -> dict:
    """:func:`_read`, kept while the file is unchanged (a build looks up ~1,000 canaries): read only."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    return _cached(path, stat.st_mtime_ns, stat.st_size)


def _lookup(spec: RunSpec, fingerprint: str, folders: list[Path]) -> list[float] | None:
    cid = canary_spec(spec).key()
    for folder in folders:
        values = _table(folder / f"{fingerprint}.json").get(cid)
        if values is not None:
            return values
    return None


def _known_or_computed(spec: RunSpec, fingerprint: str, look_in: list[Path], write_to: Path) -> list[float]:
    """The canary of ``spec`` under ``fingerprint`` from ``look_in``, else computed and kept in ``write_to``."""
    known = _lookup(spec, fingerprint, look_in)
    if known is not None:
        return known
    values = canary_values(spec)
    path = write_to / f"{fingerprint}.json"
    update_table(path, "canary table", TABLE, _fix(path), lambda table: table.__setitem__(canary_spec(spec).key(), values))
    return values


def record(spec: RunSpec, fingerprint: str, results_root: Path) -> list[float]:
    """Make sure the canary of ``spec`` under code ``fingerprint`` is recorded beside the results.

    The runner calls it before it stores a full result (a kill in between leaves a canary
    with no result, which costs nothing, never a result that nothing vouches for) and when it
    reads a full result of the current code whose canary is missing (one stored by a version
    that recorded the canary second, killed in between)."""
    folder = Path(results_root) / "canaries"
    return _known_or_computed(spec, fingerprint, [folder], folder)


def _current(spec: RunSpec, fingerprint: str, results_root: Path) -> list[float]:
    from .data import cache_dir

    local = cache_dir() / "canaries"
    return _known_or_computed(spec, fingerprint, [Path(results_root) / "canaries", local], local)


def record_current(spec: RunSpec, current: str, results_root: Path) -> bool:
    """Record the canary of ``spec`` under the current code ``current`` beside the results (from
    this machine's local canaries, else computed), so that a fresh clone checks a stored result
    of older code without computing it; True when it was added. After a change that alters the
    code's fingerprint, ``python -m optim.book canaries`` does this for every stored result."""
    from .data import cache_dir

    folder = Path(results_root) / "canaries"
    if _lookup(spec, current, [folder]) is not None:
        return False
    values = _lookup(spec, current, [cache_dir() / "canaries"]) or canary_values(spec)
    update_table(folder / f"{current}.json", "canary table", TABLE, _fix(folder / f"{current}.json"),
                 lambda table: table.__setitem__(canary_spec(spec).key(), values))
    return True


def computed_elsewhere(provenance: dict) -> bool:
    """Whether a stored result — and so the canary recorded beside it, by the same process —
    may come from another processor than this one. fp32 kernels round differently across CPU
    models, so two processors' canaries of the same code can differ: a canary that does not
    match here then cannot tell a change in the code from the other CPU's rounding. Only a
    result that names this CPU's model is known to come from here; one stored before models
    were recorded, or on a GPU (its canary ran on the host's CPU, unnamed), is not."""
    if provenance.get("device_type", "cpu") != "cpu" or not provenance.get("cpu"):
        return True
    from .executor import cpu_model

    return provenance["cpu"] != cpu_model()


def _equal(old: list[float], new: list[float]) -> bool:
    return len(old) == len(new) and all(
        (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12) for a, b in zip(old, new))


def cpu_folder(results_root: Path, cpu: str) -> Path:
    """Where the canaries computed on CPU model ``cpu`` live: ``canaries/by-cpu/<cpu as a slug>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-") or "unknown"
    return Path(results_root) / "canaries" / BY_CPU / slug


def record_here(spec: RunSpec, current: str, results_root: Path) -> bool:
    """Record the canary of ``spec`` under the current code ``current``, computed on this CPU, in
    this CPU's bridge folder (:func:`cpu_folder`); True when it was added. Computed afresh: the
    local cache may hold canaries another CPU computed (a cache folder shared across machines)."""
    from .executor import cpu_model

    path = cpu_folder(results_root, cpu_model()) / f"{current}.json"
    if _lookup(spec, current, [path.parent]) is not None:
        return False
    values = canary_values(spec)
    update_table(path, "canary table", TABLE, _fix(path), lambda table: table.__setitem__(canary_spec(spec).key(), values))
    return True


def _tables(spec: RunSpec, results_root: Path) -> list[dict[str, list[float]]]:
    """Per table folder (the main one, then each CPU's bridge folder): {fingerprint: canary of ``spec``}."""
    cid = canary_spec(spec).key()
    main = Path(results_root) / "canaries"
    folders = [main] + sorted(p for p in (main / BY_CPU).glob("*") if p.is_dir())
    tables = []
    for folder in folders:
        found = {path.stem: _table(path).get(cid) for path in folder.glob("*.json")}
        tables.append({fp: v for fp, v in found.items() if v is not None})
    return tables


def _reachable(spec: RunSpec, start: str, tables: list[dict[str, list[float]]]) -> set[str]:
    """The fingerprints a chain of agreeing canaries leads to from ``start``: each link two
    fingerprints whose canaries of ``spec`` agree in one table folder."""
    reached, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for table in tables:
            if here not in table:
                continue
            for fp, canary in table.items():
                if fp not in reached and _equal(table[here], canary):
                    reached.add(fp)
                    todo.append(fp)
    return reached


def _bridged(spec: RunSpec, stored: str, current: str, results_root: Path) -> bool:
    """Whether a chain of agreeing canaries leads from code ``stored`` to code ``current``
    (:func:`_reachable`, over the main folder and every CPU's bridge folder, :func:`cpu_folder`)."""
    return current in _reachable(spec, stored, _tables(spec, results_root))


def changed_here(spec: RunSpec, stored: str, current: str, results_root: Path) -> bool:
    """Whether one CPU's bridge folder shows code ``current`` computing other numbers for
    ``spec`` than code ``stored`` (or code linked to it by agreeing canaries): the code changed
    the result, wherever it was computed — it is stale, not merely unverified."""
    tables = _tables(spec, results_root)
    reached = _reachable(spec, stored, tables)
    return any(current in table and any(fp in table and not _equal(table[fp], table[current]) for fp in reached)
               for table in tables[1:])


def same_numbers(spec: RunSpec, stored: str, current: str, results_root: Path) -> bool:
    """Whether code ``current`` computes what code ``stored`` computed for ``spec``: their canaries
    agree, directly or by a chain of same-CPU bridges (module docstring).

    False when no canary was recorded for the stored code: nothing vouches for the result."""
    old = _lookup(spec, stored, [Path(results_root) / "canaries"])
    if old is None:
        return False
    if _equal(old, _current(spec, current, results_root)):
        return True
    return _bridged(spec, stored, current, results_root)
