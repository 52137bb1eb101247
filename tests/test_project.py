"""The project's set-up files agree with each other."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_environment_yml_delegates_to_pyproject_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    extras = set(project["optional-dependencies"])
    (line,) = [x for x in pip_section if x.startswith("-e")]
    named = set(re.search(r"\[(.*)\]", line).group(1).split(","))
    assert named == extras, f"environment.yml installs extras {named}, pyproject has {extras}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_constraints_pin_every_dependency_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    assert wanted <= set(pins), f"not pinned: {sorted(wanted - set(pins))}"
    assert pins["torch"] == "2.13.0" and pins["torchvision"] == "0.28.0"
    assert pins["jupyter-book"].startswith("1.")


def test_the_package_imports_torchvision_only_where_it_uses_it_and_safely():
    # importing optim leaves torchvision alone; the dataset downloaders get it patched for a CPU-only torch
    code = ("import sys, optim, optim.data, optim.training; assert 'torchvision' not in sys.modules; "
            "from optim.torchvision_compat import torchvision_datasets; assert torchvision_datasets().FashionMNIST")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_version_has_one_source_and_the_citation_and_changelog_follow_it():
    import importlib.metadata

    import optim

    assert importlib.metadata.version("optim-book") == optim.__version__  # pyproject reads optim/__init__.py
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject.split("[tool.setuptools.dynamic]")[0]
    assert str(yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"]) == optim.__version__
    assert f"## {optim.__version__}" in (ROOT / "CHANGELOG.md").read_text()
    assert "MIT License" in (ROOT / "LICENSE").read_text() and "CC BY 4.0" in (ROOT / "LICENSE-CONTENT.md").read_text()


def test_every_paper_in_the_bibliography_has_an_identifier():
    entries = re.findall(r"@\w+\{(\w+),(.*?)\n\}", (ROOT / "references.bib").read_text(), re.S)
    assert entries
    missing = [key for key, body in entries if not re.search(r"\b(doi|eprint|url)\s*=", body)]
    assert not missing, f"entries without a DOI, arXiv id or URL: {missing}"


def test_the_workflow_has_a_fast_lane_a_book_lane_caches_a_preview_and_the_plan():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    jobs = workflow["jobs"]
    fast = " ".join(step.get("run", "") for step in jobs["fast"]["steps"])
    assert "lint" in fast and '-m "not book"' in fast
    book = jobs["book"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in book)  # CI's own entry point: the README's test command
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    for lane in ("fast", "book"):
        uses = [step.get("uses", "") for step in jobs[lane]["steps"]]
        assert any(u.startswith("actions/cache") for u in uses)
        assert any(step.get("with", {}).get("cache") == "pip" for step in jobs[lane]["steps"])
    assert any(step.get("uses", "").startswith("actions/upload-artifact") and step.get("if", "").endswith("'pull_request'")
               for step in book)
    assert any("make plan" in step.get("run", "") and "GITHUB_STEP_SUMMARY" in step["run"] for step in book)


def test_the_repository_address_lives_in_config_and_a_fork_relinks_everything_from_there(tmp_path):
    import nbformat

    from optim import publish

    assert publish.link_problems() == []  # this checkout: the install cells and CITATION.cff follow _config.yml
    (tmp_path / "chapters").mkdir()
    config = (ROOT / "_config.yml").read_text().replace("https://github.com/optim-book/optim-book",
                                                       "https://github.com/someone/fork")
    (tmp_path / "_config.yml").write_text(config)
    for name in ("adam.ipynb", "scoreboard.ipynb"):
        (tmp_path / "chapters" / name).write_text((ROOT / "chapters" / name).read_text())
    (tmp_path / "CITATION.cff").write_text((ROOT / "CITATION.cff").read_text())
    problems = publish.link_problems(tmp_path)
    assert len(problems) == 3 and "chapters/adam.ipynb installs from https://github.com/optim-book/optim-book" in problems
    assert len(publish.relink(tmp_path)) == 3
    assert publish.link_problems(tmp_path) == []
    assert publish.relink(tmp_path, ref="v0.2.0") and publish.link_problems(tmp_path) == []  # an edition's tag
    first = next(c for c in nbformat.read(tmp_path / "chapters" / "adam.ipynb", as_version=4).cells
                 if c.cell_type == "code")
    assert first.source == publish.install_cell("https://github.com/someone/fork", "v0.2.0")
    assert "https://github.com/someone/fork" in (tmp_path / "CITATION.cff").read_text()


def test_binder_builds_the_checkout_with_cpu_only_torch_at_the_pinned_versions():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in post_build
    assert "-c constraints.txt" in post_build and '-e ".[book]"' in post_build
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111  # repo2docker runs it
    python = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert python == f"python-{tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['requires-python'][2:]}"


def test_the_committed_manifests_name_chapters_of_the_book():
    from optim import publish

    committed = subprocess.run(["git", "ls-files", "data/results/manifests"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.split()
    assert committed and {Path(p).stem for p in committed} <= set(publish.chapters())  # no test's manifest leaked in


def test_chapters_read_as_prose_small_code_cells_and_no_prose_built_in_code():
    """A chapter's own code (every code cell but the generated install cell) stays small — its
    logic lives in optim, tested — and its prose is markdown with glued numbers, never built
    from f-strings in code."""
    import nbformat

    from optim import publish

    sizes = {}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        own = [source for source in cells if not source.startswith(publish.INSTALL_CELL.splitlines()[0])]
        assert len(own) == len(cells) - 1, f"{path.name}: the install cell should open it, once"
        sizes[path.stem] = sum(1 for source in own for line in source.splitlines() if line.strip())
        assert not any(re.search(r"Markdown\(\s*f[\"']", source) for source in own), path.name
    assert max(sizes.values()) <= 150, sizes
