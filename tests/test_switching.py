"""optim.switching on hand-made probe logs: which runs switched, when, and how settled Λ is."""

import numpy as np
import pandas as pd
import pytest

from optim import switching


def probes():
    """Three runs of one variant, 10 logged steps each: run a switches at step 6 (half its
    tensors), run b at step 8 (all), run c never; Λ settles at 0.1 in a, drifts in b."""
    rows = []
    for key, seed, first, share in [("a", 0, 6, 0.5), ("b", 1, 8, 1.0), ("c", 2, None, 0.0)]:
        for step in range(1, 11):
            fraction = share if first is not None and step >= first else 0.0
            lr = 0.1 if key != "b" else 0.1 + 0.01 * step
            rows.append(dict(tag="SWATS", key=key, seed=seed, step=step, sgd_fraction=fraction, sgd_lr_estimate=lr))
    return pd.DataFrame(rows)


def test_which_runs_switched_and_when():
    steps = probes()
    assert switching.switched_per_run(steps, "SWATS") == [True, True, False]
    assert switching.switched_per_run(steps, "SWATS", by="seed") == [True, True, False]
    assert switching.runs_switched(steps, "SWATS") == pytest.approx(2 / 3)
    assert switching.share_switched(steps, "SWATS") == pytest.approx(0.5)
    assert switching.first_switch(steps, "SWATS") == 7  # the median of 6 and 8
    assert switching.first_switch(steps[steps.key == "c"], "SWATS") is None


def test_settle_range_is_the_relative_range_of_the_last_fifth():
    steps = probes()
    assert switching.settle_range(steps[steps.key == "a"]) == 0.0
    b = steps[steps.key == "b"]
    tail = 0.1 + 0.01 * np.array([8, 9, 10])
    assert switching.settle_range(b) == pytest.approx((tail.max() - tail.min()) / tail.mean())


def test_the_switch_table_reads_each_variant():
    steps = probes()
    epochs = pd.DataFrame(dict(tag="SWATS", key=["a", "b", "c"], epoch=1, test_acc=[0.9, 0.8, 0.7]))
    row = switching.table(steps, epochs, ["SWATS"]).iloc[0]
    assert row["first switch (step)"] == 7 and row["runs that switched"] == "2 of 3"
    assert row["tensors in SGD at the end"] == pytest.approx(0.5) and row["test accuracy"] == pytest.approx(0.8)

