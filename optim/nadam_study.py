"""The Nadam chapter's claims (Dozat 2016), read from its runs: Nadam against Adam and SGD with
Nesterov momentum on the CNN and the MLP, the paper's μ schedule against a constant μ, the
forms against each other, and the fair comparisons (the same step size; each at its tuned
one). Plans in ``chapters/plans/nadam.yml``.

The runs are tagged as the chapter tags them: "Nadam (torch)" (the scheduled μ, as torch's
``NAdam``), "Nadam (Dozat, Alg. 2)", "Nadam (TensorFlow, constant μ)", "Adam", "SGD + Nesterov";
the fair comparisons' "Nadam, α = …" / "Adam, α = …" and, tuned, "Nadam" / "Adam".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import verdicts
from .analysis import per_seed
from .tuning import choice_note

TORCH, DOZAT, CONSTANT = "Nadam (torch)", "Nadam (Dozat, Alg. 2)", "Nadam (TensorFlow, constant μ)"


def claims(ch, models: dict[str, pd.DataFrame], equal: dict[str, pd.DataFrame], equal_rates, tuned: dict) -> list[dict]:
    """Every claim of the chapter (``ch``: the :class:`optim.book.Chapter`; ``models``: model
    name → its per-epoch runs; ``equal``: model → the equal-rate runs at each of ``equal_rates``;
    ``tuned``: model → :func:`optim.tuning.tuned_curves`), final training losses compared as
    paired ratios at each plan's SESOI, in the plans' order."""
    loss = {m: per_seed(frame, "tag", "train_loss") for m, frame in models.items()}
    first = {m: per_seed(frame, "tag", "train_loss", at=1) for m, frame in models.items()}
    accuracy = {m: per_seed(frame, "tag", "test_acc") for m, frame in models.items()}

    def vs(model, a, b, direction="less", table=loss, plan="cnn"):
        return verdicts.compare(a, table[model][a], b, table[model][b], "training loss", direction, ch.plans[plan].sesoi)

    rows = [ch.judge(m.lower(), [vs(m, TORCH, "Adam"), vs(m, TORCH, "SGD + Nesterov")]) for m in models]
    rows.append(ch.judge("blog", [verdicts.estimate(f"{m} {tag} test accuracy", accuracy[m][tag], "less", 0.5)
                                  for m in models for tag in (TORCH, DOZAT)]))
    rows.append(ch.judge("mu", [vs("CNN", DOZAT, TORCH, "similar", plan="mu")]))
    for plan, table in [("schedule_first", first), ("schedule_end", loss)]:
        rows.append(ch.judge(plan, [vs(m, TORCH, CONSTANT, "similar", table, plan) for m in models]))
    equal_loss = {m: per_seed(frame, "tag", "train_loss") for m, frame in equal.items()}
    tuned_loss = {m: per_seed(t.epochs, "tag", "train_loss") for m, t in tuned.items()}
    rows.append(ch.judge("equal_rate", [verdicts.compare(
        f"{m.upper()}: Nadam, α = {lr:g}", equal_loss[m][f"Nadam, α = {lr:g}"], f"Adam, α = {lr:g}",
        equal_loss[m][f"Adam, α = {lr:g}"], "final training loss", "less", ch.plans["equal_rate"].sesoi)
        for m in equal_loss for lr in equal_rates]))
    rows.append(ch.judge("tuned_rate", [verdicts.compare(f"{m.upper()}: Nadam", values["Nadam"], "Adam", values["Adam"],
                                                         "final training loss", "less", ch.plans["tuned_rate"].sesoi)
                                        for m, values in tuned_loss.items()],
                         note="; ".join(f"{m.upper()}: {choice_note(t.chosen, 'tag')} (seed 100)" for m, t in tuned.items())))
    return rows


def glue_values(ch, rows: list[dict], models: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The chapter's reading in numbers and words: the range of the two Nadam forms' final test
    accuracies, and each claim's comparisons as :func:`optim.verdicts.ratio_words`, named by model
    (and step size where a claim has several)."""
    accuracies = [per_seed(frame, "tag", "test_acc")[tag].mean() for frame in models.values() for tag in (TORCH, DOZAT)]
    row = {r["claim"]: r for r in rows}

    def against(b):
        return "; ".join(f"{model} {verdicts.ratio_words(c)}" for model, r in zip(models, rows)
                         for c in r["comparisons"] if c["b"] == b)

    def words(plan):
        def name(model, a):
            return model if ": " not in a else a.split(": ")[0] + (f", {a.split(', ')[-1]}" if "α =" in a else "")

        names = list(models)
        comparisons = row[ch.plans[plan].claim]["comparisons"]  # the schedule claims': one per model, in turn
        return "; ".join(f"{name(names[k % len(names)], c['a'])} {verdicts.ratio_words(c)}" for k, c in enumerate(comparisons))

    return dict(acc_low=f"{min(accuracies):.3f}", acc_high=f"{max(accuracies):.3f}", vs_adam=against("Adam"),
                vs_sgd=against("SGD + Nesterov"), schedule_first=words("schedule_first"),
                schedule_end=words("schedule_end"), equal=words("equal_rate"), tuned=words("tuned_rate"))


