"""Train one :class:`~optim.spec.RunSpec` and return its result as a JSON-able dict.

Small datasets live on the device as uint8 tensors (no DataLoader); batches are
normalized and augmented on the device; evaluation runs under ``torch.inference_mode``
with large batches. ``spec.precision == "bf16"`` runs forward passes (training and
evaluation) under bf16 autocast on the CPU or GPU, with fp32 weights, gradients and
optimizer state; ``spec.memory_format == "channels_last"`` stores the model's 4-d weights
and the input batches channels-last (faster convolutions under oneDNN and cuDNN). A CPU without
bf16 in hardware computes autocast's convolutions and matrix products in fp32 on the bf16
operands, rounding each result once, as native kernels do (:mod:`optim.bf16`). On the CPU
the same spec at the same thread count gives identical numbers; the thread count is recorded
in the provenance. A non-finite loss stops the run and marks it diverged.
"""

from __future__ import annotations

import functools
import inspect
import math
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from . import __version__
from .bf16 import bf16_arithmetic
from .data import load, stratified_indices
from .models import LANGUAGE_MODELS, build_model, input_scaling, is_autoencoder
from .probes import PROBES
from .progress import tqdm
from .registry import build
from .result import Result
from .schedules import SCHEDULES
from .spec import RunSpec

EVAL_BATCH = 2000


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' is invalid here: no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit, looked up once per process."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parents[1])
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x.float().div_(255.0) - mean) / std


