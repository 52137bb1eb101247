"""The figure helpers: the confidence band of a mean over seeds, and the curves drawn with it."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from optim import plots  # noqa: E402


def frame_of(values_per_step: dict[int, list[float]], tag: str = "a") -> pd.DataFrame:
    return pd.DataFrame([{"tag": tag, "step": step, "seed": seed, "loss": value}
                         for step, values in values_per_step.items() for seed, value in enumerate(values)])


def test_band_of_identical_values_is_that_value():
    band = plots.mean_band(frame_of({1: [2.0, 2.0, 2.0], 2: [5.0, 5.0, 5.0]}), "step", "loss", ["tag"])
    assert band["low"].tolist() == [2.0, 5.0] and band["high"].tolist() == [2.0, 5.0]


def test_band_lies_between_the_smallest_and_largest_value_and_holds_the_mean():
    rng = np.random.default_rng(1)
    values = {step: list(rng.normal(size=int(rng.integers(2, 6)))) for step in range(50)}
    band = plots.mean_band(frame_of(values), "step", "loss", ["tag"]).set_index("step")
    for step, v in values.items():
        assert min(v) - 1e-12 <= band.loc[step, "low"] <= np.mean(v) <= band.loc[step, "high"] <= max(v) + 1e-12


def test_band_width_matches_the_normal_interval_of_a_mean_for_many_seeds():
    """With 400 seeds the bootstrap interval of the mean is ±1.96·s/√n (the textbook interval)."""
    rng = np.random.default_rng(2)
    values = {step: list(rng.normal(0, 3.0, size=400)) for step in range(3)}
    band = plots.mean_band(frame_of(values), "step", "loss", ["tag"], n_boot=4000).set_index("step")
    for step, v in values.items():
        expected = 2 * 1.96 * np.std(v, ddof=1) / np.sqrt(len(v))
        assert band.loc[step, "high"] - band.loc[step, "low"] == pytest.approx(expected, rel=0.1)


def test_single_seed_points_and_diverged_values_have_no_band():
    frame = frame_of({1: [1.0], 2: [1.0, np.nan], 3: [1.0, np.inf, 3.0]})
    band = plots.mean_band(frame, "step", "loss", ["tag"])
    assert band["step"].tolist() == [3]
    assert band["low"].iloc[0] >= 1.0 and band["high"].iloc[0] <= 3.0


def test_curves_draw_one_band_per_label_in_its_line_colour():
    frame = pd.concat([frame_of({s: [s, s + 1.0] for s in range(5)}, "x"),
                       frame_of({s: [2 * s, 2 * s + 1.0] for s in range(5)}, "y")])
    frame["optimizer"] = frame["tag"].map({"x": "adam", "y": "sgd"})
    fig, ax = plt.subplots()
    plots.curves(frame, "step", "loss", "tag", ax=ax)
    bands = ax.collections
    assert len(bands) == 2
    line_colours = {line.get_label(): matplotlib.colors.to_hex(line.get_color()) for line in ax.get_lines()}
    band_colours = [matplotlib.colors.to_hex(band.get_facecolor()[0][:3]) for band in bands]
    assert band_colours == [plots.OPTIMIZER_COLOURS["adam"], plots.OPTIMIZER_COLOURS["sgd"]]
    assert set(band_colours) <= set(line_colours.values())
    plt.close(fig)


def test_every_two_optimizers_have_colours_a_reader_can_tell_apart():
    """Adam and Nadam once had two near-identical oranges; chapters draw them side by side."""
    rgb = {name: np.array(matplotlib.colors.to_rgb(c)) for name, c in plots.OPTIMIZER_COLOURS.items()}
    names = sorted(rgb)
    closest = min((np.linalg.norm(rgb[a] - rgb[b]), a, b) for i, a in enumerate(names) for b in names[i + 1:])
    assert closest[0] > 0.14, f"{closest[1]} and {closest[2]} look alike (RGB distance {closest[0]:.3f})"


def test_two_labels_of_one_optimizer_get_the_same_hue_family_and_different_dashes():
    frame = pd.concat([frame_of({s: [s, s + 1.0] for s in range(3)}, label)
                       for label in ("Adam", "AMSGrad (paper)", "AMSGrad (torch)")])
    frame["optimizer"] = frame["tag"].map({"Adam": "adam", "AMSGrad (paper)": "amsgrad", "AMSGrad (torch)": "amsgrad"})
    fig, ax = plt.subplots()
    plots.curves(frame, "step", "loss", "tag", ax=ax)
    handles, labels = ax.get_legend_handles_labels()
    styles = {label: (matplotlib.colors.to_hex(h.get_color()), h.get_linestyle()) for h, label in zip(handles, labels)}
    assert styles["Adam"] == (plots.OPTIMIZER_COLOURS["adam"], "-")
    assert styles["AMSGrad (paper)"] == (plots.OPTIMIZER_COLOURS["amsgrad"], "-")
    assert styles["AMSGrad (torch)"][1] != "-"  # the second AMSGrad is dashed
    assert len(ax.collections) == 3  # one band per label, as without dashes
    plt.close(fig)


def test_many_labels_of_one_optimizer_each_get_their_own_colour_and_dash():
    """AdamW's schedule figure draws six labels of one optimizer: the sixth once repeated the first."""
    labels = [f"schedule {k}" for k in range(8)]
    frame = pd.concat([frame_of({s: [s, s + 1.0] for s in range(2)}, label) for label in labels])
    frame["optimizer"] = "adamw"
    colours, dashes = plots.tag_palette(frame), plots.variant_dashes(frame)
    looks = {(matplotlib.colors.to_hex(colours[label]), str(dashes[label])) for label in labels}
    assert len(looks) == len(labels)
