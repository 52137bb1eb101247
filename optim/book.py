"""The book's machinery: chapter helpers (header, claims, source) and the build/run CLI.

``python -m optim.book build``  executes every chapter of ``_toc.yml`` with papermill into
``_build/src`` (profile ``full`` where a complete set of stored full results exists, else
``quick``) and builds the HTML with Jupyter Book 1.x into ``_build/html``, warnings as errors.
``python -m optim.book run CHAPTER --profile full --device cuda`` executes one chapter.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from .atomic import write_json_atomic
from .data import ROOT

BUILD = ROOT / "_build"
CLAIMS = BUILD / "claims"
PROFILES = ("quick", "full")
DEVICES = ("auto", "cpu", "cuda")


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
    if datasets is None:
        from .data import CHAPTER_DATASETS as datasets
    if dataset is not None and dataset not in datasets:
        raise ValueError(f"dataset={dataset!r} is invalid: expected one of {', '.join(map(repr, datasets))}")
    from .training import resolve_device

    resolve_device(device)


def profile_seeds(profile: str, seeds) -> list[int]:
    """The seeds a chapter runs: ``seeds`` if given, else 2 (quick) or 3 (full)."""
    return list(seeds) if seeds is not None else ([0, 1] if profile == "quick" else [0, 1, 2])


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
           seconds: float | None = None, devices: list[str] | None = None):
    """The chapter's header line: profile, dataset, hardware, precision and compute of its results.

    ``frame`` is a tidy frame from ``run_many`` or a list of them (their stored compute
    times add up); without one, ``seconds`` and ``devices`` describe the computation. Stale
    results (computed by code whose numbers have changed since) are flagged.
    """
    from IPython.display import Markdown

    frames = [] if frame is None else (list(frame) if isinstance(frame, (list, tuple)) else [frame])
    stale = planned = 0
    precisions: set[str] = set()
    threads: set[int] = set()
    if frames:
        seconds = sum(f.attrs.get("compute_seconds", 0.0) for f in frames)
        devices = sorted({d for f in frames for d in f.attrs.get("devices", [])})
        runs = sum(f.attrs.get("runs", 0) for f in frames)
        stale = sum(f.attrs.get("stale", 0) for f in frames)
        planned = sum(f.attrs.get("planned", 0) for f in frames)
        precisions = {p for f in frames for p in f.attrs.get("precisions", [])}
        threads = {t for f in frames for t in f.attrs.get("threads", [])}
    else:
        seconds, devices, runs = seconds or 0.0, devices or [], None
    # the thread count is shown on its own below, so it is dropped from the device names
    names = sorted({re.sub(r", \d+ threads?\)", ")", d) for d in devices if d != "planned"})
    hardware = ", ".join(names) or "this machine (computed while rendering)"
    compute = f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.1f} s"
    parts = [f"**Profile:** `{profile}`", f"**Dataset:** {dataset}", f"**Hardware:** {hardware}"]
    if precisions:
        parts.append(f"**Precision:** {', '.join(sorted(precisions))}")
    if threads:
        parts.append(f"**Threads per run:** {', '.join(map(str, sorted(threads)))}")
    parts.append(f"**Compute:** {compute}")
    text = " · ".join(parts)
    text += f" over {runs} stored runs" if runs else ""
    if profile == "quick":
        text += (" · *quick profile: small CPU-sized runs, trained while this page was built; "
                 "the full profile re-runs the experiment at paper scale (`make run CHAPTER=" + chapter +
                 " PROFILE=full`).*")
    if stale:
        text += (f"\n\n**Warning: {stale} of {runs} results are stale** — computed by code whose numbers have "
                 f"changed since (a canary run no longer reproduces them); `make run CHAPTER={chapter} "
                 "PROFILE=full` recomputes them.")
    if planned:
        text += f"\n\n*Plan-only execution: {planned} runs are placeholders, not results.*"
    return Markdown(text)


def show_source(obj) -> object:
    """Display the source of an ``optim`` object, read from the package itself."""
    from IPython.display import Markdown

    source = inspect.getsource(obj)
    where = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT)
    return Markdown(f"`{where}`\n\n```python\n{source}\n```")


def claims(chapter: str, rows: list[dict], profile: str) -> pd.DataFrame:
    """Record and return a chapter's claims table.

    Rows must come from :func:`optim.verdicts.claim` / :func:`~optim.verdicts.untestable`
    (the compared numbers, effects with intervals, seeds, profile and verdict; stored as
    numbers in ``_build/claims/<chapter>.json``, where the scoreboard collects them): a row
    whose verdict was made by hand is refused.
    """
    from .verdicts import VERDICTS, verdict

    for row in rows:
        missing = {"claim", "measured", "verdict", "comparisons", "seeds", "profile"} - set(row)
        if missing:
            raise ValueError(f"claims row {row.get('claim', row)!r} lacks {sorted(missing)}: make rows with "
                             "optim.verdicts.claim() or optim.verdicts.untestable(), not by hand")
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"verdict={row['verdict']!r} is invalid: expected one of {VERDICTS}")
        if row["comparisons"]:
            from types import SimpleNamespace

            if verdict([SimpleNamespace(**c) for c in row["comparisons"]]) != row["verdict"]:
                raise ValueError(f"claims row {row['claim']!r}: its verdict does not follow from its comparisons")
        elif row["verdict"] != "not testable at this scale":
            raise ValueError(f"claims row {row['claim']!r} has no comparisons: only 'not testable at this scale' may")
    write_json_atomic(CLAIMS / f"{chapter}.json", {"chapter": chapter, "profile": profile, "rows": rows})
    _glue_at_a_glance(chapter, rows, profile)
    table = pd.DataFrame(rows)[["claim", "measured", "seeds", "profile", "verdict"]]
    return table.style.format({"verdict": badge}).hide(axis="index")


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
    """A verdict as a coloured badge whose symbol and words read without colour too."""
    symbol, colour = BADGES[verdict]
    return (f'<span style="display:inline-block;padding:1px 8px;border-radius:10px;color:white;'
            f'background:{colour};font-weight:600">{symbol} {verdict}</span>')


def collected_claims() -> list[dict]:
    """Every chapter's stored claims, in the book's order (``_toc.yml``)."""
    order = chapters()
    found = {p.stem: json.loads(p.read_text()) for p in CLAIMS.glob("*.json")}
    return [found[c] for c in order if c in found] + [found[c] for c in sorted(found) if c not in order]


# --- the book ---------------------------------------------------------------------------------
def chapters() -> list[str]:
    """Notebook chapters listed in ``_toc.yml``, in order (names without folder or suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = []

    def walk(node):
        if isinstance(node, dict):
            entries.extend(node[k] for k in ("root", "file") if isinstance(node.get(k), str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return [Path(e).stem for e in entries if (ROOT / f"{e}.ipynb").exists()]


def _results_root() -> Path:
    from .runner import RESULTS

    return RESULTS


def manifest_path(chapter: str) -> Path:
    return _results_root() / "manifests" / f"{chapter}.json"


def stored_profile(chapter: str) -> str:
    """'full' when the chapter's manifest lists its full-profile runs and all are stored, else 'quick'."""
    try:
        keys = json.loads(manifest_path(chapter).read_text())["keys"]
    except (OSError, ValueError, KeyError):
        return "quick"
    full = _results_root() / "full"
    return "full" if keys and all((full / f"{k}.json.gz").exists() for k in keys) else "quick"


def write_manifest(chapter: str, keys: list[str]) -> Path:
    """List the keys of a chapter's full-profile runs, once they are all stored: builds then
    render the chapter from them (and only then)."""
    return write_json_atomic(manifest_path(chapter), {"chapter": chapter, "keys": sorted(set(keys))})


@contextlib.contextmanager
def _environment(**values: str | None):
    """Set (or, with None, unset) environment variables for a papermill kernel started inside."""
    def apply(settings: dict[str, str | None]) -> None:
        for k, v in settings.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    before = {k: os.environ.get(k) for k in values}
    try:
        apply(values)
        yield
    finally:
        apply(before)


def execute(chapter: str, profile: str, device: str = "auto", out_dir: Path | None = None,
            log: bool = False, parameters: dict | None = None, render_only: bool = False) -> Path:
    """Execute one chapter with papermill; return the executed notebook's path.

    ``parameters`` sets other names of the chapter's parameters cell; every argument is
    checked (chapter, profile, device, parameter names) before the kernel starts.
    ``render_only``: train nothing (stored results only; stale ones are shown as such).
    A full-profile execution that completes writes the chapter's manifest."""
    import papermill

    names = chapters()
    if chapter not in names:
        raise ValueError(f"unknown chapter {chapter!r}; valid chapters: {', '.join(names)}")
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(map(repr, PROFILES))}")
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is invalid: expected one of {', '.join(map(repr, DEVICES))}")
    from .training import resolve_device

    resolve_device(device)
    source = next(ROOT.glob(f"chapters/{chapter}.ipynb"))
    valid = list(papermill.inspect_notebook(str(source)))
    extra = dict(parameters or {})
    unknown = [k for k in extra if k not in valid]
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} for chapter {chapter!r}; valid parameters: {', '.join(valid)}")
    out_dir = out_dir or BUILD / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / source.name
    with tempfile.TemporaryDirectory() as tmp:
        requests = Path(tmp) / "requests.jsonl"
        with _environment(OPTIM_RENDER_ONLY="1" if render_only else None, OPTIM_REQUEST_LOG=str(requests),
                          OPTIM_PLAN_FILE=None):
            papermill.execute_notebook(str(source), str(target), parameters=extra | dict(profile=profile, device=device),
                                       kernel_name="python3", cwd=str(source.parent), log_output=log,
                                       progress_bar=log)
        if profile == "full" and not extra:
            keys = [r["key"] for r in _jsonl(requests) if r["profile"] == "full"]
            if keys:
                write_manifest(chapter, keys)
    _hide_injected_parameters(target)
    return target


def _hide_injected_parameters(notebook: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell``: the page shows the chapter's
    own parameters cell once, not a second copy with the values it ran with (the header says those)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            changed = True
    if changed:
        nbformat.write(nb, notebook)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def plan(names: list[str] | None = None, profile: str = "full"):
    """Each chapter's runs and their status, from a plan-only execution (nothing trains)."""
    names = names or chapters()
    unknown = [n for n in names if n not in chapters()]
    if unknown:
        raise ValueError(f"unknown chapter {unknown[0]!r}; valid chapters: {', '.join(chapters())}")
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(map(repr, PROFILES))}")
    return [plan_notebook(ROOT / "chapters" / f"{name}.ipynb", profile) for name in names]


def plan_notebook(path: Path, profile: str = "full"):
    """:func:`plan` for one notebook file: a :class:`~optim.planner.ChapterPlan`."""
    import nbformat
    import papermill

    from .planner import ChapterPlan
    from .spec import RunSpec

    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        records, out = Path(tmp) / "plan.jsonl", Path(tmp) / "out.ipynb"
        with _environment(OPTIM_PLAN_FILE=str(records), OPTIM_REQUEST_LOG=None, OPTIM_RENDER_ONLY=None):
            try:
                papermill.execute_notebook(str(path), str(out), parameters=dict(profile=profile, device="auto"),
                                           kernel_name="python3", cwd=str(path.parent), progress_bar=False,
                                           allow_errors=True)
            except papermill.PapermillExecutionError:
                pass
        errors = sum(o.get("output_type") == "error" for c in nbformat.read(out, as_version=4).cells
                     for o in c.get("outputs", [])) if out.exists() else 1
        seen: dict[str, tuple[RunSpec, str]] = {}
        for r in _jsonl(records):
            if r["key"] not in seen:
                seen[r["key"]] = (RunSpec.from_stored(r["spec"]), r["status"])
    return ChapterPlan(path.stem, profile, [s for s, _ in seen.values()], [st for _, st in seen.values()], errors)


def build(strict: bool = True) -> int:
    """Execute every chapter into ``_build/src`` and build the HTML book from it."""
    src = BUILD / "src"
    # Always a fresh Sphinx build: its pickled environment from an earlier build does not
    # match the regenerated sources and turns a second build into warnings.
    shutil.rmtree(BUILD / "book", ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(CLAIMS, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml", "references.bib", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "chapters", src / "chapters",
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    started = time.perf_counter()
    for chapter in chapters():
        profile = stored_profile(chapter)
        t0 = time.perf_counter()
        # a chapter with stored full results is rendered from them and never trains
        execute(chapter, profile, "auto", src / "chapters", render_only=profile == "full")
        print(f"executed {chapter} ({profile}) in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"all chapters executed in {time.perf_counter() - started:.1f} s", flush=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb), "build", str(src), "--path-output", str(BUILD / "book")]
    if strict:
        command += ["-W", "--keep-going"]
    code = subprocess.run(command).returncode
    if code == 0:
        shutil.rmtree(BUILD / "html", ignore_errors=True)
        shutil.copytree(BUILD / "book" / "_build" / "html", BUILD / "html")
        print(f"book: {BUILD / 'html' / 'index.html'}")
    return code


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m optim.book", description="Build or run the book.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="execute every chapter and build the HTML book")
    planner = sub.add_parser("plan", help="list each chapter's runs (stored, missing, stale) and the time they need")
    planner.add_argument("chapters", nargs="*", metavar="CHAPTER")
    planner.add_argument("--profile", default="full", choices=PROFILES)
    run = sub.add_parser("run", help="execute one chapter with papermill")
    run.add_argument("chapter", nargs="?", default="")
    run.add_argument("--profile", default="quick", choices=PROFILES)
    run.add_argument("--device", default="auto", choices=DEVICES)
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set another name of the chapter's parameters cell (VALUE read as YAML)")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build()
    if args.command == "plan":
        from .planner import render

        try:
            print(render(plan(args.chapters, args.profile)))
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    if not args.chapter:
        parser.error(f"CHAPTER is required; valid chapters: {', '.join(chapters())}")
    try:
        parameters = {name: yaml.safe_load(value) for name, value in args.parameter}
        for name in ("profile", "device"):
            if name in parameters:
                raise ValueError(f"-p {name} is invalid: use --{name}")
        print(execute(args.chapter, args.profile, args.device, log=True, parameters=parameters))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
