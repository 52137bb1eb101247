"""Adam's bias-correction ablation on the VAE (Kingma & Ba 2015, §6.4 and Figure 4): the runs'
loss per (β1, β2, correction, α, seed) at an epoch, the paired comparisons of the claim, and
each comparison in words. A run that blew up is an outcome, not a number: it is drawn at
:data:`CEILING` and compared as a divergence."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .plots import legend_outside
from .spec import RunSpec
from .verdicts import Comparison, compare

CEILING = 1e4  # a diverged run is drawn (and counted) at this loss; so is a finite loss above it
CORRECTION_COLOURS = {"with": "tab:red", "without": "tab:green"}  # the paper's Figure 4 colours


def specs(dataset: str, grid: dict, seeds, claim: dict, claim_seeds, **fields) -> list[RunSpec]:
    """The ablation's Adam runs of the VAE: every cell of ``grid`` (β1 × β2 × α, with and without
    the correction) on ``seeds``, and the claim's own cells (``claim``: its β2 and α values)
    on the further ``claim_seeds`` too; ``fields`` go to every :class:`~optim.spec.RunSpec`."""
    def run(b1, b2, bc, lr, seed):
        return RunSpec("vae", dataset, "adam", dict(lr=lr, betas=(b1, b2), bias_correction=bc), seed=seed, **fields)

    return ([run(b1, b2, bc, lr, s) for b1 in grid["beta1"] for b2 in grid["beta2"] for bc in (True, False)
             for lr in grid["lr"] for s in seeds]
            + [run(b1, claim["beta2"], bc, lr, s) for b1 in grid["beta1"] for bc in (True, False) for lr in claim["lr"]
               for s in claim_seeds if s not in seeds])


def settings(runs: pd.DataFrame) -> pd.DataFrame:
    """The ablation's runs (a tidy frame of Adam runs) with their β1, β2 and correction
    ("with"/"without") as columns."""
    return runs.assign(beta1=runs["hp_betas"].map(lambda b: b[0]), beta2=runs["hp_betas"].map(lambda b: b[1]),
                       correction=runs["hp_bias_correction"].map({True: "with", False: "without"}))


def loss_at(runs: pd.DataFrame, epoch: int, ceiling: float = CEILING) -> pd.DataFrame:
    """One row per run (:func:`settings`' frame): its settings, seed and training loss at
    ``epoch`` (the last logged one if fewer), at most ``ceiling``; a run that diverged before
    gets ``ceiling``."""
    at = runs[runs.epoch == min(epoch, runs.epoch.max())]
    table = runs.groupby("key").first()[["beta1", "beta2", "correction", "hp_lr", "seed", "diverged"]]
    loss = at.set_index("key")["train_loss"].reindex(table.index)
    return table.assign(loss=loss.fillna(ceiling).clip(upper=ceiling).to_numpy())


def comparisons(table: pd.DataFrame, beta1s, beta2: float, lrs, sesoi: float, ceiling: float = CEILING,
                metric: str = "VAE loss after epoch 1") -> list[Comparison]:
    """Per β1 and α (at ``beta2``): the loss without the correction against with it, paired by
    seed; a loss at the ceiling enters as a divergence (:func:`optim.verdicts.compare`)."""
    parts = []
    for b1 in beta1s:
        for lr in lrs:
            cell = table[(table.beta1 == b1) & (table.beta2 == beta2) & (table.hp_lr == lr)]
            loss = {c: g.set_index("seed")["loss"].where(lambda v: v < ceiling) for c, g in cell.groupby("correction")}
            parts.append(compare(f"without (β1={b1:g}, α={lr:g})", loss["without"], f"with (β1={b1:g}, α={lr:g})",
                                 loss["with"], metric, "greater", sesoi))
    return parts


def in_words(part: Comparison) -> str:
    """One comparison as a reader wants it: blown-up runs counted, or the loss ratio with its interval."""
    if part.test.startswith("Fisher"):
        return (f"{part.diverged_a} of {part.n_a} uncorrected runs blew up, against {part.diverged_b} of "
                f"{part.n_b} corrected ones")
    blown = f" ({part.diverged_a} of {part.n_a} uncorrected runs blew up)" if part.diverged_a else ""
    return f"{part.effect:.3g}× the corrected loss [{part.low:.3g}, {part.high:.3g}]{blown}"


def figure(table: pd.DataFrame, beta1s, beta2s, title: str):
    """The paper's Figure 4 from :func:`loss_at`'s table: one panel per (β1, β2), loss against
    α with and without the correction — mean over seeds, band from the lowest to the highest seed."""
    fig, axes = plt.subplots(len(beta1s), len(beta2s), figsize=(9, 3.2 * len(beta1s) + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    for i, b1 in enumerate(beta1s):
        for j, b2 in enumerate(beta2s):
            ax = axes[i][j]
            for correction, colour in CORRECTION_COLOURS.items():
                cell = table[(table.beta1 == b1) & (table.beta2 == b2) & (table.correction == correction)]
                stats = cell.groupby("hp_lr")["loss"].agg(["mean", "min", "max"])
                ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.15, lw=0)
                ax.plot(stats.index, stats["mean"], "o-", color=colour, ms=3.5, label=f"{correction} correction")
            ax.set(xscale="log", yscale="log", title=f"β1 = {b1:g}, β2 = {b2:g}",
                   xlabel="step size α" if i == len(beta1s) - 1 else None, ylabel="loss (nats per image)" if j == 0 else None)
    legend_outside(axes[0][0], fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def blown_up(table: pd.DataFrame, ceiling: float = CEILING) -> pd.DataFrame:
    """The runs of :func:`loss_at`'s table at the ceiling (diverged, or past it)."""
    return table[np.asarray(table.loss) >= ceiling]
