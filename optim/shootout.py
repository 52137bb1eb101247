"""The benchmark chapter's analysis: a blog's optimizer shoot-out (every optimizer at one rate),
its ranking against a tuned comparison, and the effects of three evaluation bugs, read from the
chapter's tidy run frames (:func:`optim.runner.run_many`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import last, mean_ci, per_seed, steps_to

# The evaluation bugs as the chapter runs them (tag of the runs) and what each reports.
BUGS = {"bug 1": ("honest", "train_acc", "reported (training accuracy)"),
        "bug 2": ("eval mode after epoch 1", "test_acc", "reported (eval mode)"),
        "bug 3": ("augmented test set", "test_acc", "reported (augmented)")}
REPORTED = {"honest: test accuracy": ("honest", "test_acc"),
            "bug 1: training accuracy reported as test": ("honest", "train_acc"),
            "bug 2: eval mode after epoch 1": ("eval mode after epoch 1", "test_acc"),
            "bug 3: augmented test set": ("augmented test set", "test_acc")}


def standing(final: pd.Series, within: float = 1.5) -> str:
    """In words: which optimizers end within ``within`` × the lowest final training loss, and
    where the others end (``final``: optimizer → mean final training loss)."""
    final = final.sort_values()
    near = final[final <= within * final.min()]
    rest = final.drop(near.index)
    return (f"{len(near)} of {len(final)} end within {within:g}× the lowest final training loss "
            f"({', '.join(near.index)}: {near.min():.3f}–{near.max():.3f})"
            + (f"; the others end at {', '.join(f'{o} {v:.2g}' for o, v in rest.items())}" if len(rest) else ""))


def near_uniform(ends: pd.DataFrame, classes: int, within: float = 0.05) -> str:
    """The runs (last epochs, :func:`optim.analysis.last`) whose final training loss is within
    ``within`` of a uniform guess's, ln(classes), in words ("" when none)."""
    stuck = ends[ends.train_loss >= (1 - within) * np.log(classes)]
    return "; ".join(f"{r.optimizer} seed {r.seed} (test accuracy {r.test_acc:.1%})" for r in stuck.itertuples())


def tuned_summary(epochs: pd.DataFrame, steps: pd.DataFrame, chosen: pd.Series, defaults: dict,
                  target: float, order: list[str]) -> pd.DataFrame:
    """Per optimizer at its tuned rate: the rate (and × its default), the mean final test
    accuracy with its confidence half-width, and the median iterations and seconds to reach a
    training loss of ``target`` with the share of runs that reached it; best accuracy first
    (ties in ``order``)."""
    ends = last(epochs)
    hit = steps_to(steps, "train_loss", target)
    seconds = steps.groupby("key")["wall_time"].first() * hit / steps.groupby("key")["step"].max()
    by_key = steps.groupby("key")["optimizer"].first()
    return pd.DataFrame({
        "chosen lr": chosen,
        "× default": chosen / pd.Series(defaults),
        "test accuracy": ends.groupby("optimizer")["test_acc"].mean(),
        "± 90% CI": ends.groupby("optimizer")["test_acc"].apply(lambda v: mean_ci(v)[1]),
        "iterations to target": hit.groupby(by_key).median(),
        "seconds to target": seconds.groupby(by_key).median(),
        "runs reaching target": hit.notna().groupby(by_key).mean(),
    }).loc[order].sort_values("test accuracy", ascending=False)


def reported(bug_runs: pd.DataFrame) -> pd.DataFrame:
    """What the benchmark reports per epoch under each setting of :data:`REPORTED`, as ``value``."""
    return pd.concat([bug_runs[bug_runs.tag == tag].assign(setting=setting, value=lambda f, c=column: f[c])
                      for setting, (tag, column) in REPORTED.items()])


def bug_effects(bug_runs: pd.DataFrame) -> dict[str, tuple[str, pd.Series, float]]:
    """Per bug of :data:`BUGS`: (what it reports, its per-seed final value, its mean effect on
    the reported accuracy: bug 1 the honest run's training minus test accuracy, bugs 2 and 3
    the buggy run's test accuracy minus the honest one's)."""
    means = last(bug_runs).groupby("tag")[["test_acc", "train_acc"]].mean()
    honest = means.loc["honest", "test_acc"]
    return {bug: (label, per_seed(bug_runs, "tag", column)[tag], means.loc[tag, column] - honest)
            for bug, (tag, column, label) in BUGS.items()}


def family_loss(final: pd.DataFrame, members: list[str]) -> pd.Series:
    """Per seed (rows of ``final``: seeds × optimizers): the geometric mean final training loss
    of a family (a diverged member makes it non-finite)."""
    return np.exp(np.log(final[members]).mean(axis=1, skipna=False))


def rank_correlation(shootout: pd.DataFrame, tuned: pd.DataFrame) -> pd.Series:
    """Per seed in both: Spearman's correlation between the shoot-out's ranking (lowest final
    training loss first) and the tuned ranking (highest test accuracy first); both frames are
    seeds × optimizers."""
    return pd.Series({s: shootout.loc[s].rank().corr(tuned.loc[s].rank(ascending=False), method="spearman")
                      for s in shootout.index if s in tuned.index})


def twins(tables: list[pd.DataFrame], reference: str, candidates: list[str]) -> list[str]:
    """The ``candidates`` whose values equal ``reference``'s exactly in every table (optimizer × seed)."""
    return [o for o in candidates if o != reference and all(t.loc[o].equals(t.loc[reference]) for t in tables)]


WHAT_A_BUG_DOES = {"not reproduced": "it changes the number", "reproduced": "no measurable change",
                   "inconclusive": "inconclusive: its interval straddles half a point"}


def bug_words(effects: dict, verdicts: dict) -> str:
    """In words, per bug: its mean effect on the reported accuracy in points and what its claim's
    verdict says (``effects``: :func:`bug_effects`; ``verdicts``: bug → its claim's verdict)."""
    def why(bug, effect):
        if bug != "bug 1":
            return ""
        way = "understates" if effect < 0 else "overstates"
        return (f"; the training accuracy is measured with dropout on and on augmented images, so it {way} the "
                "test accuracy")

    return "; ".join(f"{bug} by {100 * effect:+.1f} points ({WHAT_A_BUG_DOES.get(verdicts[bug], verdicts[bug])}"
                     f"{why(bug, effect)})" for bug, (_, _, effect) in effects.items())
