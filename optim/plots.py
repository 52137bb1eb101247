"""The book's figure helpers: learning curves with mean and the claims' confidence band over seeds, paired effects, grids."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")

# One colour per optimizer in every chapter (registry names): a qualitative palette from
# Okabe & Ito's and Paul Tol's colour-blind-safe sets, chosen so that every two of the fourteen
# stay apart for a reader with deuteranopia or protanopia as well (tests/test_plots.py checks the
# CIELAB distance under Machado et al.'s simulation): the benchmark draws all of them at once.
OPTIMIZER_COLOURS = {
    "sgd": "#88ccee", "momentum": "#0072b2", "nesterov": "#332288",
    "adagrad": "#009e73", "rmsprop": "#999933", "adadelta": "#ddcc77",
    "adam": "#d55e00", "adamax": "#e69f00", "amsgrad": "#882255", "nadam": "#777777",
    "adamw": "#cc79a7", "sgdw": "#56b4e9", "swats": "#000000", "ndadam": "#117733",
}
_EXTRA = ["#17becf", "#bcbd22", "#7f7f7f", "#e377c2", "#393b79", "#637939"]


def _shade(colour: str, k: int) -> tuple:
    """The k-th variant of ``colour``: alternately darker and lighter."""
    import matplotlib.colors as mcolors

    r, g, b = mcolors.to_rgb(colour)
    factor = [1.0, 0.6, 1.35, 0.4, 1.6][k % 5]
    if factor <= 1:
        return (r * factor, g * factor, b * factor)
    return tuple(1 - (1 - c) / factor for c in (r, g, b))


# The dash pattern of the k-th label of one optimizer: a variant keeps its optimizer's colour
# family and is told apart by its line as well as its shade.
VARIANT_DASHES = ["", (5, 2), (1.5, 1.5), (6, 1.5, 1.5, 1.5), (3, 3)]


def _variants(frame: pd.DataFrame, hue: str) -> dict[str, tuple[str, int]]:
    """Each label of ``frame[hue]`` with its optimizer and its rank among that optimizer's labels."""
    pairs = frame[[hue, "optimizer"]].drop_duplicates(hue)
    seen: dict[str, int] = {}
    out = {}
    for label, optimizer in zip(pairs[hue], pairs["optimizer"]):
        out[label] = (optimizer, seen.get(optimizer, 0))
        seen[optimizer] = out[label][1] + 1
    return out


def variant_dashes(frame: pd.DataFrame, hue: str = "tag") -> dict:
    """Dash patterns for the labels in ``frame[hue]``: solid for each optimizer's first label,
    then :data:`VARIANT_DASHES` in turn for its further labels (the order of :func:`tag_palette`)."""
    return {label: VARIANT_DASHES[k % len(VARIANT_DASHES)] for label, (_, k) in _variants(frame, hue).items()}


