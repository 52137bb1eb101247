"""The generalization regime: where the AdamW, SWATS and ND-Adam chapters test their papers'
generalization claims, and the positive controls that show such claims can hold or fail there.

Those papers compare test error after training on CIFAR with a batch-normalized residual
network until the training set is fitted. The regime keeps what makes their question
answerable — a batch-normalized wide ResNet (WRN-10-2, the family ND-Adam used) that fits its
training set, test loss that turns up without regularization, a learning rate annealed to
zero (one cosine period) — on what this project can afford: 2,000 Fashion-MNIST training
images and 30 epochs (480 steps), read on all 10,000 test images.

No augmentation: with crop-and-flip the pilot's network was still far from fitting 2,000
images after 50 epochs (SGD's training loss 0.32, test loss lowest at the last epoch, weight
decay worth 0.2 points), so there was nothing for regularization to do and the generalization
question could not arise within the budget (see the regime chapter).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .spec import RunSpec

MODEL, DATASET = "wrn", "fashion-mnist"
MODEL_ARGS = dict(depth=10, widen=2)
N_TRAIN = 2000
EPOCHS = 30
BATCH_SIZE = 128
SELECTION_SEEDS = (100,)  # learning rates and decays are chosen on these, never on judged seeds
JUDGED_SEEDS = (0, 1, 2, 3, 4)
EXTENDED_SEEDS = tuple(range(16))  # the gap control extended after the fact (chapters/plans/regime.yml)


QUICK = dict(n_train=500, epochs=3, n_test=1000)  # the quick profile: the code runs, not the effects


def fields(profile: str, device: str = "auto") -> dict:
    """The run fields every chapter that uses the regime passes on (so all ask for the same
    stored runs): the profile's sizes, the engine (:func:`optim.book.convnet_engine`), the device."""
    from .book import convnet_engine
    from .runner import select

    sizes = select({"quick": QUICK, "full": dict(n_train=N_TRAIN, epochs=EPOCHS, n_test=None)}, profile)
    return sizes | convnet_engine(profile, device) | dict(device=device)


def spec(optimizer: str, hparams: dict, seed: int, *, epochs: int = EPOCHS, tag: str = "", **changes) -> RunSpec:
    """One run in the regime: ``optimizer`` with ``hparams``, the rate annealed to zero by one
    cosine period over ``epochs`` (SGDR with T_0 = epochs); ``changes`` override other fields
    (a SWATS probe, a model option)."""
    fields = dict(epochs=epochs, batch_size=BATCH_SIZE, n_train=N_TRAIN, n_test=None, augment="none",
                  schedule="sgdr", schedule_args=dict(t_0=epochs, t_mult=1), model_args=MODEL_ARGS,
                  precision="bf16", memory_format="channels_last", tag=tag)
    return RunSpec(MODEL, DATASET, optimizer, dict(hparams), seed=seed, **(fields | changes))


def specs(optimizer: str, hparams: dict, seeds=JUDGED_SEEDS, **kwargs) -> list[RunSpec]:
    """:func:`spec` for each of ``seeds``."""
    return [spec(optimizer, hparams, seed, **kwargs) for seed in seeds]


# --- the baselines: SGD with momentum at each decay, and Adam without, each at its tuned rate ------
SGD_DECAYS = (0.0, 1e-4, 5e-4, 2e-3)   # PyTorch's weight_decay (L2, coupled), λ = 0 included
SGD_RATES = (0.025, 0.05, 0.1, 0.2)
ADAM_RATES = (1e-4, 3e-4, 1e-3, 3e-3)


# the quick profile's baseline grids (a page built in minutes); the full profile's are the above
BASELINE_GRIDS = {"quick": dict(decays=(0.0, 5e-4), sgd_rates=(0.05, 0.1), adam_rates=(1e-3,), widen=1), "full": {}}


def sgd_label(decay: float) -> str:
    return f"SGD + momentum, λ = {decay:g}"


ADAM = "Adam, no decay"


@dataclass
class Baselines:
    """The tuned baselines: ``chosen`` (per method: the rate chosen on the selection seeds, its
    score, grid and edge flag), ``selection`` (those runs) and ``judged`` (SGD at its best decay,
    SGD without decay and Adam, each at its chosen rate on the judged seeds: what the positive
    controls compare), tidy frames tagged with the method labels; ``best_sgd`` is the decay
    whose tuned rate scored best on the selection seeds; ``decays`` those tried; ``methods``
    each label's optimizer and hyperparameters (without the rate)."""

    chosen: pd.DataFrame
    selection: pd.DataFrame
    judged: pd.DataFrame
    best_sgd: str
    decays: tuple[float, ...]
    methods: dict[str, tuple[str, dict]]

    def tuned_specs(self, labels, seeds, **changes) -> list[RunSpec]:
        """The runs of the methods ``labels``, each at its chosen rate, on ``seeds``."""
        chosen = self.chosen.set_index("tag")
        runs = []
        for label in labels:
            optimizer, hparams = self.methods[label]
            runs += specs(optimizer, hparams | dict(lr=chosen.loc[label, "hp_lr"]), seeds, tag=label, **changes)
        return runs


