"""The book's one tuning protocol: choose a hyper-parameter on selection seeds, judge on fresh ones.

Every chapter that tunes calls :func:`choose` on the runs of its *selection* seeds (or a
validation split) and re-runs the chosen setting on the judged seeds, so the choice cannot
flatter the method it picked. A choice on the edge of its grid means the grid was too small:
:func:`choose` flags it (``on_edge``), :func:`edge_note` says so in the claims table, and the
remedy is to extend the grid past the edge until the optimum is interior.
"""

from __future__ import annotations

import pandas as pd

from .analysis import best


def choose(grid: pd.DataFrame, by: list[str], vary: str, metric: str, mode: str = "min") -> pd.DataFrame:
    """Per group of ``by``: the value of ``vary`` with the best mean final ``metric`` over the
    selection runs in ``grid``; columns ``by``, ``vary``, ``selection`` (that mean), ``grid``
    (the values tried, sorted) and ``on_edge`` (the choice is the smallest or largest tried)."""
    chosen = best(grid, by, vary, metric, mode).rename(columns={"mean": "selection"})
    tried = grid.groupby(by, sort=False)[vary].agg(lambda v: tuple(sorted(set(v))))
    chosen["grid"] = [tried.loc[tuple(r[b] for b in by) if len(by) > 1 else r[by[0]]] for _, r in chosen.iterrows()]
    chosen["on_edge"] = [len(g) > 1 and v in (g[0], g[-1]) for v, g in zip(chosen[vary], chosen["grid"])]
    return chosen[by + [vary, "selection", "grid", "on_edge"]]


def edge_note(chosen: pd.DataFrame, label: str, vary: str = "hp_lr") -> str:
    """'…: chosen on the grid's edge (the grid was too small): adam 0.003 of 0.0003–0.003' or ''."""
    edges = chosen[chosen["on_edge"]]
    if edges.empty:
        return ""
    parts = [f"{r[label]} {r[vary]:g} of {r['grid'][0]:g}–{r['grid'][-1]:g}" for _, r in edges.iterrows()]
    return f"chosen on the grid's edge (the grid was too small to show an interior optimum): {', '.join(parts)}"
