"""The code's fingerprint: which source a stored result depends on, so a result is checked again
(by its canary, :mod:`optim.canary`) only when that source changes.

The rule. A training run's fingerprint is the sha256 of the source files of

* the training loop and everything it imports inside the package (found by following
  ``training.py``'s relative imports, at any depth of its code — not a hand-kept list),
  except other optimizers' and models' own files;
* the run's model's file and what it imports;
* the run's optimizer's file and what it imports (for an optimizer defined outside the
  package — a notebook cell, ``python -c`` — its qualified name instead, so its runs are not
  invalidated by edits elsewhere).

A dataset's decoder (:mod:`optim.imdb`, imported by name) is not part of it: a dataset is
identified by the checksum of its decoded arrays, which every load checks and every result
records (``provenance.dataset_sha256``).

What counts is each file's *code*: its tokens without comments, docstrings and layout
(:func:`_code`), so editing prose changes no fingerprint. Editing a chapter, the plots, the
analysis, the runner or this module changes none either. A stored computation that is not a
training run (``optim.runner.computed``) depends on the code of :data:`COMPUTED_CODE` instead
(read the same way).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import tokenize
from functools import cache, lru_cache
from pathlib import Path

from . import registry
from .models import model_source_file
from .spec import RunSpec

PACKAGE = Path(__file__).resolve().parent


@cache
def _imports_of(path: Path) -> tuple[Path, ...]:
    """The package files ``path`` imports (relative imports, at any depth of the code)."""
    tree = ast.parse(path.read_text())
    here = path.parent
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = here
        for _ in range(node.level - 1):
            base = base.parent
        parts = node.module.split(".") if node.module else []
        target = base.joinpath(*parts)
        candidates = [target.with_suffix(".py"), target / "__init__.py"]
        if node.module is None or (target / "__init__.py").exists():  # "from . import x" / "from .pkg import x"
            candidates += [target / f"{alias.name}.py" for alias in node.names]
        found += [c for c in candidates if c.exists()]
    return tuple(sorted(set(found)))


def _closure(start: Path, keep=lambda path: True) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen or not keep(path):
            continue
        seen.add(path)
        todo += _imports_of(path)
    return seen


def _shared(path: Path) -> bool:
    """Files every run executes; each optimizer's and model's own files are added per spec."""
    rel = path.relative_to(PACKAGE).as_posix()
    return not (rel.startswith(("optimizers/", "models/")) and rel not in ("optimizers/base.py",))


@cache
def _shared_files() -> frozenset[Path]:
    return frozenset(p for p in _closure(PACKAGE / "training.py", _shared) if _shared(p))


def _optimizer_file(name: str) -> Path | str:
    """The file defining optimizer ``name``; for one defined without a file (a notebook
    cell, ``python -c``) its qualified name, so its runs are not invalidated by edits."""
    found = registry.entry(name)
    defining = found.cls if found.cls is not None and found.cls.__module__.startswith("optim.") else found.factory
    try:
        return Path(inspect.getsourcefile(defining))
    except (OSError, TypeError):
        return f"{getattr(defining, '__module__', '?')}.{getattr(defining, '__qualname__', name)}"


@lru_cache(maxsize=256)
def _source(path: Path, mtime_ns: int, size: int) -> bytes:
    """One source file's bytes, read once per version of it (path, mtime, size)."""
    return path.read_bytes()


def _docstring_spans(tree: ast.AST) -> set[tuple[int, int]]:
    """Where each docstring of a module, class or function starts (line, column)."""
    spans = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                spans.add((first.lineno, first.col_offset))
    return spans


@lru_cache(maxsize=256)
def _code(path: Path, mtime_ns: int, size: int) -> bytes:
    """One source file's code: its tokens without comments, docstrings or layout (blank lines,
    spacing, line continuations), with the indentation that gives Python its structure — so
    editing prose leaves the fingerprint alone and any change to what runs does not."""
    text = _source(path, mtime_ns, size).decode()
    docstrings = _docstring_spans(ast.parse(text))
    kept = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
            continue
        if token.type == tokenize.STRING and token.start in docstrings:
            continue
        kept.append({tokenize.NEWLINE: "\n", tokenize.INDENT: "<indent>", tokenize.DEDENT: "<dedent>"}.get(
            token.type, token.string))
    return " ".join(kept).encode()


def fingerprint(spec: RunSpec) -> str:
    """sha256 of the source files ``spec``'s result depends on (see the module docstring)."""
    files = set(_shared_files()) | _closure(model_source_file(spec.model))
    optimizer = _optimizer_file(spec.optimizer)
    h = hashlib.sha256()
    if isinstance(optimizer, Path):
        files |= _closure(optimizer) if optimizer.is_relative_to(PACKAGE) else {optimizer}
    else:
        h.update(optimizer.encode())
    for path in sorted(files):
        stat = path.stat()
        h.update(path.name.encode())
        h.update(_code(path, stat.st_mtime_ns, stat.st_size))
    return h.hexdigest()[:16]


COMPUTED_CODE = ("problems", "optimizers", "registry.py", "schedules.py")


def computation_fingerprint() -> str:
    """The source of the code a stored computation may call: the test problems, the
    optimizers, the registry and the schedules."""
    digest = hashlib.sha256()
    for part in COMPUTED_CODE:
        path = PACKAGE / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            stat = file.stat()
            digest.update(file.relative_to(PACKAGE).as_posix().encode() + _code(file, stat.st_mtime_ns, stat.st_size))
    return digest.hexdigest()[:16]
