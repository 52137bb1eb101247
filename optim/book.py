"""What a chapter calls: parameter checks, its header, its claims table, source listings.

The build/run/plan command line is :mod:`optim.publish`; ``python -m optim.book`` runs it
(``python -m optim.book build | run CHAPTER | plan``, see there).
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from . import mode, verdicts
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
    must be one of ``datasets`` (default: :data:`optim.data.CHAPTER_DATASETS`). Every chapter
    calls it first (directly or through :func:`setup`): it also sets the book's figure style."""
    from .plots import use_book_style

    use_book_style()
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


@dataclass
class Chapter:
    """A chapter as its code sees it (:func:`chapter`): its ``name`` (typed once), ``profile``,
    ``device``, judged ``seeds`` and the profile's ``sizes``; the rest of the chapter API takes
    them from here — its plans, header, claims and glued values."""

    name: str
    profile: str
    device: str
    seeds: list[int]
    sizes: object = None

    @cached_property
    def plans(self) -> dict:
        """The chapter's declared plans (``chapters/plans/<name>.yml``, :func:`optim.verdicts.plans`)."""
        return verdicts.plans(self.name)

    def select(self, options: dict):
        """``options[profile]`` (:func:`optim.runner.select`)."""
        from .runner import select

        return select(options, self.profile)

    def header(self, dataset: str, frame=None, **details):
        """:func:`header` of this chapter."""
        return header(self.name, self.profile, dataset, frame, **details)

    def judge(self, plan: str, comparisons: list, note: str = "") -> dict:
        """The claim of the plan named ``plan`` (:func:`optim.verdicts.judge`)."""
        return verdicts.judge(self.plans[plan], comparisons, self.profile, note=note)

    def judge_pairs(self, plan: str, values, pairs, direction: str, **options) -> dict:
        """:func:`optim.verdicts.judge_pairs` under the plan named ``plan``."""
        return verdicts.judge_pairs(self.plans[plan], values, pairs, direction, self.profile, **options)

    def judge_accuracy(self, plan: str, values, pairs, direction: str, **options) -> dict:
        """:func:`optim.verdicts.judge_accuracy` under the plan named ``plan``."""
        return verdicts.judge_accuracy(self.plans[plan], values, pairs, direction, self.profile, **options)

    def untestable(self, plan: str, reason: str) -> dict:
        """The plan named ``plan``'s claim, which this profile cannot test, and why (:func:`optim.verdicts.untestable`)."""
        return verdicts.untestable(self.plans[plan].claim, reason, self.plans[plan], self.profile,
                                   section=self.plans[plan].section)

    def claims(self, rows: list[dict]):
        """:func:`claims`: the chapter's claims table, recorded for the scoreboard."""
        return claims(self.name, rows, self.profile)

    def glue(self, **values) -> None:
        """:func:`glue_text` under the chapter's name."""
        glue_text(self.name, **values)


def chapter(name: str, profile: str, device: str, seeds, datasets: dict[str, str] | None = None,
            sizes: dict | None = None, full_seeds: int = 3) -> Chapter:
    """A chapter's first call: :func:`setup`'s checks, and the :class:`Chapter` its code uses."""
    chosen, sized = setup(profile, device, seeds, datasets, sizes, full_seeds)
    return Chapter(name, profile, device, chosen, sized)


def convnet_engine(profile: str, device: str = "auto") -> dict[str, str]:
    """The engine fields of the book's convolutional runs (see the speed appendix).

    The full profile always trains them under bf16 autocast with channels_last: its stored
    results are keyed by those fields, so every machine must ask for the same runs. The
    quick profile trains while a page is built, so it takes the fastest engine of the device
    it runs on: bf16 where the device computes bf16 in hardware (AMX / AVX512-BF16 CPUs,
    recent GPUs), fp32 elsewhere — a CPU without native bf16 computes bf16 in fp32 kernels
    (:mod:`optim.bf16`), no faster than fp32. The chapter header states the precision used."""
    check_parameters(profile, device, None)
    from .training import native_bf16, resolve_device

    fast = profile != "quick" or native_bf16(resolve_device(device))
    return dict(precision="bf16" if fast else "fp32", memory_format="channels_last")


