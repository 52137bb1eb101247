"""Speed benchmark: optimizer steps, training throughput and the whole book, side by side.

``python -m optim.bench`` (or ``make bench``) measures on the current machine

* **optimizer steps**: every optimizer of the package (its record, :data:`optim.optimizers.RECORDS`)
  against the fastest ``torch.optim`` variant of the same algorithm (default, ``foreach=True``,
  ``fused=True``) where its record names one, else against ``optim.Adam`` (SWATS in its Adam
  phase, ND-Adam), on the same parameters
  (default: 10M float32 values in 100 tensors). Each timing is the median of ``repeats`` rounds after
  ``warmup`` steps, the two sides interleaved in one process, so the ratio compares like
  with like;
* **training throughput**: images per second and seconds per epoch of each model through
  the book's own training loop (:func:`optim.training.train`);
* **the training engine** (CPU): bf16, channels_last and parallel runs against the fp32
  single-run engine and a plain PyTorch loop (:mod:`optim.enginebench`);
* **the whole book** (``--book``): ``python -m optim.book build`` on an empty results folder.

It prints a table and writes ``data/results/bench/<device kind>.json`` atomically; the
book's speed appendix renders the stored files. ``--smoke`` runs tiny sizes (for the tests;
its numbers mean nothing) and writes under ``_build/bench/`` instead, never over the
committed tables.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from .atomic import check_writable, write_json_atomic
from .layout import ROOT
from .optimizers import RECORDS, Adam, Record
from .progress import tqdm

BENCH_DIR = ROOT / "data" / "results" / "bench"
SMOKE_DIR = ROOT / "_build" / "bench"
TARGETS = {"torch": 1.10, "adam": 1.5}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _shapes(numel: int, tensors: int) -> list[tuple[int, int]]:
    """``tensors`` matrix shapes (rows of 100) holding about ``numel`` values."""
    return [(max(1, numel // tensors // 100), 100)] * tensors


def _params(numel: int, tensors: int, device: torch.device, seed: int = 0) -> list[torch.Tensor]:
    """Parameters of :func:`_shapes`, with random values and gradients."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    params = []
    for shape in _shapes(numel, tensors):
        p = torch.randn(shape, generator=g).to(device).requires_grad_(True)
        p.grad = torch.randn(shape, generator=g).to(device)
        params.append(p)
    return params


def _time_steps(makers: dict, numel: int, tensors: int, device: torch.device,
                warmup: int, repeats: int) -> dict[str, list[float]]:
    """Seconds of each round's ``step()`` of each optimizer ``makers[label](params)``.

    Every optimizer gets its own copy of the same parameters and gradients, and the rounds
    are interleaved (one step of each in turn), so slow drifts of the machine hit every
    label alike. A variant the device does not support is left out.
    """
    opts = {}
    for label, make in makers.items():
        try:
            opt = make(_params(numel, tensors, device))
            for _ in range(warmup):
                opt.step()
        except (RuntimeError, ValueError):
            continue
        opts[label] = opt
    _sync(device)
    times: dict[str, list[float]] = {label: [] for label in opts}
    for _ in range(repeats):
        for label, opt in opts.items():
            start = time.perf_counter()
            opt.step()
            _sync(device)
            times[label].append(time.perf_counter() - start)
    return times


