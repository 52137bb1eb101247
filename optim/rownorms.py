"""ND-Adam's mechanism (Zhang et al. 2017, Algorithm 1), read from the runs' ``rows`` probes
(:mod:`optim.probes`): per logged step, the mean norm of the hidden units' weight vectors
(``row_norm_mean``), its largest distance from 1 (``row_norm_error``) and the median cosine
between each row's update and its negative first moment (``update_moment_cosine``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .analysis import per_seed


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


# The authors' code against the paper, one change at a time: (plan, with the change, without it, the change).
CODE_STEPS = [("code_beta2", "ND-Adam, β2 = 0.99", "ND-Adam", "the authors' β2 = 0.99 and the paper's 0.999"),
              ("code_gamma", "ND-Adam, β2 = 0.99, γ = 1", "ND-Adam, β2 = 0.99", "batch-norm γ held at 1 and learned"),
              ("code_penalty", "ND-Adam, β2 = 0.99, γ = 1, logit penalty", "ND-Adam, β2 = 0.99, γ = 1",
               "the logit penalty and the batch-normalized softmax")]


def claims(ch, steps: pd.DataFrame, accuracy: dict, regime_acc: dict, on_regime: list[str], adam: str,
           best_sgd: str) -> list[dict]:
    """The chapter's claims (``ch``: the :class:`optim.book.Chapter`): the mechanism read from
    the probes in ``steps`` (:func:`mechanism`: ND-Adam's rows stay on the unit sphere, its update
    follows −m_i while Adam's does not, Adam's and SGD's row norms drift); on the regime, each
    ND-Adam form of ``on_regime`` against ``adam`` and the tuned SGD ``best_sgd`` in final test
    accuracy (``regime_acc``); and each step of :data:`CODE_STEPS` (``accuracy``: on the WRN)."""
    from . import verdicts

    mech = mechanism(steps)
    return [
        ch.judge("unit_norm", [verdicts.observe("ND-Adam's largest |‖w_i‖ − 1| logged", mech.norm_error["ND-Adam"],
                                                "less", 1e-4)],
                 note=f"Adam {mech.norm_error['Adam']:.2f}, SGD {mech.norm_error['SGD + momentum']:.2f}"),
        ch.judge("direction", [
            verdicts.estimate("ND-Adam's median cos(Δw_i, −m_i)", mech.alignment["ND-Adam"], "greater", 0.99),
            verdicts.estimate("Adam's median cos(Δw_i, −m_i)", mech.alignment["Adam"], "less", 0.99)]),
        ch.judge("drift", [verdicts.estimate(f"{t}: relative change of mean ‖w_i‖, first → last logged step",
                                             mech.drift[t], "greater", 0.05) for t in ("Adam", "SGD + momentum")]),
        ch.judge_accuracy("regime_ndadam_vs_adam", regime_acc, [(t, adam) for t in on_regime], "greater"),
        ch.judge_accuracy("regime_ndadam_vs_sgd", regime_acc, [(t, best_sgd) for t in on_regime], "at_least"),
    ] + [ch.judge_accuracy(plan, accuracy, [(a, b)], "similar") for plan, a, b, _ in CODE_STEPS]


def glue_values(rows: list[dict], steps: pd.DataFrame, epochs: pd.DataFrame, regime_acc: dict, on_regime: list[str],
                adam: str, best_sgd: str) -> dict[str, str]:
    """The numbers the chapter's reading quotes (arguments as :func:`claims`'; ``rows``: its
    claims, in order; ``epochs``: the WRN runs' epochs; ``on_regime``: the paper's form, then
    the authors' code): the mechanism's readings, the median
    swing of a run's test accuracy from one epoch to the next in the second half, mean final
    test errors on the regime, and the verdicts of the authors' code, step by step."""
    mech = mechanism(steps)
    alignment = {t: float(v.mean()) for t, v in mech.alignment.items()}
    second_half = epochs[epochs.epoch > epochs.epoch.max() / 2].sort_values("epoch")
    swing = second_half.groupby("key")["test_acc"].diff().abs().median()
    accuracy = {t: float(v.mean()) for t, v in per_seed(epochs, "tag", "test_acc").items()}

    def error(tag):
        return f"{100 * (1 - regime_acc[tag].mean()):.1f}%"

    return dict(norm_error=f"{mech.norm_error['ND-Adam']:.0e}", alignment=f"{alignment['ND-Adam']:.4f}",
                alignment_adam=f"{alignment['Adam']:.3f}",
                norm_adam=f"{mech.norm_start['Adam']:.2f} to {mech.norm_end['Adam']:.2f}",
                norm_sgd=f"{mech.norm_start['SGD + momentum']:.2f} to {mech.norm_end['SGD + momentum']:.2f}",
                swing=f"{100 * swing:.1f}", nd_paper=error(on_regime[0]), nd_code=error(on_regime[1]),
                adam=error(adam), sgd=error(best_sgd), code_acc=f"{accuracy[CODE_STEPS[-1][1]]:.1%}",
                code_steps="; ".join(f"{what}: {r['verdict']}"
                                     for (_, _, _, what), r in zip(CODE_STEPS, rows[-len(CODE_STEPS):])))