def dataset_label(dataset: str, n_train=None) -> str:
    """How a chapter names its data: 'MNIST (1,500–5,000 of 60,000 training images)', in the
    dataset's own items (Penn Treebank: tokens; IMDB: reviews).

    ``n_train`` is one subset size or a list of them (None: the whole training set)."""
    from .data import info

    meta = info(dataset)  # the dataset's own record: no loading just to count it
    total = meta.train_size
    sizes = n_train if isinstance(n_train, (list, tuple)) else [n_train]
    used = sorted({total if n is None else min(n, total) for n in sizes})
    span = f"{used[0]:,}" if len(used) == 1 else f"{used[0]:,}–{used[-1]:,}"
    return f"{meta.title} ({span} of {total:,} training {meta.items})"


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
        text += " · **Data:** " + ", ".join(f'<a href="../_static/results/{chapter}/{name}.csv">{name}</a>'
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
    _glue_findings(chapter, rows, profile)
    from .verdicts import found

    table = pd.DataFrame({"claim": [r["claim"] for r in rows], "plan": [plan_text(r["plan"]) for r in rows],
                          "found": [found(r) for r in rows], "seeds": [r["seeds"] for r in rows],
                          "verdict": [r["verdict"] for r in rows],
                          "at ½× · 2× the SESOI": [sensitivity_text(r) for r in rows]})
    return table.style.format({"verdict": badge}).hide(axis="index")


def glue_text(chapter: str, **values) -> None:
    """Glue each of ``values`` as text under ``<chapter>-<name>`` (underscores as hyphens), for
    the chapter's markdown to cite as {glue:text}`<chapter>-<name>`: the prose is written as
    prose, the numbers come from the runs. Outside a book build it does nothing."""
    try:
        from myst_nb import glue
    except ImportError:  # a plain Python session
        return
    for name, value in values.items():
        glue(f"{chapter}-{name.replace('_', '-')}", str(value), display=False)


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


FINDINGS_SHOWN = 6  # the most claims listed in a chapter's "What we found"
_FINDING_ORDER = ("not reproduced", "partly", "reproduced", "inconclusive", "not testable at this scale")


def findings(rows: list[dict], profile: str, limit: int = FINDINGS_SHOWN) -> str:
    """A chapter's "What we found", for its first screen (Jupyter Book glues it under the
    title): the verdict counts, then up to ``limit`` claims with their verdict and the measured
    effect that decided it (:func:`optim.verdicts.reason`) — all of them when they fit, else the
    failures and partial results first, then the rest in the chapter's order."""
    from .verdicts import VERDICTS, reason

    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    head = (f"**What we found** ({profile} profile, {len(rows)} claims: "
            + " · ".join(f"{BADGES[v][0]} {n} {v}" for v, n in counts.items() if n) + ")")
    shown = rows if len(rows) <= limit else sorted(rows, key=lambda r: _FINDING_ORDER.index(r["verdict"]))[:limit]
    shown = [r for r in rows if any(r is s for s in shown)]  # in the chapter's order
    lines = [f"- {BADGES[r['verdict']][0]} **{r['verdict']}** — {_link(r)}: {reason(r)}" for r in shown]
    more = len(rows) - len(shown)
    tail = (f"\n\n{more} more claim{'s' if more != 1 else ''} in the claims table at the end of the chapter, "
            "with every interval." if more else "\n\nThe claims table at the end of the chapter gives every interval.")
    return head + "\n\n" + "\n".join(lines) + tail


def _link(row: dict) -> str:
    """The claim, linked to its section of the chapter where it has one."""
    return f'<a href="#{row["section"]}">{row["claim"]}</a>' if row.get("section") else row["claim"]


def _glue_findings(chapter: str, rows: list[dict], profile: str) -> None:
    try:
        from IPython.display import Markdown
        from myst_nb import glue
    except ImportError:  # outside a book build (a plain Python session)
        return
    glue(f"{chapter}-verdicts", Markdown(findings(rows, profile)), display=False)


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


def claims_board(collected: list[dict] | None = None) -> pd.DataFrame:
    """Every collected claim as one row (its chapter, ``category`` from its plan, and the
    claims row's fields), in the book's order."""
    rows = [dict(chapter=c["chapter"], category=r["plan"].get("category", "paper"),
                 **{**r, "profile": r.get("profile", c["profile"])})
            for c in (collected if collected is not None else collected_claims()) for r in c["rows"]]
    return pd.DataFrame(rows)


def claims_html(board: pd.DataFrame) -> str:
    """Claims as an HTML table a reader can sort (click a header) and filter (the box above it,
    ``_static/sortable.js``): chapter, the claim linked to its section with the measurement
    below it, plan, seeds, profile, verdict and its sensitivity to the SESOI."""
    def claim_cell(row) -> str:
        anchor = f"#{row.section}" if isinstance(row.get("section"), str) and row.section else "#claims"
        return (f'<a href="{row.chapter}.html{anchor}">{row.claim}</a>'
                f'<div style="font-size:0.8em;color:#57606a;margin-top:0.3em">{row.measured}</div>')

    table = pd.DataFrame({"chapter": board.chapter, "claim and measurement": board.apply(claim_cell, axis=1),
                          "plan": board.plan.map(plan_text), "seeds": board.seeds.fillna(""),
                          "profile": board.profile, "verdict": board.verdict,
                          "at ½× · 2× the SESOI": board.apply(sensitivity_text, axis=1)})
    return (table.style.format({"verdict": badge}).hide(axis="index")
            .set_table_attributes('class="optim-sortable"').to_html())


def paper_summary(board: pd.DataFrame) -> pd.DataFrame:
    """Per paper chapter (the paper claims of ``board``): how many claims got each verdict, the
    strongest finding (the reproduced — else partly — claim whose decisive comparison has the
    smallest one-sided p-value) and the weakest (the not reproduced — else inconclusive — claim
    contradicted most clearly, else the least clearly supported)."""
    from .verdicts import VERDICTS, reason

    def strength(row, side: str) -> float:
        ps = [c.get(side) for c in row["comparisons"] if c.get(side) is not None]
        return min(ps) if ps else 1.0

    out = []
    for chapter, claims in board[board.category == "paper"].groupby("chapter", sort=False):
        rows = claims.to_dict("records")
        good = [r for r in rows if r["verdict"] == "reproduced"] or [r for r in rows if r["verdict"] == "partly"]
        bad = [r for r in rows if r["verdict"] == "not reproduced"] or [r for r in rows if r["verdict"] == "inconclusive"]
        strongest = min(good, key=lambda r: strength(r, "p_support")) if good else None
        weakest = min(bad, key=lambda r: strength(r, "p_contradict")) if bad else None
        out.append({"paper": f'<a href="{chapter}.html">{chapter_title(chapter)}</a>',
                    **{f"{BADGES[v][0]} {v}": sum(r["verdict"] == v for r in rows) for v in VERDICTS},
                    "strongest finding": f"{strongest['claim']} — {reason(strongest)}" if strongest else "",
                    "weakest finding": f"{weakest['claim']} — {reason(weakest)}" if weakest else ""})
    return pd.DataFrame(out)


def chapter_title(chapter: str) -> str:
    """A chapter's title: the first heading of its notebook."""
    import nbformat

    nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
    for cell in nb.cells:
        heading = re.search(r"^# (.+)$", cell.source, re.M) if cell.cell_type == "markdown" else None
        if heading:
            return heading.group(1).strip()
    return chapter


def findings_table(collected: list[dict] | None = None):
    """The introduction's findings: one row per paper chapter, each of its headline claims
    (plans marked ``headline``) with its verdict and the measured effect that decided it
    (:func:`optim.verdicts.reason`), linked to its section; the chapter's other claims counted."""
    from IPython.display import HTML

    from .verdicts import reason

    rows = []
    for chapter in collected if collected is not None else collected_claims():
        papers = [r for r in chapter["rows"] if r["plan"].get("category", "paper") == "paper"]
        headlines = [r for r in papers if r["plan"].get("headline")]
        if not headlines:
            continue
        name = chapter["chapter"]
        claims = "".join(
            f'<div style="margin-bottom:0.4em">{badge(r["verdict"])} '
            f'<a href="{name}.html#{r["section"] or "claims"}">{r["claim"]}</a>'
            f'<div style="font-size:0.8em;color:#57606a">{reason(r)}</div></div>' for r in headlines)
        others = len(papers) - len(headlines)
        rows.append({"paper": f'<a href="{name}.html">{chapter_title(name)}</a>'
                              f'<div style="font-size:0.8em;color:#57606a">{chapter["profile"]} profile</div>',
                     "headline claims, verdict and what was measured": claims,
                     "the chapter's other paper claims": ", ".join(
                         f"{sum(r['verdict'] == v for r in papers if not r['plan'].get('headline'))} {v}"
                         for v in BADGES if any(r["verdict"] == v for r in papers if not r["plan"].get("headline")))
                         if others else "none"})
    if not rows:
        return HTML("<p><em>No chapter has recorded its claims yet (they are collected as the book is built).</em></p>")
    return HTML(pd.DataFrame(rows).to_html(escape=False, index=False, classes="optim-findings"))


def collected_claims() -> list[dict]:
    """Every chapter's stored claims, in the book's order (``_toc.yml``)."""
    from .publish import chapters

    order = chapters()
    found = {p.stem: json.loads(p.read_text()) for p in CLAIMS.glob("*.json")}
    return [found[c] for c in order if c in found] + [found[c] for c in sorted(found) if c not in order]


if __name__ == "__main__":  # the book's command line, kept at ``python -m optim.book``
    from .publish import main

    raise SystemExit(main())


def verdict_bars(board: pd.DataFrame):
    """The scoreboard's figure (:func:`claims_board`'s table): per chapter, its claims by verdict
    as one stacked bar, each segment labelled with its verdict's symbol and count, so that the
    figure reads without colour too."""
    import matplotlib.pyplot as plt

    from .verdicts import VERDICTS

    counts = board.pivot_table(index="chapter", columns="verdict", values="claim", aggfunc="count", fill_value=0,
                               sort=False).reindex(columns=list(VERDICTS), fill_value=0)
    height = 0.45 * len(counts) + 1.6
    fig, ax = plt.subplots(figsize=(9, height))
    left = pd.Series(0, index=counts.index)
    for verdict in VERDICTS:
        symbol, colour = BADGES[verdict]
        bars = ax.barh(counts.index, counts[verdict], left=left, color=colour, edgecolor="white",
                       label=f"{symbol} {verdict}")
        ax.bar_label(bars, labels=[f"{symbol} {n}" if n else "" for n in counts[verdict]], label_type="center",
                     color="white", fontsize=10, fontweight="bold")
        left += counts[verdict]
    ax.invert_yaxis()
    ax.set(xlabel="number of claims", title=f"{len(board)} claims from {board.chapter.nunique()} chapters, by verdict")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.2 / height), ncol=3, frameon=False)
    fig.tight_layout()
    return fig
