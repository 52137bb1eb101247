"""The build's mode and the results folder, read from the environment in this one module.

A chapter's kernel is a separate process started by :mod:`optim.publish`; what it must do is
passed to it in these variables, which :func:`kernel_environment` sets and the functions
below read and validate (a bad value is a one-line error naming it and the valid ones):

``OPTIM_RESULTS_DIR``  where stored runs live (default ``data/results`` in the checkout); an
                       absolute path, so the book command and the chapter kernels it starts
                       (in ``chapters/``) mean the same folder.
``OPTIM_RENDER_ONLY``  train nothing: a missing result is an error, a stale one is shown as such.
``OPTIM_PLAN_FILE``    train nothing: record every requested run and its status in this file.
``OPTIM_REQUEST_LOG``  append the key of every requested run to this file (a chapter's manifest).
``OPTIM_PROGRESS``     show each batch of runs' progress bar even off a terminal.

The dataset settings (``OPTIM_DATA_DIR``, ``OPTIM_DEBIAN_DATASETS``, read by :mod:`optim.data`)
reach the kernels made absolute too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .layout import ROOT

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def results_root() -> Path:
    """The results folder: ``$OPTIM_RESULTS_DIR`` (absolute) or ``data/results`` in the checkout."""
    setting = os.environ.get("OPTIM_RESULTS_DIR")
    if setting is None:
        return ROOT / "data" / "results"
    default = f"leave it unset for {ROOT / 'data' / 'results'}"
    if not setting.strip():
        raise ValueError(f"OPTIM_RESULTS_DIR='' is invalid: expected an absolute folder path, or {default}")
    path = Path(setting).expanduser()
    if not path.is_absolute():
        raise ValueError(f"OPTIM_RESULTS_DIR={setting!r} is invalid: expected an absolute folder path (a relative one "
                         f"means another folder to the chapter kernels, which run in chapters/), or {default}")
    if path.exists() and not path.is_dir():
        raise ValueError(f"OPTIM_RESULTS_DIR={setting!r} is invalid: it is a file, expected a folder")
    return path


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{name}={os.environ[name]!r} is invalid: expected one of {', '.join(TRUE)} (on) "
                     f"or {', '.join(repr(v) for v in FALSE)} (off)")


def _file(name: str) -> Path | None:
    value = os.environ.get(name)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{name}={value!r} is invalid: expected an absolute file path")
    return path


def render_only() -> bool:
    """Whether this process must not train (``OPTIM_RENDER_ONLY``)."""
    return _flag("OPTIM_RENDER_ONLY")


def plan_file() -> Path | None:
    """The plan-only record file (``OPTIM_PLAN_FILE``), or None when runs really train."""
    return _file("OPTIM_PLAN_FILE")


def request_log() -> Path | None:
    """The file that collects the keys of requested runs (``OPTIM_REQUEST_LOG``), or None."""
    return _file("OPTIM_REQUEST_LOG")


def progress() -> bool | None:
    """True when progress bars were asked for off a terminal (``OPTIM_PROGRESS``); None: the default."""
    return True if _flag("OPTIM_PROGRESS") else None


def _absolute_data_settings() -> dict[str, str]:
    """The dataset settings a kernel must share with this process, made absolute: a relative
    ``OPTIM_DATA_DIR`` or ``OPTIM_DEBIAN_DATASETS`` means this process's working folder, while
    a chapter's kernel runs in ``chapters/``."""
    from .data import cache_dir

    out = {}
    if os.environ.get("OPTIM_DATA_DIR") is not None:
        out["OPTIM_DATA_DIR"] = str(cache_dir().resolve())  # validated there (an empty value, a file)
    if os.environ.get("OPTIM_DEBIAN_DATASETS"):
        out["OPTIM_DEBIAN_DATASETS"] = str(Path(os.environ["OPTIM_DEBIAN_DATASETS"]).expanduser().resolve())
    return out


@contextlib.contextmanager
def kernel_environment(*, render_only: bool = False, plan_file: Path | None = None,
                       request_log: Path | None = None, progress: bool = False) -> Iterator[None]:
    """Set the mode for the chapter kernels started inside (their environment is this
    process's), with the results folder made absolute; restore everything afterwards."""
    values = {"OPTIM_RESULTS_DIR": str(results_root()), **_absolute_data_settings(),
              "OPTIM_RENDER_ONLY": "1" if render_only else None,
              "OPTIM_PLAN_FILE": str(plan_file) if plan_file else None,
              "OPTIM_REQUEST_LOG": str(request_log) if request_log else None,
              "OPTIM_PROGRESS": "1" if progress else None}
    before = {k: os.environ.get(k) for k in values}

    def apply(settings: dict[str, str | None]) -> None:
        for k, v in settings.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    try:
        apply(values)
        yield
    finally:
        apply(before)