def tag_palette(frame: pd.DataFrame, hue: str = "tag") -> dict:
    """Colours for the labels in ``frame[hue]``, each in its optimizer's colour (the
    ``optimizer`` column); a second label of the same optimizer gets a darker shade, a third
    a lighter one."""
    variants = _variants(frame, hue)
    base = palette(dict.fromkeys(optimizer for optimizer, _ in variants.values()))
    # past the dash patterns, shift the shade: the k-th and (k + 5)-th labels differ in shade
    return {label: _shade(base[optimizer], k + k // len(VARIANT_DASHES)) for label, (optimizer, k) in variants.items()}


def palette(names) -> dict[str, str]:
    """Colours for optimizer ``names``: the book's fixed colour for a registered optimizer,
    then distinct extra colours for others (an optimizer added in a notebook)."""
    out, extra = {}, iter(_EXTRA * 10)
    for name in names:
        out[name] = OPTIMIZER_COLOURS.get(name) or next(extra)
    return out


def curves(frame: pd.DataFrame, x: str, y: str, hue: str, ax=None, style: str | None = None,
           logy: bool = False, title: str | None = None, **kwargs):
    """Mean of ``y`` over seeds against ``x``, one line per ``hue`` (and ``style``), with a
    Student-t confidence band at the claims' level (:func:`mean_band`); diverged stretches are simply
    absent. Lines keep their optimizer's colour in every chapter (:data:`OPTIMIZER_COLOURS`);
    labels that share an optimizer differ in shade and dash pattern (:func:`variant_dashes`)."""
    ax = ax or plt.gca()
    if hue == "optimizer" and "palette" not in kwargs:
        kwargs["palette"] = palette(frame[hue].unique())
    elif hue in frame and "optimizer" in frame and "palette" not in kwargs:
        kwargs["palette"] = tag_palette(frame, hue)
        dashes = variant_dashes(frame, hue)
        if style is None and "dashes" not in kwargs and any(dashes.values()):  # two labels share an optimizer
            style, kwargs["dashes"] = hue, dashes
    colours = _hue_colours(frame[hue], kwargs.pop("palette", None))
    sns.lineplot(data=frame, x=x, y=y, hue=hue, style=style, errorbar=None, palette=colours, ax=ax, **kwargs)
    keys = [hue] + ([style] if style and style != hue else [])
    for group, band in mean_band(frame, x, y, keys).groupby(keys, sort=False):
        ax.fill_between(band[x], band["low"], band["high"], color=colours[group[0]], alpha=0.2, linewidth=0)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.set(xlabel=axis_label(x), ylabel=axis_label(y) + (" (log scale)" if logy else ""))
    return ax


def legend_outside(ax, title: str | None = None, **kwargs):
    """``ax``'s legend beside the plotting area, to its right, never over the data (the book's
    figures, :func:`use_book_style`); ``kwargs`` go to ``Axes.legend``. None when nothing is labelled."""
    if not ax.get_legend_handles_labels()[0]:
        return None
    return ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


# Axis labels for the tidy frames' columns: names and units, never raw column names.
AXIS_LABELS = {"epoch": "epoch", "step": "iteration (minibatch)", "train_loss": "training loss (nats)",
               "test_loss": "test loss (nats)", "val_loss": "validation loss (nats)", "train_acc": "training accuracy",
               "test_acc": "test accuracy", "val_acc": "validation accuracy", "lr": "learning rate", "time": "seconds",
               "val_perplexity": "validation perplexity", "test_perplexity": "test perplexity"}


def axis_label(column: str) -> str:
    """A column's axis label (:data:`AXIS_LABELS`), or the column name with underscores as spaces."""
    return AXIS_LABELS.get(column, column.replace("_", " "))


def use_book_style() -> None:
    """The book's figure style, for every chapter (``book.setup`` calls it): seaborn's white
    grid, readable type, and figures rendered at twice the screen's pixel density (retina), so a
    figure is at least 1,000 pixels wide and stays sharp when the page stretches it to the full
    content width (``_static/book.css``)."""
    sns.set_theme(style="whitegrid", context="notebook", rc={"axes.titlesize": 13, "axes.labelsize": 12,
                                                             "legend.fontsize": 10, "legend.framealpha": 0.9})
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # outside IPython: nothing to configure
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def _hue_colours(labels: pd.Series, given=None) -> dict:
    """One colour per label, as seaborn would pick them (a dict, a palette name, or its default)."""
    levels = list(pd.unique(labels.dropna()))
    if isinstance(given, dict):
        return given
    if given is None and labels.dtype.kind in "biufc":  # a numeric hue (a learning rate): ordered colours
        return dict(zip(sorted(levels), sns.color_palette("viridis", len(levels))))
    if given is None:
        given = None if len(levels) <= len(sns.color_palette()) else "husl"
    return dict(zip(levels, sns.color_palette(given, len(levels))))


def mean_band(frame: pd.DataFrame, x: str, y: str, keys: list[str], confidence: float | None = None) -> pd.DataFrame:
    """The Student-t ``confidence`` interval (default: the claims' :data:`optim.verdicts.CONFIDENCE`)
    of the mean of ``y`` over the rows (seeds) at each ``x`` of each ``keys`` group: columns
    ``keys``, ``x``, ``low``, ``high``, sorted by ``x``; points with one value (or none finite)
    have no band. The same interval the claims use, not a bootstrap (too narrow on 2–5 seeds)."""
    from scipy import stats

    from .verdicts import CONFIDENCE

    confidence = CONFIDENCE if confidence is None else confidence
    data = frame[keys + [x, y]].replace([np.inf, -np.inf], np.nan).dropna(subset=[y])
    summary = data.groupby(keys + [x], sort=False, dropna=False)[y].agg(["mean", "std", "count"]).reset_index()
    summary = summary[summary["count"] > 1]
    half = stats.t.ppf(0.5 + confidence / 2, summary["count"] - 1) * summary["std"] / np.sqrt(summary["count"])
    columns = keys + [x, "low", "high"]
    out = summary.assign(low=summary["mean"] - half, high=summary["mean"] + half)
    return out.sort_values(x, kind="stable").reset_index(drop=True)[columns]


def paired_effect(frame: pd.DataFrame, x: str, y: str, by: str, a: str, b: str, scale: str = "ratio") -> pd.DataFrame:
    """At each ``x``: ``a``'s ``y`` against ``b``'s over the seeds both ran, with the paired t
    interval the claims use (:func:`optim.verdicts.t_interval`; for ``scale="ratio"`` on the
    logarithms, exponentiated). Columns ``x``, ``effect``, ``low``, ``high``, ``seeds``."""
    from .verdicts import t_interval

    wide = frame[frame[by].isin([a, b])].pivot_table(index=[x, "seed"], columns=by, values=y).dropna()
    wide = wide[np.isfinite(wide).all(axis=1)]
    rows = []
    for at, part in wide.groupby(level=0):
        if len(part) < 2:
            continue
        va, vb = (np.log(part[a]), np.log(part[b])) if scale == "ratio" else (part[a], part[b])
        center, low, high, _, _ = t_interval(va, vb, paired=True)
        values = (np.exp(center), np.exp(low), np.exp(high)) if scale == "ratio" else (center, low, high)
        rows.append({x: at, "effect": values[0], "low": values[1], "high": values[2], "seeds": len(part)})
    return pd.DataFrame(rows, columns=[x, "effect", "low", "high", "seeds"])


def effect_curves(frame: pd.DataFrame, x: str, y: str, by: str, pairs: list[tuple[str, str]], ax=None,
                  scale: str = "ratio", sesoi: float | None = None, names: dict | None = None, title: str | None = None):
    """Each pair ``(a, b)``: ``a``'s ``y`` against ``b``'s along ``x`` — the paired effect (a
    ratio, or a difference) with its paired t band at the claims' level, which at the last
    ``x`` is exactly a claim's interval (:func:`paired_effect`) — drawn in ``b``'s colour;
    given ``sesoi``, the band of effects too small to matter is shaded grey."""
    ax = ax or plt.gca()
    names = names or {}
    others = list(dict.fromkeys(b for _, b in pairs))
    colours = _hue_colours(pd.Series(others), palette(others) if set(others) <= set(OPTIMIZER_COLOURS) else None)
    neutral = 1.0 if scale == "ratio" else 0.0
    if sesoi:
        low, high = (1 / (1 + sesoi), 1 + sesoi) if scale == "ratio" else (-sesoi, sesoi)
        ax.axhspan(low, high, color="0.88", zorder=0, label=f"within the smallest effect of interest (±{sesoi:g})")
    ax.axhline(neutral, color="0.4", lw=0.8)
    for a, b in pairs:
        band = paired_effect(frame, x, y, by, a, b, scale)
        label = f"{names.get(a, a)} {'/' if scale == 'ratio' else '−'} {names.get(b, b)}"
        ax.plot(band[x], band["effect"], color=colours[b], marker="o", ms=3, label=label)
        ax.fill_between(band[x], band["low"], band["high"], color=colours[b], alpha=0.2, linewidth=0)
    if scale == "ratio":
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    return ax


def grid(table: pd.DataFrame, index: str, columns: str, values: str, ax=None, fmt: str = ".3f",
         cmap: str = "viridis_r", title: str | None = None, mark: str = "min", **kwargs):
    """A heatmap of ``values`` over ``index`` × ``columns`` with the best cell outlined
    (``mark="min"`` or ``"max"``; ``None`` for no outline)."""
    ax = ax or plt.gca()
    pivot = table.pivot_table(index=index, columns=columns, values=values).sort_index(ascending=False)
    sns.heatmap(pivot, annot=True, fmt=fmt, cmap=cmap, ax=ax, cbar=False, **kwargs)
    if mark is not None and np.isfinite(pivot.to_numpy()).any():
        flat = np.nanargmin(pivot.to_numpy()) if mark == "min" else np.nanargmax(pivot.to_numpy())
        r, c = np.unravel_index(flat, pivot.shape)
        ax.add_patch(plt.Rectangle((c, r), 1, 1, fill=False, edgecolor="red", lw=2.5))
    if title:
        ax.set_title(title)
    return ax


def seed_points(values: dict[str, pd.Series], ax=None, colours: dict | None = None, scale: float = 1.0):
    """One column per label: each seed's value as a dot, and the mean with its Student-t
    interval at the claims' level (:func:`optim.analysis.mean_ci`) as a bar beside the dots —
    for claims that rest on a handful of seeds. ``scale`` multiplies the values (100: percent)."""
    from .analysis import mean_ci

    ax = ax or plt.gca()
    colours = colours or {}
    for x, (label, series) in enumerate(values.items()):
        points = np.asarray(series, dtype=float) * scale
        colour = colours.get(label, "0.3")
        spread = np.linspace(-0.08, 0.08, len(points)) if len(points) > 1 else np.zeros(1)
        ax.scatter(x - 0.12 + spread, points, s=18, color=colour, alpha=0.7, zorder=3)
        mean, half = mean_ci(points)
        ax.errorbar(x + 0.12, mean, yerr=half, fmt="o", color=colour, capsize=4, markersize=6, zorder=4)
    ax.set_xticks(range(len(values)), list(values), rotation=20, ha="right")
    return ax


def failure_map(grid: np.ndarray, on_curve: np.ndarray, c_values, beta2_values, ax=None, title: str | None = None):
    """Where an online method's iterate ends over C × β2 (:func:`optim.counterexamples.failure_map`):
    one cell per setting on a diverging map (−1 blue: the optimum; +1 red: the worst point),
    with Theorem 1's curve β2 = 1/(1+C²) drawn through the cells and its runs as circles."""
    ax = ax or plt.gca()
    c_values, beta2_values = np.asarray(c_values, dtype=float), np.asarray(beta2_values, dtype=float)
    colours = dict(cmap="coolwarm", vmin=-1, vmax=1)

    def cell(c, b2):  # a (C, β2) point in the map's cell coordinates, interpolated between grid values
        return (np.interp(c, c_values, np.arange(len(c_values))) + 0.5,
                np.interp(np.log(b2), np.log(beta2_values), np.arange(len(beta2_values))) + 0.5)

    mesh = ax.pcolormesh(np.arange(len(c_values) + 1), np.arange(len(beta2_values) + 1), grid, edgecolors="white",
                         linewidth=0.5, **colours)
    cs = np.linspace(c_values[0], c_values[-1], 200)
    ax.plot(*cell(cs, 1 / (1 + cs ** 2)), "k-", lw=1.5, label="Theorem 1: β2 = 1/(1+C²)")
    on = c_values[c_values > 2]
    ax.scatter(*cell(on, 1 / (1 + on ** 2)), c=on_curve, edgecolors="k", s=60, zorder=3, label="runs on the curve",
               **colours)
    ax.set(yticks=np.arange(len(beta2_values)) + 0.5, yticklabels=[f"{b:g}" for b in beta2_values],
           xticks=np.arange(len(c_values)) + 0.5, xticklabels=[f"{c:g}" for c in c_values], ylabel="β2", title=title)
    ax.figure.colorbar(mesh, ax=ax, label="x (−1: optimum, +1: worst point)")
    legend_outside(ax, fontsize=8)
    return ax


def panels(specs: list[dict], ncols: int = 1, size: tuple[float, float] = (9, 3.75), legend: bool = True, **subplots):
    """One figure of learning-curve panels, each :func:`curves` of one spec — ``frame``, ``x``,
    ``y``, and optionally ``hue`` (default "tag"), ``logy``, ``title``, ``marker``, ``palette``,
    ``hue_order`` — with any other spec key set on its axes (``xlabel``, ``ylabel``, ``xscale``,
    ``ylim``…); legends beside the panels (:func:`legend_outside`), or none with ``legend=False``.
    ``size``: one panel's width and height; ``subplots`` go to ``plt.subplots`` (sharex…)."""
    nrows = -(-len(specs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **subplots)
    drawn = {"frame", "x", "y", "hue", "logy", "title", "marker", "palette", "hue_order"}
    for ax, spec in zip(axes.flat, specs):
        options = {k: spec[k] for k in ("marker", "palette", "hue_order") if k in spec}
        curves(spec["frame"], spec["x"], spec["y"], spec.get("hue", "tag"), ax=ax, logy=spec.get("logy", False),
               title=spec.get("title"), **options)
        ax.set(**{k: v for k, v in spec.items() if k not in drawn})
        if legend:
            legend_outside(ax)
        elif ax.get_legend() is not None:
            ax.get_legend().remove()
    for ax in axes.flat[len(specs):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def seed_panels(panels: list[dict], size: tuple[float, float] = (3.4, 4.6)):
    """One figure of :func:`seed_points` panels side by side, each a dict with ``values``
    (label → per-seed values) and optionally ``colours`` and ``scale``; any other key is set on
    its axes (``title``, ``ylabel``, ``yscale``…). ``size``: one panel's width and height."""
    fig, axes = plt.subplots(1, len(panels), figsize=(size[0] * len(panels), size[1]), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        seed_points(panel["values"], ax=ax, colours=panel.get("colours"), scale=panel.get("scale", 1.0))
        ax.set(**{k: v for k, v in panel.items() if k not in ("values", "colours", "scale")})
    fig.tight_layout()
    return fig
