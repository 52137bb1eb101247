"""IMDB's logistic regression step, dense against sparse, side by side in one process.

The Adam chapter trains logistic regression on IMDB's 10,000-word bags of words with 50%
dropout noise on the features (Kingma & Ba, 2015, §6.1). The book's engine feeds them as dense
rows (:mod:`optim.imdb`): every step draws a dropout mask over all 10,000 features of every
review and multiplies a dense 128 × 10,000 matrix. A review contains about 1–2% of the words,
so the same step can stay sparse: keep each review's word indices, draw the dropout mask over
those only (a dropped zero is still zero), and sum the kept words' weight rows
(``torch.nn.functional.embedding_bag`` with per-sample weights 1/(1 − p)). Both compute the same
logits and gradients for the same kept words (``tests/test_sparsebench.py``).

``python -m optim.sparsebench`` times one training step (dropout, forward, cross-entropy,
backward, Adam) of each form on the same minibatches, alternating, and prints the ratio. The
engine keeps the dense form unless this ratio says the sparse one is faster.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def bags(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A minibatch of 0/1 (or 0/255) rows as (word indices, offsets): each row's nonzero columns."""
    rows, words = x.reshape(len(x), -1).nonzero(as_tuple=True)
    counts = torch.bincount(rows, minlength=len(x))
    return words, torch.cat([counts.new_zeros(1), counts.cumsum(0)[:-1]])


def dense_logits(x: torch.Tensor, keep: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, p: float) -> torch.Tensor:
    """``F.linear`` of the 0/1 rows ``x`` (batch × features) after dropout with mask ``keep`` (the
    same shape, True where a feature is kept): the engine's dense form."""
    return F.linear(x * keep / (1 - p), weight, bias)


def sparse_logits(words: torch.Tensor, offsets: torch.Tensor, keep: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor, p: float) -> torch.Tensor:
    """The same logits from each row's word indices (:func:`bags`) and a mask over those words
    only: the sum of the kept words' columns of ``weight`` (classes × features), scaled 1/(1 − p)."""
    scale = keep.to(weight.dtype) / (1 - p)
    return F.embedding_bag(words, weight.t(), offsets, mode="sum", per_sample_weights=scale) + bias


def step_times(x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, p: float = 0.5, steps: int = 50,
               seed: int = 0) -> dict[str, float]:
    """Seconds per training step of each form on the same ``steps`` minibatches of (``x``, ``y``),
    the two forms alternating step by step (so both see the same machine load), each with its own
    Adam on its own copy of the same initial weights."""
    generator = torch.Generator().manual_seed(seed)
    features, classes = x[0].numel(), int(y.max()) + 1
    start = torch.nn.Linear(features, classes)
    params = {form: [start.weight.detach().clone().requires_grad_(), start.bias.detach().clone().requires_grad_()]
              for form in ("dense", "sparse")}
    optimizers = {form: torch.optim.Adam(ps, lr=1e-3) for form, ps in params.items()}
    spent = {"dense": 0.0, "sparse": 0.0}
    for _ in range(steps):
        rows = torch.randint(len(x), (batch_size,), generator=generator)
        batch, target = (x[rows].reshape(batch_size, -1) > 0), y[rows]
        # dense: the engine's conversion of the stored rows to float, a mask over every feature
        t0 = time.perf_counter()
        dense = batch.float()
        keep = torch.rand(dense.shape, generator=generator) >= p
        loss = F.cross_entropy(dense_logits(dense, keep, *params["dense"], p), target)
        optimizers["dense"].zero_grad()
        loss.backward()
        optimizers["dense"].step()
        t1 = time.perf_counter()
        # sparse: the rows' word indices, a mask over those words only
        words, offsets = bags(batch)
        kept = torch.rand(words.shape, generator=generator) >= p
        loss = F.cross_entropy(sparse_logits(words, offsets, kept, *params["sparse"], p), target)
        optimizers["sparse"].zero_grad()
        loss.backward()
        optimizers["sparse"].step()
        spent["dense"] += t1 - t0
        spent["sparse"] += time.perf_counter() - t1
    return {form: seconds / steps for form, seconds in spent.items()}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m optim.sparsebench", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="minibatches timed per form (default 200)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as a run in the book)")
    args = parser.parse_args(argv)
    from .data import load
    from .executor import cpu_model

    torch.set_num_threads(args.threads)
    train = load("imdb", "train")
    density = float((train.x > 0).float().mean())
    step_times(train.x[:512], train.y[:512], steps=5)  # warm-up
    seconds = step_times(train.x, train.y, steps=args.steps)
    print(f"IMDB logistic regression, batch 128, 50% dropout noise; {args.threads} thread(s); {cpu_model()}")
    print(f"words per review: {density:.2%} of {train.x[0].numel():,} on average")
    for form, s in seconds.items():
        print(f"{form:>6}: {1e3 * s:7.3f} ms per step")
    print(f"sparse / dense time per step: {seconds['sparse'] / seconds['dense']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
