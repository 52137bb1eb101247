"""The chapters' numerical checks (optim.checks) and ND-Adam's probe reading (optim.rownorms)."""

import numpy as np
import pandas as pd
import pytest

from optim import checks, rownorms


@pytest.fixture(autouse=True)
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_RESULTS_DIR", str(tmp_path))


def test_nadam_follows_torchs_nadam_step_for_step_on_the_cnn():
    assert checks.nadam_parity("mnist", steps=3, seed=0, profile="quick") < 1e-5


def test_scaling_a_normalized_tensor_leaves_the_output_and_scales_the_gradient_by_its_inverse():
    table = checks.scale_check("mnist", dict(depth=10, widen=1), c=3.0, seed=0, profile="quick")
    rows = table.set_index("tensor")
    feeding_bn = [t for t in rows.index if t.endswith("conv1.weight")]  # each block's first conv: batch norm follows
    assert len(feeding_bn) == 3
    assert (rows.loc[feeding_bn, "output_change"] < 0.01).all()
    np.testing.assert_allclose(rows.loc[feeding_bn, "gradient_ratio"], 3.0, rtol=0.01)
    assert rows.loc["stem.weight", "output_change"] > 1.0  # the stem feeds the residual sum: not invariant


def test_mechanism_reads_norms_alignment_and_drift_per_method():
    rows = []
    for tag, norm in [("ND-Adam", lambda s: 1.0), ("Adam", lambda s: 1.0 + 0.1 * s)]:
        for seed in (0, 1):
            for step in (1, 2, 3):
                rows.append(dict(tag=tag, seed=seed, step=step, row_norm_mean=norm(step),
                                 row_norm_error=abs(norm(step) - 1), update_moment_cosine=1.0 if tag == "ND-Adam" else 0.5))
    mech = rownorms.mechanism(pd.DataFrame(rows))
    assert mech.norm_error["ND-Adam"] == 0.0 and mech.norm_error["Adam"] == pytest.approx(0.3)
    assert list(mech.alignment["Adam"]) == [0.5, 0.5]
    assert mech.norm_start["Adam"] == pytest.approx(1.1) and mech.norm_end["Adam"] == pytest.approx(1.3)
    np.testing.assert_allclose(mech.drift["Adam"], [1.3 / 1.1 - 1] * 2)
    np.testing.assert_allclose(mech.drift["ND-Adam"], [0.0, 0.0])


def test_the_ndadam_claims_read_the_mechanism_the_regime_and_the_code_steps():
    from optim import book

    rows = []
    for tag, norm, cosine in [("ND-Adam", lambda s: 1.0, 1.0), ("Adam", lambda s: 1.0 + 0.1 * s, 0.5),
                              ("SGD + momentum", lambda s: 1.0 + 0.2 * s, 0.3)]:
        for seed in (0, 1, 2):
            for step in (1, 2, 3):
                rows.append(dict(tag=tag, seed=seed, step=step, row_norm_mean=norm(step),
                                 row_norm_error=abs(norm(step) - 1), update_moment_cosine=cosine + 1e-4 * seed))
    steps = pd.DataFrame(rows)
    same = pd.Series([0.90, 0.91, 0.92])
    accuracy = {tag: same for _, a, b, _ in rownorms.CODE_STEPS for tag in (a, b)}
    regime_acc = {"ND-Adam (paper)": same, "ND-Adam (code)": same, "Adam": same - 0.01, "SGD": same + 0.02}
    ch = book.Chapter("ndadam", "full", "cpu", [0, 1, 2])
    claims = rownorms.claims(ch, steps, accuracy, regime_acc, ["ND-Adam (paper)"], "Adam", "SGD")
    plans = ["unit_norm", "direction", "drift", "regime_ndadam_vs_adam", "regime_ndadam_vs_sgd",
             "code_beta2", "code_gamma", "code_penalty"]
    assert [r["claim"] for r in claims] == [ch.plans[p].claim for p in plans]
    assert [r["verdict"] for r in claims[:3]] == ["reproduced"] * 3
    assert claims[3]["comparisons"][0]["effect"] == pytest.approx(0.01)
    assert claims[4]["comparisons"][0]["effect"] == pytest.approx(-0.02)
    assert [c["comparisons"][0]["effect"] for c in claims[5:]] == [0.0, 0.0, 0.0]
    epochs = pd.DataFrame([dict(tag=tag, key=f"{tag}{s}", seed=s, epoch=e, test_acc=0.9 + 0.01 * (e % 2), diverged=False)
                           for tag in accuracy for s in (0, 1) for e in (1, 2, 3, 4)])
    glue = rownorms.glue_values(claims, steps, epochs, regime_acc, ["ND-Adam (paper)", "ND-Adam (code)"], "Adam", "SGD")
    assert glue["swing"] == "1.0" and glue["adam"] == "10.0%" and glue["sgd"] == "7.0%"
    assert glue["norm_adam"] == "1.10 to 1.30" and glue["code_acc"] == "90.0%"
    assert glue["code_steps"].startswith("the authors' β2 = 0.99 and the paper's 0.999: ")
