"""The book's figure helpers: learning curves with mean ± 95% CI over seeds, and grids."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")
CI = ("ci", 95)
BAND = "shaded bands: 95% bootstrap confidence interval of the mean over seeds"

# One colour per optimizer in every chapter (registry names). Families share hues: the SGD
# family blues, the adaptive classics greens, Adam's family oranges/reds, decoupled and
# switching methods purples/browns. Methods a chapter draws side by side must stay tellable
# apart (tests/test_plots.py checks a minimum RGB distance between any two).
OPTIMIZER_COLOURS = {
    "sgd": "#6baed6", "momentum": "#2171b5", "nesterov": "#08306b",
    "adagrad": "#74c476", "rmsprop": "#238b45", "adadelta": "#00441b",
    "adam": "#e6550d", "adamax": "#fd8d3c", "amsgrad": "#a63603", "nadam": "#cb181d",
    "adamw": "#756bb1", "sgdw": "#9e9ac8", "swats": "#8c510a", "ndadam": "#c51b7d",
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
    bootstrapped 95% confidence band (:func:`mean_band`); diverged stretches are simply
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
    if frame[hue].dtype.kind in "biufc":  # a numeric hue: seaborn's colour map and its own bands
        sns.lineplot(data=frame, x=x, y=y, hue=hue, style=style, errorbar=CI, n_boot=200, seed=0, ax=ax, **kwargs)
    else:
        colours = _hue_colours(frame[hue], kwargs.pop("palette", None))
        sns.lineplot(data=frame, x=x, y=y, hue=hue, style=style, errorbar=None, palette=colours, ax=ax, **kwargs)
        keys = [hue] + ([style] if style and style != hue else [])
        for group, band in mean_band(frame, x, y, keys).groupby(keys, sort=False):
            ax.fill_between(band[x], band["low"], band["high"], color=colours[group[0]], alpha=0.2, linewidth=0)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    return ax


def _hue_colours(labels: pd.Series, given=None) -> dict:
    """One colour per label, as seaborn would pick them (a dict, a palette name, or its default)."""
    levels = list(pd.unique(labels.dropna()))
    if isinstance(given, dict):
        return given
    if given is None:
        given = None if len(levels) <= len(sns.color_palette()) else "husl"
    return dict(zip(levels, sns.color_palette(given, len(levels))))


def mean_band(frame: pd.DataFrame, x: str, y: str, keys: list[str], level: float = 95, n_boot: int = 200,
              seed: int = 0) -> pd.DataFrame:
    """The percentile-bootstrap ``level``% confidence interval of the mean of ``y`` over the
    rows (seeds) at each ``x`` of each ``keys`` group: columns ``keys``, ``x``, ``low``,
    ``high``, sorted by ``x``; points with one value (or none finite) have no band. All groups
    of the same size share one draw of resampling indices, so the whole frame is resampled
    in a few array operations instead of one bootstrap per point."""
    data = frame[keys + [x, y]].replace([np.inf, -np.inf], np.nan).dropna(subset=[y])
    data = data.assign(_point=data.groupby(keys + [x], sort=False, dropna=False).ngroup())
    data = data.assign(_size=data.groupby("_point")[y].transform("size"), _row=data.groupby("_point").cumcount())
    rng = np.random.default_rng(seed)
    tail = (100 - level) / 2
    parts = []
    for size, part in data[data["_size"] > 1].groupby("_size"):
        values = part.pivot(index="_point", columns="_row", values=y).to_numpy()  # points × seeds
        means = values[:, rng.integers(0, size, (n_boot, size))].mean(axis=-1)    # points × resamples
        low, high = np.percentile(means, [tail, 100 - tail], axis=1)
        first = part.drop_duplicates("_point").set_index("_point").loc[:, keys + [x]]
        parts.append(first.sort_index().assign(low=low, high=high))
    columns = keys + [x, "low", "high"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts).sort_values(x, kind="stable").reset_index(drop=True)[columns]


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
