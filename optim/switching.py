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


# The runs' tags, as the chapter labels them.
PAPER, LOOSE, BUG = "SWATS (ε = 1e-9, paper)", "SWATS (ε = 1e-3)", "SWATS with the in-place bug (ε = 1e-3)"
REPLICATION, WHOLE, DECAYED = "SWATS (ε = 1e-5)", "SWATS (ε = 1e-5, whole model)", "SWATS (ε = 1e-5) + step decay"


def claims(ch, accuracy: dict, swats_steps: pd.DataFrame, bug_step: float, our_step: float, regime_acc: dict,
           regime_steps: pd.DataFrame, on_regime: list[str], adam: str, best_sgd: str) -> list[dict]:
    """The chapter's claims (``ch``: the :class:`optim.book.Chapter`) on the CNN — Λ settles
    (:func:`settle_range`), tensors switch with the paper's ε and with the replication's, per
    tensor as the whole model, and the popular implementation's in-place bug (its steady step
    ``bug_step`` in units of Λ·g; ours ``our_step``) — and on the regime: each SWATS variant of
    ``on_regime`` (tags; those ending in "+ step decay" under step decay) against ``adam`` and the
    tuned SGD ``best_sgd`` in final test accuracy (``regime_acc``), and whether it switched there.
    ``accuracy``: tag → per-seed final test accuracy on the CNN; ``*_steps``: the runs' probes."""
    from . import verdicts

    settles = {seed: settle_range(run) for seed, run in swats_steps[swats_steps.tag == PAPER].groupby("seed")}
    switch_seen = (f"fraction of tensors switched: {share_switched(swats_steps, PAPER):.2f} (ε = 1e-9), "
                   f"{share_switched(swats_steps, LOOSE):.2f} (ε = 1e-3, first switch at step "
                   f"{first_switch(swats_steps, LOOSE)}) after {int(swats_steps.step.max())} steps")
    switched_paper, switched_replication = (switched_per_run(swats_steps, t) for t in (PAPER, REPLICATION))
    on_cosine = [t for t in on_regime if not t.endswith("step decay")]
    on_step = [t for t in on_regime if t.endswith("step decay")]
    return [
        ch.judge("lambda_settles", [verdicts.estimate("relative range of Λ over the last 20% of the steps "
                                                      "(paper's ε)", settles, "less", 0.1)]),
        ch.judge("switches", [verdicts.proportion("runs in which some tensor switched (ε = 1e-9)",
                                                  switched_paper, "greater", 0.5)], note=switch_seen),
        ch.judge("replication", [
            verdicts.proportion("runs in which no tensor switched with ε = 1e-9", [not s for s in switched_paper],
                                "greater", 0.5),
            verdicts.proportion("runs in which some tensor switched with ε = 1e-5", switched_replication,
                                "greater", 0.5)]),
        ch.judge_accuracy("granularity", accuracy, [(REPLICATION, WHOLE)], "similar",
                          note=f"runs that switched: {runs_switched(swats_steps, REPLICATION):.0%} per tensor, "
                               f"{runs_switched(swats_steps, WHOLE):.0%} whole model"),
        ch.judge("popular_bug", [verdicts.observe("its steady step under a constant gradient, in units of Λ·g",
                                                  bug_step, "greater", 0.95)],
                 note=f"optim.SWATS: {our_step:.4f}·Λ·g"),
        ch.judge_accuracy("regime_swats_vs_adam", regime_acc, [(t, adam) for t in on_cosine], "greater"),
        ch.judge_accuracy("regime_swats_vs_sgd", regime_acc, [(t, best_sgd) for t in on_cosine], "at_least"),
        ch.judge("regime_swats_switches", [verdicts.proportion(
            "runs in which some tensor switched (ε = 1e-9, the regime)",
            switched_per_run(regime_steps, on_cosine[0], by="seed"), "greater", 0.5)]),
        ch.judge_accuracy("regime_swats_step", regime_acc, [(t, best_sgd + " + step decay") for t in on_step], "similar"),
    ]


def glue_values(accuracy: dict, swats_steps: pd.DataFrame, bug_step: float, regime_acc: dict,
                regime_steps: pd.DataFrame, on_regime: list[str], adam: str, best_sgd: str) -> dict[str, object]:
    """The numbers the chapter's reading quotes (arguments as :func:`claims`'): mean final test
    error (regime) or accuracy (CNN) per run group, and who switched, when and how often."""
    def error(tag):
        return f"{100 * (1 - regime_acc[tag].mean()):.1f}%"

    def acc(tag):
        return f"{accuracy[tag].mean():.1%}"

    on_cosine = [t for t in on_regime if not t.endswith("step decay")]
    on_step = [t for t in on_regime if t.endswith("step decay")]
    switched = switched_per_run(regime_steps, on_cosine[0], by="seed")
    return dict(regime_paper=error(on_cosine[0]), regime_replication=error(on_cosine[1]),
                regime_adam=error(adam), regime_sgd=error(best_sgd),
                regime_paper_step=error(on_step[0]), regime_replication_step=error(on_step[1]),
                regime_sgd_step=error(best_sgd + " + step decay"), regime_switched=f"{sum(switched)} of {len(switched)}",
                switched_paper=f"{share_switched(swats_steps, PAPER):.0%}", steps=f"{int(swats_steps.step.max()):,}",
                first_switch=first_switch(swats_steps, LOOSE), acc_loose=acc(LOOSE), acc_adam=acc("Adam"),
                acc_sgd=acc("SGD + momentum"), bug_speed=f"{bug_step:.2f}", acc_bug=acc(BUG),
                runs_switched=f"{runs_switched(swats_steps, REPLICATION):.0%}",
                whole_switched=f"{runs_switched(swats_steps, WHOLE):.0%}", acc_decayed=acc(DECAYED),
                acc_sgd_decayed=acc("SGD + momentum + step decay"))
