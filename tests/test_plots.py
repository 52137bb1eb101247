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


def test_band_is_centred_on_the_mean_and_may_reach_past_the_values_on_few_seeds():
    rng = np.random.default_rng(1)
    values = {step: list(rng.normal(size=int(rng.integers(2, 6)))) for step in range(50)}
    band = plots.mean_band(frame_of(values), "step", "loss", ["tag"]).set_index("step")
    for step, v in values.items():
        assert (band.loc[step, "low"] + band.loc[step, "high"]) / 2 == pytest.approx(np.mean(v))


def test_band_is_the_student_t_interval_of_the_mean_at_the_claims_level():
    from scipy import stats

    from optim.verdicts import CONFIDENCE

    rng = np.random.default_rng(2)
    values = {step: list(rng.normal(0, 3.0, size=int(rng.integers(2, 7)))) for step in range(5)}
    band = plots.mean_band(frame_of(values), "step", "loss", ["tag"]).set_index("step")
    for step, v in values.items():
        reference = stats.ttest_1samp(v, 0.0).confidence_interval(CONFIDENCE)
        assert (band.loc[step, "low"], band.loc[step, "high"]) == pytest.approx((reference.low, reference.high))


def test_the_paired_effect_band_at_the_last_step_is_the_claims_interval():
    """Figures and claims agree: both are built from one frame by the same paired interval."""
    from optim import analysis, verdicts

    rng = np.random.default_rng(3)
    seed_noise = rng.normal(0, 0.3, 5)
    rows = [{"tag": tag, "seed": s, "epoch": e, "key": f"{tag}{s}", "loss": (1.0 if tag == "a" else 1.2) / e
             * np.exp(seed_noise[s] + rng.normal(0, 0.02))} for tag in "ab" for s in range(5) for e in range(1, 4)]
    frame = pd.DataFrame(rows)
    band = plots.paired_effect(frame, "epoch", "loss", "tag", "a", "b").set_index("epoch")
    values = analysis.per_seed(frame, "tag", "loss")
    claim = verdicts.compare("a", values["a"], "b", values["b"], "loss", "less", 0.1)
    assert claim.paired
    assert (band.loc[3, "effect"], band.loc[3, "low"], band.loc[3, "high"]) == pytest.approx(
        (claim.effect, claim.low, claim.high))
    fig, ax = plt.subplots()
    plots.effect_curves(frame, "epoch", "loss", "tag", [("a", "b")], ax=ax, sesoi=0.1)
    assert len(ax.collections) == 1 and ax.get_yscale() == "log"


def test_single_seed_points_and_diverged_values_have_no_band():
    frame = frame_of({1: [1.0], 2: [1.0, np.nan], 3: [1.0, np.inf, 3.0]})
    band = plots.mean_band(frame, "step", "loss", ["tag"])
    assert band["step"].tolist() == [3]
    assert (band["low"].iloc[0] + band["high"].iloc[0]) / 2 == pytest.approx(2.0)   # the two finite values


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


# Machado, Oliveira & Fernandes (2009): linear-RGB matrices simulating full deuteranopia and protanopia.
CVD = {"deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                                 [-0.011820, 0.042940, 0.968881]]),
       "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                               [-0.003882, -0.048116, 1.051998]]),
       "normal vision": np.eye(3)}


