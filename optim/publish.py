"""The book's command line: build it, run a chapter, plan the runs.

``python -m optim.book build`` (or ``python -m optim.publish build``) executes every chapter of
``_toc.yml`` with papermill into ``_build/src`` (profile ``full`` where a complete set of stored
full results exists, else ``quick``) and builds the HTML with Jupyter Book 1.x into
``_build/html``, warnings as errors. ``python -m optim.book run CHAPTER --profile full
--device cuda`` executes one chapter; ``python -m optim.book plan`` lists each chapter's runs
and their estimated cost (:mod:`optim.planner`).
"""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
import yaml

from . import mode, sidefile
from .atomic import write_json_atomic
from .layout import BUILD, CLAIMS, DEVICES, PROFILES, ROOT

# --- the repository address: one place (_config.yml), checked and rewritten from there ----------
INSTALL_CELL = """\
# Opened on Colab? This installs the book and its stored results at this page's commit (REF) and runs
# the chapter from that copy (profile = "full" below renders the page from them); in a checkout it does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("optim") is None:
    REPOSITORY, REF = "{repository}", "{ref}"
    subprocess.run(["git", "clone", "--quiet", "--filter=blob:none", REPOSITORY, "optim-book"], check=True)
    subprocess.run(["git", "-C", "optim-book", "checkout", "--quiet", REF], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", "./optim-book[book]"], check=True)
    sys.path.insert(0, os.path.abspath("optim-book"))  # this kernel imports it from the copy at once
    os.environ["OPTIM_RESULTS_DIR"] = os.path.abspath("optim-book/data/results")"""
_INSTALL_FIELDS = re.compile(r'REPOSITORY, REF = "([^"]*)", "([^"]*)"')
_CITATION_URL = re.compile(r'^(repository-code:\s*)"?([^"\n]+)"?$', re.M)


def install_cell(repository_url: str, ref: str) -> str:
    """The first code cell of every chapter: :data:`INSTALL_CELL` for this repository and ref."""
    return INSTALL_CELL.format(repository=repository_url, ref=ref)


def repository(root: Path = ROOT) -> str:
    """The book's repository address: ``repository.url`` in ``_config.yml`` (the launch and
    repository buttons read it there)."""
    return yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def _install_fields(notebook) -> tuple[str, str] | None:
    first = next((c for c in notebook.cells if c.cell_type == "code"), None)
    found = _INSTALL_FIELDS.search(first.source) if first is not None else None
    return (found.group(1), found.group(2)) if found and first.source == install_cell(*found.groups()) else None


def link_problems(root: Path = ROOT) -> list[str]:
    """Places that do not follow ``_config.yml``'s repository: a chapter whose first code cell
    is not the install cell for it (what Colab installs), or ``CITATION.cff``'s ``repository-code``."""
    import nbformat

    url, problems = repository(root), []
    for path in sorted((root / "chapters").glob("*.ipynb")):
        fields = _install_fields(nbformat.read(path, as_version=4))
        if fields is None:
            problems.append(f"{path.relative_to(root)} does not open with the book's install cell")
        elif fields[0] != url:
            problems.append(f"{path.relative_to(root)} installs from {fields[0]}")
    citation = _CITATION_URL.search((root / "CITATION.cff").read_text())
    if citation is None or citation.group(2).rstrip("/") != url:
        problems.append(f"CITATION.cff names {citation.group(2) if citation else 'no repository'}")
    return problems


