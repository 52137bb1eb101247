"""SWATS's switch from Adam to SGD (Keskar & Socher 2017, Algorithm 1), read from the runs'
``swats`` probes (:mod:`optim.probes`): per step, ``sgd_fraction`` (the share of tensors in
the SGD phase) and ``sgd_lr_estimate`` (the projected SGD rate Λ, median over tensors)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import last, mean_ci


def _runs(steps: pd.DataFrame, tag: str) -> pd.DataFrame:
    return steps[steps.tag == tag]


def switched_per_run(steps: pd.DataFrame, tag: str, by: str = "key") -> list[bool]:
    """Per run of ``tag`` (grouped by ``by``): did any tensor switch to SGD?"""
    return (_runs(steps, tag).groupby(by)["sgd_fraction"].max() > 0).tolist()


def share_switched(steps: pd.DataFrame, tag: str) -> float:
    """The mean over ``tag``'s runs of the largest share of tensors in the SGD phase."""
    return float(_runs(steps, tag).groupby("key")["sgd_fraction"].max().mean())


def runs_switched(steps: pd.DataFrame, tag: str) -> float:
    """The share of ``tag``'s runs in which some tensor switched."""
    return float(np.mean(switched_per_run(steps, tag)))


def first_switch(steps: pd.DataFrame, tag: str) -> int | None:
    """The median over the runs that switched of the first step with a tensor in SGD (None: no run switched)."""
    part = _runs(steps, tag)
    part = part[part.sgd_fraction > 0]
    return int(part.groupby("key")["step"].min().median()) if len(part) else None


def settle_range(run: pd.DataFrame, tail: float = 0.2) -> float:
    """Relative range (max − min)/mean of Λ over the last ``tail`` of one run's logged steps."""
    end = run[run.step >= (1 - tail) * run.step.max()]["sgd_lr_estimate"]
    return float((end.max() - end.min()) / end.mean())


def table(steps: pd.DataFrame, epochs: pd.DataFrame, tags) -> pd.DataFrame:
    """Per SWATS variant: the first switch (median step over the runs that switched), how many
    runs switched, the share of tensors in SGD and Λ at the end, and the final test accuracy
    with its confidence half-width (:func:`optim.analysis.mean_ci`)."""
    rows = []
    for tag in tags:
        part = _runs(steps, tag)
        ends = part.sort_values("step").groupby("key").tail(1)
        switched_at = part[part.sgd_fraction > 0].groupby("key")["step"].min()
        mean, half = mean_ci(last(epochs[epochs.tag == tag])["test_acc"])
        rows.append({"variant": tag, "first switch (step)": switched_at.median() if len(switched_at) else np.nan,
                     "runs that switched": f"{len(switched_at)} of {part.key.nunique()}",
                     "tensors in SGD at the end": ends["sgd_fraction"].mean(),
                     "Λ at the end": ends["sgd_lr_estimate"].median(), "test accuracy": mean, "± 90% CI": half})
    return pd.DataFrame(rows)
