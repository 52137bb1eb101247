"""Summaries of tidy run tables (``runner.run_many``): final values, seed statistics, per-seed values.

Every function takes the per-epoch (or per-step) frame and groups runs by the spec columns
the caller names; a "run" is one ``key``. Means and confidence intervals are over seeds
(Student t, at the claims' 90% level), as in the book's figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def last(frame: pd.DataFrame, by: str = "key") -> pd.DataFrame:
    """The last row of every run (its final epoch, or the epoch it diverged after)."""
    if frame.empty:
        return frame
    order = "epoch" if "epoch" in frame else "step"
    return frame.sort_values(order).groupby(by, sort=False).tail(1)


def mean_ci(values, confidence: float | None = None) -> tuple[float, float]:
    """Mean and half-width of its Student-t confidence interval (0 for a single value), at the
    claims' level :data:`optim.verdicts.CONFIDENCE` (90%) unless ``confidence`` is given."""
    from .verdicts import CONFIDENCE

    confidence = CONFIDENCE if confidence is None else confidence
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    if len(values) == 1:
        return float(values[0]), 0.0
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def final(frame: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Per group of ``by``: mean, CI half-width (``ci``, 90%) and number of seeds of ``metric`` at the
    end of training. Diverged runs count as ``inf`` for losses and 0 for accuracies."""
    ends = last(frame).copy()
    filler = 0.0 if metric.endswith("acc") else np.inf
    if "diverged" in ends:
        ends.loc[ends["diverged"].astype(bool), metric] = filler
    rows = []
    for values, group in ends.groupby(by, sort=False, dropna=False):
        mean, half = mean_ci(group[metric].replace(np.inf, np.nan)) if np.isfinite(group[metric]).all() \
            else (filler, 0.0)
        rows.append(dict(zip(by, values if isinstance(values, tuple) else (values,)),
                         mean=mean, ci=half, seeds=len(group)))
    return pd.DataFrame(rows)


def steps_to(frame: pd.DataFrame, metric: str, target: float, mode: str = "min") -> pd.Series:
    """Per run (``key``): the first ``step``/``epoch`` at which ``metric`` reaches ``target``
    (≤ for ``mode="min"``, ≥ for ``"max"``); NaN for runs that never do."""
    order = "step" if "step" in frame else "epoch"
    hit = frame[metric] <= target if mode == "min" else frame[metric] >= target
    reached = frame[hit].groupby("key")[order].min()
    return reached.reindex(frame["key"].unique())


def per_seed(frame: pd.DataFrame, by: str, metric: str, at: int | None = None) -> dict[str, pd.Series]:
    """``{value of by: Series of the metric, one per run, indexed by seed}``, the input of
    :func:`optim.verdicts.compare` (which pairs runs by seed). The metric is read at the end of
    training, or at epoch ``at``; a run that diverged (before ``at``) is NaN — an outcome the
    verdict rule counts, never a number standing in for one."""
    runs = frame.groupby("key", sort=False).first()
    if at is None:
        ends = last(frame).set_index("key")
    else:
        ends = frame[frame["epoch"] == at].set_index("key").reindex(runs.index)
        ends[[by, "seed"]] = runs[[by, "seed"]]
    ends = ends.copy()
    if "diverged" in ends:
        diverged = runs["diverged"].astype(bool).reindex(ends.index) if at is None else ends[metric].isna()
        ends.loc[diverged.fillna(False).to_numpy(), metric] = np.nan
    out = {}
    for name, group in ends.groupby(by, sort=False):
        if group["seed"].duplicated().any():
            raise ValueError(f"per_seed: {by}={name!r} has several runs per seed; select one setting first")
        out[name] = pd.Series(group[metric].to_numpy(dtype=float), index=group["seed"].to_numpy(), name=metric)
    return out


def perplexity(loss):
    """A language model's perplexity from its mean cross-entropy per token in nats: exp(loss)
    (a Series, array or number; a diverged run's NaN stays NaN)."""
    return np.exp(loss)
