"""Two DeepOBS test problems as the "Crowded Valley" benchmark ran them, and its published runs.

Schmidt, Schneider & Hennig (ICML 2021) ran every optimizer of DeepOBS (Schneider et al.,
2019) with its default ("one-shot") hyperparameters and a constant learning rate, on ten
seeds. ``data/reference/deepobs/`` holds the per-seed, per-epoch test metrics of the seeds
available to this book for ``fmnist_2c2d`` and ``mnist_vae`` (see its README for sources,
transcription and checksums). :func:`spec` builds our run of a problem with an optimizer's
published hyperparameters translated to our registry; :func:`published` reads theirs.

Set-up as DeepOBS defines it: pixels scaled to [0, 1], 50,000 training images (10,000 of the
official training set held out for validation; here a stratified draw, in DeepOBS a fixed
slice), the official 10,000 test images (DeepOBS evaluates 9,984: whole batches only), the
test metrics evaluated at the start of every epoch (epoch 0: the untrained model).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .data import info
from .spec import RunSpec

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "deepobs"
PER_SEED = REFERENCE / "crowded_valley_per_seed.csv"
RUN_STATUS = REFERENCE / "crowded_valley_run_status.tsv"
SHA256 = {
    PER_SEED.name: "55ae2e54bf9e70a79eca47c2133c92fd1410f455f682bcb617283041c13bd5be",
    RUN_STATUS.name: "2c7f4b3be3727c3cd0d3d5a726786e787adfaa08bcc9e91d3905bcfcb9919c34",
}
VALIDATION = 1 / 6  # 10,000 of the 60,000 training images


@dataclass(frozen=True)
class Problem:
    """A DeepOBS test problem: our model and dataset, its batch size and epochs, and the test
    metric the comparison uses (accuracy for a classifier, loss for an autoencoder)."""

    name: str
    model: str
    dataset: str
    batch_size: int
    epochs: int
    metric: str

    @property
    def train_size(self) -> int:
        """Training images after the validation split (50,000 for MNIST and Fashion-MNIST)."""
        pool = info(self.dataset).train_size
        return pool - round(pool * VALIDATION)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.train_size // self.batch_size)


PROBLEMS = {
    "fmnist_2c2d": Problem("fmnist_2c2d", "deepobs_2c2d", "fashion-mnist", 128, 100, "test_acc"),
    "mnist_vae": Problem("mnist_vae", "deepobs_vae", "mnist", 64, 50, "test_loss"),
}

# DeepOBS's (TensorFlow 1) optimizers with the one-shot hyperparameters of the study, as our
# registry's optimizers. Known differences (none is large at these settings): TensorFlow adds
# Adam's ε to √v rather than √v̂; its AdaGrad has no ε; its RMSProp starts the mean square at 1
# (torch: 0) and adds ε inside the square root; its Nadam is the schedule-free Nesterov-Adam
# (our ``variant="tensorflow"``); the study's AMSGrad is a contributed implementation.
OPTIMIZERS: dict[str, tuple[str, str, dict]] = {
    "AdamOptimizer": ("Adam", "adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)),
    "GradientDescentOptimizer": ("SGD", "sgd", dict(lr=1e-2)),
    "MomentumOptimizer": ("Momentum", "momentum", dict(lr=1e-2, momentum=0.99)),
    "NAGOptimizer": ("NAG", "nesterov", dict(lr=1e-2, momentum=0.99)),
    "AMSGrad": ("AMSGrad", "amsgrad", dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8)),
    "AdagradOptimizer": ("AdaGrad", "adagrad", dict(lr=1e-2, initial_accumulator_value=0.1)),
    "RMSPropOptimizer": ("RMSProp", "rmsprop", dict(lr=1e-3, alpha=0.9, eps=1e-10)),
    "AdadeltaOptimizer": ("AdaDelta", "adadelta", dict(lr=1e-3, rho=0.95, eps=1e-8)),
    "NadamOptimizer": ("Nadam", "nadam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-7, variant="tensorflow")),
}


_OUR_NAME = {label: name for label, name, _ in OPTIMIZERS.values()}  # "NAG" -> "nesterov"


def _lookup(table: dict, name: str, what: str):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; valid names: {', '.join(table)}")
    return table[name]


def spec(problem: str, optimizer: str, seed: int, *, epochs: int | None = None, n_train: int | None = None,
         device: str = "auto", precision: str = "fp32", memory_format: str = "contiguous",
         log_every: int = 10) -> RunSpec:
    """Our run of DeepOBS ``problem`` with the study's ``optimizer`` (a DeepOBS name, see
    OPTIMIZERS) on ``seed``, for ``epochs`` (default: the problem's own). ``n_train`` takes a
    subset of the training images (before the validation split; None: all of them)."""
    p = _lookup(PROBLEMS, problem, "DeepOBS problem")
    label, name, hparams = _lookup(OPTIMIZERS, optimizer, "DeepOBS optimizer")
    return RunSpec(p.model, p.dataset, name, hparams, epochs=epochs or p.epochs, batch_size=p.batch_size, n_train=n_train,
                   seed=seed, validation=VALIDATION, initial_evaluation=True, log_every=log_every, device=device,
                   precision=precision, memory_format=memory_format, tag=label)


def _verified(path: Path) -> Path:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256[path.name]:
        raise ValueError(f"{path} has sha256 {digest}, expected {SHA256[path.name]}: the published copy was altered")
    return path


def published(problem: str) -> pd.DataFrame:
    """The study's per-seed test metrics of ``problem``: one row per (optimizer, seed, epoch)
    with ``label`` (our name for the optimizer), ``test_loss``, ``test_acc`` (classifiers) and
    ``status`` ('ok', 'diverged' or 'no progress'; a diverged run's later epochs repeat its
    initial values, DeepOBS's filler, and are dropped here)."""
    _lookup(PROBLEMS, problem, "DeepOBS problem")
    runs = pd.read_csv(_verified(PER_SEED))
    runs = runs[runs.testproblem == problem].drop(columns="testproblem")
    status = pd.read_csv(_verified(RUN_STATUS), sep="\t")
    status = status[status.testproblem == problem][["optimizer", "seed", "status"]]
    status["status"] = status["status"].str.split(":").str[0]  # "diverged: epochs >= 1 filled …"
    runs = runs.merge(status, on=["optimizer", "seed"], how="left")
    runs["label"] = runs["optimizer"].map(lambda o: OPTIMIZERS[o][0])
    # DeepOBS aborts a run at a non-finite loss and fills the remaining epochs with epoch 0's values.
    initial = runs[runs.epoch == 0].set_index(["optimizer", "seed"])["test_loss"]
    filler = (runs.epoch > 0) & (runs["status"] == "diverged") & \
        (runs.set_index(["optimizer", "seed"]).index.map(initial).values == runs["test_loss"].values)
    return runs[~filler].reset_index(drop=True)


def sides(ours: pd.DataFrame, problem: str, epoch: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per optimizer (our label, in run order): (our values, the study's values) of the problem's
    test metric at ``epoch``, one per seed, NaN for a run that diverged (the study's runs keep
    DeepOBS's filler values after diverging: those are NaN here too)."""
    p = _lookup(PROBLEMS, problem, "DeepOBS problem")
    theirs = published(problem)
    out = {}
    for label, runs in ours.groupby("tag", sort=False):
        diverged = runs.groupby("key")["diverged"].first().astype(bool)
        mine = runs[runs.epoch == epoch].groupby("key")[p.metric].first().reindex(diverged.index)
        mine[diverged] = np.nan
        ref = theirs[theirs.label == label]
        ref_diverged = ref.groupby("seed")["status"].first().eq("diverged")
        published_values = ref[ref.epoch == epoch].groupby("seed")[p.metric].first().reindex(ref_diverged.index)
        published_values[ref_diverged] = np.nan
        out[label] = (mine.to_list(), published_values.to_list())
    return out


def _scale(problem: str) -> tuple[str, str]:
    metric = PROBLEMS[problem].metric
    return ("difference" if metric.endswith("acc") else "ratio"), f"{metric.replace('_', ' ')}"


def judge(ours: pd.DataFrame, problem: str, epoch: int, sesoi: float) -> dict[str, object]:
    """Per optimizer (our label), our test metric at ``epoch`` against the study's seeds at the
    same epoch, by the book's verdict rule: ``similar`` within ``sesoi`` (a difference of
    accuracy, or a relative change of loss), Welch's interval (our seeds and theirs are not
    paired). A run that diverged, ours or theirs, is an outcome: the two sides' counts are
    compared by Fisher's exact test, and the metric over the finished runs."""
    from . import verdicts

    scale, metric = _scale(problem)
    return {label: verdicts.compare(f"ours ({label})", mine, f"DeepOBS ({label})", published_values,
                                    f"{metric} after epoch {epoch}", "similar", sesoi, scale,
                                    higher_is_better=scale == "difference")
            for label, (mine, published_values) in sides(ours, problem, epoch).items()}


def judge_pooled(ours: pd.DataFrame, problem: str, epoch: int, sesoi: float) -> tuple[object, list[str]]:
    """The engine check pooled over optimizers: our offset from the study averaged over every
    optimizer whose runs all finished on both sides (:func:`optim.verdicts.pooled`), and the
    optimizers left out because some run diverged (judged on their own by :func:`judge`)."""
    from . import verdicts

    scale, metric = _scale(problem)
    pairs = sides(ours, problem, epoch)
    kept = {label: pair for label, pair in pairs.items() if np.isfinite(pair[0]).all() and np.isfinite(pair[1]).all()}
    left_out = [label for label in pairs if label not in kept]
    part = verdicts.pooled("ours", "DeepOBS", kept, f"{metric} after epoch {epoch}, mean over {len(kept)} optimizers",
                           "similar", sesoi, scale)
    return part, left_out


def gap(ours: pd.DataFrame, problem: str, metric: str) -> pd.DataFrame:
    """Our mean ``metric`` against the study's, per optimizer (rows, our labels in run order)
    and epoch (columns, 1 to our last): the difference in points (100×) for an accuracy, the
    ratio for a loss. Means over the runs that did not diverge, ours and theirs; NaN where
    either side has none."""
    _lookup(PROBLEMS, problem, "DeepOBS problem")
    if metric not in ("test_acc", "test_loss"):
        raise ValueError(f"metric={metric!r} is invalid: expected 'test_acc' or 'test_loss'")
    theirs = published(problem)
    theirs = theirs[(theirs["status"] != "diverged") & (theirs.epoch >= 1)]
    kept = ours[~ours["diverged"].astype(bool) & (ours.epoch >= 1)]
    labels = list(dict.fromkeys(ours["tag"]))
    mine = kept.groupby(["tag", "epoch"])[metric].mean().unstack().reindex(labels)
    ref = theirs.groupby(["label", "epoch"])[metric].mean().unstack().reindex(index=labels, columns=mine.columns)
    out = (mine - ref) * 100 if metric == "test_acc" else mine / ref
    out.index.name, out.columns.name = "optimizer", "epoch"
    return out


def training_images(runs: pd.DataFrame) -> pd.Series:
    """Per row of a run frame: training images seen by the end of its epoch, in epochs of
    DeepOBS's 50,000 (a subset's epoch counts for less)."""
    full = info(runs["dataset"].iloc[0]).train_size
    pool = runs["n_train"].fillna(full).astype(int)
    train = pool - (pool * runs["validation"]).round().astype(int)
    return runs["epoch"] * train / (full - round(full * VALIDATION))


def draw(ours: pd.DataFrame, problem: str, axes, *, logy: bool = False) -> None:
    """One panel per optimizer: the study's seeds as a band (min to max over seeds) and their
    mean as a dashed line, our seeds as solid lines, against the training images seen (in
    DeepOBS epochs of 50,000), up to our last."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    from .plots import OPTIMIZER_COLOURS

    p = _lookup(PROBLEMS, problem, "DeepOBS problem")
    theirs = published(problem)
    ours = ours.assign(seen=training_images(ours))
    last_epoch = max(1, int(np.ceil(ours["seen"].max() - 1e-9)))
    labels = list(dict.fromkeys(ours["tag"]))
    for ax, label in zip(axes, labels):
        colour = OPTIMIZER_COLOURS.get(_OUR_NAME[label], "C0")
        ref = theirs[(theirs.label == label) & (theirs.epoch <= last_epoch)].groupby("epoch")[p.metric]
        band = ref.agg(["min", "max", "mean"])
        ax.fill_between(band.index, band["min"], band["max"], color="0.8", label="DeepOBS seeds (range)")
        ax.plot(band.index, band["mean"], color="0.35", ls="--", lw=1, label="DeepOBS mean")
        for _, run in ours[ours.tag == label].groupby("key"):
            ax.plot(run["seen"], run[p.metric], color=colour, lw=1.2, marker="o", ms=2.5, alpha=0.9)
        ax.plot([], [], color=colour, lw=1.2, marker="o", ms=2.5, label="ours (one line per seed)")
        ax.set_title(label, fontsize=10)
        if logy:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 3, 5)))
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
    for ax in axes[len(labels):]:
        ax.set_visible(False)


def epoch_zero(ours: pd.DataFrame, problem: str) -> tuple[np.ndarray, np.ndarray]:
    """The untrained network's test loss (epoch 0) per seed: (ours, the study's)."""
    theirs = published(problem)
    return (ours[ours.epoch == 0].groupby("seed")["test_loss"].first().to_numpy(),
            theirs[theirs.epoch == 0].groupby("seed")["test_loss"].first().to_numpy())


def figure(ours: pd.DataFrame, problem: str, metric_label: str, *, logy: bool = False):
    """:func:`draw`'s panels in one figure, the y axis on the trained epochs' range (the
    untrained network is left out), with each run that diverged or left that range named in
    its panel."""
    import matplotlib.pyplot as plt

    theirs, metric = published(problem), _lookup(PROBLEMS, problem, "DeepOBS problem").metric
    labels = list(dict.fromkeys(ours["tag"]))
    ncols = min(3, len(labels))
    nrows = -(-len(labels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(9, 2.9 * nrows + 0.6), sharex=True, sharey=True, squeeze=False)
    draw(ours, problem, axes.ravel(), logy=logy)
    trained = pd.concat([ours.loc[(ours.epoch >= 1) & ~ours.diverged.astype(bool), metric],
                         theirs.loc[(theirs.epoch >= 1) & (theirs.epoch <= ours.epoch.max()), metric]])
    if logy:  # a loss: from below the lowest to above the untrained network's
        top = 1.15 * ours.loc[ours.epoch == 0, metric].max()
        low, high = 0.9 * trained[trained < top].min(), top
    else:  # an accuracy
        low, high = trained.min() - 0.01, trained.max() + 0.005
    axes[0][0].set_ylim(low, high)
    for ax, label in zip(axes.ravel(), labels):
        mine = ours[ours.tag == label]
        diverged = mine.groupby("key")["diverged"].first().astype(bool)
        finite = mine[(mine.epoch >= 1) & ~mine.diverged.astype(bool)].groupby("key")[metric]
        off = finite.max() > high if logy else finite.min() < low
        notes = ([f"{diverged.sum()} of our {len(diverged)} runs diverged"] if diverged.any() else []) + \
                ([f"{off.sum()} off the axis ({'up to' if logy else 'down to'} "
                  f"{(finite.max() if logy else finite.min())[off].agg('max' if logy else 'min'):,.4g})"] if off.any() else [])
        if notes:
            ax.text(0.5, 0.5, "\n".join(notes), transform=ax.transAxes, ha="center", va="center", fontsize=9)
    fig.supxlabel("training images seen (epochs of 50,000)", fontsize=11)
    fig.supylabel(metric_label, fontsize=11)
    # one legend for every panel, above them (beside the first panel it would cover the second)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", ncol=3, frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def _rise(frame: pd.DataFrame, last: int) -> pd.Series:
    """Per optimizer: the mean test loss at epoch ``last`` over its lowest mean from epoch 1 on, minus 1."""
    means = frame[(frame.epoch >= 1) & (frame.epoch <= last)].groupby(["tag", "epoch"])["test_loss"].mean().unstack()
    return means[last] / means.min(axis=1) - 1


def where_they_part(ours: pd.DataFrame, problem: str) -> str:
    """In words: how far our mean test accuracy is from the study's over the first and the
    second half of our epochs, our test loss against theirs at the end, and how far each side's
    test loss has risen above its lowest by then (overfitting)."""
    accuracy_gap, loss_ratio = gap(ours, problem, "test_acc"), gap(ours, problem, "test_loss")
    last = accuracy_gap.columns.max()
    half = [e for e in accuracy_gap.columns if e <= last / 2]
    later = [e for e in accuracy_gap.columns if e > last / 2]
    if not half:
        span = accuracy_gap[last]
        by = f"{span.min():+.1f}" + (f" to {span.max():+.1f}" if len(span) > 1 else "")
        return (f"After {last} epoch, our mean test accuracy differs from the study's by {by} points; the full "
                "profile's ten epochs show how the gap develops.")
    theirs = published(problem).rename(columns={"label": "tag"})
    rise_ours = _rise(ours[~ours.diverged.astype(bool)], last)
    rise_theirs = _rise(theirs[theirs.status != "diverged"], last).reindex(rise_ours.index)  # our optimizers
    fresh = [t for t in rise_ours.index if rise_ours[t] == 0 and rise_theirs.get(t, 1) == 0]
    return (
        f"Over epochs 1–{max(half)}, our mean test accuracy is within "
        f"{accuracy_gap[half].abs().max().max():.1f} points of the study's for every optimizer. Over epochs "
        f"{min(later)}–{last} it is higher for {(accuracy_gap[later].mean(axis=1) > 0).sum()} of "
        f"{len(accuracy_gap)} optimizers, by up to {accuracy_gap[later].max().max():.1f} points, and after epoch "
        f"{last} our mean test loss is {loss_ratio[last].min():.2f}–{loss_ratio[last].max():.2f} times the study's. "
        f"By then the mean test loss has risen above its lowest by a median {rise_theirs.median():.0%} in the "
        f"study's runs and {rise_ours.median():.0%} in ours (more in theirs for "
        f"{(rise_theirs > rise_ours).sum()} of {len(rise_ours)} optimizers"
        + (f"; {', '.join(fresh)} {'has' if len(fresh) == 1 else 'have'} not begun to overfit in either" if fresh else "")
        + ").")


def match_claims(ours: pd.DataFrame, problem: str, epoch: int, plan, profile: str, variant: str = "") -> list[dict]:
    """The engine check's claim rows for one problem, one per optimizer (:func:`judge` under
    ``plan``): our metric after ``epoch`` matches the study's within the plan's margin — or,
    where a run diverged on either side, our runs diverge as often as theirs (the metric then
    cannot be compared, and the claim says so). ``variant``: how these runs differ from the
    chapter's own, named after the optimizer in each claim (", with DeepOBS's data order")."""
    from . import verdicts

    metric = {"test_acc": "test accuracy", "test_loss": "test loss"}[_lookup(PROBLEMS, problem, "DeepOBS problem").metric]
    tolerance = f"within {plan.sesoi * 100:g} point" if metric.endswith("accuracy") else f"within {plan.sesoi:.0%}"
    rows = []
    for label, c in judge(ours, problem, epoch, plan.sesoi).items():
        claim = (f"{problem}, {label}{variant}: our runs diverge as often as DeepOBS's (the {metric} cannot be "
                 f"compared: {c.diverged_a} of {c.n_a} of ours and {c.diverged_b} of {c.n_b} of theirs diverged)"
                 if c.test.startswith("Fisher") else
                 f"{problem}, {label}{variant}: our {metric} after epoch {epoch} matches DeepOBS's ({tolerance})")
        rows.append(verdicts.claim(claim, [c], plan, profile, section=plan.section))
    return rows


def chapter_claims(ch, runs: dict[str, pd.DataFrame], sizes: dict[str, dict]) -> list[dict]:
    """The chapter's claims about the study's problems (``runs``: problem → our runs, ``sizes``:
    problem → its ``epochs``, ``n_train`` and ``optimizers``; ``ch``: the
    :class:`optim.book.Chapter`): per problem, the test loss at epoch 0 against the study's
    (plan ``init``), each optimizer's :func:`match_claims`, and — where the problem has several
    optimizers — the pooled match (:func:`judge_pooled`). The quick profile's VAE cannot be
    compared (the study's curves start after 782 steps): its match is untestable there."""
    from . import verdicts

    rows = []
    for name in sizes:
        ours, theirs = epoch_zero(runs[name], name)
        rows.append(verdicts.claim(f"{name}: {ch.plans['init'].claim}", [verdicts.compare(
            "ours", list(ours), "DeepOBS", list(theirs), "test loss at epoch 0", "similar", ch.plans["init"].sesoi)],
            ch.plans["init"], ch.profile, section=ch.plans["init"].section))
    for name, p in sizes.items():
        vae = PROBLEMS[name].model == "deepobs_vae"
        plan = ch.plans["match_vae" if vae else "match_2c2d"]
        if ch.profile == "quick" and vae:
            rows.append(verdicts.untestable(f"{name}: our optimizers train the VAE as DeepOBS's do",
                                            f"the quick profile trains {p['n_train']:,} images for one epoch; the "
                                            "study's curves start after 782 steps", plan, ch.profile, section=plan.section))
            continue
        rows += match_claims(runs[name], name, p["epochs"], plan, ch.profile)
        if len(p["optimizers"]) > 1:  # pooled over the optimizers whose runs all finished, ours and theirs
            pooled = ch.plans["pooled_vae" if vae else "pooled_2c2d"]
            part, left_out = judge_pooled(runs[name], name, p["epochs"], pooled.sesoi)
            rows.append(verdicts.judge(pooled, [part], ch.profile,
                                       note=f"left out (a run diverged): {', '.join(left_out)}" if left_out else ""))
    return rows


def order_claims(ch, replayed: pd.DataFrame, epoch: int) -> tuple[list[dict], dict[str, str]]:
    """The fmnist_2c2d engine check again with DeepOBS's data order (``replayed``: our runs of
    the study's optimizers with one buffered shuffle replayed every epoch): per optimizer other
    than Adam (plan ``order_match_2c2d``; Adam's row is :func:`engine_checks`' ``replay_match_2c2d``)
    and, where there are several optimizers, pooled over all of them (``pooled_order_2c2d``).
    Returns the rows and the chapter's readings: the pooled offset in points with its interval
    and verdict (where there is no pooled row, what stands in its place)."""
    from . import verdicts

    rows = match_claims(replayed[replayed.tag != "Adam"], "fmnist_2c2d", epoch, ch.plans["order_match_2c2d"],
                        ch.profile, variant=", with DeepOBS's data order")
    glue = dict(order_pooled=f"not computed ({ch.profile} profile: {replayed.tag.nunique()} optimizer)",
                order_pooled_verdict="not judged")
    if replayed.tag.nunique() > 1:
        pooled = ch.plans["pooled_order_2c2d"]
        part, left_out = judge_pooled(replayed, "fmnist_2c2d", epoch, pooled.sesoi)
        rows.append(verdicts.judge(pooled, [part], ch.profile,
                                   note=f"left out (a run diverged): {', '.join(left_out)}" if left_out else ""))
        glue = dict(order_pooled=verdicts.points_words(part), order_pooled_verdict=rows[-1]["verdict"])
    return rows, glue


def order_figure(variants: dict[str, pd.DataFrame], problem: str, label: str = "Adam"):
    """One optimizer's mean test loss and test accuracy per epoch under each of our data orders
    (``variants``: name → our runs) beside the study's mean over its seeds: where the curves
    part, and which of our orders follows the study's."""
    import matplotlib.pyplot as plt

    from .plots import legend_outside

    theirs = published(problem)
    theirs = theirs[(theirs.label == label) & (theirs.status != "diverged")]
    last = max(int(frame.epoch.max()) for frame in variants.values())
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric, name in zip(axes, ("test_loss", "test_acc"), ("test loss (nats)", "test accuracy")):
        for variant, frame in variants.items():
            mine = frame[(frame.tag == label) & ~frame.diverged.astype(bool) & (frame.epoch >= 1)]
            mean = mine.groupby("epoch")[metric].mean()
            ax.plot(mean.index, mean.to_numpy(), marker="o", markersize=3, label=f"ours, {variant}")
        study = theirs[(theirs.epoch >= 1) & (theirs.epoch <= last)].groupby("epoch")[metric].mean()
        ax.plot(study.index, study.to_numpy(), color="0.3", linestyle="--", marker="s", markersize=3,
                label=f"DeepOBS ({theirs.seed.nunique()} seeds)")
        ax.set(xlabel="epoch", ylabel=f"{label}: mean {name}")
    legend_outside(axes[-1])
    fig.tight_layout()
    return fig


def engine_checks(ch, adam: pd.DataFrame, fp32_adam: pd.DataFrame, buffered_adam: pd.DataFrame,
                  replayed_adam: pd.DataFrame, epoch: int, precision: str) -> tuple[list[dict], dict[str, str]]:
    """Is our engine the cause of fmnist_2c2d's offset? Adam's test accuracy after ``epoch``, paired
    by seed: our book's engine (``adam``, under ``precision``) against the same runs in fp32 (plan
    ``precision_2c2d``); DeepOBS's buffered shuffle against a uniform permutation (``shuffle_2c2d``);
    the first epoch's buffered order replayed every epoch, as DeepOBS's TensorFlow runs read their
    data, against a new buffered order each epoch (``replay_2c2d``); and the replayed runs against
    the study itself (``replay_match_2c2d``, unpaired). Returns the claim rows and the chapter's
    glued readings (differences in points of accuracy with their 90% intervals, and each variant's
    offset from the study)."""
    from . import verdicts
    from .analysis import per_seed

    def accuracy(frame):
        return per_seed(frame, "tag", "test_acc")["Adam"]

    comparisons = {plan: verdicts.compare(a, accuracy(frame_a), b, accuracy(frame_b), f"test accuracy after epoch {epoch}",
                                          direction, ch.plans[plan].sesoi, "difference", higher_is_better=True)
                   for plan, a, frame_a, b, frame_b, direction in [
                       ("precision_2c2d", f"ours, {precision}", adam, "ours, fp32", fp32_adam, "similar"),
                       ("shuffle_2c2d", "ours, buffered shuffle", buffered_adam, "ours, permutation", adam, "similar"),
                       ("replay_2c2d", "ours, one buffered order replayed", replayed_adam,
                        "ours, a new buffered order each epoch", buffered_adam, "less")]}
    sesoi = ch.plans["match_2c2d"].sesoi
    offsets = {name: judge(frame, "fmnist_2c2d", epoch, sesoi)["Adam"]
               for name, frame in [("fp32_offset", fp32_adam), ("buffered_offset", buffered_adam),
                                   ("replayed_offset", replayed_adam)]}
    judged = {plan: ch.judge(plan, [c]) for plan, c in
              [*comparisons.items(), ("replay_match_2c2d", offsets["replayed_offset"])]}
    precision_check = comparisons["precision_2c2d"]
    glue = dict(precision=verdicts.points_words(precision_check), shuffle=verdicts.points_words(comparisons["shuffle_2c2d"]),
                replay=verdicts.points_words(comparisons["replay_2c2d"]), replay_verdict=judged["replay_2c2d"]["verdict"],
                replay_match_verdict=judged["replay_match_2c2d"]["verdict"],
                **{name: verdicts.points_words(c) for name, c in offsets.items()},
                precision_outcome={"supports": "within half a point", "contradicts": "outside half a point"}.get(
                    precision_check.outcome, "too few seeds to put that within half a point"))
    return list(judged.values()), glue


def by_verdict(rows: list[dict], verdicts: tuple[str, ...]) -> str:
    """The subjects of the claims with one of ``verdicts``, as the chapter's reading lists them:
    each claim's subject (its text before the colon) once, in order, with the number of its
    checks where there are several — 'fmnist_2c2d, Adam (4 checks); mnist_vae, NAG' — or 'none'."""
    counts: dict[str, int] = {}
    for row in rows:
        if row["verdict"] in verdicts:
            subject = row["claim"].split(":")[0]
            counts[subject] = counts.get(subject, 0) + 1
    return "; ".join(f"{s} ({n} checks)" if n > 1 else s for s, n in counts.items()) or "none"
