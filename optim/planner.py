"""The cost planner: what a chapter's runs cost on this machine, before training any of them.

``python -m optim.book plan [CHAPTER ...] --profile full`` (``make plan``) executes each
chapter in plan-only mode (:mod:`optim.runner`'s ``OPTIM_PLAN_FILE``: every ``run_many`` call
records its specs and their status — stored, missing, stale — and gets placeholder results,
so the whole notebook runs in seconds), then estimates the time of the missing and stale runs
from a short measured throughput per model configuration (:func:`throughput`), measured with
as many concurrent workers as :mod:`optim.executor` would use, so the estimate includes what
the workers cost each other. Measurements are kept per machine in
``data/results/plan/throughput.json``; a GPU's, if one was ever measured there, gives a
second estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from .data import TOKEN_STREAMS, info
from .layout import ROOT
from .sidefile import mapping_of, number_record, read_table, update_table
from .spec import RunSpec

THROUGHPUT_FILE = ROOT / "data" / "results" / "plan" / "throughput.json"
EVAL_BATCH = 2000
USABLE = ("stored", "unverified")  # statuses of runs the planner does not recompute


def machine() -> str:
    """This machine as the planner names it: CPU model, usable cores, torch version."""
    from .executor import cores, cpu_model

    return f"CPU {cpu_model()}, {cores()} cores, torch {torch.__version__.split('+')[0]}"


def config_key(spec: RunSpec) -> str:
    """What throughput depends on: model and its options, input shape, classes, batch size,
    precision, memory layout."""
    meta = info(spec.dataset)
    args = ",".join(f"{k}={v}" for k, v in spec.model_args)
    bptt = f" t{spec.bptt}" if spec.dataset in TOKEN_STREAMS else ""
    return (f"{spec.model}({args}) {'x'.join(map(str, meta.shape))} c{meta.num_classes} "
            f"b{spec.batch_size}{bptt} {spec.precision} {spec.memory_format}")


def _measure_language_model(spec: RunSpec, train_steps: int) -> dict[str, float]:
    """Tokens/s of training segments (Adam) and of evaluation, on random tokens, one process."""
    from torch import nn

    from .language import EVAL_STREAMS
    from .models import build_model

    meta = info(spec.dataset)
    model = build_model(spec.model, meta.shape, meta.num_classes, **dict(spec.model_args))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    amp = spec.precision == "bf16"
    x, y = (torch.randint(0, meta.num_classes, (spec.bptt, spec.batch_size)) for _ in range(2))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    train_rate = _rate(step, train_steps, 1.0) * x.numel()
    xe = torch.randint(0, meta.num_classes, (spec.bptt, EVAL_STREAMS))
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        eval_rate = _rate(lambda: model(xe), 2, 0.5) * xe.numel()
    return {"train_images_per_s": train_rate, "eval_images_per_s": eval_rate}


def _rate(call, at_least: int, seconds: float) -> float:
    """Calls per second of ``call``, after a warm-up, over ``at_least`` calls and ``seconds``."""
    for _ in range(2):
        call()
    start, done = time.perf_counter(), 0
    while done < at_least or time.perf_counter() - start < seconds:
        call()
        done += 1
    return done / (time.perf_counter() - start)


def _measure_one(spec: RunSpec, threads: int, train_steps: int = 12) -> dict[str, float]:
    """Images/s of training steps (Adam) and of evaluation, on random images, one process (a
    language model: tokens/s, on random tokens)."""
    from .bf16 import bf16_arithmetic
    from .models import LANGUAGE_MODELS, build_model
    from .training import batch_loss

    torch.set_num_threads(threads)
    if spec.model in LANGUAGE_MODELS:
        return _measure_language_model(spec, train_steps)
    meta = info(spec.dataset)
    model = build_model(spec.model, meta.shape, meta.num_classes, **dict(spec.model_args))
    channels_last = spec.memory_format == "channels_last"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    amp = spec.precision == "bf16"

    def batch(n):
        x = torch.rand(n, *meta.shape)  # in [0, 1], valid for every model's inputs
        return (x.contiguous(memory_format=torch.channels_last) if channels_last else x,
                torch.randint(0, meta.num_classes, (n,)))

    x, y = batch(spec.batch_size)

    def step():
        _, loss = batch_loss(model, x, y, amp, training=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with bf16_arithmetic(torch.device("cpu"), amp):  # as training does (optim.bf16)
        train_rate = _rate(step, train_steps, 1.0) * spec.batch_size
        xe, _ = batch(min(EVAL_BATCH, 512))
        model.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            eval_rate = _rate(lambda: model(xe), 2, 0.5) * len(xe)
    return {"train_images_per_s": train_rate, "eval_images_per_s": eval_rate}


def throughput(spec: RunSpec, refresh: bool = False) -> dict[str, float]:
    """Measured (or stored) images/s of ``spec``'s configuration on this machine, with the
    executor's thread count per run and its number of workers busy at once."""
    from .executor import max_workers, threads_per_run

    here = _read().get(machine(), {})
    key = config_key(spec)
    if key in here and not refresh:
        return here[key]
    n = max_workers()
    probe = spec.replace(device="cpu")
    if n > 1:
        from joblib import Parallel, delayed

        rates = Parallel(n_jobs=n, backend="loky")(delayed(_measure_one)(probe, threads_per_run()) for _ in range(n))
    else:
        rates = [_measure_one(probe, threads_per_run())]
    measured = {k: sum(r[k] for r in rates) / len(rates) for k in rates[0]} | {"workers": n}
    update_table(THROUGHPUT_FILE, "throughput table", TABLE, _fix(),
                 lambda table: table.setdefault(machine(), {}).__setitem__(key, measured), keep_ours=True)
    return measured


