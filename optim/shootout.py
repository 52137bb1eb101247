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


# The families by the algorithm: a step scaled per parameter by a running average of squared
# gradients, or one global step; SWATS switches from the first to the second, so it is in neither.
ADAPTIVE = ["adagrad", "rmsprop", "adadelta", "adam", "adamax", "amsgrad", "nadam", "adamw", "ndadam"]
SGD_TYPE = ["sgd", "momentum", "nesterov", "sgdw"]
BUG_PLANS = [("bug 1", "bug1", "training minus test accuracy, honest run"),
             ("bug 2", "bug2", "test accuracy, buggy minus honest"), ("bug 3", "bug3", "test accuracy, buggy minus honest")]


def claims(ch, shootout_epochs: pd.DataFrame, tuned_epochs: pd.DataFrame, bug_runs: pd.DataFrame,
           accuracy: pd.Series) -> list[dict]:
    """The chapter's claims (``ch``: the :class:`optim.book.Chapter`): at lr = 0.001 the adaptive
    family ends below the SGD-type one (:func:`family_loss`, paired by seed); the shoot-out's
    ranking predicts the tuned one (:func:`rank_correlation`, strong > 0.8 and moderate > 0.5);
    the tuned optimizers differ in test accuracy (omnibus; ``accuracy``: their mean final test
    accuracy, quoted in the note); and each evaluation bug of :data:`BUGS` against the honest
    accuracy. A claim over seeds with a single shoot-out seed is untestable, and says so."""
    from . import verdicts

    shoot = pd.DataFrame(per_seed(shootout_epochs, "optimizer", "train_loss"))  # seeds × optimizers
    tuned = pd.DataFrame(per_seed(tuned_epochs, "optimizer", "test_acc"))
    rho = rank_correlation(shoot, tuned)
    bugs, honest = bug_effects(bug_runs), per_seed(bug_runs, "tag", "test_acc")["honest"]
    one_seed = "one shoot-out seed in this profile: a {} over seeds needs two"
    return [
        ch.judge("adaptive_faster", [verdicts.compare(
            "adaptive family", family_loss(shoot, ADAPTIVE), "SGD-type family", family_loss(shoot, SGD_TYPE),
            "final training loss (geometric mean over the family)", "less", ch.plans["adaptive_faster"].sesoi)])
        if len(shoot) > 1 else ch.untestable("adaptive_faster", one_seed.format("comparison")),
        ch.judge("ranking", [verdicts.estimate("Spearman correlation with the tuned ranking (strong)", rho, "greater", 0.8),
                             verdicts.estimate("the same (moderate)", rho, "greater", 0.5)])
        if len(rho) > 1 else ch.untestable("ranking", one_seed.format("correlation")),
        ch.judge("differ", [verdicts.omnibus("test accuracy after tuning", tuned)],
                 note=f"best mean {accuracy.idxmax()} {accuracy.max():.4f}, worst {accuracy.idxmin()} {accuracy.min():.4f}"),
    ] + [ch.judge(plan, [verdicts.compare(bugs[bug][0], bugs[bug][1], "honest test accuracy", honest, "final accuracy",
                                          "similar", ch.plans[plan].sesoi, "difference", higher_is_better=True)],
                  note=f"{measure}: {bugs[bug][2]:+.4f}") for bug, plan, measure in BUG_PLANS]