def schedule_figure(beta1: float = 0.9, psi: float = 0.004, steps: int = 20_000, marks=((469, "1 MNIST epoch"),
                                                                                      (4690, "10 epochs"))):
    """Dozat's momentum schedule μ_t (:func:`optim.optimizers.nadam.momentum_schedule`) against
    no schedule and TensorFlow's constant μ = β1, with ``marks`` (step, label) annotated (top);
    and the weights Nadam's update gives the current gradient, (1 − μ_t)/(1 − Πμ), and the
    look-ahead momentum, μ_{t+1} (bottom)."""
    import matplotlib.pyplot as plt

    from . import plots
    from .optimizers.nadam import momentum_schedule

    t = np.arange(1, steps + 1)
    mu = np.array([momentum_schedule(k, beta1, psi) for k in t])
    fig, axes = plt.subplots(2, 1, figsize=(9, 7))
    axes[0].plot(t, mu, label=f"μ_t (ψ = {psi:g})")
    axes[0].plot(t, [momentum_schedule(k, beta1, 0.0) for k in t], "--", label="no schedule (ψ = 0): β1/2")
    axes[0].axhline(beta1, color="k", lw=0.8, ls=":", label="constant μ = β1 (TensorFlow's Nesterov-Adam)")
    for step, what in marks:
        axes[0].axvline(step, color="0.6", lw=0.8)
        axes[0].annotate(f"{what}: μ = {momentum_schedule(step, beta1, psi):.2f}", (step, 0.52), rotation=90,
                         fontsize=8, ha="right", va="bottom", color="0.35")
    axes[0].set(xscale="log", xlabel="step t", ylabel="μ_t", title=f"Dozat's momentum schedule, β1 = {beta1:g}")
    plots.legend_outside(axes[0])
    axes[1].plot(t, (1 - mu) / (1 - np.cumprod(mu)), label="current gradient: (1−μ_t)/(1−Πμ)")
    axes[1].plot(t, mu[1:].tolist() + [mu[-1]], label="look-ahead momentum: μ_{t+1}")
    axes[1].set(xscale="log", xlabel="step t", ylabel="weight", title="weights in the Nadam update")
    plots.legend_outside(axes[1])
    fig.tight_layout()
    return fig


def schedule_glue(specs: dict, beta1: float = 0.9, psi: float = 0.004) -> dict[str, str]:
    """Each model's training length in steps and the μ_t its schedule reaches by then (``specs``:
    model → one of its runs), keyed ``<model>_steps`` and ``mu_<model>``, and μ at the first step."""
    from .optimizers.nadam import momentum_schedule
    from .runner import steps_per_epoch

    total = {model: spec.epochs * steps_per_epoch(spec) for model, spec in specs.items()}
    return dict(mu_start=f"{momentum_schedule(1, beta1, psi):.2f}",
                **{f"{model}_steps": f"{steps:,}" for model, steps in total.items()},
                **{f"mu_{model}": f"{momentum_schedule(steps, beta1, psi):.2f}" for model, steps in total.items()})