TABLE = mapping_of(mapping_of(number_record, "measured rates"), "machines' measurements")


def _fix() -> str:
    return (f"restore it from git (git checkout -- {THROUGHPUT_FILE}), or delete it: the planner measures "
            "this machine again (other machines' measurements are then gone)")


def _read() -> dict:
    """Every machine's measurements (``{machine: {configuration: rates}}``); a conflicted file
    merged (where both sides measured one configuration on one machine, ours is kept)."""
    return read_table(THROUGHPUT_FILE, "throughput table", TABLE, _fix(), keep_ours=True) or {}


def run_seconds(spec: RunSpec, rates: dict[str, float]) -> float:
    """Estimated seconds of one run: its training images and its evaluations at ``rates`` (a
    language model: its training tokens, and its validation and test tokens at each evaluation)."""
    from .models import LANGUAGE_MODELS

    meta = info(spec.dataset)
    if spec.model in LANGUAGE_MODELS:
        evaluations = sum(spec.evaluated(epoch) for epoch in range(1, spec.epochs + 1)) + spec.initial_evaluation
        held = 2 * (spec.n_test or meta.test_size)  # validation and test, about the same size
        return (spec.epochs * (spec.n_train or meta.train_size) / rates["train_images_per_s"]
                + evaluations * held / rates["eval_images_per_s"])
    n_train = spec.n_train or meta.train_size
    n_val = round(n_train * spec.validation)
    n_fit = n_train - n_val
    steps = math.ceil(n_fit / spec.batch_size) * spec.epochs
    evaluations = sum(spec.evaluated(epoch) for epoch in range(1, spec.epochs + 1)) + spec.initial_evaluation
    evaluated = evaluations * ((spec.n_test or meta.test_size) + n_val)
    return steps * spec.batch_size / rates["train_images_per_s"] + evaluated / rates["eval_images_per_s"]


@dataclass
class ChapterPlan:
    chapter: str
    profile: str
    specs: list[RunSpec]
    status: list[str]
    errors: int = 0  # cells that raised in plan mode (on placeholder numbers, typically)
    errors_after_runs: bool = False  # every cell that raised came after the last cell that asked for runs
    edges: list[str] = field(default_factory=list)  # tuning choices on a grid's edge (optim.tuning)

    def count(self, status: str) -> int:
        return sum(s == status for s in self.status)

    def usable(self) -> int:
        """Runs stored and not to be recomputed: checked ones and those only another CPU can check."""
        return sum(s in USABLE for s in self.status)

    def todo(self) -> list[RunSpec]:
        return [spec for spec, s in zip(self.specs, self.status) if s not in USABLE]

    def estimate_hours(self, measure: bool = True, only=None) -> float | None:
        """Wall-clock hours of the missing and stale runs with the executor's workers
        (of those ``only(spec)`` keeps, if given)."""
        from .executor import workers

        todo = [spec for spec in self.todo() if only is None or only(spec)]
        if not todo:
            return 0.0
        if any(map(_untrainable, todo)):
            return None  # not measurable here: emulated_bf16_note says why
        table = _read().get(machine(), {})
        configs = {config_key(spec): spec for spec in todo}  # one measurement per configuration
        rates = {key: throughput(spec) if measure else table.get(key) for key, spec in configs.items()}
        if any(r is None for r in rates.values()):
            return None
        return sum(run_seconds(spec, rates[config_key(spec)]) for spec in todo) / workers(len(todo)) / 3600

    def gpu_estimate_hours(self) -> float | None:
        """Hours on a GPU measured earlier on some machine (runs one at a time), if any."""
        table = _read()
        gpus = [name for name in table if name.startswith("GPU")]
        if not self.todo():
            return 0.0
        if not gpus:
            return None
        rates = table[gpus[0]]
        try:
            return sum(run_seconds(s, rates[config_key(s)]) for s in self.todo()) / 3600
        except KeyError:
            return None


