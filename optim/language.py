"""Training a language model on a token stream: truncated backpropagation through time as
Zaremba, Sutskever & Vinyals (2014) train their PTB models (and SWATS's language-model runs).

The training tokens are cut into ``batch_size`` contiguous streams side by side (a matrix of
shape (tokens // batch_size, batch_size), the remainder dropped); an epoch walks down it in
segments of ``bptt`` steps, each predicting the next token of every stream, carrying the LSTM's
state from one segment to the next without backpropagating into the previous one. Losses are
the mean cross-entropy per token in nats; perplexity is ``exp(loss)``. The validation and test
tokens are evaluated the same way with :data:`EVAL_STREAMS` streams, the state carried through.

:func:`train` returns the result dict :func:`optim.training.train` returns for an image model
(``optim.result.Result``): ``train_loss`` per epoch (mean over its tokens), ``val_loss`` and
``test_loss`` at evaluated epochs, no accuracies; ``sizes`` counts tokens.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from .data import TOKEN_STREAMS, info
from .models import build_model
from .progress import tqdm
from .registry import build
from .result import Result
from .spec import RunSpec

EVAL_STREAMS = 10  # streams side by side when evaluating (the batch size of evaluation)


def streams(tokens: torch.Tensor, count: int) -> torch.Tensor:
    """``tokens`` cut into ``count`` contiguous streams, one per column: shape (len // count, count)."""
    length = len(tokens) // count
    if length < 2:
        raise ValueError(f"{len(tokens)} tokens are too few for {count} streams of at least 2 tokens")
    return tokens[: length * count].view(count, length).t().contiguous()


def segments(data: torch.Tensor, bptt: int):
    """(inputs, targets) of each segment of ``bptt`` steps down a streams matrix; the last one
    may be shorter. The targets are the inputs one step later."""
    for start in range(0, len(data) - 1, bptt):
        end = min(start + bptt, len(data) - 1)
        yield data[start:end], data[start + 1:end + 1]


def _detached(state):
    return None if state is None else tuple(s.detach() for s in state)


def mean_loss(model: nn.Module, data: torch.Tensor, bptt: int, amp: bool) -> float:
    """Mean cross-entropy per predicted token over a streams matrix, the state carried through."""
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.inference_mode(), torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=amp):
        for inputs, targets in segments(data, bptt):
            logits, state = model(inputs, state)
            total += nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum").item()
            count += targets.numel()
    model.train()
    return total / count


def _split(spec: RunSpec, name: str, n: int | None) -> torch.Tensor:
    import importlib

    tokens = importlib.import_module(TOKEN_STREAMS[spec.dataset]).load(name)
    return tokens if n is None else tokens[:n]


def train(spec: RunSpec, device: torch.device, position: int = 1, progress: bool | None = None) -> Result:
    """Run the language-model ``spec`` on ``device`` to completion (or divergence)."""
    from .training import LossWindow, _make_schedule, new_step_log, result

    amp = spec.precision == "bf16"
    train_tokens = _split(spec, "train", spec.n_train)
    data = streams(train_tokens, spec.batch_size).to(device)
    held = {"val": streams(_split(spec, "valid", spec.n_test), EVAL_STREAMS).to(device),
            "test": streams(_split(spec, "test", spec.n_test), EVAL_STREAMS).to(device)}
    torch.manual_seed(spec.seed)
    meta = info(spec.dataset)
    model = build_model(spec.model, meta.shape, meta.num_classes, **dict(spec.model_args)).to(device)
    optimizer = build(spec.optimizer, model, **spec.hyperparameters)
    steps_per_epoch = math.ceil((len(data) - 1) / spec.bptt)
    scheduler = _make_schedule(spec, optimizer, steps_per_epoch)

    def evaluation() -> dict[str, float]:
        return {f"{split}_loss": mean_loss(model, matrix, spec.bptt, amp) for split, matrix in held.items()}

    epochs, step_log = [], new_step_log()
    diverged_step, step, start = None, 0, time.perf_counter()
    if spec.initial_evaluation:
        epochs.append({"epoch": 0, **evaluation(), "lr": optimizer.param_groups[0]["lr"], "time": 0.0})
    bar = tqdm(total=spec.epochs * steps_per_epoch, desc=f"{spec.optimizer} {spec.model}", leave=False,
               position=position, disable=None if progress is None else not progress, unit="step")
    model.train()
    for epoch in range(1, spec.epochs + 1):
        epoch_start, state = time.perf_counter(), None
        running, tokens, window = torch.zeros(()), 0, LossWindow(torch.device("cpu"))
        for b, (inputs, targets) in enumerate(segments(data, spec.bptt)):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits, state = model(inputs, _detached(state))
            loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if spec.clip_norm:
                nn.utils.clip_grad_norm_(model.parameters(), spec.clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            detached = loss.detach().cpu()
            running += detached * targets.numel()
            tokens += targets.numel()
            window.add(detached)
            logging_step = window.count == spec.log_every or b == steps_per_epoch - 1
            if logging_step and not window.log(step_log, step, epoch - 1 + (b + 1) / steps_per_epoch,
                                               optimizer.param_groups[0]["lr"]):
                diverged_step = step
                break
            bar.update(1)
        if diverged_step is not None:
            break
        record = {"epoch": epoch, "train_loss": running.item() / tokens, "train_time": time.perf_counter() - epoch_start}
        if spec.evaluated(epoch):
            record |= evaluation()
        record |= {"lr": optimizer.param_groups[0]["lr"], "time": time.perf_counter() - start}
        if not math.isfinite(record.get("test_loss", record["train_loss"])):
            diverged_step = step
            break
        epochs.append(record)
    bar.close()
    sizes = {"train": len(train_tokens), "validation": held["val"].numel(), "test": held["test"].numel()}
    return result(spec, epochs, step_log, diverged_step, start, sizes, device, meta.sha256)
