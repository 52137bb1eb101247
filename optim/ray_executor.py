"""Missing runs as Ray tasks, for sweeps beyond one machine (``OPTIM_EXECUTOR=ray``).

Each run is one task that declares its resources: ``threads_per_run()`` CPUs, and on a
cluster with GPUs a fraction of one GPU sized by the model (:func:`gpu_fraction`), so that
several small runs share a GPU. Tasks return their results to this process (the driver),
which validates and stores them in the run cache as they finish: no shared filesystem is
needed. A task that raises is retried once by Ray; a run that fails again is reported with
its spec after every other result has been stored. Interrupting the driver cancels the
pending tasks; what was stored stays, and the next call computes only what is missing.

Connection: Ray's own convention. ``RAY_ADDRESS`` (or ``ray.init(address=...)`` done by the
caller) names the cluster; with neither, ``ray.init()`` starts a local instance. The
package's code travels to the workers with the job (Ray's ``py_modules``) when the cluster
is remote; datasets are fetched by each node itself from the package's sources, verified by
their pinned checksums and cached on that node's disk — once per node, not once per run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from . import registry
from .spec import RunSpec

INSTALL_HINT = "pip install 'optim-book[cluster]' (pins ray==2.60.0)"


def ray_module():
    """The ``ray`` package, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError(f"OPTIM_EXECUTOR=ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _local(address: str | None) -> bool:
    return not address or address in ("local", "auto") or address.startswith(("127.0.0.1", "localhost"))


def connect() -> None:
    """Connect to the cluster named by ``RAY_ADDRESS`` (or start a local Ray) unless connected."""
    ray = ray_module()
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    runtime_env: dict = {}
    if _local(address):
        from .data import cache_dir

        # same machine: the workers read the driver's dataset cache instead of fetching again
        runtime_env["env_vars"] = {"OPTIM_DATA_DIR": str(cache_dir())}
    else:
        runtime_env["py_modules"] = [str(Path(__file__).resolve().parent)]
    ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, configure_logging=False)


def gpu_fraction(spec: RunSpec) -> float:
    """The share of one GPU a run asks for when the cluster has GPUs: by parameter count,
    a proxy for its memory and compute — ⅛ below 1M parameters, ¼ below 10M, ½ above —
    so small runs of this book share a GPU four to eight at a time."""
    from .data import info
    from .models import build_model

    meta = info(spec.dataset)
    n = sum(p.numel() for p in build_model(spec.model, meta.shape, meta.num_classes,
                                           **dict(spec.model_args)).parameters())
    return 0.125 if n < 1_000_000 else 0.25 if n < 10_000_000 else 0.5


def _task(spec: RunSpec, entry: registry.Entry, threads: int) -> dict:
    """Runs on a Ray worker: train ``spec`` with ``threads`` threads; raises on failure (retried)."""
    import torch

    from .training import train

    registry.adopt(entry)
    torch.set_num_threads(threads)
    return train(spec, progress=False)


def results(specs: list[RunSpec], threads: int) -> Iterator[tuple[int, tuple[dict | None, str | None]]]:
    """(index, (result, error)) for every spec, in the order they finish."""
    ray = ray_module()
    connect()
    from .training import git_commit

    has_gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(_task)
    pending = {}
    for i, spec in enumerate(specs):
        wants_gpu = has_gpus and spec.device in ("auto", "cuda")
        ref = task.options(num_cpus=threads, num_gpus=gpu_fraction(spec) if wants_gpu else 0,
                           max_retries=1, retry_exceptions=True).remote(spec, registry.entry(spec.optimizer), threads)
        pending[ref] = i
    try:
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayTaskError as error:
                cause = error.cause if getattr(error, "cause", None) is not None else error
                yield i, (None, f"{type(cause).__name__}: {str(cause).splitlines()[-1] if str(cause) else ''} "
                                "(failed twice on Ray)")
                continue
            except ray.exceptions.RayError as error:  # a worker or node died twice
                yield i, (None, f"{type(error).__name__}: {str(error).splitlines()[0]}")
                continue
            result["provenance"]["git_commit"] = git_commit()  # the driver's code ran there
            result["provenance"]["executor"] = "ray"
            yield i, (result, None)
    finally:
        for ref in pending:  # an interrupted driver: stop what has not finished
            ray.cancel(ref, force=True)
