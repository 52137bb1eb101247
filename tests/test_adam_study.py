"""The Adam chapter's claims (optim.adam_study) on hand-made final losses, against hand computations."""

import numpy as np
import pandas as pd
import pytest

from optim import adam_study, book, verdicts


def _chosen(optimizers):
    return pd.DataFrame(dict(optimizer=optimizers, hp_lr=1e-3, grid=[(1e-4, 1e-2)] * len(optimizers),
                             on_edge=[o == "nesterov" for o in optimizers]))


def test_the_claims_compare_each_models_methods_in_the_plans_order():
    ch = book.Chapter("adam", "full", "cpu", [0, 1, 2])
    base = pd.Series([1.0, 1.1, 0.9])
    final = {"logreg": dict(adam=base * 0.5, nesterov=base * 0.5, adagrad=base, adamax=base * 0.5),
             "imdb": dict(adam=base * 0.7, adagrad=base, nesterov=base * 0.8, rmsprop=base),
             "mlp": dict(adam=base * 0.5, adagrad=base, rmsprop=base, nesterov=base, adadelta=base, adamax=base * 0.5),
             "cnn": dict(adam=base * 0.5, adagrad=base, nesterov=base * 0.5, adamax=base * 0.6)}
    chosen = {model: _chosen([o for o in final[model] if o != "adamax"]) for model in ("logreg", "imdb", "mlp", "cnn")}
    vae_part = verdicts.compare("without", base, "with", base, "loss", "similar", 0.1)
    rows = adam_study.claims(ch, final, chosen, 100, [vae_part])
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in adam_study.PLANS]
    logreg = rows[0]["comparisons"]
    assert [c["effect"] for c in logreg] == pytest.approx([1.0, 0.5, 0.5])
    assert [c["a"] for c in logreg] == ["Adam", "Adam", "SGD-Nesterov"]
    assert "SGD-Nesterov 0.001 (grid 0.0001–0.01, on its edge)" in rows[0]["measured"] and "(seed 100)" in rows[0]["measured"]
    assert [c["effect"] for c in rows[5]["comparisons"]] == pytest.approx([1.0, 1.0, 1.2])  # AdaMax / Adam per model
    early = pd.DataFrame(dict(correction=["with", "with", "without"], hp_lr=[1e-2, 1e-3, 1e-2], loss=[1e4, 1.0, 1.0]))
    glue = adam_study.glue_values(rows, final, early, [vae_part], [0.9], dict(beta2=0.9999, lr=(1e-2,)))
    assert glue["logreg_adam"] == f"{0.5 * np.exp(np.log(base).mean()):.3f}"
    assert glue["adamax"] == "1.00×, 1.00×, 1.20×" and glue["logreg_verdict"] == rows[0]["verdict"]
    assert glue["vae"].startswith("β1 = 0.9, α = 0.01: ") and glue["corrected_runs"] == 2
    assert glue["blown"] == 1 and glue["blown_rates"] == "all at α = 0.01"  # the corrected run at the ceiling
