"""optim.precision on hand-made fp32/bf16 runs: paired shifts against the seed spread."""

import numpy as np
import pandas as pd
import pytest

from optim import precision, verdicts


def runs():
    rows = []
    for tag, shift, machine in [("fp32", 0.0, "A"), ("bf16", 0.001, "A")]:
        for opt, base in [("adam", 0.10), ("sgd", 0.30)]:
            for seed, noise in enumerate([0.0, 0.02, -0.01]):
                rows.append(dict(key=f"{tag}{opt}{seed}", tag=tag, optimizer=opt, seed=seed, epoch=1,
                                 train_loss=base + noise + shift, test_acc=0.9 - base + noise,
                                 hardware="B" if (tag, opt, seed) == ("bf16", "sgd", 2) else machine))
    return pd.DataFrame(rows)


def test_effects_are_paired_shifts_against_the_reference_spread():
    table = precision.effects(runs(), ["train_loss"]).set_index("optimizer")
    assert table.loc["adam", "bf16 − fp32 (mean over seeds)"] == pytest.approx(0.001)
    assert table.loc["adam", "seed-to-seed sd (fp32)"] == pytest.approx(np.std([0.0, 0.02, -0.01], ddof=1))
    assert table["precision effect < seed spread"].all()


def test_same_outcomes_compare_each_pair_under_both_precisions():
    frame = runs()
    (same,) = precision.same_outcomes(frame, [("adam", "sgd")], 1.1)
    outcome = {}
    for tag, group in frame.groupby("tag"):
        loss = {o: g.set_index("seed")["train_loss"] for o, g in group.groupby("optimizer")}
        outcome[tag] = verdicts.compare("adam", loss["adam"], "sgd", loss["sgd"], "loss", "less", 1.1).outcome
    assert outcome["fp32"] == "supports" and same == (outcome["fp32"] == outcome["bf16"])


def test_mixed_machines_counts_pairs_trained_apart():
    assert precision.mixed_machines(runs()) == (1, 6)