def render(plans: list[ChapterPlan]) -> str:
    """The planner's table (Markdown)."""
    lines = [f"machine: {machine()}", "",
             "| chapter | profile | runs | stored | missing | stale | estimate here (h) | estimate on a GPU (h) |",
             "|---|---|---|---|---|---|---|---|"]
    total = 0.0
    for p in plans:
        here = p.estimate_hours()
        gpu = p.gpu_estimate_hours()
        total += here or 0.0
        note = "" if not p.errors else (
            f" ({p.errors} cell errors in plan mode, all in cells after the last one that asked for runs)"
            if p.errors_after_runs else f" ({p.errors} cell errors in plan mode: the plan may be incomplete)")
        lines.append(f"| {p.chapter}{note} | {p.profile} | {len(p.specs)} | {p.usable()} | {p.count('missing')} | "
                     f"{p.count('stale')} | {'?' if here is None else f'{here:.2f}'} | "
                     f"{'—' if gpu is None else f'{gpu:.2f}'} |")
    lines.append(f"| **all** | | {sum(len(p.specs) for p in plans)} | {sum(p.usable() for p in plans)} | "
                 f"{sum(p.count('missing') for p in plans)} | {sum(p.count('stale') for p in plans)} | "
                 f"**{total:.2f}** | |")
    edges = [f"- {p.chapter}: {e}" for p in plans for e in p.edges]
    if edges:
        lines += ["", "Tuning choices on the edge of their grid (a wider grid may choose otherwise; `optim.tuning` "
                      "widens it while its selection runs are stored):"] + edges
    return "\n".join(lines + emulated_bf16_note(plans, total))


def _emulated(spec: RunSpec) -> bool:
    """A bf16 run on a device without bf16 in hardware (the test ``book.convnet_engine`` uses)."""
    from .training import native_bf16, resolve_device

    return spec.precision == "bf16" and not native_bf16(resolve_device(spec.device))


def _untrainable(spec: RunSpec) -> bool:
    """A run this machine cannot train at all (:func:`optim.runner.check_trainable_on`)."""
    from .runner import check_trainable_on
    from .training import resolve_device

    try:
        check_trainable_on(spec, resolve_device(spec.device))
    except ValueError:
        return True
    return False


def emulated_bf16_note(plans: list[ChapterPlan], total: float) -> list[str]:
    """On a CPU without native bf16 (no AVX512-BF16 or AMX), where no GPU takes the runs: how
    many of the runs to compute train under bf16 autocast, which such a CPU computes through
    fp32 kernels (:mod:`optim.bf16`), and their share of the estimate — the reason an estimate
    here can be several times another's; and the runs it cannot train at all (a bf16 LSTM),
    by chapter."""
    lines = []
    untrainable = {p.chapter: n for p in plans if (n := sum(map(_untrainable, p.todo())))}
    runs = sum(_emulated(spec) and not _untrainable(spec) for p in plans for spec in p.todo())
    if runs:
        hours = sum(p.estimate_hours(only=lambda s: _emulated(s) and not _untrainable(s)) or 0.0 for p in plans)
        lines += ["", f"This CPU has no native bf16: {runs} of the runs to compute train under bf16 autocast, their "
                      "convolutions and matrix products computed by fp32 kernels and rounded to bf16 (optim.bf16; "
                      f"{hours:.2f} of the {total:.2f} h here); a CPU with AVX512-BF16 or AMX, or a GPU, trains them "
                      "faster."]
    if untrainable:
        counts = ", ".join(f"{chapter} {n}" for chapter, n in untrainable.items())
        lines += ["", f"This CPU cannot train some runs at all (a bf16 LSTM needs native bf16; oneDNN has none "
                      f"here): {counts}. Their estimate here reads '?'; train them on a CPU with AVX512-BF16 or "
                      "AMX, or a GPU."]
    return lines
