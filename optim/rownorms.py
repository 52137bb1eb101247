"""ND-Adam's mechanism (Zhang et al. 2017, Algorithm 1), read from the runs' ``rows`` probes
(:mod:`optim.probes`): per logged step, the mean norm of the hidden units' weight vectors
(``row_norm_mean``), its largest distance from 1 (``row_norm_error``) and the median cosine
between each row's update and its negative first moment (``update_moment_cosine``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Mechanism:
    """Per tag (method): ``norm_error`` — the largest |‖w_i‖ − 1| after the first logged step;
    ``alignment`` — per seed, the median cos(Δw_i, −m_i) after the first logged step;
    ``norm_start``/``norm_end`` — the mean row norm at the first and last logged step (mean
    over seeds); ``drift`` — per seed, |last / first − 1| of the mean row norm."""

    norm_error: pd.Series
    alignment: dict[str, pd.Series]
    norm_start: pd.Series
    norm_end: pd.Series
    drift: dict[str, pd.Series]


def mechanism(steps: pd.DataFrame) -> Mechanism:
    """:class:`Mechanism` of every tag in the per-step frame ``steps``."""
    later = steps[steps.step > steps.step.min()]
    first, last = steps[steps.step == steps.step.min()], steps[steps.step == steps.step.max()]

    def norms(at: pd.DataFrame, tag: str) -> pd.Series:
        return at[at.tag == tag].set_index("seed")["row_norm_mean"]

    return Mechanism(norm_error=later.groupby("tag")["row_norm_error"].max(),
                     alignment={t: g.groupby("seed")["update_moment_cosine"].median() for t, g in later.groupby("tag")},
                     norm_start=first.groupby("tag")["row_norm_mean"].mean(),
                     norm_end=last.groupby("tag")["row_norm_mean"].mean(),
                     drift={t: (norms(last, t) / norms(first, t) - 1).abs() for t in steps.tag.unique()})