def glue_values(ch, rows: list[dict], shootout_epochs: pd.DataFrame, tuned_epochs: pd.DataFrame,
                bug_runs: pd.DataFrame, accuracy: pd.Series, optimizers: list[str]) -> dict[str, object]:
    """The numbers and phrases the chapter's reading quotes, from its claims ``rows`` (in
    :func:`claims`' order) and the runs: the shoot-out's verdicts, Spearman's ρ, how many tuned
    optimizers end within the SESOI of the best, the spread, the control (optimizers that end
    exactly where SGD does, in every run) and the bugs' effects (:func:`bug_words`)."""
    shoot = pd.DataFrame(per_seed(shootout_epochs, "optimizer", "train_loss"))
    rho = float(rank_correlation(shoot, pd.DataFrame(per_seed(tuned_epochs, "optimizer", "test_acc"))).mean())
    tied = accuracy[accuracy >= accuracy.max() - ch.plans["bug1"].sesoi].index  # within the claims' smallest effect
    by_seed = [last(frame).set_index(["optimizer", "seed"])[column].unstack()
               for frame, column in ((tuned_epochs, "test_acc"), (shootout_epochs, "train_loss"))]
    same_as_sgd = twins(by_seed, "sgd", optimizers)
    verdict = [row["verdict"] for row in rows]
    return dict(
        ranking=("At lr = 0.001 the adaptive methods do train faster than the SGD-type ones" if verdict[0] == "reproduced"
                 else "That the adaptive methods train faster at lr = 0.001 is"),
        ranking_verdict=verdict[0], guide="a fair" if verdict[1] == "reproduced" else "a poor",
        rho=f"{rho:.2f}", rho_verdict=verdict[1], tied=len(tied), optimizers=len(accuracy), best=accuracy.idxmax(),
        best_acc=f"{accuracy.max():.2%}", worst=accuracy.idxmin(), worst_acc=f"{accuracy.min():.2%}",
        spread=f"{100 * (accuracy.max() - accuracy.min()):.1f}", spread_verdict=verdict[2],
        twins=(f" {' and '.join(same_as_sgd)} ended exactly where SGD did, in every run: the control works."
               if same_as_sgd else " No optimizer ended exactly where SGD did."),
        bugs=bug_words(bug_effects(bug_runs), dict(zip(BUGS, verdict[3:]))))


def shootout_glue(shootout_epochs: pd.DataFrame, defaults_epochs: pd.DataFrame, defaults: dict[str, float],
                  classes: int) -> dict[str, object]:
    """The shoot-out's reading: who ends near the lowest final training loss at lr = 0.001 and at
    each constructor's default rate (:func:`standing`), which default helped and hurt most (the
    ratio of final losses, optimizers whose default is 0.001 left out), and the runs that end
    near a uniform guess over ``classes`` (:func:`near_uniform`)."""
    shoot_last, default_last = last(shootout_epochs), last(defaults_epochs)
    shoot_end = shoot_last.groupby("optimizer")["train_loss"].mean()
    default_end = default_last.groupby("optimizer")["train_loss"].mean()
    change = (default_end / shoot_end).drop([o for o, lr in defaults.items() if lr == 1e-3 and o in shoot_end.index])
    stuck = {"lr = 0.001": near_uniform(shoot_last, classes), "the default rates": near_uniform(default_last, classes)}
    stuck_text = "".join(f" At {where}, these runs end within 5% of a uniform guess's loss: {runs}."
                         for where, runs in stuck.items() if runs)
    return dict(shootout_standing=standing(shoot_end), classes=classes, uniform=f"{np.log(classes):.2f}",
                default_standing=standing(default_end), helped=change.idxmin(), helped_by=f"{change.min():.2g}",
                hurt=change.idxmax(), hurt_by=f"{change.max():.2g}",
                stuck=stuck_text or " No run ends near a uniform guess's loss.")


def bug_figure(bug_runs: pd.DataFrame):
    """What the benchmark reports per epoch under each setting of :data:`REPORTED` (left), and each
    seed's value after the last epoch beside the mean (right)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from . import plots

    shown = reported(bug_runs)
    final = shown[shown.epoch == shown.epoch.max()]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw=dict(width_ratios=(3, 2)))
    plots.curves(shown, "epoch", "value", "setting", ax=axes[0], marker="o", title="what the benchmark reports, per epoch")
    axes[0].set(ylabel="reported accuracy")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, frameon=False, fontsize=9)
    axes[0].get_legend().remove()
    plots.seed_points({s: g.set_index("seed")["value"] for s, g in final.groupby("setting", sort=False)}, ax=axes[1],
                      colours=plots.tag_palette(shown, "setting"), scale=100)
    axes[1].set(ylabel="after the last epoch (%)", title="each seed and the mean",
                xticklabels=["honest", "bug 1", "bug 2", "bug 3"])
    axes[1].tick_params(axis="x", rotation=0)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