def _lab(colour: str, vision: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour as ``vision`` sees it."""
    srgb = np.array(matplotlib.colors.to_rgb(colour))
    linear = np.clip(vision @ np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4), 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    n = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(n > 216 / 24389, np.cbrt(n), (24389 / 27 * n + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("vision", list(CVD))
def test_every_two_optimizers_have_colours_a_reader_can_tell_apart(vision):
    """The benchmark draws all fourteen optimizers at once; a CIELAB distance of 10 is plainly
    visible between two lines (1 is a just-noticeable difference)."""
    lab = {name: _lab(c, CVD[vision]) for name, c in plots.OPTIMIZER_COLOURS.items()}
    names = sorted(lab)
    closest = min((np.linalg.norm(lab[a] - lab[b]), a, b) for i, a in enumerate(names) for b in names[i + 1:])
    assert closest[0] > 10, f"with {vision}, {closest[1]} and {closest[2]} look alike (ΔE {closest[0]:.1f})"


def test_the_colour_blindness_simulation_tells_red_from_green_only_with_normal_vision():
    red, green = "#d62728", "#2ca02c"  # matplotlib's default red and green: the classic confusion
    assert np.linalg.norm(_lab(red, CVD["normal vision"]) - _lab(green, CVD["normal vision"])) > 50
    assert np.linalg.norm(_lab(red, CVD["deuteranopia"]) - _lab(green, CVD["deuteranopia"])) < 25


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


def test_the_speed_appendix_reports_a_stored_benchmark_table():
    import json
    from pathlib import Path

    from IPython.display import Markdown

    from optim.bench_report import report

    path = Path(__file__).resolve().parents[1] / "data" / "results" / "bench" / "cpu.json"
    result = json.loads(path.read_text())
    items = list(report(result, Path("data/results/bench/cpu.json")))
    texts = [i.data for i in items if isinstance(i, Markdown)]
    assert texts[0].startswith(f"## {result['hardware']}") and result["torch"] in texts[0]
    assert f"{result['steps']['numel']:,} float32 values" in texts[1]
    missed = [r for r in result["steps"]["rows"] if not r["met"]]
    assert texts[-1] == "Targets missed: " + (", ".join(f"{r['optimizer']} ({r['ratio']:.2f}× vs ≤ {r['target']:.2f}×)"
                                                         for r in missed) if missed else "none") + "."


def test_a_legend_sits_beside_the_data_never_over_it():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    legend = plots.legend_outside(ax)
    fig.canvas.draw()
    box, area = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= area.x1 and [t.get_text() for t in legend.get_texts()] == ["a", "b"]
    empty = plt.subplots()[1]
    assert plots.legend_outside(empty) is None  # nothing labelled: no empty legend box
    plt.close("all")


def test_panels_draw_one_curve_panel_per_spec_with_its_axes_settings():
    frame = pd.DataFrame({"tag": ["a"] * 4 + ["b"] * 4, "optimizer": ["adam"] * 4 + ["sgd"] * 4,
                          "seed": [0, 0, 1, 1] * 2, "step": [1, 2] * 4, "train_loss": [1.0, 0.5, 1.2, 0.6] * 2})
    fig = plots.panels([dict(frame=frame, x="step", y="train_loss", logy=True, title="loss"),
                        dict(frame=frame, x="step", y="train_loss", xlabel="steps", ylim=(0, 2), title="again")],
                       ncols=2, size=(4, 3))
    first, second = fig.axes[:2]
    assert first.get_yscale() == "log" and first.get_title() == "loss" and first.get_legend() is not None
    assert second.get_xlabel() == "steps" and second.get_ylim() == (0, 2) and second.get_yscale() == "linear"
    assert [t.get_text() for t in first.get_legend().get_texts()] == ["a", "b"]
    assert tuple(fig.get_size_inches()) == (8, 3)
    plt.close(fig)
    fig = plots.panels([dict(frame=frame, x="step", y="train_loss")] * 3, ncols=2, legend=False)
    assert [ax.get_visible() for ax in fig.axes] == [True, True, True, False]
    assert all(ax.get_legend() is None for ax in fig.axes)
    plt.close(fig)


def test_the_scoreboards_bars_count_each_chapters_verdicts_with_their_symbols():
    from optim import book

    board = pd.DataFrame({"chapter": ["A", "A", "A", "B"], "claim": ["c1", "c2", "c3", "c4"],
                          "verdict": ["reproduced", "reproduced", "inconclusive", "not reproduced"]})
    fig = book.verdict_bars(board)
    (ax,) = fig.axes
    labels = sorted(t.get_text() for t in ax.texts if t.get_text())
    assert labels == sorted([f"{book.BADGES['reproduced'][0]} 2", f"{book.BADGES['inconclusive'][0]} 1",
                             f"{book.BADGES['not reproduced'][0]} 1"])
    assert ax.get_title() == "4 claims from 2 chapters, by verdict"
    plt.close(fig)


def test_seed_panels_put_one_dot_plot_per_panel_with_its_axes_settings():
    values = {"a": pd.Series([1.0, 2.0, 3.0]), "b": pd.Series([2.0, 2.5, 3.5])}
    fig = plots.seed_panels([dict(values=values, title="one", yscale="log"), dict(values=values, scale=100, title="two")],
                            size=(3, 4))
    first, second = fig.axes
    assert first.get_title() == "one" and first.get_yscale() == "log" and second.get_yscale() == "linear"
    assert [t.get_text() for t in second.get_xticklabels()] == ["a", "b"]
    np.testing.assert_allclose(sorted(second.collections[0].get_offsets()[:, 1]), [100.0, 200.0, 300.0])
    assert tuple(fig.get_size_inches()) == (6, 4)
    plt.close(fig)