def baselines(profile: str, seeds=JUDGED_SEEDS, selection_seeds=SELECTION_SEEDS, *, decays=SGD_DECAYS,
              sgd_rates=SGD_RATES, adam_rates=ADAM_RATES, widen: int = 3, **changes) -> Baselines:
    """Tune and run the regime's baselines with the book's protocol (:func:`optim.tuning.tune`):
    each method's rate is chosen on ``selection_seeds`` by final test accuracy (ties: lower test
    loss) and widened past a grid edge; the best decay is chosen the same way, and a best decay
    at the largest one tried adds a decay four times larger (up to ``widen`` times). ``changes``
    override run fields (the quick profile's sizes, the engine)."""
    from .runner import run_many
    from .tuning import tune

    decays = tuple(sorted(decays))
    for attempt in range(widen + 1):
        methods = {sgd_label(d): ("momentum", dict(momentum=0.9, weight_decay=d)) for d in decays}
        methods[ADAM] = ("adam", {})

        def specs_for(label: str, lr: float, methods: dict = methods) -> list[RunSpec]:
            optimizer, hparams = methods[label]
            return specs(optimizer, hparams | dict(lr=lr), selection_seeds, tag=label, **changes)

        grids = {label: list(sgd_rates) for label in methods if label != ADAM} | {ADAM: list(adam_rates)}
        chosen, selection = tune(specs_for, grids, "test_acc", profile, label="tag", mode="max",
                                 tiebreak=("test_loss", "min"), widen=widen)
        sgd = chosen[chosen["tag"] != ADAM]
        best_sgd = sgd.sort_values("selection", ascending=False, kind="stable")["tag"].iloc[0]
        if best_sgd != sgd_label(decays[-1]) or attempt == widen or selection.attrs.get("planned"):
            break
        decays = decays + (decays[-1] * 4,)
    base = Baselines(chosen, selection, pd.DataFrame(), best_sgd, decays, methods)
    labels = [label for label in methods if label in (best_sgd, sgd_label(0.0), ADAM)]
    base.judged = run_many(base.tuned_specs(labels, seeds, **changes), profile=profile)
    return base


def rise(frame: pd.DataFrame, metric: str = "test_loss") -> pd.Series:
    """Per seed, how far ``metric`` rose from its lowest epoch to the last: final / minimum − 1
    (0 when the last epoch is the lowest; NaN for a diverged run)."""
    def one(run: pd.DataFrame) -> float:
        values = run.sort_values("epoch")[metric]
        return float(values.iloc[-1] / values.min() - 1) if values.notna().all() else float("nan")

    return frame.groupby("seed").apply(one, include_groups=False)


def overfitting_table(frame: pd.DataFrame, by: str = "tag") -> pd.DataFrame:
    """Per ``by`` group (means over its runs): the final training loss, the epoch and value of
    the lowest test loss, the final test loss and its rise from that minimum (final / minimum − 1,
    :func:`rise`), and the final test accuracy."""
    rows = []
    for label, group in frame.groupby(by, sort=False):
        per_run = []
        for _, run in group.groupby("key"):
            run = run.sort_values("epoch")
            lowest = run["test_loss"].idxmin()
            per_run.append(dict(train_loss=run["train_loss"].iloc[-1], lowest_epoch=run.loc[lowest, "epoch"],
                                lowest_test_loss=run.loc[lowest, "test_loss"], final_test_loss=run["test_loss"].iloc[-1],
                                test_acc=run["test_acc"].iloc[-1]))
        runs = pd.DataFrame(per_run)
        rows.append({by: label, "runs": len(runs), **runs.mean().to_dict(),
                     "rise": float((runs.final_test_loss / runs.lowest_test_loss - 1).mean())})
    return pd.DataFrame(rows)


JUDGED_EVAL_EVERY = 3  # judged runs of the paper chapters: a test-loss curve of 10 points, a third of the cost


@dataclass
class Tuned:
    """Methods tuned on the regime: ``chosen`` (per method: the value chosen on the selection
    seeds, its score, grid and edge flag; :func:`optim.tuning.choose`), ``selection`` and
    ``judged`` (tidy runs, tagged with the methods' labels) and the judged runs' ``specs``."""

    chosen: pd.DataFrame
    selection: pd.DataFrame
    judged: pd.DataFrame
    specs: list[RunSpec]


