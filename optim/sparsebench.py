"""IMDB's logistic regression, dense against sparse, timed side by side in one process.

The Adam chapter trains logistic regression on IMDB's 10,000-word bags of words with 50%
dropout noise on the features (Kingma & Ba, 2015, §6.1). Fed as dense rows, every step draws a
dropout mask over all 10,000 features of every review and multiplies a dense 128 × 10,000
matrix. A review contains about 1.3% of the words, so the same model can stay sparse:
``logistic_regression(..., sparse_input=True)`` (:class:`optim.models.mlp.SparseLogisticRegression`)
draws the mask over each review's words only (a dropped zero is still zero) and sums the kept
words' weight columns (``torch.nn.functional.embedding_bag``). The two compute the same logits
and gradients (``tests/test_sparsebench.py``).

``python -m optim.sparsebench`` times both forms of the model, each with its own Adam on the
same initial weights, on the same minibatches as the engine feeds them (rows of 0/255 bytes
read as floats ÷ 255): one training step (dropout, forward, cross-entropy, backward, Adam) of
each, alternating step by step so that both see the same machine load, and prints the ratio.
The Adam chapter trains IMDB in the sparse form because this ratio is below one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .models.mlp import logistic_regression
from .sidebyside import alternating_seconds


def step_times(x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, p: float = 0.5, steps: int = 50,
               seed: int = 0) -> dict[str, float]:
    """Seconds per training step of the dense and the sparse model on the same ``steps``
    minibatches of (``x``, ``y``) (``x``: uint8 rows, 255 where a word occurs), the two forms
    alternating step by step, each with its own Adam on its own copy of the same initial weights."""
    generator = torch.Generator().manual_seed(seed)
    shape, classes = tuple(x.shape[1:]), int(y.max()) + 1
    models = {"dense": logistic_regression(shape, classes, p), "sparse": logistic_regression(shape, classes, p, True)}
    models["sparse"].linear.load_state_dict(models["dense"][-1].state_dict())
    optimizers = {form: torch.optim.Adam(model.parameters(), lr=1e-3) for form, model in models.items()}

    def step(form):
        def one(rows):
            loss = F.cross_entropy(models[form](x[rows].float().div_(255.0)), y[rows])
            optimizers[form].zero_grad()
            loss.backward()
            optimizers[form].step()
        return one

    batches = (torch.randint(len(x), (batch_size,), generator=generator) for _ in range(steps))
    return alternating_seconds({form: step(form) for form in models}, batches)


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
