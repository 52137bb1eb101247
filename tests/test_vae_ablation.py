"""optim.vae_ablation on a hand-made ablation: settings read from the hyperparameters, diverged
runs at the ceiling, comparisons paired by seed as optim.verdicts.compare makes them by hand."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from optim import vae_ablation, verdicts  # noqa: E402


def runs():
    """Two epochs of runs at β = (0.9, 0.9999), α = 0.01, seeds 0–2, with and without the
    correction; the uncorrected seed 2 diverged in epoch 1."""
    rows = []
    for bc in (True, False):
        for seed in range(3):
            key = f"{bc}{seed}"
            for epoch in (1, 2):
                loss = (100.0 + seed) * (1.0 if bc else 1.5) / epoch
                diverged = not bc and seed == 2
                rows.append(dict(key=key, hp_betas=(0.9, 0.9999), hp_bias_correction=bc, hp_lr=0.01, seed=seed,
                                 epoch=epoch, train_loss=np.nan if diverged else loss, diverged=diverged))
    return vae_ablation.settings(pd.DataFrame(rows))


def test_settings_and_the_loss_of_each_run_at_an_epoch():
    table = vae_ablation.loss_at(runs(), 1)
    assert set(table.correction) == {"with", "without"} and set(table.beta2) == {0.9999}
    assert table.set_index(["correction", "seed"]).loc[("without", 0), "loss"] == 150.0
    assert table.set_index(["correction", "seed"]).loc[("without", 2), "loss"] == vae_ablation.CEILING
    late = vae_ablation.loss_at(runs(), 99)  # past the last epoch: the last one
    assert late.set_index(["correction", "seed"]).loc[("with", 1), "loss"] == pytest.approx(50.5)
    assert len(vae_ablation.blown_up(table)) == 1


def test_comparisons_are_paired_by_seed_with_divergence_as_an_outcome():
    table = vae_ablation.loss_at(runs(), 1)
    (part,) = vae_ablation.comparisons(table, [0.9], 0.9999, [0.01], sesoi=1.1)
    by_hand = verdicts.compare("without (β1=0.9, α=0.01)", pd.Series([150.0, 151.5, np.nan], index=[0, 1, 2]),
                               "with (β1=0.9, α=0.01)", pd.Series([100.0, 101.0, 102.0], index=[0, 1, 2]),
                               "VAE loss after epoch 1", "greater", 1.1)
    assert repr(part) == repr(by_hand)
    assert part.diverged_a == 1 and part.diverged_b == 0
    words = vae_ablation.in_words(part)
    assert "1 of 3" in words


def test_figure_draws_one_panel_per_beta_pair_with_both_corrections():
    fig = vae_ablation.figure(vae_ablation.loss_at(runs(), 1), [0.9], [0.9999], "title")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["with correction", "without correction"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [101.0])
    plt.close(fig)


def test_specs_cover_the_grid_and_the_claims_cells_on_the_further_seeds():
    grid = dict(beta1=(0.0, 0.9), beta2=(0.99, 0.9999), lr=(1e-3, 1e-2))
    specs = vae_ablation.specs("mnist", grid, [0, 1], dict(beta2=0.9999, lr=(1e-3,)), [0, 1, 2, 3], epochs=1)
    assert len(specs) == 2 * 2 * 2 * 2 * 2 + 2 * 2 * 1 * 2  # the grid on 2 seeds; the claim's cells on seeds 2, 3
    extra = specs[16 * 2:]
    assert {s.seed for s in extra} == {2, 3} and {dict(s.hparams)["betas"][1] for s in extra} == {0.9999}
    assert {dict(s.hparams)["bias_correction"] for s in specs} == {True, False} and {s.epochs for s in specs} == {1}
    assert len({s.key for s in specs}) == len(specs)
