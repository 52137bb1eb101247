"""The book: every chapter executes with papermill (quick profile, empty cache), records its
claims, and the HTML builds with warnings as errors and shows its figures in Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from optim import book, publish

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
NO_CLAIMS = {"intro", "scoreboard", "speed"}  # pages that render other pages' or stored results
EXPECTED_FIGURES = {"testbed": 2, "adam": 6, "amsgrad": 5, "nadam": 4, "regime": 2, "adamw": 7, "swats": 4, "ndadam": 3,
                    "language": 3, "benchmark": 3, "deepobs": 5}
pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    # Normally from an empty results folder (every quick run computed here). The publishing
    # workflow sets OPTIM_TEST_BOOK_IN_PLACE=1: the tests then build the book that is deployed,
    # from the stored results, once.
    env = dict(os.environ)
    if os.environ.get("OPTIM_TEST_BOOK_IN_PLACE") != "1":
        env["OPTIM_RESULTS_DIR"] = str(tmp_path_factory.mktemp("results"))
    # A guard against a hung build, not a speed target (the speed appendix measures those): a
    # 2-core CPU without native bf16 builds the quick book several times slower than one with it.
    try:
        done = subprocess.run([sys.executable, "-m", "optim.book", "build"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired as hung:  # show how far it got: each chapter's execution time
        out = hung.stdout or b""  # bytes even with text=True on a timeout
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        pytest.fail(f"the book build did not finish in {hung.timeout:.0f} s:\n{out[-3000:]}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_every_chapter_executes_and_records_its_claims(built_book):
    for chapter in publish.chapters():
        # in place (the publishing workflow), a chapter with stored full results renders those
        profiles = "quick|full" if os.environ.get("OPTIM_TEST_BOOK_IN_PLACE") == "1" else "quick"
        assert re.search(rf"executed {chapter} \(({profiles})\)", built_book.stdout), chapter
        if chapter not in NO_CLAIMS:
            assert (book.CLAIMS / f"{chapter}.json").exists(), chapter


CONTRACT_PLAN = {"metric", "read_at", "sesoi", "sesoi_source", "kind", "family", "post_hoc"}
CONTRACT_PART = {"test", "paired", "n_a", "n_b", "diverged_a", "diverged_b", "effect", "low", "high", "outcome",
                 "seeds_for_power"}


def test_every_claim_follows_the_data_contract_with_finite_intervals(built_book):
    """Readers download _build/claims/<chapter>.json: every row has its plan, every comparison its
    test, pairing, counts, finite effect and interval, outcome and power."""
    import json
    import math

    for chapter in publish.chapters():
        if chapter in NO_CLAIMS:
            continue
        for row in json.loads((book.CLAIMS / f"{chapter}.json").read_text())["rows"]:
            assert CONTRACT_PLAN <= set(row["plan"]), (chapter, row["claim"])
            for part in row["comparisons"]:
                assert CONTRACT_PART <= set(part), (chapter, row["claim"])
                assert all(math.isfinite(part[k]) for k in ("effect", "low", "high")), (chapter, row["claim"], part)


def test_scoreboard_collects_every_chapter(built_book):
    page = (HTML / "chapters" / "scoreboard.html").read_text()
    for chapter in publish.chapters():
        if chapter not in NO_CLAIMS:
            assert f">{chapter}<" in page, chapter


def test_the_scoreboard_table_sorts_and_filters_in_the_page(built_book):
    page = (HTML / "chapters" / "scoreboard.html").read_text()
    assert 'class="optim-sortable"' in page and "sortable.js" in page
    assert (HTML / "_static" / "sortable.js").exists()


def test_the_site_serves_the_results_as_data(built_book):
    data = HTML / "_static" / "results"  # not "data": the book excludes that name from its sources
    for name in ("runs", "epochs", "claims", "comparisons"):
        assert (data / "all" / f"{name}.csv").exists() and (data / "all" / f"{name}.parquet").exists(), name
    assert (data / "run.schema.json").exists()
    page = (HTML / "chapters" / "data.html").read_text()
    assert 'href="../_static/results/all/runs.csv"' in page


def test_every_chapter_opens_with_its_findings_and_its_table_states_what_was_found(built_book):
    import nbformat

    from optim.verdicts import found

    for chapter in publish.chapters():
        if chapter in NO_CLAIMS:
            continue
        nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), chapter
        assert f"{{glue:md}} {chapter}-verdicts" in nb.cells[1].source, chapter  # right under the title
        page = (HTML / "chapters" / f"{chapter}.html").read_text()
        assert "What we found" in page.split("Show code cell")[0], chapter  # before any code
        text = html.unescape(page)
        rows = json.loads((book.CLAIMS / f"{chapter}.json").read_text())["rows"]
        for row in rows:  # the claims table's "found" column: each effect, its sign and interval, from the claims data
            for part in row["comparisons"]:
                if "threshold" not in part and not part["test"].startswith(("Fisher", "Friedman")):  # not observations
                    numbers = f"{part['effect']:.3g} [{part['low']:.3g}, {part['high']:.3g}]"
                    assert numbers in found(row) and numbers in text, (chapter, row["claim"], numbers)


def _figures(page: str) -> list[Path]:
    sources = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    return [(HTML / "chapters" / s).resolve() for s in sources if "_images" in s]


@pytest.mark.parametrize("chapter, count", EXPECTED_FIGURES.items())
def test_chapter_pages_have_their_figures_and_they_are_not_blank(built_book, chapter, count):
    figures = _figures((HTML / "chapters" / f"{chapter}.html").read_text())
    assert len(figures) == count
    for figure in figures:
        pixels = matplotlib.image.imread(figure)
        assert pixels.std() > 0.05, f"{figure.name} looks blank"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("chapter", ["intro"] + list(EXPECTED_FIGURES))
def test_pages_render_in_headless_chromium(built_book, chapter, tmp_path):
    url = (HTML / "chapters" / f"{chapter}.html").as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=3000", "--window-size=1280,2400"]
    shot = tmp_path / "page.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120)
    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.05
    dom = subprocess.run(["chromium", *flags, "--dump-dom", url], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    assert dom.count("<img") - dom.count('class="logo') >= EXPECTED_FIGURES.get(chapter, 0)
    assert "Traceback" not in dom


def test_an_invalid_parameter_fails_the_first_cell(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="profile='medium' is invalid"):
        papermill.execute_notebook(str(ROOT / "chapters" / "testbed.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=dict(profile="medium"), kernel_name="python3",
                                   cwd=str(ROOT / "chapters"), progress_bar=False)


@pytest.fixture
def claims_kept():
    """Leave the build's claims folder as the test found it (rendering a chapter writes its claims there)."""
    from optim.layout import CLAIMS

    kept = {p.name: p.read_bytes() for p in CLAIMS.glob("*.json")} if CLAIMS.exists() else {}
    yield
    shutil.rmtree(CLAIMS, ignore_errors=True)
    if kept:
        CLAIMS.mkdir(parents=True)
    for name, data in kept.items():
        (CLAIMS / name).write_bytes(data)


