"""The language-model chapter's claims (Penn Treebank, Zaremba et al.'s small LSTM), read from
its runs: SWATS against Adam and SGD in test loss at the end (Keskar & Socher), Nadam against
Adam in training loss at the end of the constant-rate phase (Dozat), and the control that SGD
trains the model as its authors did. Plans in ``chapters/plans/language.yml``."""

from __future__ import annotations

import pandas as pd

from . import verdicts
from .analysis import per_seed, perplexity


def claims(ch, epochs: pd.DataFrame, swats: list[str], nadam: dict[str, float], selection_epochs: int) -> list[dict]:
    """Every claim of the chapter (``ch``: the :class:`optim.book.Chapter`; ``epochs``: the runs
    per epoch, with ``val_perplexity``; ``swats``: the SWATS runs' tags; ``nadam``: label →
    Nadam's rate, its runs tagged "Nadam, α = <rate>"), each a paired difference per seed."""
    test_loss = per_seed(epochs, "tag", "test_loss")
    at_speed = per_seed(epochs, "tag", "train_loss", at=selection_epochs)
    at_speed |= {label: at_speed[f"Nadam, α = {rate:g}"] for label, rate in nadam.items()}
    end, speed = "test loss after the last epoch", f"training loss in epoch {selection_epochs}"
    return [
        ch.judge_pairs("swats_vs_adam", test_loss, [(t, "Adam") for t in swats], "less", metric=end, scale="difference"),
        ch.judge_pairs("swats_vs_sgd", test_loss, [(t, "SGD") for t in swats], "at_most", metric=end, scale="difference"),
        ch.judge_pairs("nadam_faster_tuned", at_speed, [("Nadam", "Adam")], "less", metric=speed, scale="difference"),
        ch.judge_pairs("nadam_faster_equal", at_speed, [("Nadam at Adam's rate", "Adam")], "less", metric=speed,
                       scale="difference"),
        ch.judge("trains", [verdicts.estimate("SGD's validation perplexity after the last epoch",
                                              per_seed(epochs, "tag", "val_perplexity")["SGD"], "less", 150.0)]),
    ]


def glue_values(epochs: pd.DataFrame, swats: list[str]) -> dict[str, str]:
    """Mean test perplexity after the last epoch of SGD, Adam and the two SWATS runs (``swats``:
    the paper's ε, then the replication's), as the chapter's reading quotes them."""
    mean = {tag: f"{perplexity(v).mean():.1f}" for tag, v in per_seed(epochs, "tag", "test_loss").items()}
    return dict(sgd=mean["SGD"], adam=mean["Adam"], swats_paper=mean[swats[0]], swats_replication=mean[swats[1]])