def _augment(x: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """Random 4-pixel-padded crops (and horizontal flips) of a uint8 batch, on its device."""
    if mode == "none":
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    oy = torch.randint(0, 9, (b,), generator=generator, device=x.device)
    ox = torch.randint(0, 9, (b,), generator=generator, device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    out = padded[torch.arange(b, device=x.device)[:, None, None, None],
                 torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    if mode == "crop-flip":
        flip = torch.rand(b, generator=generator, device=x.device) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (AMX / AVX512-BF16 CPUs, Ampere+ GPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def batch_loss(model, xb: torch.Tensor, yb: torch.Tensor, amp: bool, reduction: str = "mean",
               training: bool = False):
    """The model's output on ``xb`` and its loss: the cross-entropy against ``yb`` for a
    classifier, the model's own objective for an autoencoder (computed in fp32). In
    ``training``, a model's ``penalty(output)`` (a regularizer such as ND-Adam's logit
    penalty; None when off) is added; evaluation reports the plain loss."""
    with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=amp):
        output = model(xb)
    if is_autoencoder(model):
        per_example = model.loss(xb, output)
        loss = per_example.sum() if reduction == "sum" else per_example.mean()
    else:
        loss = F.cross_entropy(output.float(), yb, reduction=reduction)
    extra = model.penalty(output) if training and callable(getattr(model, "penalty", None)) else None
    return output, loss if extra is None else loss + extra


@torch.inference_mode()
def evaluate(model, x, y, mean, std, amp: bool, channels_last: bool = False) -> tuple[float, float | None]:
    """Mean loss and accuracy (None for an autoencoder) over (x, y), in eval mode; restores
    the model's mode."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    classifier = not is_autoencoder(model)
    for i in range(0, len(y), EVAL_BATCH):
        xb = _normalize(x[i:i + EVAL_BATCH], mean, std)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        output, loss = batch_loss(model, xb, y[i:i + EVAL_BATCH], amp, reduction="sum")
        total_loss += loss.item()
        if classifier:
            correct += (output.argmax(1) == y[i:i + EVAL_BATCH]).sum().item()
    model.train(was_training)
    return total_loss / len(y), correct / len(y) if classifier else None


def buffered_order(n: int, buffer: int, generator: torch.Generator) -> torch.Tensor:
    """An epoch's order of ``n`` examples through a shuffle buffer of ``buffer`` (TensorFlow's
    ``Dataset.shuffle``, as DeepOBS reads its data): the buffer starts with the first ``buffer``
    examples in stored order; each draw takes one of its examples uniformly at random and puts the
    next stored example in its place. Example i can come out no earlier than position
    i − buffer + 1; a buffer of ``n`` or more is a uniform permutation."""
    slots = list(range(min(buffer, n)))
    following = len(slots)
    picks = torch.randint(0, 2**62, (n,), generator=generator).tolist()
    order = []
    for pick in picks:
        at = pick % len(slots)
        order.append(slots[at])
        if following < n:
            slots[at] = following
            following += 1
        else:
            slots[at] = slots[-1]
            slots.pop()
    return torch.tensor(order)


def new_step_log() -> dict[str, list]:
    """The per-step columns every run logs (probes add their own)."""
    return {"step": [], "epoch": [], "train_loss": [], "lr": []}


class LossWindow:
    """The training losses since the last log point, summed on the device: the step log's mean
    costs one host sync per window of ``log_every`` steps, not one per step."""

    def __init__(self, device: torch.device):
        self.total = torch.zeros((), device=device)
        self.count = 0

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss
        self.count += 1

    def log(self, step_log: dict[str, list], step: int, position: float, lr: float, extra: dict | None = None) -> bool:
        """Append the window's mean loss at ``step`` and epoch ``position``, with the rate and any
        ``extra`` columns, to ``step_log`` and start a new window; False — nothing appended — when
        the mean is not finite (the run diverged)."""
        mean_loss = (self.total / self.count).item()
        if not math.isfinite(mean_loss):
            return False
        for name, value in {"step": step, "epoch": position, "train_loss": mean_loss, "lr": lr, **(extra or {})}.items():
            step_log.setdefault(name, []).append(value)
        self.total.zero_()
        self.count = 0
        return True


def result(spec: RunSpec, epochs: list, step_log: dict, diverged_step: int | None, start: float, sizes: dict,
           device: torch.device, dataset_sha256: str | None) -> Result:
    """A finished run's result dict (``optim.result.Result``); ``sizes``: the examples (or
    tokens) actually used, ``start``: the ``perf_counter`` time training started."""
    return {
        "spec": spec.to_dict(), "epochs": epochs, "steps": step_log,
        "diverged": diverged_step is not None, "diverged_step": diverged_step,
        "wall_time": time.perf_counter() - start, "sizes": sizes,
        "provenance": {
            "optim_version": __version__, "git_commit": git_commit(),
            "torch_version": torch.__version__, "device": device_name(device),
            "device_type": device.type, "dataset_sha256": dataset_sha256,
            "threads": torch.get_num_threads(), "precision": spec.precision,
            "memory_format": spec.memory_format, "native_bf16": native_bf16(device),
            "bf16_by_fp32": spec.precision == "bf16" and device.type == "cpu" and not native_bf16(device),
            "python": platform.python_version(),
        },
    }


def _make_schedule(spec: RunSpec, optimizer, steps_per_epoch: int):
    if spec.schedule is None:
        return None
    args = dict(spec.schedule_args)
    make = SCHEDULES[spec.schedule]
    if "steps_per_epoch" in inspect.signature(make).parameters:
        args["steps_per_epoch"] = steps_per_epoch
    return make(optimizer, **args)


def train(spec: RunSpec, position: int = 1, progress: bool | None = None) -> Result:
    """Run ``spec`` to completion (or divergence) and return the result dict.

    ``progress``: show a bar over the steps (None: only on a terminal). A language model trains
    on its token stream by truncated backpropagation (:func:`optim.language.train`)."""
    device = resolve_device(spec.device)
    if spec.model in LANGUAGE_MODELS:
        from .language import train as train_language_model

        return train_language_model(spec, device, position, progress)
    with bf16_arithmetic(device, spec.precision == "bf16"):
        return _train_images(spec, device, position, progress)


def _train_images(spec: RunSpec, device: torch.device, position: int, progress: bool | None) -> Result:
    """:func:`train` for an image model (a classifier or an autoencoder)."""
    amp = spec.precision == "bf16"
    channels_last = spec.memory_format == "channels_last"
    train_set = load(spec.dataset, "train", n=spec.n_train)
    test_set = load(spec.dataset, "test", n=spec.n_test)
    x, y = train_set.x, train_set.y
    val = None
    if spec.validation > 0:
        held = stratified_indices(y.numpy(), int(round(len(y) * spec.validation)), seed=10_007)
        mask = np.zeros(len(y), dtype=bool)
        mask[held] = True
        val = (x[mask].to(device), y[mask].to(device))
        x, y = x[~mask], y[~mask]
    x, y = x.to(device), y.to(device)
    x_test, y_test = test_set.x.to(device), test_set.y.to(device)
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, train_set.shape, train_set.num_classes, **dict(spec.model_args))
    model = model.to(device)
    classifier = not is_autoencoder(model)
    unit = input_scaling(model) == "unit"
    mean = torch.tensor((0.0,) * len(train_set.mean) if unit else train_set.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor((1.0,) * len(train_set.std) if unit else train_set.std, device=device).view(1, -1, 1, 1)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build(spec.optimizer, model, **spec.hyperparameters)
    steps_per_epoch = math.ceil(len(y) / spec.batch_size)
    scheduler = _make_schedule(spec, optimizer, steps_per_epoch)
    order_gen = torch.Generator().manual_seed(spec.seed)
    aug_gen = torch.Generator(device=device).manual_seed(spec.seed + 1)
    probes = [PROBES[name](model, optimizer) for name in spec.probes]
    if "augmented-test-set" in spec.evaluation_bugs:
        x_test = _augment(x_test, spec.augment, torch.Generator(device=device).manual_seed(spec.seed + 2))

    epochs, step_log = [], new_step_log()
    diverged_step = None
    start = time.perf_counter()
    step = 0
    bar = tqdm(total=spec.epochs * steps_per_epoch, desc=f"{spec.optimizer} {spec.model}",
               leave=False, position=position, disable=None if progress is None else not progress, unit="step")
    if spec.initial_evaluation:
        initial = {"epoch": 0}
        initial["test_loss"], initial["test_acc"] = evaluate(model, x_test, y_test, mean, std, amp, channels_last)
        if val is not None:
            initial["val_loss"], initial["val_acc"] = evaluate(model, *val, mean, std, amp, channels_last)
        epochs.append({k: v for k, v in initial.items() if v is not None} | {"lr": optimizer.param_groups[0]["lr"],
                                                                               "time": 0.0})
    model.train()
    perm = None
    for epoch in range(1, spec.epochs + 1):
        epoch_start = time.perf_counter()
        if perm is None or spec.reshuffle:  # else the first epoch's order again (TensorFlow 1's replay)
            perm = (torch.randperm(len(y), generator=order_gen) if not spec.shuffle_buffer
                    else buffered_order(len(y), spec.shuffle_buffer, order_gen)).to(device)
        window = LossWindow(device)
        running_loss = torch.zeros((), device=device)
        running_correct = torch.zeros((), device=device, dtype=torch.long)
        for b in range(steps_per_epoch):
            idx = perm[b * spec.batch_size:(b + 1) * spec.batch_size]
            xb = _normalize(_augment(x[idx], spec.augment, aug_gen), mean, std)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            output, loss = batch_loss(model, xb, y[idx], amp, training=True)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            logging_step = window.count + 1 == spec.log_every or b == steps_per_epoch - 1
            if logging_step:
                for probe in probes:
                    probe.before_step()
            optimizer.step()
            probed = {k: v for probe in probes for k, v in probe.after_step().items()} if logging_step else {}
            if scheduler is not None:
                scheduler.step()
            step += 1
            detached = loss.detach()
            window.add(detached)
            running_loss += detached * len(idx)
            if classifier:
                running_correct += (output.detach().argmax(1) == y[idx]).sum()
            if logging_step and not window.log(step_log, step, epoch - 1 + (b + 1) / steps_per_epoch,
                                               optimizer.param_groups[0]["lr"], probed):
                diverged_step = step
                break
            bar.update(1)
        if diverged_step is not None:
            break
        record = {"epoch": epoch, "train_loss": running_loss.item() / len(y)}
        if classifier:
            record["train_acc"] = running_correct.item() / len(y)
        # The .item() calls above wait for the device, so this is the epoch's training time
        # alone; "time" below is wall time since the start, evaluations included.
        record["train_time"] = time.perf_counter() - epoch_start
        if spec.evaluated(epoch):
            record["test_loss"], record["test_acc"] = evaluate(model, x_test, y_test, mean, std, amp, channels_last)
            if val is not None:
                record["val_loss"], record["val_acc"] = evaluate(model, *val, mean, std, amp, channels_last)
            if "eval-mode-after-first-epoch" in spec.evaluation_bugs:
                model.eval()  # the bug: evaluation switched to eval mode and nothing switched back
        record = {k: v for k, v in record.items() if v is not None}  # an autoencoder has no accuracy
        record["lr"] = optimizer.param_groups[0]["lr"]
        record["time"] = time.perf_counter() - start
        if not math.isfinite(record.get("test_loss", record["train_loss"])):
            diverged_step = step
            break
        epochs.append(record)
    bar.close()
    # the images actually used (n_train/n_test None in the spec mean "all of them")
    sizes = {"train": len(y), "validation": 0 if val is None else len(val[1]), "test": len(y_test)}
    return result(spec, epochs, step_log, diverged_step, start, sizes, device, train_set.sha256)