def test_chapters_with_stored_results_render_side_by_side_from_their_own_results(tmp_path, monkeypatch, claims_kept):
    # `make book` renders these two at a time, each in its own process: the kernel's settings travel
    # in the environment, which threads would share. A render trains nothing and writes no manifest.
    import json

    import nbformat

    stored, results = ROOT / "data" / "results", tmp_path / "results"
    shutil.copytree(stored / "canaries", results / "canaries")
    (results / "full").mkdir()
    for chapter in ("testbed", "regime"):
        manifest = stored / "manifests" / f"{chapter}.json"
        (results / "manifests").mkdir(exist_ok=True)
        shutil.copy(manifest, results / "manifests")
        for key in json.loads(manifest.read_text())["keys"]:
            shutil.copy(stored / "full" / f"{key}.json.gz", results / "full")
    manifests = {p.name: p.read_bytes() for p in (results / "manifests").iterdir()}
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(results))  # the workers' results: these copies only
    rendered = dict(publish.render_stored(["testbed", "regime"], tmp_path / "out", workers=2))
    assert sorted(rendered) == ["regime", "testbed"]
    for chapter in rendered:
        nb = nbformat.read(tmp_path / "out" / f"{chapter}.ipynb", as_version=4)
        shown = "".join(o.get("data", {}).get("text/markdown", "") for c in nb.cells for o in c.get("outputs", []))
        assert "**Profile:** `full`" in shown and "**Compute:**" in shown, chapter
    assert sorted(p.name for p in (results / "full").iterdir()) == sorted(
        f"{k}.json.gz" for m in manifests.values() for k in json.loads(m)["keys"])  # nothing trained
    assert {p.name: p.read_bytes() for p in (results / "manifests").iterdir()} == manifests


