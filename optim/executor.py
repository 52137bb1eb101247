"""Where missing runs are trained: in parallel worker processes on the CPU, in-process on a GPU.

On a CPU the runs of one ``run_many`` call go to a pool of worker processes (loky: workers are
reused from call to call, so a chapter pays their start-up once; callables defined in a
notebook or ``__main__`` travel by value, so an optimizer registered in a notebook cell
trains in the workers too). Each run uses ``threads_per_run()`` threads — fixed, not
derived from how many runs happen to be missing, so a spec gives the same numbers whether it
trains alone or beside others — and ``workers()`` runs go at once so the total does not
oversubscribe the cores. On CUDA the runs go one after another in this process.

A run that fails fails alone: an exception is reported with its spec after the other runs
are stored (:class:`RunFailed`), and a worker process that dies — the out-of-memory killer's
SIGKILL — costs its own run only (see :func:`_results`).

``OPTIM_THREADS_PER_RUN`` (default 1) and ``OPTIM_WORKERS`` (default: cores // threads)
override the choice. ``OPTIM_EXECUTOR=ray`` sends the runs to a Ray cluster instead
(:mod:`optim.ray_executor`); ``local`` (the default) is what is described above.
"""

from __future__ import annotations

import os
import platform
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from . import registry
from .spec import RunSpec


class RunFailed(RuntimeError):
    """Some runs raised; every other result was stored. ``failures``: (spec, error) pairs."""

    def __init__(self, failures: list[tuple[RunSpec, str]]):
        self.failures = failures
        spec, error = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        super().__init__(f"{len(failures)} run(s) failed{more}; first: {spec!r}: {error}")


def _positive_int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r} is invalid: expected a positive integer")
    return int(value)


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model(cpuinfo: str | None = None) -> str:
    """This machine's CPU model as the kernel names it (``/proc/cpuinfo``), else the platform's name.

    A name without a model number — a hypervisor may report only "AMD EPYC" for processors
    several generations apart — gets the CPU family and model numbers: "AMD EPYC (family 26,
    model 2)". ``cpuinfo``: that file's text (for tests)."""
    try:
        text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine()
    if not any(ch.isdigit() for ch in name) and fields.get("cpu family") and fields.get("model"):
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


EXECUTORS = ("local", "ray")


def executor_name() -> str:
    """The executor ``OPTIM_EXECUTOR`` names (default ``local``); a one-line error otherwise."""
    name = os.environ.get("OPTIM_EXECUTOR") or "local"
    if name not in EXECUTORS:
        raise ValueError(f"OPTIM_EXECUTOR={name!r} is invalid: expected one of {', '.join(EXECUTORS)}")
    if name == "ray":
        from .ray_executor import ray_module

        ray_module()  # not installed: say how to install it, before any work
    return name


def threads_per_run() -> int:
    return _positive_int_env("OPTIM_THREADS_PER_RUN", 1)


