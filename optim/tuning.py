"""The book's one tuning protocol: choose a hyper-parameter on selection seeds, judge on fresh ones.

Every chapter that tunes calls :func:`choose` on the runs of its *selection* seeds (or a
validation split) and re-runs the chosen setting on the judged seeds, so the choice cannot
flatter the method it picked. A choice on the edge of its grid means the grid was too small:
:func:`choose` flags it (``on_edge``), :func:`edge_note` says so in the claims table, and the
remedy is to extend the grid past the edge until the optimum is interior.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pandas as pd

from .analysis import final


def choose(grid: pd.DataFrame, by: list[str], vary: str, metric: str, mode: str = "min",
           tiebreak: tuple[str, str] | None = None) -> pd.DataFrame:
    """Per group of ``by``: the value of ``vary`` with the best mean final ``metric`` over the
    selection runs in ``grid`` (ties broken by ``tiebreak``, a (metric, mode) pair); columns
    ``by``, ``vary``, ``selection`` (that mean), ``grid`` (the values tried, sorted) and
    ``on_edge`` (the choice is the smallest or largest tried)."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode={mode!r} is invalid: expected 'min' or 'max'")
    table = final(grid, by + [vary], metric).rename(columns={"mean": "selection"})
    order, ascending = ["selection"], [mode == "min"]
    if tiebreak is not None:
        second = final(grid, by + [vary], tiebreak[0]).rename(columns={"mean": "_tiebreak"})
        table = table.merge(second[by + [vary, "_tiebreak"]], on=by + [vary])
        order, ascending = order + ["_tiebreak"], ascending + [tiebreak[1] == "min"]
    first_seen = table[by].drop_duplicates().reset_index(drop=True)  # the groups in the grid's order
    chosen = first_seen.merge(table.sort_values(order, ascending=ascending, kind="stable")
                              .groupby(by, sort=False).head(1), on=by)
    tried = grid.groupby(by, sort=False)[vary].agg(lambda v: tuple(sorted(set(v))))
    chosen["grid"] = [tried.loc[tuple(r[b] for b in by) if len(by) > 1 else r[by[0]]] for _, r in chosen.iterrows()]
    chosen["on_edge"] = [len(g) > 1 and v in (g[0], g[-1]) for v, g in zip(chosen[vary], chosen["grid"])]
    return chosen[by + [vary, "selection", "grid", "on_edge"]].reset_index(drop=True)


def edge_note(chosen: pd.DataFrame, label: str, vary: str = "hp_lr") -> str:
    """'…: chosen on the grid's edge (the grid was too small): adam 0.003 of 0.0003–0.003' or ''."""
    edges = chosen[chosen["on_edge"]]
    if edges.empty:
        return ""
    parts = [f"{r[label]} {r[vary]:g} of {r['grid'][0]:g}–{r['grid'][-1]:g}" for _, r in edges.iterrows()]
    return f"chosen on the grid's edge (the grid was too small to show an interior optimum): {', '.join(parts)}"


def choice_note(chosen: pd.DataFrame, label: str, vary: str = "hp_lr", what: str = "α") -> str:
    """The claims table's account of a tuning choice: 'α chosen on the selection runs: Adam 0.003
    (grid 0.0003–0.009), …', with the choices still on an edge flagged."""
    parts = [f"{r[label]} {r[vary]:g} (grid {r['grid'][0]:g}–{r['grid'][-1]:g}{', on its edge' if r['on_edge'] else ''})"
             for _, r in chosen.iterrows()]
    return f"{what} chosen on the selection runs: {', '.join(parts)}"


def step_past(grid: list[float], edge: str) -> float:
    """The next value past the ``edge`` ("low"/"high") of a sorted log-spaced ``grid``: one step
    of the grid's own ratio at that end, rounded to one significant digit (3e-3 → 9e-3)."""
    if len(grid) < 2:
        raise ValueError(f"grid={grid!r} is invalid: extending needs at least 2 values")
    value = grid[0] * grid[0] / grid[1] if edge == "low" else grid[-1] * grid[-1] / grid[-2]
    return float(f"{value:.0e}")


