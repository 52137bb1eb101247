"""The language-model chapter's claims (optim.language_study) on hand-made runs."""

import numpy as np
import pandas as pd
import pytest

from optim import book, language_study

SWATS = ["SWATS (ε = 1e-9, paper)", "SWATS (ε = 1e-5, replication)"]


def _epochs(tag, test_loss, train_loss, epochs=3):
    """Three seeds of ``tag``: training loss ``train_loss`` (+ seed/100) in every epoch, test loss at the end."""
    return [dict(tag=tag, seed=s, key=f"{tag}{s}", epoch=e, train_loss=train_loss + s / 100, val_loss=test_loss,
                 val_perplexity=float(np.exp(test_loss)), test_loss=test_loss + s / 100, diverged=False)
            for s in range(3) for e in range(1, epochs + 1)]


def test_the_claims_pair_seeds_and_read_each_at_its_epoch():
    ch = book.Chapter("language", "full", "cpu", [0, 1, 2])
    frame = pd.DataFrame(_epochs("SGD", 4.8, 4.5) + _epochs("Adam", 5.0, 4.4) + _epochs(SWATS[0], 4.9, 4.4)
                         + _epochs(SWATS[1], 4.8, 4.4) + _epochs("Nadam, α = 0.002", 5.0, 4.3, epochs=2)
                         + _epochs("Nadam, α = 0.001", 5.0, 4.4, epochs=2))
    rows = language_study.claims(ch, frame, SWATS, {"Nadam": 0.002, "Nadam at Adam's rate": 0.001}, 2)
    plans = ["swats_vs_adam", "swats_vs_sgd", "nadam_faster_tuned", "nadam_faster_equal", "trains"]
    assert [r["claim"] for r in rows] == [ch.plans[p].claim for p in plans]
    assert [c["effect"] for c in rows[0]["comparisons"]] == pytest.approx([-0.1, -0.2])  # SWATS − Adam, test loss
    assert rows[2]["comparisons"][0]["effect"] == pytest.approx(-0.1)  # Nadam − Adam in epoch 2's training loss
    assert rows[3]["comparisons"][0]["effect"] == pytest.approx(0.0)
    assert rows[4]["comparisons"][0]["effect"] == pytest.approx(np.exp(4.8)) and rows[4]["verdict"] == "reproduced"
    glue = language_study.glue_values(frame, SWATS)
    assert glue["sgd"] == f"{np.mean(np.exp([4.8, 4.81, 4.82])):.1f}" and glue["swats_replication"] == glue["sgd"]
