"""bf16 training on this CPU three ways, timed side by side in one process.

``python -m optim.bf16bench`` times one training step (bf16 autocast or fp32 forward,
cross-entropy, backward, Adam) of the generalization regime's network (WRN-10-2 on 28×28
images, batch 128, channels-last; :mod:`optim.regime`) in three arithmetics: fp32; bf16
autocast with PyTorch's kernels; bf16 autocast with its convolutions and matrix products
computed by fp32 kernels and rounded once (:class:`optim.bf16.Bf16ByFp32`, what the engine
uses on a CPU without native bf16). Each form has its own model and Adam from the same
initial weights; the forms alternate step by step so that all see the same machine load; the
ratios to fp32 are printed. On a CPU with native bf16 the second form is the engine's.
"""

from __future__ import annotations

import contextlib
import time

import torch
import torch.nn.functional as F

from .bf16 import Bf16ByFp32
from .sidebyside import alternating_seconds

FORMS = ("fp32", "bf16 (PyTorch's kernels)", "bf16 (fp32 kernels, rounded)")


def step_times(model_name: str = "wrn", model_args: dict | None = None, shape=(1, 28, 28), batch_size: int = 128,
               steps: int = 5, seed: int = 0) -> dict[str, float]:
    """Seconds per training step of each of :data:`FORMS`, alternating step by step."""
    from .models import build_model

    model_args = dict(depth=10, widen=2) if model_args is None and model_name == "wrn" else (model_args or {})
    generator = torch.Generator().manual_seed(seed)
    models = {}
    for form in FORMS:
        torch.manual_seed(seed)
        models[form] = build_model(model_name, shape, 10, **model_args).to(memory_format=torch.channels_last)
    optimizers = {form: torch.optim.Adam(model.parameters(), lr=1e-3) for form, model in models.items()}

    def step(form):
        def one(batch):
            x, y = batch
            with Bf16ByFp32() if form == FORMS[2] else contextlib.nullcontext():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=form != "fp32"):
                    out = models[form](x)
                loss = F.cross_entropy(out.float(), y)
                optimizers[form].zero_grad()
                loss.backward()
            optimizers[form].step()
        return one

    batches = ((torch.randn(batch_size, *shape, generator=generator).contiguous(memory_format=torch.channels_last),
                torch.randint(0, 10, (batch_size,), generator=generator)) for _ in range(steps))
    return alternating_seconds({form: step(form) for form in FORMS}, batches)


def main(argv: list[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    from .atomic import check_writable, write_json_atomic
    from .bench import BENCH_DIR
    from .canary import cpu_folder
    from .executor import cpu_model
    from .training import native_bf16

    parser = argparse.ArgumentParser(prog="python -m optim.bf16bench", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="steps timed per form (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as a run in the book)")
    parser.add_argument("--smoke", action="store_true", help="the book's small CNN, batch 8, for the tests")
    parser.add_argument("--out", type=Path, default=None,
                        help="result file (default data/results/bench/bf16-<cpu>.json; --smoke: none)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.threads < 1:
        parser.error(f"--steps={args.steps} --threads={args.threads} are invalid: expected positive integers")
    cpu = cpu_model() or "unknown CPU"
    out = args.out or (None if args.smoke else BENCH_DIR / f"bf16-{cpu_folder(Path('.'), cpu).name}.json")
    if out is not None:
        if args.smoke and Path(out).resolve().parent == BENCH_DIR.resolve():
            parser.error(f"--out={str(out)!r} is invalid with --smoke: smoke numbers never go into {BENCH_DIR.name}/")
        try:
            check_writable(Path(out).resolve().parent, "--out's folder")
        except ValueError as error:
            parser.error(str(error))
    sizes = dict(model_name="cnn", model_args={}, batch_size=8) if args.smoke else {}
    torch.set_num_threads(args.threads)
    step_times(steps=1, **sizes)  # warm-up
    seconds = step_times(steps=args.steps, **sizes)
    native = native_bf16(torch.device("cpu"))
    model = "the book's CNN, batch 8" if args.smoke else "WRN-10-2, batch 128"
    print(f"{model}, 28×28, channels-last, Adam; {args.threads} thread(s); {cpu}; "
          f"{'with' if native else 'without'} native bf16")
    for form, s in seconds.items():
        print(f"{form:>30}: {s:7.3f} s per step  ({s / seconds['fp32']:.2f}× fp32)")
    print(f"fp32 kernels, rounded / PyTorch's bf16 kernels: {seconds[FORMS[2]] / seconds[FORMS[1]]:.2f}")
    if out is not None:
        write_json_atomic(Path(out), {"cpu": cpu, "native_bf16": native, "model": model, "threads": args.threads,
                                      "steps": args.steps, "torch": torch.__version__,
                                      "date": time.strftime("%Y-%m-%d"), "seconds_per_step": seconds})
        print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