def _record_edges(edges: pd.DataFrame, label: str, vary: str, widened: int, final: bool) -> None:
    """In a plan (``make plan``), note the choices on a grid's edge for the planner to report:
    still there after widening (``final``), or not yet known because the selection runs are
    missing (then the plan cannot count the widening runs)."""
    import json

    from . import mode

    path = mode.plan_file()
    if not path or edges.empty:
        return
    with open(path, "a") as f:
        for _, row in edges.iterrows():
            f.write(json.dumps({"edge": f"{row[label]} {vary} = {row[vary]:g} on the edge of {list(row['grid'])}"
                                + (f" after widening {widened} times" if final else
                                   "; the runs that widen it are not stored yet")}) + "\n")


def tune(specs_for: Callable[[str, float], list], grids: dict[str, list[float]], metric: str, profile: str,
         label: str = "optimizer", vary: str = "hp_lr", mode: str = "min", widen: int = 3,
         tiebreak: tuple[str, str] | None = None, root=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The book's tuning protocol (module docstring): run every ``label``'s ``grids`` on the
    selection seeds (``specs_for(label, value)`` gives those runs' specs), choose by the mean
    final ``metric`` (:func:`choose`), and while a choice sits on its grid's edge, extend that
    grid one step past the edge (:func:`step_past`) — at most ``widen`` times; a choice still on
    the edge after that stays flagged. Returns (chosen, the selection runs' frame)."""
    from .runner import run_many

    grids = {name: sorted(values) for name, values in grids.items()}
    edges = pd.DataFrame()
    for attempt in range(widen + 1):
        frame = run_many([s for name, values in grids.items() for v in values for s in specs_for(name, v)],
                         profile=profile, root=root)
        if frame.attrs.get("planned"):  # a plan's placeholders cannot choose: report what is being widened
            _record_edges(edges, label, vary, widened=attempt, final=False)
            return choose(frame, [label], vary, metric, mode, tiebreak), frame
        chosen = choose(frame, [label], vary, metric, mode, tiebreak)
        edges = chosen[chosen["on_edge"]]
        if edges.empty or attempt == widen:
            _record_edges(edges, label, vary, widened=attempt, final=True)
            return chosen, frame
        for _, row in edges.iterrows():
            grid = grids[row[label]]
            if row[vary] == grid[0]:
                grid.insert(0, step_past(grid, "low"))
            else:
                grid.append(step_past(grid, "high"))
    return chosen, frame


class TunedCurves(NamedTuple):
    """:func:`tuned_curves`'s result: the judged runs' per-epoch and per-step frames, the
    choices (:func:`choose`'s table) and the selection runs' frame."""

    epochs: pd.DataFrame
    steps: pd.DataFrame
    chosen: pd.DataFrame
    selection: pd.DataFrame


def tuned_curves(specs_for: Callable[[str, float, list[int]], list], grids: dict[str, list[float]], metric: str,
                 profile: str, seeds, selection_seeds, *, label: str = "optimizer", vary: str = "hp_lr",
                 **tune_options) -> TunedCurves:
    """The whole protocol: :func:`tune` every ``label``'s ``grids`` on ``selection_seeds``, then
    run each choice on the judged ``seeds`` (``specs_for(label, value, seeds)`` gives the specs
    of either) and read their learning curves (:func:`optim.runner.run_curves`)."""
    from .runner import run_curves

    chosen, selection = tune(lambda name, value: specs_for(name, value, list(selection_seeds)), grids, metric,
                             profile, label=label, vary=vary, **tune_options)
    values = dict(zip(chosen[label], chosen[vary]))
    epochs, steps = run_curves([s for name in grids for s in specs_for(name, values[name], list(seeds))],
                               profile=profile)
    return TunedCurves(epochs, steps, chosen, selection)


def edges_text(choices, label: str = "tag", vary: str = "hp_lr", widened: str = "") -> str:
    """In words, for the chapter's prose: the choices still on an edge of their grid after the
    widening (``choices``: (model, :func:`choose`'s table) pairs; ``widened``: how often, in
    words), or that none was."""
    edges = [f"{model}, {r[label]}: {r[vary]:g}" for model, chosen in choices
             for _, r in chosen[chosen["on_edge"]].iterrows()]
    if not edges:
        return "No step size was left at an edge of its grid."
    return f"Step sizes still at an edge of their grid after widening it {widened}: " + "; ".join(edges) + "."