def relink(root: Path = ROOT, ref: str | None = None) -> list[Path]:
    """Make every chapter open with the install cell for ``_config.yml``'s repository (keeping
    each one's ref, or setting ``ref``: an edition's tag) and point ``CITATION.cff`` there (a
    fork's one step after editing that address); return the files changed."""
    import nbformat

    url, changed = repository(root), []
    for path in sorted((root / "chapters").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        first = next(c for c in notebook.cells if c.cell_type == "code")
        fields = _install_fields(notebook)
        source = install_cell(url, ref or (fields[1] if fields else "main"))
        if first.source != source:
            first.source = source
            nbformat.write(notebook, path)
            changed.append(path)
    citation = root / "CITATION.cff"
    text = citation.read_text()
    new = _CITATION_URL.sub(lambda m: f'{m.group(1)}"{url}"', text)
    if new != text:
        citation.write_text(new)
        changed.append(citation)
    return changed


def _pin(notebook_path: Path, commit: str | None) -> None:
    """Write the commit a page was built from into its install cell (the page and its .ipynb download)."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    fields = _install_fields(notebook)
    if commit and fields and fields[1] != commit:
        first = next(c for c in notebook.cells if c.cell_type == "code")
        first.source = install_cell(fields[0], commit)
        nbformat.write(notebook, notebook_path)


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


def manifest_path(chapter: str) -> Path:
    return mode.results_root() / "manifests" / f"{chapter}.json"


def _manifest_shape(value) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) \
            or not all(isinstance(k, str) for k in value["keys"]):
        return 'expected {"chapter": ..., "keys": [the keys of its full-profile runs]}'
    return None


def manifest_keys(chapter: str) -> list[str] | None:
    """The keys a chapter's manifest lists (None: no manifest); a damaged one is an error."""
    path = manifest_path(chapter)
    fix = (f"restore it from git (git checkout -- {path}), or write it again with "
           f"make run CHAPTER={chapter} PROFILE=full")
    manifest = sidefile.read_table(path, "manifest", _manifest_shape, fix, union_lists=True)
    return None if manifest is None else manifest["keys"]


class IncompleteResults(RuntimeError):
    """A chapter's manifest lists full-profile results that are not stored."""


def stored_profile(chapter: str, fallback: bool = False) -> str:
    """'full' when the chapter's manifest lists its full-profile runs and all are stored;
    'quick' for a chapter with no manifest (its full profile was never computed).

    A manifest whose results are not all stored raises :class:`IncompleteResults`, naming the
    missing runs and how to get them — a build never drops a chapter to the quick profile
    without a word — unless ``fallback``, which then gives 'quick'."""
    keys = manifest_keys(chapter)
    if not keys:
        return "quick"
    full = mode.results_root() / "full"
    missing = [k for k in keys if not (full / f"{k}.json.gz").exists()]
    if not missing:
        return "full"
    if fallback:
        return "quick"
    raise IncompleteResults(
        f"chapter {chapter!r}: {len(missing)} of the {len(keys)} full-profile results its manifest lists are not "
        f"stored in {full} (first: {missing[0]}); see which with make plan CHAPTER={chapter}, compute them with "
        f"make run CHAPTER={chapter} PROFILE=full, or build from the quick profile with make book FALLBACK=quick")


def write_manifest(chapter: str, keys: list[str]) -> Path:
    """List the keys of a chapter's full-profile runs, once they are all stored: builds then
    render the chapter from them (and only then)."""
    path = manifest_path(chapter)
    with sidefile.locked(path.parent):
        return write_json_atomic(path, {"chapter": chapter, "keys": sorted(set(keys))})


def execute(chapter: str, profile: str, device: str = "auto", out_dir: Path | None = None,
            log: bool = False, parameters: dict | None = None, render_only: bool = False) -> Path:
    """Execute one chapter with papermill; return the executed notebook's path.

    ``parameters`` sets other names of the chapter's parameters cell; every argument is
    checked (chapter, profile, device, parameter names) before the kernel starts.
    ``render_only``: train nothing (stored results only; stale ones are shown as such).
    ``log``: show papermill's cell bar and stream the cells' output, with each batch of runs'
    progress bar, to this process's stdout and stderr (``optim.book run``).
    A full-profile execution that completes (and may train) writes the chapter's manifest.
    The kernel's settings travel in this process's environment: one execution per process at a time."""
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
        with mode.kernel_environment(render_only=render_only, request_log=requests, progress=log):
            # log: the cells' own output (the runs' progress bars) streams to this terminal
            streams = dict(stdout_file=sys.stdout, stderr_file=sys.stderr) if log else {}
            papermill.execute_notebook(str(source), str(target), parameters=extra | dict(profile=profile, device=device),
                                       kernel_name="python3", cwd=str(source.parent), progress_bar=log, **streams)
        if profile == "full" and not extra and not render_only:
            keys = [r["key"] for r in _jsonl(requests) if r["profile"] == "full"]
            if keys:
                write_manifest(chapter, keys)
    _hide_injected_parameters(target)
    from .training import git_commit

    _pin(target, git_commit())
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
        with mode.kernel_environment(plan_file=records):
            try:
                papermill.execute_notebook(str(path), str(out), parameters=dict(profile=profile, device="auto"),
                                           kernel_name="python3", cwd=str(path.parent), progress_bar=False,
                                           allow_errors=True)
            except papermill.PapermillExecutionError:
                pass
        errors = sum(any(o.get("output_type") == "error" for o in c.get("outputs", []))
                     for c in nbformat.read(out, as_version=4).cells) if out.exists() else 1
        seen: dict[str, tuple[RunSpec, str]] = {}
        failures, runs_after_failure = 0, False  # the plan file lists runs and failing cells in order
        edges = []
        for r in _jsonl(records):
            if "edge" in r:
                edges.append(r["edge"])
                continue
            if "failed_cell" in r:
                failures += 1
                continue
            runs_after_failure |= failures > 0
            if r["key"] not in seen:
                seen[r["key"]] = (RunSpec.from_stored(r["spec"]), r["status"])
    # a failure before the last runs were asked for may have kept runs out of the plan
    late = errors > 0 and failures == errors and not runs_after_failure
    return ChapterPlan(path.stem, profile, [s for s, _ in seen.values()], [st for _, st in seen.values()],
                       errors, late, edges)


def _runs_in_no_manifest(root: Path) -> list[dict]:
    """The stored full training runs (with their keys) that no chapter's manifest lists."""
    from .cache import RunCache

    listed = {key for name in chapters() for key in manifest_keys(name) or []}
    cache, runs = RunCache(root / "full"), []
    for path in sorted((root / "full").glob("*.json.gz")):
        key = path.name.removesuffix(".json.gz")
        if key in listed or key.startswith("computed-"):
            continue
        result = cache.get(key)
        if result is not None and "spec" in result:
            runs.append(result | {"key": key})
    return runs


def vouch(names: list[str] | None = None, progress: bool | None = None) -> pd.DataFrame:
    """For each chapter's stored full results (its manifest): how many the current code computed
    itself, how many older code computed and the canaries vouch for (same numbers), and how many
    they do not (stale, or unverified when stored on another processor), and how many use an
    optimizer their chapter registers itself (checked when it renders). On the way the current
    code's canaries are recorded beside the results (:func:`optim.canary.record_current`), so
    that a fresh clone checks them without computing any, and in this CPU's bridge folder
    (:func:`optim.canary.record_here`, ``bridged``): run it before a change that alters the
    code's fingerprint and again after (``python -m optim.book canaries``), then commit
    ``canaries/``: results computed on other processors stay vouched for across the change.
    Stored full results that no manifest lists (a chapter whose new design is still being
    computed) are checked too, in a last row, ``(no manifest)``: their chapter will list them."""
    from .canary import changed_here, computed_elsewhere, record_current, record_here, same_numbers
    from .export import stored_runs
    from .fingerprint import fingerprint
    from .progress import tqdm
    from .spec import RunSpec

    every = not names  # the whole book: the runs no manifest lists too
    names = names or chapters()
    unknown = [n for n in names if n not in chapters()]
    if unknown:
        raise ValueError(f"unknown chapter {unknown[0]!r}; valid chapters: {', '.join(chapters())}")
    root, rows = mode.results_root(), []
    unlisted = _runs_in_no_manifest(root) if every else []
    for name, runs in [(n, stored_runs(n)) for n in names] + ([("(no manifest)", unlisted)] if unlisted else []):
        counts = dict(chapter=name, results=0, current=0, vouched=0, stale=0, unverified=0, recorded=0,
                      bridged=0, in_chapter=0)
        for result in tqdm(runs, desc=f"canaries of {name}", unit="result", disable=None if progress is None else not progress):
            spec = RunSpec.from_stored(result["spec"])
            counts["results"] += 1
            try:
                current = fingerprint(spec)
            except ValueError:  # an optimizer the chapter registers itself: checked when it renders
                counts["in_chapter"] += 1
                continue
            counts["bridged"] += record_here(spec, current, root)
            stored = result["provenance"].get("fingerprint")
            if stored == current:
                counts["current"] += 1
                continue
            counts["recorded"] += record_current(spec, current, root)
            if stored is not None and same_numbers(spec, stored, current, root):
                counts["vouched"] += 1
            elif computed_elsewhere(result["provenance"]) and not changed_here(spec, stored or "", current, root):
                counts["unverified"] += 1
            else:
                counts["stale"] += 1
        rows.append(counts)
    return pd.DataFrame(rows)


def _render_one(chapter: str, out_dir: str) -> tuple[str, float, str | None]:
    """Render ``chapter`` from its stored full results (in a worker process); its time, or the error."""
    started = time.perf_counter()
    try:
        execute(chapter, "full", "auto", Path(out_dir), render_only=True)
    except Exception as error:  # noqa: BLE001 (papermill's errors do not always pickle: send the text)
        return chapter, time.perf_counter() - started, f"{type(error).__name__}: {error}"
    return chapter, time.perf_counter() - started, None


def render_stored(names: list[str], out_dir: Path, workers: int | None = None):
    """Render chapters from their stored full results, ``workers`` at a time (default: one per
    core), each in a fresh process: rendering trains nothing, so a kernel's start-up and imports
    are most of its time, and these overlap. Yields (chapter, seconds) as each finishes; the
    first chapter that fails raises, naming it."""
    if not names:
        return
    from .executor import cores

    workers = max(1, min(len(names), workers or cores()))
    # spawn: each worker starts clean and sets its own kernel environment (see ``execute``)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in as_completed([pool.submit(_render_one, name, str(out_dir)) for name in names]):
            chapter, seconds, error = done.result()
            if error:
                pool.shutdown(wait=True, cancel_futures=True)  # the chapters not started yet are dropped
                raise RuntimeError(f"chapter {chapter!r} failed to render from its stored results: {error}")
            yield chapter, seconds


COLLECTORS = ("intro", "scoreboard")  # pages that collect the other chapters' claims: executed after them


def build(strict: bool = True, fallback: bool = False) -> int:
    """Execute every chapter into ``_build/src`` and build the HTML book from it.

    A chapter renders from its stored full results where its manifest lists them, and trains
    its quick profile where it has none; one whose listed results are incomplete stops the
    build before anything runs (:func:`stored_profile`), unless ``fallback``."""
    problems = link_problems()
    if problems:  # the launch buttons and the install cells must open and install the same repository
        raise ValueError(f"{problems[0]}, not {repository()} (_config.yml's repository.url); "
                         "run python -m optim.book relink")
    names = chapters()
    stored = [c for c in names if stored_profile(c, fallback) == "full"]  # an incomplete one stops here
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
    shutil.copytree(ROOT / "_static", src / "_static")  # the site's scripts; the data export joins them
    started = time.perf_counter()
    # chapters with stored full results render from them, side by side, and never train; then
    # the others train their quick profile one at a time (their runs use every core), in the
    # book's order, except the pages that collect the others' claims (COLLECTORS), which come last
    for chapter, seconds in render_stored(stored, src / "chapters"):
        print(f"executed {chapter} (full, from stored results) in {seconds:.1f} s", flush=True)
    quick = [c for c in names if c not in stored]
    for chapter in [c for c in quick if c not in COLLECTORS] + [c for c in quick if c in COLLECTORS]:
        t0 = time.perf_counter()
        execute(chapter, "quick", "auto", src / "chapters")
        print(f"executed {chapter} (quick) in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"all chapters executed in {time.perf_counter() - started:.1f} s", flush=True)
    from .export import export

    files = export(src / "_static" / "results", claims_dir=CLAIMS)  # served by the site: the numbers behind every page
    print(f"exported the results as data: {len(files)} files in _static/results", flush=True)
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
    builder = sub.add_parser("build", help="execute every chapter and build the HTML book")
    builder.add_argument("--fallback", choices=["none", "quick"], default="none",
                         help="what a chapter whose stored full results are incomplete gets (default: the build stops)")
    planner = sub.add_parser("plan", help="list each chapter's runs (stored, missing, stale) and the time they need")
    planner.add_argument("chapters", nargs="*", metavar="CHAPTER")
    planner.add_argument("--profile", default="full", choices=PROFILES)
    relinker = sub.add_parser("relink", help="point the chapters' install cells and CITATION.cff at _config.yml's "
                                             "repository")
    relinker.add_argument("--ref", help="the ref the install cells install (an edition's tag); default: keep each one's")
    vouching = sub.add_parser("canaries", help="check every stored full result against the current code by its canary, "
                                               "recording the current canaries beside the results")
    vouching.add_argument("chapters", nargs="*", metavar="CHAPTER")
    run = sub.add_parser("run", help="execute one chapter with papermill")
    run.add_argument("chapter", nargs="?", default="")
    run.add_argument("--profile", default="quick", choices=PROFILES)
    run.add_argument("--device", default="auto", choices=DEVICES)
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set another name of the chapter's parameters cell (VALUE read as YAML)")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            return build(fallback=args.fallback == "quick")
        except (IncompleteResults, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if args.command == "canaries":
        try:
            table = vouch(args.chapters or None)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(table.to_string(index=False))
        return 0
    if args.command == "relink":
        changed = relink(ref=args.ref)
        print(f"{len(changed)} files now name {repository()}" + "".join(f"\n  {p.relative_to(ROOT)}" for p in changed))
        return 0
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
