"""What a chapter calls: parameter checks, its header, its claims table, source listings.

The build/run/plan command line is :mod:`optim.publish`; ``python -m optim.book`` runs it
(``python -m optim.book build | run CHAPTER | plan``, see there).
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pandas as pd

from . import mode
from .atomic import write_json_atomic
from .layout import CLAIMS, DEVICES, PROFILES, ROOT


# --- inside a chapter ------------------------------------------------------------------------
def _assigned_names(source: str) -> list[str]:
    """Names a cell assigns at top level (papermill's injected cell is plain assignments)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def unknown_injected_parameters() -> tuple[list[str], list[str]]:
    """(unknown, valid): parameters that papermill injected into this kernel but that the
    notebook's parameters cell does not define, and the ones it does define.

    papermill only warns about an unknown parameter (``-p profil full`` would silently run
    the quick profile); the chapter's first cell calls this through :func:`check_parameters`.
    Outside papermill both lists are empty."""
    try:
        from IPython import get_ipython
    except ImportError:
        return [], []
    shell = get_ipython()
    history = list(shell.user_ns.get("In", [])) if shell is not None else []
    for i, source in enumerate(history):
        if i > 0 and source.lstrip().startswith("# Parameters") and \
                not history[i - 1].lstrip().startswith("# Parameters"):
            valid = _assigned_names(history[i - 1])
            return [n for n in _assigned_names(source) if n not in valid], valid
    return [], []


def check_parameters(profile: str, device: str, seeds, dataset: str | None = None,
                     datasets: tuple[str, ...] | None = None) -> None:
    """Fail the chapter's first cell with one clear message on a bad parameter. ``dataset``
    must be one of ``datasets`` (default: :data:`optim.data.CHAPTER_DATASETS`)."""
    unknown, valid = unknown_injected_parameters()
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}; valid parameters: {', '.join(valid)}")
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(map(repr, PROFILES))}")
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is invalid: expected one of {', '.join(map(repr, DEVICES))}")
    if seeds is not None and not (isinstance(seeds, (list, tuple)) and seeds
                                  and all(isinstance(s, int) and s >= 0 for s in seeds)):
        raise ValueError(f"seeds={seeds!r} is invalid: expected None (the profile's seeds) "
                         "or a non-empty list of non-negative integers")
    if dataset is not None:
        _check_dataset("dataset", dataset, datasets)
    from .training import resolve_device

    resolve_device(device)


def _check_dataset(name: str, value: str, datasets: tuple[str, ...] | None = None) -> None:
    if datasets is None:
        from .data import CHAPTER_DATASETS as datasets
    if value not in datasets:
        raise ValueError(f"{name}={value!r} is invalid: expected one of {', '.join(map(repr, datasets))}")


def profile_seeds(profile: str, seeds, full_seeds: int = 3) -> list[int]:
    """The seeds a chapter runs: ``seeds`` if given, else 2 (quick) or ``full_seeds`` (full)."""
    return list(seeds) if seeds is not None else list(range(2 if profile == "quick" else full_seeds))


def setup(profile: str, device: str, seeds, datasets: dict[str, str] | None = None, sizes: dict | None = None,
          full_seeds: int = 3) -> tuple[list[int], object]:
    """A chapter's first call: check its parameters and return ``(seeds, sizes)``.

    Every bad parameter (an unknown one, ``profile``, ``device``, ``seeds``, and each of
    ``datasets``, a mapping of parameter name to value) is a one-line error naming it and the
    valid choices, before any work. ``seeds`` are the chapter's seeds (the given ones, else 2
    in the quick profile and ``full_seeds`` in the full one); ``sizes`` is ``sizes[profile]``
    (None when not given).
    """
    check_parameters(profile, device, seeds)
    for name, value in (datasets or {}).items():
        _check_dataset(name, value)
    from .runner import select

    return profile_seeds(profile, seeds, full_seeds), (select(sizes, profile) if sizes is not None else None)


def convnet_engine(profile: str, device: str = "auto") -> dict[str, str]:
    """The engine fields of the book's convolutional runs (see the speed appendix).

    The full profile always trains them under bf16 autocast with channels_last: its stored
    results are keyed by those fields, so every machine must ask for the same runs. The
    quick profile trains while a page is built, so it takes the fastest engine of the device
    it runs on: bf16 where the device computes bf16 in hardware (AMX / AVX512-BF16 CPUs,
    recent GPUs), fp32 elsewhere — a CPU without native bf16 emulates it about 8× slower than
    fp32. The chapter header states the precision used."""
    check_parameters(profile, device, None)
    from .training import native_bf16, resolve_device

    fast = profile != "quick" or native_bf16(resolve_device(device))
    return dict(precision="bf16" if fast else "fp32", memory_format="channels_last")


