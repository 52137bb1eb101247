"""Does bf16 change a conclusion? The same runs in two precisions (tags, e.g. "fp32" and
"bf16"), same seeds: each final metric's paired shift against the seed-to-seed spread, and
whether paired comparisons reach the same outcome in both (the speed appendix)."""

from __future__ import annotations

import pandas as pd

from .analysis import last, per_seed
from .verdicts import compare


def effects(epochs: pd.DataFrame, metrics, reference: str = "fp32", other: str = "bf16") -> pd.DataFrame:
    """Per metric and optimizer: both precisions' means over seeds, the mean paired shift
    (``other`` − ``reference``), the reference's seed-to-seed standard deviation, and whether
    the shift is smaller than that spread."""
    rows = []
    for metric in metrics:
        for optimizer, group in last(epochs).groupby("optimizer", sort=False):
            table = group.pivot_table(index="seed", columns="tag", values=metric)
            shift, spread = (table[other] - table[reference]).mean(), table[reference].std(ddof=1)
            rows.append({"optimizer": optimizer, "metric": metric, reference: table[reference].mean(),
                         other: table[other].mean(), f"{other} − {reference} (mean over seeds)": shift,
                         f"seed-to-seed sd ({reference})": spread, "precision effect < seed spread": abs(shift) < spread})
    return pd.DataFrame(rows)


def same_outcomes(epochs: pd.DataFrame, pairs, sesoi: float, tags=("fp32", "bf16"), metric: str = "train_loss",
                  direction: str = "less") -> list[bool]:
    """Per pair (a, b) of optimizers: does :func:`optim.verdicts.compare` of their final
    ``metric`` reach the same outcome under every tag?"""
    outcomes = []
    for a, b in pairs:
        seen = set()
        for tag in tags:
            values = per_seed(epochs[epochs.tag == tag], "optimizer", metric)
            seen.add(compare(a, values[a], b, values[b], f"final {metric}", direction, sesoi).outcome)
        outcomes.append(len(seen) == 1)
    return outcomes


def mixed_machines(epochs: pd.DataFrame, tags=("fp32", "bf16")) -> tuple[int, int]:
    """(pairs of runs, one per tag, trained on different hardware; all (optimizer, seed) pairs):
    their difference also holds the two machines' rounding."""
    machines = last(epochs).pivot_table(index=["optimizer", "seed"], columns="tag", values="hardware", aggfunc="first")
    return int((machines[tags[0]] != machines[tags[1]]).sum()), len(machines)