def tuned_runs(methods: dict[str, tuple[str, dict, dict]], grids: dict[str, list[float]], vary: str, profile: str,
               seeds=JUDGED_SEEDS, selection_seeds=SELECTION_SEEDS, *, widen: int = 2, **changes) -> Tuned:
    """Tune the hyperparameter ``vary`` ('lr', 'nd_lr') of each of ``methods`` — label:
    (optimizer, its other hyperparameters, its own run fields: a schedule, probes, model
    options) — over ``grids[label]`` on ``selection_seeds`` by final test accuracy (runs read at
    their end only), widened past an edge (:func:`optim.tuning.tune`), then run each choice on
    ``seeds``, evaluated every :data:`JUDGED_EVAL_EVERY` epochs. ``changes``: the chapter's run
    fields (:func:`fields`)."""
    from .runner import run_many
    from .tuning import tune

    epochs = changes.pop("epochs", EPOCHS)

    def run(label: str, value: float, run_seeds, eval_every: int) -> list[RunSpec]:
        optimizer, hparams, extra = methods[label]
        return specs(optimizer, hparams | {vary: value}, run_seeds, tag=label, epochs=epochs, eval_every=eval_every,
                     **changes | extra)

    chosen, selection = tune(lambda label, value: run(label, value, selection_seeds, epochs), grids, "test_acc",
                             profile, label="tag", vary=f"hp_{vary}", mode="max", tiebreak=("test_loss", "min"),
                             widen=widen)
    judged = [s for _, row in chosen.iterrows() for s in run(row["tag"], row[f"hp_{vary}"], seeds, JUDGED_EVAL_EVERY)]
    return Tuned(chosen, selection, run_many(judged, profile=profile), judged)


# --- the chapter's pilot and claims (plans in chapters/plans/regime.yml) ----------------------------
def pilot_spec(augment: str, n_train: int, epochs: int, optimizer: str, hparams: dict, profile: str, /,
               **changes) -> RunSpec:
    """One pilot run (seed 0) of the regime's choice: ``optimizer`` ("momentum" or "adam") with
    ``hparams`` on ``n_train`` images for ``epochs`` under ``augment``, tagged by all of them, the
    other fields ``changes`` (:func:`fields`, whose sizes these replace); the quick profile runs an
    eighth of the images for 2 epochs."""
    from .runner import select

    n_train, epochs = select({"quick": (n_train // 8, 2), "full": (n_train, epochs)}, profile)
    method = ("SGD + momentum" if optimizer == "momentum" else "Adam") + f", α = {hparams['lr']:g}" + (
        f", λ = {hparams['weight_decay']:g}" if "weight_decay" in hparams else "")
    return spec(optimizer, hparams, 0, tag=f"{augment}, {n_train:,} images, {epochs} epochs — {method}",
                **changes | dict(augment=augment, n_train=n_train, epochs=epochs))


PILOT_COLUMNS = {"tag": "pilot run (seed 0)", "train_loss": "final training loss",
                 "lowest_epoch": "epoch of the lowest test loss", "lowest_test_loss": "lowest test loss",
                 "final_test_loss": "final test loss", "rise": "rise after the lowest", "test_acc": "final test accuracy"}


def pilot_table(pilot: pd.DataFrame):
    """The pilot's :func:`overfitting_table`, one row per run, as the chapter shows it."""
    table = overfitting_table(pilot).drop(columns="runs").rename(columns=PILOT_COLUMNS)
    return table.style.format({"final training loss": "{:.3f}", "epoch of the lowest test loss": "{:.0f}",
                               "lowest test loss": "{:.3f}", "final test loss": "{:.3f}",
                               "rise after the lowest": "{:+.1%}", "final test accuracy": "{:.2%}"}).hide(axis="index")


def claims(ch, judged: pd.DataFrame, extended: pd.DataFrame, zero: str, best: str) -> list[dict]:
    """The regime's positive controls (``ch``: the :class:`optim.book.Chapter`): the test loss
    rises after its lowest epoch without decay, for SGD (tag ``zero``) and :data:`ADAM`
    (:func:`rise`); SGD at its tuned decay (tag ``best``) ends more accurate than Adam, and than
    SGD without decay, on the judged seeds; and, post hoc, the first on the ``extended`` seeds."""
    from . import verdicts
    from .analysis import per_seed

    accuracy, more = per_seed(judged, "tag", "test_acc"), per_seed(extended, "tag", "test_acc")
    return [
        ch.judge("overfits", [verdicts.estimate(f"rise of the test loss after its lowest epoch, {tag}",
                                                rise(judged[judged.tag == tag]), "greater", 0.0) for tag in (zero, ADAM)]),
        ch.judge_accuracy("sgd_beats_adam", accuracy, [(best, ADAM)], "greater"),
        ch.judge_accuracy("decay_matters", accuracy, [(best, zero)], "greater"),
        ch.judge_accuracy("sgd_beats_adam_extended", more, [(best, ADAM)], "greater"),
    ]


def glue_values(rows: list[dict], judged: pd.DataFrame, zero: str) -> dict[str, str]:
    """The reading's numbers: the mean rise of the test loss (SGD without decay, Adam) and each
    control's difference in points of accuracy with its 90% interval and verdict (``rows``:
    :func:`claims`' rows)."""
    from . import verdicts

    def points(row):
        return verdicts.points_words(row["comparisons"][0])

    overfits, gap, decay, extended = rows
    return dict(rise_sgd=f"{rise(judged[judged.tag == zero]).mean():.0%}",
                rise_adam=f"{rise(judged[judged.tag == ADAM]).mean():.0%}",
                decay=points(decay), decay_verdict=decay["verdict"], gap=points(gap), gap_verdict=gap["verdict"],
                gap_extended=points(extended), gap_extended_verdict=extended["verdict"])