def dataset_label(dataset: str, n_train=None) -> str:
    """How a chapter names its data: 'MNIST (1,500–5,000 of 60,000 training images)'.

    ``n_train`` is one subset size or a list of them (None: the whole training set)."""
    from .data import info

    meta = info(dataset)  # the dataset's own record: no loading just to count it
    total = meta.train_size
    sizes = n_train if isinstance(n_train, (list, tuple)) else [n_train]
    used = sorted({total if n is None else min(n, total) for n in sizes})
    span = f"{used[0]:,}" if len(used) == 1 else f"{used[0]:,}–{used[-1]:,}"
    return f"{meta.title} ({span} of {total:,} training images)"


def header(chapter: str, profile: str, dataset: str, frame=None,
           seconds: float | None = None, devices: list[str] | None = None,
           computations: int = 0, precision: str | None = None):
    """The chapter's header line: profile, dataset, hardware, precision and compute of its results.

    ``frame`` is a tidy frame from ``run_many`` or a list of them: each distinct run (by key)
    counts once, however many of the frames hold it, and their stored compute times add up;
    ``seconds`` adds the compute time of other work — ``computations`` stored computations
    (``optim.runner.computed.seconds`` and ``.count``) — ``devices`` names where it ran and
    ``precision`` its arithmetic. Stale results (computed by code whose numbers have changed
    since) are flagged.
    """
    from IPython.display import Markdown

    frames = [] if frame is None else (list(frame) if isinstance(frame, (list, tuple)) else [frame])
    stale = unverified = planned = 0
    precisions: set[str] = set()
    threads: set[int] = set()
    if frames:
        distinct, by_attrs = _distinct_runs(frames)
        seconds = ((seconds or 0.0) + float(distinct["wall_time"].sum())
                   + sum(f.attrs.get("compute_seconds", 0.0) for f in by_attrs))
        devices = sorted(set(distinct["hardware"]) | {d for f in by_attrs for d in f.attrs.get("devices", [])}
                         | set(devices or []))
        runs = len(distinct) + sum(f.attrs.get("runs", 0) for f in by_attrs)
        stale_keys = {k for f in frames for k in f.attrs.get("stale_keys", [])}
        stale = len(stale_keys) + sum(f.attrs.get("stale", 0) for f in frames if "stale_keys" not in f.attrs)
        unverified = len({k for f in frames for k in f.attrs.get("unverified_keys", [])})
        planned = int((distinct["hardware"] == "planned").sum()) + sum(f.attrs.get("planned", 0) for f in by_attrs)
        precisions = set(distinct["precision"]) | {p for f in by_attrs for p in f.attrs.get("precisions", [])}
        threads = {t for f in frames for t in f.attrs.get("threads", [])}
    else:
        seconds, devices, runs = seconds or 0.0, devices or [], None
    precisions |= {precision} if precision else set()
    # the thread count is shown on its own below, so it is dropped from the device names
    names = sorted({re.sub(r", \d+ threads?\)", ")", d) for d in devices if d != "planned"})
    hardware = "; ".join(names) or "this machine (computed while rendering)"
    compute = f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.1f} s"
    parts = [f"**Profile:** `{profile}`", f"**Dataset:** {dataset}", f"**Hardware:** {hardware}"]
    if precisions:
        parts.append(f"**Precision:** {', '.join(sorted(precisions))}")
    if threads:
        parts.append(f"**Threads per run:** {', '.join(map(str, sorted(threads)))}")
    parts.append(f"**Compute:** {compute}")
    text = " · ".join(parts)
    counted = ([f"{runs} stored runs"] if runs else []) + (
        [f"{computations} stored computation{'s' if computations != 1 else ''}"] if computations else [])
    text += f", summed over {' and '.join(counted)}" if counted else ""
    if profile == "full":
        text += " · **Data:** " + ", ".join(f'<a href="../_static/data/{chapter}/{name}.csv">{name}</a>'
                                              for name in ("runs", "epochs", "claims")) + " (CSV; Parquet beside them)"
    if profile == "quick":
        text += (" · *quick profile: small CPU-sized runs, trained while this page was built; "
                 "the full profile re-runs the experiment at paper scale (`make run CHAPTER=" + chapter +
                 " PROFILE=full`).*")
    if stale:
        text += (f"\n\n**Warning: {stale} of {runs} results are stale** — computed by code whose numbers have "
                 f"changed since (a canary run no longer reproduces them); `make run CHAPTER={chapter} "
                 "PROFILE=full` recomputes them.")
    if unverified:
        text += (f"\n\n*{unverified} of {runs} results were stored by an earlier version of the code on another "
                 "processor (or one they do not name); their canaries differ on this one, which cannot tell a change "
                 "in the numbers from that CPU's rounding. They are shown unchecked; a canary check on the processor "
                 "that stored them decides.*")
    if planned:
        text += f"\n\n*Plan-only execution: {planned} runs are placeholders, not results.*"
    return Markdown(text)