def _interquartile(values: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def _torch_variants(cls, **kw):
    variants = {"default": lambda p: cls(p, **kw), "foreach": lambda p: cls(p, foreach=True, **kw)}
    if "fused" in cls.__init__.__code__.co_varnames:
        variants["fused"] = lambda p: cls(p, fused=True, **kw)
    return variants


# What timing an optimizer needs beyond its record: the setting that keeps it in its costly
# phase (SWATS before its switch: Adam plus pᵀp and pᵀg of every tensor's step) and the
# parameter-group options that select its own update (ND-Adam's normalized rows).
BENCH_SETTINGS = {"swats": dict(switch_eps=0.0)}
BENCH_GROUPS = {"ndadam": dict(nd=True)}


def _ours(record: Record, **settings):
    """A maker of ``record``'s optimizer over a list of tensors, for the benchmark."""
    group = BENCH_GROUPS.get(record.name, {})
    settings = BENCH_SETTINGS.get(record.name, {}) | settings
    return lambda p, **kw: record.cls([{"params": p, **group}], **settings, **kw)


def step_cases(records=RECORDS) -> dict[str, tuple]:
    """name: (ours, reference family, reference variants) for every record of the package
    (:data:`optim.optimizers.RECORDS`): timed against every variant of its torch reference
    (default, ``foreach=True``, ``fused=True``) where it has one, else against ``optim.Adam``;
    a reference's own settings (its record's) go to both sides."""
    cases = {}
    for record in records:
        if record.reference is None:
            cases[record.name] = (_ours(record), "adam", {"optim.Adam": lambda p: Adam(p)})
            continue
        make, extra = record.reference
        cls, fixed = (make.func, dict(make.keywords)) if isinstance(make, partial) else (make, {})
        cases[record.name] = (_ours(record, **extra), "torch", _torch_variants(cls, **fixed, **extra))
    return cases


STEP_CASES = step_cases()


def step_benchmark(device: torch.device, numel: int = 10_000_000, tensors: int = 100,
                   warmup: int = 5, repeats: int = 20, names: list[str] | None = None) -> list[dict]:
    """Ratios of our step time to the fastest reference variant, per optimizer.

    ``ratio`` is the ratio of the medians; ``ratio_q1``/``ratio_q3`` are the quartiles of
    the round-by-round ratios (ours over the reference in the same round), which show how
    much the machine's drift moves it.
    """
    rows = []
    cases = {name: STEP_CASES[name] for name in (names or STEP_CASES)}
    for name, (ours, family, variants) in tqdm(cases.items(), desc="optimizer steps", unit="optimizer"):
        rounds = _time_steps({**variants, "ours": ours}, numel, tensors, device, warmup, repeats)
        ours_rounds = rounds.pop("ours")
        medians = {label: statistics.median(ts) for label, ts in rounds.items()}
        best = min(medians, key=medians.get)
        ratio = statistics.median(ours_rounds) / medians[best]
        q1, q3 = _interquartile([a / b for a, b in zip(ours_rounds, rounds[best])])
        rows.append(dict(optimizer=name, ours_ms=1e3 * statistics.median(ours_rounds),
                         reference=f"torch.{best}" if family == "torch" else best,
                         reference_ms=1e3 * medians[best], ratio=ratio, ratio_q1=q1, ratio_q3=q3,
                         target=TARGETS[family], met=ratio <= TARGETS[family]))
    return rows


# our single-tensor against our multi-tensor path, for every record that has both
PATH_CASES = {r.name: _ours(r) for r in RECORDS if {"single", "multi"} <= set(r.paths)}


def path_benchmark(device: torch.device, numel: int = 10_000_000, tensors: int = 100,
                   warmup: int = 5, repeats: int = 20) -> list[dict]:
    """Our single-tensor against our multi-tensor path, and which one ``foreach=None`` takes."""
    rows = []
    for name, make in tqdm(PATH_CASES.items(), desc="single vs multi-tensor", unit="optimizer"):
        rounds = _time_steps({"single": lambda p, m=make: m(p, foreach=False),
                              "foreach": lambda p, m=make: m(p, foreach=True)},
                             numel, tensors, device, warmup, repeats)
        timed = {label: statistics.median(ts) for label, ts in rounds.items()}
        rows.append(dict(optimizer=name, single_ms=1e3 * timed["single"], foreach_ms=1e3 * timed["foreach"],
                         foreach_over_single=timed["foreach"] / timed["single"],
                         default=default_path(make, numel, tensors, device)))
    return rows


def default_path(make, numel: int, tensors: int, device: torch.device) -> str:
    """The path ``foreach=None`` takes for ``tensors`` parameters holding ``numel`` values."""
    params = [torch.ones(s, device=device, requires_grad=True) for s in _shapes(numel, tensors)]
    opt = make(params)
    return {"multi": "foreach"}.get(path := opt.kernel_path(opt.param_groups[0]), path)


def throughput(device: torch.device, models: dict[str, tuple[str, dict]], n_train: int, epochs: int = 2) -> list[dict]:
    """Images/s and seconds per training epoch of the book's training loop, per model.

    The time is the last epoch's training loop alone (forward, backward, step, on-device
    augmentation), after a warm-up epoch; the test-set evaluation after it is not counted.
    """
    from .spec import RunSpec
    from .training import train

    rows = []
    for model, (dataset, args) in tqdm(models.items(), desc="training throughput", unit="model"):
        spec = RunSpec(model, dataset, "adam", dict(lr=1e-3), epochs=epochs, n_train=n_train, n_test=n_train,
                       model_args=args, device=device.type, precision="bf16" if device.type == "cuda" else "fp32")
        epoch_s = train(spec)["epochs"][-1]["train_time"]  # the last epoch: warmed up, no evaluation
        rows.append(dict(model=model, dataset=dataset, n_train=n_train, epoch_s=epoch_s,
                         images_per_s=n_train / epoch_s))
    return rows


def book_time() -> dict:
    """Wall times of ``python -m optim.book build``: from an empty results folder, then again
    from the results that first build stored (the re-render a reader of stored results pays)."""

    def build(results: str) -> float:
        env = dict(os.environ, OPTIM_RESULTS_DIR=results)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "optim.book", "build"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the book build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as empty:
        seconds = build(empty)
        rerender = build(empty)
    return dict(seconds=seconds, target_s=8 * 60, met=seconds <= 8 * 60,
                rerender_s=rerender, rerender_target_s=2 * 60, rerender_met=rerender <= 2 * 60)


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def write(result: dict, path: Path) -> Path:
    return write_json_atomic(path, result)


def table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    lines += [" | ".join(cell(r[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m optim.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--numel", type=int, default=10_000_000, help="values in the benchmarked parameters")
    parser.add_argument("--tensors", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--optimizers", nargs="+", default=None, metavar="NAME",
                        help=f"step benchmark only these (default all: {', '.join(STEP_CASES)})")
    parser.add_argument("--book", action="store_true", help="also time the whole book build (minutes)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--out", type=Path, default=None, help="result file (default data/results/bench/<kind>.json)")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error(f"--repeats={args.repeats} is too small: need at least 2 rounds for the ratios' quartiles")
    if args.numel < args.tensors * 100 or args.tensors < 1:
        parser.error(f"--numel={args.numel} is too small for --tensors={args.tensors}: need numel >= 100 * tensors")
    unknown = [n for n in args.optimizers or [] if n not in STEP_CASES]
    if unknown:
        parser.error(f"--optimizers {unknown[0]!r} is invalid: choose from {', '.join(STEP_CASES)}")
    from .training import resolve_device

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    out = (args.out or (SMOKE_DIR if args.smoke else BENCH_DIR) / f"{device.type}.json").resolve()
    if args.smoke and out.parent == BENCH_DIR.resolve():
        parser.error(f"--out={str(args.out)!r} is invalid with --smoke: smoke numbers never go into "
                     f"the committed {BENCH_DIR.relative_to(ROOT)}")
    if out.is_dir():
        parser.error(f"--out={str(args.out)!r} is invalid: it is a folder, expected a file path")
    try:
        check_writable(out.parent, "--out's folder")
    except ValueError as error:
        parser.error(str(error))
    if args.smoke:
        args.numel, args.tensors, args.repeats = 20_000, 10, 3
    models = ({"logreg": ("digits", {})} if args.smoke else
              {"logreg": ("mnist", {}), "mlp": ("mnist", {}), "cnn": ("mnist", {}), "cifarnet": ("fashion-mnist", {}),
               "wrn": ("fashion-mnist", dict(depth=10, widen=1))})
    n_train = 200 if args.smoke else (2000 if device.type == "cpu" else 20000)
    result = {"hardware": hardware(device), "device": device.type, "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d"), "smoke": args.smoke,
              "steps": {"numel": args.numel, "tensors": args.tensors, "repeats": args.repeats,
                        "rows": step_benchmark(device, args.numel, args.tensors, 2 if args.smoke else 5, args.repeats,
                                               args.optimizers)},
              "paths": path_benchmark(device, args.numel, args.tensors, 2 if args.smoke else 5, args.repeats),
              "throughput": throughput(device, models, n_train)}
    if device.type == "cpu":
        from .enginebench import engine_benchmark

        result["engine"] = (engine_benchmark({"logreg": "digits"}, 128, 64, 1) if args.smoke else
                            engine_benchmark({"cnn": "mnist", "resnet20": "mnist", "mlp": "mnist"}, 8000, 2000, 2))
    if args.book:
        result["book"] = book_time()
    path = write(result, out)
    print(f"hardware: {result['hardware']} (torch {result['torch']})")
    print(f"\noptimizer step, {args.numel:,} float32 values in {args.tensors} tensors (median of {args.repeats}):")
    print(table(result["steps"]["rows"], ["optimizer", "ours_ms", "reference", "reference_ms", "ratio",
                                          "ratio_q1", "ratio_q3", "target", "met"]))
    print("\nsingle-tensor vs multi-tensor path of our optimizers (same sizes):")
    print(table(result["paths"], ["optimizer", "single_ms", "foreach_ms", "foreach_over_single", "default"]))
    print("\ntraining throughput (book training loop, Adam):")
    print(table(result["throughput"], ["model", "dataset", "n_train", "epoch_s", "images_per_s"]))
    if "engine" in result:
        engine = result["engine"]
        print(f"\ntraining engine, full loop with evaluation ({engine['n_train']} images, {engine['epochs']} epochs; "
              f"bf16 matmul peak {engine['matmul_peak_gflops']['bf16']:.0f} GFLOP/s):")
        print(table(engine["rows"], ["model", "precision", "runs_at_once", "baseline_img_s", "plain_img_s",
                                     "engine_img_s", "engine_over_baseline", "engine_over_plain", "target", "met",
                                     "share_of_bf16_peak"]))
    if "book" in result:
        book = result["book"]
        print(f"\nwhole book, quick profile, empty cache: {book['seconds']:.0f} s (target 480 s); "
              f"re-render from stored results: {book['rerender_s']:.0f} s (target 120 s)")
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
