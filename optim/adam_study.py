"""The Adam chapter's claims (Kingma & Ba 2015, §6), read from its runs: on logistic regression
(MNIST and IMDB's bags of words), the dropout MLP and the CNN, Adam's final training loss against
each other method at its tuned rate; AdaMax against Adam; and §6.4's bias correction on the VAE
(:mod:`optim.vae_ablation`). Plans in ``chapters/plans/adam.yml``; ``final`` is model → optimizer
→ per-seed final training loss (:func:`optim.analysis.per_seed`), the models keyed by plan."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import vae_ablation, verdicts
from .tuning import choice_note

NAMES = {"adam": "Adam", "adamax": "AdaMax", "adagrad": "AdaGrad", "nesterov": "SGD-Nesterov",
         "rmsprop": "RMSProp", "adadelta": "AdaDelta"}
PLANS = ("logreg", "imdb", "mlp", "cnn", "vae", "adamax")  # the claims' order


def claims(ch, final: dict[str, dict], chosen: dict[str, pd.DataFrame], selection_seed: int,
           vae_parts: list) -> list[dict]:
    """Every claim of the chapter, in :data:`PLANS`' order (``ch``: the :class:`optim.book.Chapter`;
    ``chosen``: model → its tuning table, quoted with its edges; ``vae_parts``: the §6.4
    comparisons, :func:`optim.vae_ablation.comparisons`), paired ratios at each plan's SESOI."""
    def vs(model, a, b, direction="less"):
        return verdicts.compare(NAMES[a], final[model][a], NAMES[b], final[model][b], "final training loss",
                                direction, ch.plans[model].sesoi)

    def note(model):
        table = chosen[model]
        return choice_note(table.assign(optimizer=table.optimizer.map(NAMES)), "optimizer") + f" (seed {selection_seed})"

    return [
        ch.judge("logreg", [vs("logreg", "adam", "nesterov", "similar"), vs("logreg", "adam", "adagrad"),
                            vs("logreg", "nesterov", "adagrad")], note=note("logreg")),
        ch.judge("imdb", [vs("imdb", "adam", "adagrad", "similar"), vs("imdb", "adagrad", "nesterov")], note=note("imdb")),
        ch.judge("mlp", [vs("mlp", "adam", o) for o in ("adagrad", "rmsprop", "nesterov", "adadelta")], note=note("mlp")),
        ch.judge("cnn", [vs("cnn", "adam", "adagrad"), vs("cnn", "nesterov", "adagrad"), vs("cnn", "adam", "nesterov")],
                 note=note("cnn")),
        ch.judge("vae", vae_parts),
        ch.judge("adamax", [verdicts.compare("AdaMax", final[m]["adamax"], "Adam", final[m]["adam"],
                                             f"{m} final training loss", "similar", ch.plans["adamax"].sesoi)
                            for m in ("logreg", "mlp", "cnn")]),
    ]


def glue_values(rows: list[dict], final: dict[str, dict], early: pd.DataFrame, vae_parts: list, beta1s,
                vae_claim: dict) -> dict[str, object]:
    """The numbers the chapter's reading quotes: each model's geometric-mean final training loss
    per method, AdaMax's ratio to Adam, the claims' verdicts (``rows``, in :data:`PLANS`' order),
    the §6.4 comparisons in words (one per β1 in ``beta1s`` and step size of ``vae_claim``) and
    the bias-corrected runs that blew up after epoch 1 (``early``: :func:`optim.vae_ablation.loss_at`)."""
    def geo(model, name, digits=3):
        return f"{np.exp(np.log(final[model][name]).mean()):.{digits}f}"

    def ratio(model):
        return np.exp(np.log(final[model]["adamax"]).mean() - np.log(final[model]["adam"]).mean())

    verdict = {plan: row["verdict"] for plan, row in zip(PLANS, rows)}
    corrected = early[early.correction == "with"]
    blown = vae_ablation.blown_up(corrected)
    cells = [(b1, lr) for b1 in beta1s for lr in vae_claim["lr"]]
    return dict(
        logreg_adam=geo("logreg", "adam"), logreg_nesterov=geo("logreg", "nesterov"),
        logreg_adagrad=geo("logreg", "adagrad"), logreg_verdict=verdict["logreg"],
        imdb_adam=geo("imdb", "adam"), imdb_adagrad=geo("imdb", "adagrad"), imdb_nesterov=geo("imdb", "nesterov"),
        imdb_rmsprop=geo("imdb", "rmsprop"), imdb_verdict=verdict["imdb"],
        mlp_adam=geo("mlp", "adam"), mlp_verdict=verdict["mlp"],
        mlp_others=", ".join(f"{NAMES[o]} {geo('mlp', o)}" for o in ("adagrad", "rmsprop", "nesterov", "adadelta")),
        cnn_adam=geo("cnn", "adam", 4), cnn_verdict=verdict["cnn"],
        cnn_others=", ".join(f"{NAMES[o]} {geo('cnn', o, 4)}" for o in ("adagrad", "nesterov")),
        adamax=", ".join(f"{ratio(m):.2f}×" for m in ("logreg", "mlp", "cnn")), adamax_verdict=verdict["adamax"],
        vae_beta2=f"{vae_claim['beta2']:g}", vae_verdict=verdict["vae"],
        vae="; ".join(f"β1 = {b1:g}, α = {lr:g}: {vae_ablation.in_words(part)}" for (b1, lr), part in zip(cells, vae_parts)),
        blown=len(blown), corrected_runs=len(corrected),
        blown_rates=("all at α = " + ", ".join(f"{a:g}" for a in sorted(blown.hp_lr.unique()))) if len(blown)
        else "at no step size")