def _distinct_runs(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The runs behind tidy ``frames``, one row per run key (key, wall_time, hardware,
    precision): a run two frames share — a grid column reused by a second grid, a frame
    concatenated with a slice of another — counts once. Frames without those columns (made
    by hand, or empty) are returned apart, to be counted by their ``attrs``."""
    columns = ["key", "wall_time", "hardware", "precision"]
    tidy = [f for f in frames if {"key", "wall_time", "hardware"} <= set(f.columns) and len(f) and f["key"].notna().all()]
    rest = [f for f in frames if not any(f is t for t in tidy)]
    if not tidy:
        return pd.DataFrame(columns=columns), rest
    rows = pd.concat([f.reindex(columns=columns).fillna({"precision": "fp32"}) for f in tidy], ignore_index=True)
    return rows.drop_duplicates("key"), rest


def show_source(obj) -> object:
    """Display the source of an ``optim`` object, read from the package itself."""
    from IPython.display import Markdown

    source = inspect.getsource(obj)
    where = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT)
    return Markdown(f"`{where}`\n\n```python\n{source}\n```")


def claims(chapter: str, rows: list[dict], profile: str):
    """Record and return a chapter's claims table.

    Rows must come from :func:`optim.verdicts.claim` / :func:`~optim.verdicts.judge` /
    :func:`~optim.verdicts.untestable` (each with its declared plan, the compared numbers,
    effects with intervals, seeds, profile and verdict; stored as numbers in
    ``_build/claims/<chapter>.json``, where the scoreboard collects them): a row without a
    plan, or whose verdict was made by hand, is refused.
    """
    from .verdicts import VERDICTS, verdict

    for row in rows:
        missing = {"claim", "measured", "verdict", "comparisons", "seeds", "profile", "plan"} - set(row)
        if missing:
            raise ValueError(f"claims row {row.get('claim', row)!r} lacks {sorted(missing)}: make rows with "
                             "optim.verdicts.judge() or optim.verdicts.untestable() under a declared plan, not by hand")
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"verdict={row['verdict']!r} is invalid: expected one of {VERDICTS}")
        if row["comparisons"]:
            from types import SimpleNamespace

            if verdict([SimpleNamespace(**c) for c in row["comparisons"]]) != row["verdict"]:
                raise ValueError(f"claims row {row['claim']!r}: its verdict does not follow from its comparisons")
        elif row["verdict"] != "not testable at this scale":
            raise ValueError(f"claims row {row['claim']!r} has no comparisons: only 'not testable at this scale' may")
    if mode.plan_file() is None:  # a plan's placeholder numbers are not the chapter's claims
        write_json_atomic(CLAIMS / f"{chapter}.json", {"chapter": chapter, "profile": profile, "rows": rows})
    _glue_at_a_glance(chapter, rows, profile)
    table = pd.DataFrame({"claim": [r["claim"] for r in rows], "plan": [plan_text(r["plan"]) for r in rows],
                          "measured": [r["measured"] for r in rows], "seeds": [r["seeds"] for r in rows],
                          "verdict": [r["verdict"] for r in rows],
                          "at ½× · 2× the SESOI": [sensitivity_text(r) for r in rows]})
    return table.style.format({"verdict": badge}).hide(axis="index")


def tuning_table(chosen: pd.DataFrame, vary: str = "hp_lr"):
    """A tuning choice (:func:`optim.tuning.choose`) as a table: the chosen value, its selection
    score, the grid it was chosen from, and a flag where it sits on the grid's edge."""
    table = chosen.assign(grid=[", ".join(f"{v:g}" for v in g) for g in chosen["grid"]],
                          on_edge=["on the edge" if e else "" for e in chosen["on_edge"]])
    table = table.rename(columns={vary: "chosen", "selection": "selection score", "on_edge": "edge"})
    return table.style.format({"chosen": "{:g}", "selection score": "{:.4g}"}).hide(axis="index")


def plan_text(plan: dict) -> str:
    """A plan in one line: 'superiority · final training loss, last epoch · SESOI 0.1 (source) · post hoc: …'."""
    sesoi = plan["sesoi"]
    size = "no SESOI (deterministic)" if plan["kind"] == "deterministic" else f"SESOI {sesoi:g}"
    return (f"{plan['kind']} · {plan['metric']}, {plan['read_at']} · {size} ({plan['sesoi_source']})"
            + (" · post hoc: declared after its results were seen" if plan.get("post_hoc") else ""))


def sensitivity_text(row: dict) -> str:
    """The verdict at half and at double the SESOI, or '' where no comparison depends on it."""
    s = row.get("sensitivity") or {}
    if not s or (s.get("half") == row["verdict"] == s.get("double")):
        return "same" if s else ""
    return f"{s['half']} · {s['double']}"


def at_a_glance(rows: list[dict], profile: str) -> str:
    """One line of verdict counts, for the top of a chapter (Jupyter Book glues it there)."""
    from .verdicts import VERDICTS

    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    parts = [f"{BADGES[v][0]} {n} {v}" for v, n in counts.items() if n]
    return (f"**Verdicts at a glance** ({profile} profile, {len(rows)} claims): " + " · ".join(parts) +
            " — the claims table at the end of the chapter gives each one's numbers and intervals.")


def _glue_at_a_glance(chapter: str, rows: list[dict], profile: str) -> None:
    try:
        from IPython.display import Markdown
        from myst_nb import glue
    except ImportError:  # outside a book build (a plain Python session)
        return
    glue(f"{chapter}-verdicts", Markdown(at_a_glance(rows, profile)), display=False)


BADGES = {"reproduced": ("✔", "#1a7f37"), "partly": ("◐", "#9a6700"), "not reproduced": ("✘", "#cf222e"),
          "inconclusive": ("?", "#0969da"), "not testable at this scale": ("–", "#6e7781")}


def badge(verdict: str) -> str:
    """A verdict as a coloured badge whose symbol and words read without colour too (anything
    else, such as 'new claim' in the scoreboard's before-and-after table, as plain text)."""
    if verdict not in BADGES:
        return verdict
    symbol, colour = BADGES[verdict]
    return (f'<span style="display:inline-block;padding:1px 8px;border-radius:10px;color:white;'
            f'background:{colour};font-weight:600">{symbol} {verdict}</span>')


def verdict_changes(collected: list[dict], before: Path | None = None) -> pd.DataFrame:
    """Claim by claim: the verdict under the rule before round 36 (``data/verdicts/before-round-36.json``),
    today's, and the one-line reason for today's (:func:`optim.verdicts.reason`)."""
    from .verdicts import reason

    path = before or ROOT / "data" / "verdicts" / "before-round-36.json"
    old = json.loads(Path(path).read_text())["chapters"]
    rows = []
    for chapter in collected:
        previous = {r["claim"]: r["verdict"] for r in old.get(chapter["chapter"], [])}
        for row in chapter["rows"]:
            rows.append({"chapter": chapter["chapter"], "claim": row["claim"],
                         "before": previous.get(row["claim"], "new claim"), "now": row["verdict"],
                         "reason": reason(row)})
    return pd.DataFrame(rows, columns=["chapter", "claim", "before", "now", "reason"])


def collected_claims() -> list[dict]:
    """Every chapter's stored claims, in the book's order (``_toc.yml``)."""
    from .publish import chapters

    order = chapters()
    found = {p.stem: json.loads(p.read_text()) for p in CLAIMS.glob("*.json")}
    return [found[c] for c in order if c in found] + [found[c] for c in sorted(found) if c not in order]


if __name__ == "__main__":  # the book's command line, kept at ``python -m optim.book``
    from .publish import main

    raise SystemExit(main())