def max_workers() -> int:
    """How many runs this machine trains at once: as many as the cores hold at ``threads_per_run`` each."""
    return max(1, _positive_int_env("OPTIM_WORKERS", max(1, cores() // threads_per_run())))


def workers(missing: int) -> int:
    """How many of ``missing`` runs train at once."""
    return max(1, min(missing, max_workers()))


@contextmanager
def torch_threads(n: int):
    """Run the body with ``n`` torch threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_guarded(spec: RunSpec, threads: int) -> tuple[dict | None, str | None]:
    from .training import train

    with torch_threads(threads):
        try:
            return train(spec, progress=False), None
        except Exception as error:  # reported with its spec; the other runs go on
            last = traceback.extract_tb(error.__traceback__)[-1]
            return None, f"{type(error).__name__}: {error} ({os.path.basename(last.filename)}:{last.lineno})"


def _train_in_worker(spec: RunSpec, entry: registry.Entry, threads: int) -> tuple[dict | None, str | None]:
    registry.adopt(entry)  # an optimizer registered in the parent (a notebook cell) exists here too
    return _train_guarded(spec, threads)


def execute(specs: list[RunSpec], on_result: Callable[[int, dict], None], progress: bool | None = None) -> None:
    """Train ``specs``, calling ``on_result(i, result)`` in this process as each one finishes
    (so it is stored at once); raise :class:`RunFailed` at the end if any run raised."""
    from .progress import tqdm

    failures: list[tuple[RunSpec, str]] = []
    threads = threads_per_run()
    if executor_name() == "ray":
        from .ray_executor import results as ray_results

        finished = ray_results(specs, threads)
    else:
        parallel = len(specs) > 1 and workers(len(specs)) > 1 and \
            all(spec.device == "cpu" or (spec.device == "auto" and not torch.cuda.is_available()) for spec in specs)
        finished = _results(specs, threads, parallel)
    if progress is None:
        from . import mode

        progress = mode.progress()  # set by `optim.book run`
    bar = tqdm(total=len(specs), desc="runs", unit="run", disable=None if progress is None else not progress)
    try:
        for i, (result, error) in finished:
            if error is not None:
                failures.append((specs[i], error))
                bar.write(f"run failed: {specs[i]!r}: {error}")
            else:
                on_result(i, result)
            bar.update(1)
    finally:
        bar.close()
    if failures:
        raise RunFailed(failures)


def _results(specs: list[RunSpec], threads: int, parallel: bool) -> Iterator[tuple[int, tuple]]:
    """(index, (result, error)) of every spec, as each finishes: in this process, or in a pool
    of worker processes. A worker that dies (killed by the out-of-memory killer, a crash in
    native code) takes down the pool, and loky stops every run in it; the runs already
    finished have been yielded (so stored), the ones not started go on in a new pool, and each
    run that was in progress is tried once more alone — a second death alone is that run's
    failure, named with its cause; the runs beside it finish."""
    if not parallel:
        for i, spec in enumerate(specs):
            yield i, _train_guarded(spec, threads)
        return
    entries = {spec.optimizer: registry.entry(spec.optimizer) for spec in specs}
    with tempfile.TemporaryDirectory(prefix="optim-started-") as marks:
        todo = list(range(len(specs)))
        while todo:
            death = yield from _pool_round(specs, todo, workers(len(todo)), threads, entries, Path(marks))
            if death is None:
                return
            cause, in_progress, todo = death
            for i in in_progress:
                again = yield from _pool_round(specs, [i], 1, threads, entries, Path(marks))
                if again is not None:
                    yield i, (None, f"its worker process died twice, beside other runs and then alone ({again[0]}); "
                                    "the out-of-memory killer sends SIGKILL: give it more memory, or train fewer "
                                    "runs at once (OPTIM_WORKERS)")


def _pool_round(specs: list[RunSpec], indices: list[int], n: int, threads: int, entries: dict,
                marks: Path) -> Iterator[tuple[int, tuple]]:
    """Train ``indices`` in a pool of ``n`` workers, yielding each outcome as it arrives; return
    None, or after a worker died: (its cause, the runs in progress then, the runs not started)."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    from joblib.executor import get_memmapping_executor

    env = {var: str(threads) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    # joblib's flavour of loky's reusable pool: the one joblib.Parallel (the planner) shares
    pool = get_memmapping_executor(n, timeout=300, env=env)
    futures = {pool.submit(_indexed, i, specs[i], entries[specs[i].optimizer], threads, marks): i for i in indices}
    finished, cause = set(), None
    for future in as_completed(futures):
        try:
            i, outcome = future.result()
        except BrokenProcessPool as error:  # loky's TerminatedWorkerError: the pool is gone
            cause = cause or _death_cause(error)
            continue
        finished.add(i)
        yield i, outcome
    if cause is None:
        return None
    left = [i for i in indices if i not in finished]
    started = [i for i in left if (marks / str(i)).exists()]
    return cause, started, [i for i in left if i not in started]


def _death_cause(error: BaseException) -> str:
    """How loky says a worker ended: 'exit code SIGKILL(-9)', say."""
    import re

    codes = re.search(r"exit codes of the workers are \{([^}]*)\}", str(error))
    return f"exit code {codes.group(1)}" if codes else f"{type(error).__name__}: {error}".split("\n")[0]


def _indexed(i: int, spec: RunSpec, entry: registry.Entry, threads: int, marks: Path) -> tuple[int, tuple]:
    (marks / str(i)).touch()  # in progress: a worker death now may be this run's doing
    return i, _train_in_worker(spec, entry, threads)