def test_a_chapter_that_fails_to_render_is_named(tmp_path):
    with pytest.raises(RuntimeError, match="chapter 'nosuch' failed to render .*unknown chapter 'nosuch'"):
        list(publish.render_stored(["nosuch"], tmp_path, workers=1))


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for path in (ROOT / "chapters").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one parameters cell"
        assert re.search(r'^profile = "quick"', tagged[0].source, re.M)


def test_every_chapter_can_install_the_package_on_colab_or_binder():
    import nbformat

    repository = publish.repository()
    for path in (ROOT / "chapters").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.source == publish.install_cell(repository, "main"), path.name
        assert "hide-cell" in first.metadata.get("tags", [])
    assert publish.link_problems() == []


def test_every_built_page_installs_the_commit_it_was_built_from(built_book):
    import nbformat

    from optim.training import git_commit

    commit = git_commit()
    for chapter in publish.chapters():
        executed = nbformat.read(ROOT / "_build" / "src" / "chapters" / f"{chapter}.ipynb", as_version=4)
        first = next(c for c in executed.cells if c.cell_type == "code")
        assert first.source == publish.install_cell(publish.repository(), commit), chapter


def test_the_install_cell_runs_inside_a_checkout_without_installing_anything():
    # here optim is importable (this checkout): the cell must do nothing, not clone or install
    done = subprocess.run([sys.executable, "-c", publish.install_cell("https://invalid.example/none", "main")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and not (ROOT / "optim-book").exists(), done.stderr


def test_set_up_code_is_collapsed_and_the_injected_parameters_are_not_shown(built_book):
    import nbformat

    for chapter in publish.chapters():
        nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "hide-cell" in code[1].metadata["tags"] and "hide-input" in code[2].metadata["tags"], chapter
        executed = nbformat.read(ROOT / "_build" / "src" / "chapters" / f"{chapter}.ipynb", as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert all("remove-cell" in c.metadata["tags"] for c in injected), chapter
    for chapter in publish.chapters():  # papermill's injected cell starts with this comment
        assert "# Parameters" not in (HTML / "chapters" / f"{chapter}.html").read_text(), chapter


def test_no_chapter_builds_a_verdict_by_hand():
    import nbformat

    for path in (ROOT / "chapters").glob("*.ipynb"):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert not re.search(r"""verdict\s*=\s*(["']|book\.)""", code), path.name
        assert "dict(claim=" not in code, path.name


PLAN = dict(metric="m", read_at="end", sesoi=0.1, sesoi_source="s", kind="superiority", family="f", post_hoc=False)


@pytest.mark.parametrize("row, message", [
    (dict(claim="c", measured="m", verdict="reproduced"), "not by hand"),
    (dict(claim="c", measured="m", verdict="reproduced", comparisons=[], seeds="", profile="quick"), "lacks \\['plan'\\]"),
    (dict(claim="c", measured="m", verdict="reproduced", comparisons=[], seeds="", profile="quick", plan=PLAN),
     "no comparisons"),
])
def test_claims_refuse_rows_made_by_hand_or_without_a_plan(row, message):
    with pytest.raises(ValueError, match=message):
        book.claims("x", [row], "quick")


def test_claims_refuse_a_verdict_that_does_not_follow_from_the_comparisons():
    from optim import verdicts

    row = verdicts.claim("c", [verdicts.observe("v", 1.0, "less", 0.5)], verdicts.Plan(**PLAN), "quick")
    row["verdict"] = "reproduced"
    with pytest.raises(ValueError, match="does not follow"):
        book.claims("x", [row], "quick")


def test_every_chapters_plans_load_and_every_plan_is_judged_by_its_chapter():
    """Plans are declared as data beside the chapters; each chapter judges every claim it declares."""
    import nbformat

    from optim import verdicts

    for path in sorted((ROOT / "chapters" / "plans").glob("*.yml")):
        declared = verdicts.plans(path.stem)
        assert declared, path.name
        code = "\n".join(c.source for c in nbformat.read(ROOT / "chapters" / f"{path.stem}.ipynb", as_version=4).cells
                         if c.cell_type == "code")
        # the chapter's own code and the optim modules it imports (where a chapter's claims are judged)
        modules = {m for line in re.findall(r"^from optim import (.+)$", code, re.M) for m in re.split(r",\s*", line)}
        code += "".join((ROOT / "optim" / f"{m.strip()}.py").read_text() for m in modules
                        if (ROOT / "optim" / f"{m.strip()}.py").exists())
        for name in declared:
            assert f'"{name}"' in code or f"'{name}'" in code, f"{path.stem}: plan {name!r} is never judged"


def test_chapter_setup_checks_each_parameter_by_name_and_returns_seeds_and_sizes():
    from optim import book

    sizes = {"quick": dict(epochs=2), "full": dict(epochs=20)}
    assert book.setup("quick", "cpu", None, dict(dataset="mnist"), sizes=sizes) == ([0, 1], dict(epochs=2))
    assert book.setup("full", "cpu", None, sizes=sizes, full_seeds=5) == ([0, 1, 2, 3, 4], dict(epochs=20))
    assert book.setup("full", "cpu", [7, 8]) == ([7, 8], None)
    with pytest.raises(ValueError, match=r"^convnet_dataset='cifar' is invalid: expected one of 'mnist'"):
        book.setup("quick", "cpu", None, dict(dataset="mnist", convnet_dataset="cifar"))
    with pytest.raises(ValueError, match=r"^profile='fast' is invalid"):
        book.setup("fast", "cpu", None, sizes=sizes)
    with pytest.raises(ValueError, match=r"^seeds=\[-1\] is invalid"):
        book.setup("quick", "cpu", [-1])


def test_the_chapter_object_types_the_name_once_and_passes_its_profile_to_the_chapter_api(monkeypatch):
    from optim import book, verdicts

    ch = book.chapter("nadam", "full", "cpu", None, dict(dataset="mnist"),
                      sizes={"quick": dict(epochs=2), "full": dict(epochs=20)})
    assert (ch.seeds, ch.sizes, ch.plans) == ([0, 1, 2], dict(epochs=20), verdicts.plans("nadam"))
    assert ch.select({"quick": 1, "full": 2}) == 2
    values = {"a": pd.Series([1.0, 1.1, 0.9]), "b": pd.Series([2.0, 2.2, 1.8])}
    assert ch.judge_pairs("cnn", values, [("a", "b")], "less") == verdicts.judge_pairs(
        verdicts.plans("nadam")["cnn"], values, [("a", "b")], "less", "full")
    row = ch.judge("cnn", [verdicts.compare("a", values["a"], "b", values["b"], "loss", "less", 0.1)], note="n")
    assert row["profile"] == "full" and row["claim"] == ch.plans["cnn"].claim and row["measured"].endswith(". n")
    glued = {}
    monkeypatch.setattr(book, "glue_text", lambda chapter, **values: glued.update({chapter: values}))
    ch.glue(x="1")
    assert glued == {"nadam": {"x": "1"}}
    with pytest.raises(ValueError, match=r"^profile='fast' is invalid"):
        book.chapter("nadam", "fast", "cpu", None)


@pytest.mark.parametrize("native", [True, False])
def test_convnet_runs_use_bf16_in_the_full_profile_and_where_it_is_native_in_the_quick_one(monkeypatch, native):
    from optim import book

    monkeypatch.setattr("optim.training.native_bf16", lambda device: native)
    # the full profile's stored results are keyed by bf16 + channels_last: the same on every machine
    assert book.convnet_engine("full", "cpu") == dict(precision="bf16", memory_format="channels_last")
    assert book.convnet_engine("quick", "cpu") == dict(precision="bf16" if native else "fp32",
                                                       memory_format="channels_last")
    with pytest.raises(ValueError, match=r"^profile='fast' is invalid"):
        book.convnet_engine("fast", "cpu")
