"""Training-engine throughput, side by side in one process: what the CPU engine gains.

For each model, images per second of the **full training loop with evaluation** (every
epoch's test-set pass included), measured three ways on the same data and sizes:

* ``baseline`` — the engine as it was: one run at a time, fp32, contiguous, on all cores;
* ``engine`` — the engine as the book's full profile runs it now: convolutional models under
  bf16 autocast with channels_last where the CPU computes bf16 natively (fully connected
  models stay fp32, where bf16 gains little), as many runs at once as :mod:`optim.executor`
  uses, one thread each, through ``run_results`` (the sum over runs; the workers are warmed
  up on the same model and data first, as they are after a chapter's first runs);
* ``plain`` — the loop a reader would write: ``DataLoader`` over a ``TensorDataset`` of
  normalised float images, fp32, ``torch.optim.Adam``, an evaluation pass per epoch.

It also reports the achieved training FLOP/s (forward FLOPs counted by
``torch.utils.flop_counter``; a training image costs three forward passes) as a share of the
bf16 matmul peak measured in the same run (2048² ``torch.mm`` on all cores).
"""

from __future__ import annotations

import tempfile
import time

import torch

from .data import info, load
from .spec import RunSpec

CONV_MODELS = ("cnn", "resnet20", "cifarnet", "allconv", "elu", "wrn", "resnet18", "resnet32")


def matmul_peak(dtype: torch.dtype, size: int = 2048, seconds: float = 1.0) -> float:
    """FLOP/s of a ``size``² matrix product in ``dtype`` on this CPU (all threads)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        n += 1
    return 2 * size ** 3 * n / (time.perf_counter() - start)


def forward_flops(model_name: str, dataset: str, model_args: dict | None = None) -> float:
    """FLOPs of one image's forward pass (matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    from .models import build_model

    meta = info(dataset)
    model = build_model(model_name, meta.shape, meta.num_classes, **(model_args or {})).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(8, *meta.shape))
    return counter.get_total_flops() / 8


def plain_loop(model_name: str, dataset: str, n_train: int, n_test: int, epochs: int, batch_size: int = 128,
               seed: int = 0) -> float:
    """Images/s (training images per wall second, evaluations included) of a textbook loop."""
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from .models import build_model

    train_set, test_set = load(dataset, "train", n=n_train), load(dataset, "test", n=n_test)
    mean = torch.tensor(train_set.mean).view(1, -1, 1, 1)
    std = torch.tensor(train_set.std).view(1, -1, 1, 1)
    xs = (train_set.x.float() / 255 - mean) / std
    xt = (test_set.x.float() / 255 - mean) / std
    torch.manual_seed(seed)
    model = build_model(model_name, train_set.shape, train_set.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = DataLoader(TensorDataset(xs, train_set.y), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(xt, test_set.y), batch_size=1000)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
    return epochs * len(xs) / (time.perf_counter() - start)


def _spec(model: str, dataset: str, n_train: int, n_test: int, epochs: int, fast: bool, seed: int) -> RunSpec:
    from .training import native_bf16

    bf16 = fast and model in CONV_MODELS and native_bf16(torch.device("cpu"))
    return RunSpec(model, dataset, "adam", dict(lr=1e-3), epochs=epochs, n_train=n_train, n_test=n_test, seed=seed,
                   device="cpu", precision="bf16" if bf16 else "fp32",
                   memory_format="channels_last" if fast and model in CONV_MODELS else "contiguous")


def engine_rate(model: str, dataset: str, n_train: int, n_test: int, epochs: int) -> tuple[float, int, str]:
    """(images/s summed over parallel runs, runs at once, precision) of the book's engine now."""
    from .executor import max_workers
    from .runner import run_results

    n = max_workers()
    with tempfile.TemporaryDirectory() as tmp:
        # start the worker pool and load the data first: paid once per chapter, not per run
        run_results([_spec(model, dataset, 128, 64, 1, True, 1000 + s) for s in range(n)], root=tmp, progress=False)
        specs = [_spec(model, dataset, n_train, n_test, epochs, True, s) for s in range(n)]
        start = time.perf_counter()
        run_results(specs, root=tmp, progress=False)
        seconds = time.perf_counter() - start
    return n * epochs * n_train / seconds, n, specs[0].precision


def baseline_rate(model: str, dataset: str, n_train: int, n_test: int, epochs: int) -> float:
    """Images/s of one fp32 run on all cores, the engine before this round (evaluations included)."""
    from .executor import cores, torch_threads
    from .training import train

    with torch_threads(cores()):
        start = time.perf_counter()
        train(_spec(model, dataset, n_train, n_test, epochs, False, 0), progress=False)
        return epochs * n_train / (time.perf_counter() - start)


def engine_benchmark(models: dict[str, str], n_train: int, n_test: int, epochs: int = 2) -> dict:
    """The table of :mod:`optim.enginebench` (see its docstring) for ``models`` (name → dataset)."""
    from .executor import cores
    from .progress import tqdm

    torch.set_num_threads(cores())
    peak = {"bf16": matmul_peak(torch.bfloat16), "fp32": matmul_peak(torch.float32)}
    rows = []
    for model, dataset in tqdm(models.items(), desc="engine throughput", unit="model"):
        load(dataset, "train")  # data loading is not what is timed
        baseline = baseline_rate(model, dataset, n_train, n_test, epochs)
        plain = plain_loop(model, dataset, n_train, n_test, epochs)
        engine, runs, precision = engine_rate(model, dataset, n_train, n_test, epochs)
        flops = forward_flops(model, dataset)
        per_image = 3 * flops + flops * n_test / n_train  # training and its share of evaluation
        rows.append(dict(model=model, dataset=dataset, precision=precision, runs_at_once=runs,
                         baseline_img_s=baseline, plain_img_s=plain, engine_img_s=engine,
                         engine_over_baseline=engine / baseline, engine_over_plain=engine / plain,
                         target=2.5 if model in CONV_MODELS else 1.6,
                         met=engine / baseline >= (2.5 if model in CONV_MODELS else 1.6),
                         gflop_per_image=per_image / 1e9,
                         share_of_bf16_peak=engine * per_image / peak["bf16"]))
    return {"n_train": n_train, "n_test": n_test, "epochs": epochs,
            "matmul_peak_gflops": {k: v / 1e9 for k, v in peak.items()}, "rows": rows}
