"""The AMSGrad chapter's online problems (Reddi, Kale and Kumar 2018: Theorem 1 and §5) as the
chapter reads them: every method's curves, the failure map over (C, β2), §5's sensitivity to
its settings and the stochastic problem at length — each computed once by
:mod:`optim.problems.online` and stored like a run (:func:`optim.runner.computed`).

``methods`` maps a label to (registry name, extra hyperparameters), e.g.
``{"AMSGrad (paper)": ("amsgrad", {"bias_correction": False})}``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import verdicts
from .problems import OnlineSums, log_slope, run_online, run_online_long, run_online_many
from .runner import computed

TAIL = 0.1  # "where the iterate ends": its mean over the last 10% of the steps


def tail_mean(values, share: float = TAIL) -> float:
    """Mean of the last ``share`` of ``values`` (an iterate's or regret's sequence)."""
    values = np.asarray(values, dtype=float)
    return float(values[int((1 - share) * len(values)):].mean())


def curve_tail(frame: pd.DataFrame, method: str, column: str = "x", share: float = TAIL) -> float:
    """:func:`tail_mean` of one method's stored curve (a :func:`curves` frame), read on its
    subsampled points: those with t at or beyond ``1 − share`` of the last step."""
    part = frame[frame.method == method]
    return float(part[part.t >= (1 - share) * part.t.max()][column].mean())


def curves(methods: dict, kind: str, steps: int, profile: str, *, seed: int = 0, points: int = 2000,
           **problem) -> pd.DataFrame:
    """Every method on the online problem (:func:`optim.problems.run_online`): iterate and
    average regret at about ``points`` evenly spaced steps, one row per (method, step), with
    each method's registry name in ``optimizer`` (its colour in every figure)."""
    def compute():
        every = max(1, steps // points)
        return pd.concat([pd.DataFrame({"t": np.arange(1, steps + 1)[::every], "x": result.x[::every],
                                        "average regret": result.average_regret[::every], "method": label,
                                        "seed": seed})
                          for label, (name, extra) in methods.items()
                          for result in [run_online(name, steps, kind, seed=seed, **problem, **extra)]],
                         ignore_index=True)

    frame = computed("online counterexample", compute, profile, kind=kind, steps=steps, seed=seed, methods=methods,
                     **problem)
    return frame.assign(optimizer=frame["method"].map({label: name for label, (name, _) in methods.items()}))


def at_length(methods: dict, steps: int, seeds, profile: str, **problem) -> dict[tuple[str, int], OnlineSums]:
    """Every method on the stochastic problem for ``steps`` steps on every seed at once
    (:func:`optim.problems.run_online_long`), kept as running sums at log-spaced steps:
    {(label, seed): OnlineSums}."""
    def compute():
        return pd.concat([sums.to_frame().assign(method=label, seed=seed)
                          for label, (name, extra) in methods.items()
                          for seed, sums in run_online_long(name, steps, seeds, **problem, **extra).items()],
                         ignore_index=True)

    frame = computed("online stochastic at length", compute, profile, steps=steps, seeds=seeds, methods=methods,
                     **problem)
    return {key: OnlineSums.from_frame(part) for key, part in frame.groupby(["method", "seed"])}


def readings(runs: dict[tuple[str, int], OnlineSums], methods: dict) -> pd.DataFrame:
    """The long runs' per-window readings (:meth:`OnlineSums.readings`), one frame, with
    method, seed and registry name."""
    return pd.concat([sums.readings().assign(method=method, seed=seed, optimizer=methods[method][0])
                      for (method, seed), sums in runs.items()], ignore_index=True)


def trends(runs: dict[tuple[str, int], OnlineSums], since: float) -> pd.DataFrame:
    """Per (method, seed), from ``since`` on: the log-log slope of |window mean x − x*| and of
    the expected average regret against t (:func:`optim.problems.log_slope`), and the mean x."""
    return pd.DataFrame([dict(method=method, seed=seed, gap_slope=log_slope(s.t, s.window_gap, since),
                              regret_slope=log_slope(s.t, s.expected_regret / s.t, since),
                              mean_x=s.mean_x_since(since))
                         for (method, seed), s in runs.items()]).set_index(["method", "seed"])


def noise_horizon(p: float, big: float, small: float) -> dict[str, float]:
    """The stochastic problem's drift E[c] = p·big − (1 − p)·small per step, its standard
    deviation, and the steps after which x* = −1 is the best point in hindsight with 3σ
    confidence: 9·Var(c)/E[c]²."""
    drift = p * big - (1 - p) * small
    variance = p * (1 - p) * (big + small) ** 2
    return dict(drift=drift, sd=variance ** 0.5, horizon=9 * variance / drift ** 2)


def failure_map(name: str, extra: dict, c_values, beta2_values, steps: int, profile: str) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 1's problem (c_t = C every third step, −1 otherwise, β1 = 0, α_t = 1/√t) over
    the grid C × β2 and on the theorem's curve β2 = 1/(1 + C²) (its C > 2): the iterate's
    :func:`tail_mean` per cell, as (array[len(beta2_values), len(c_values)], array over the curve)."""
    c_values, beta2_values = np.asarray(c_values), np.asarray(beta2_values)
    grid = [dict(big=c, small=1.0, period=3, betas=(0.0, b2), lr=1.0, **extra) for b2 in beta2_values for c in c_values]
    curve = [dict(big=c, small=1.0, period=3, betas=(0.0, 1 / (1 + c ** 2)), lr=1.0, **extra)
             for c in c_values[c_values > 2]]

    def compute():
        return [tail_mean(r.x) for r in run_online_many(name, steps, grid + curve)]

    tails = np.array(computed("online failure map", compute, profile, optimizer=name, steps=steps,
                              settings=grid + curve))
    return tails[:len(grid)].reshape(len(beta2_values), len(c_values)), tails[len(grid):]


def sensitivity(methods: dict, variants: dict[str, dict], base: dict, steps: int, profile: str) -> pd.DataFrame:
    """The iterate's :func:`tail_mean` on ``base``'s problem with one change at a time
    (``variants``: label → changed settings), one column per method."""
    def one(name: str, extra: dict) -> list[float]:
        settings = [base | extra | change for change in variants.values()]
        return computed("online sensitivity", lambda: [tail_mean(r.x) for r in run_online_many(name, steps, settings)],
                        profile, optimizer=name, steps=steps, settings=settings)

    return pd.DataFrame({label: one(name, extra) for label, (name, extra) in methods.items()}, index=list(variants))


ADAM, PAPER, TORCH = "Adam", "AMSGrad (paper)", "AMSGrad (torch)"  # the labels the chapter's claims read


def judge(ch, theorem: pd.DataFrame, deterministic: pd.DataFrame, long_runs: dict, maps: dict, on_curve,
          sensitivity_table: pd.DataFrame) -> list[dict]:
    """The chapter's claims about the online problems, each under its declared plan (``ch``: the
    :class:`optim.book.Chapter`, whose sizes give the steps): where Theorem 1's and §5's
    iterates end (mean over the last :data:`TAIL` of the steps: Adam above +0.9, AMSGrad below
    −0.9), the slopes of the stochastic problem at length over its last decade of steps (per seed),
    Adam on the theorem's curve β2 = 1/(1 + C²) at ``on_curve``, the sign of the iterate under
    each of §5's variants, the deterministic average regret's slope, and the torch form's end."""
    sizes, rows = ch.sizes, []
    for plan, frame, steps in [("theorem1", theorem, sizes["theorem_steps"]),
                               ("section5_deterministic", deterministic, sizes["online_steps"])]:
        rows.append(ch.judge(plan, [
            verdicts.observe(f"Adam's mean x over the last 10% of {steps:,} steps", curve_tail(frame, ADAM), "greater", 0.9),
            verdicts.observe("AMSGrad's", curve_tail(frame, PAPER), "less", -0.9)]))
    last_decade = sizes["stochastic_steps"] / 10
    trend = trends(long_runs, last_decade)
    decade = f"{last_decade:,.0f}–{sizes['stochastic_steps']:,} steps"
    rows.append(ch.judge("section5_stochastic", [
        verdicts.estimate(f"AMSGrad's slope of log |mean x + 1| against log t, {decade}",
                          trend.loc[PAPER, "gap_slope"], "less", -0.25),
        verdicts.estimate("Adam's", trend.loc[ADAM, "gap_slope"], "greater", -0.25),
        verdicts.estimate(f"Adam's mean x, {decade}", trend.loc[ADAM, "mean_x"], "greater", 0.9)],
        note=f"torch form's slope {trend.loc[TORCH, 'gap_slope'].mean():+.2f} (mean over seeds)"))
    rows.append(ch.judge("regret_stochastic", [
        verdicts.estimate(f"AMSGrad's slope of log(R̄_t/t) against log t, {decade}",
                          trend.loc[PAPER, "regret_slope"], "less", -0.25),
        verdicts.estimate("Adam's", trend.loc[ADAM, "regret_slope"], "greater", -0.25)]))
    rows.append(ch.judge("curve", [verdicts.observe(f"C = {c:g}: Adam's mean x over the last 10%", x, "greater", 0.9)
                                   for c, x in zip(on_curve, maps[ADAM][1])],
                         note="AMSGrad at the same points: " + ", ".join(f"{x:+.2f}" for x in maps[PAPER][1])))
    for plan, label, way, who in [("sensitivity_adam", ADAM, "greater", "Adam's"),
                                  ("sensitivity_amsgrad", PAPER, "less", "AMSGrad's")]:
        rows.append(ch.judge(plan, [verdicts.observe(f"{variant}: {who} mean x over the last 10%", x, way, 0.0)
                                    for variant, x in sensitivity_table[label].items()]))
    slope = regret_slopes(deterministic, sizes["online_steps"] / 10)
    rows.append(ch.judge("regret", [
        verdicts.observe("AMSGrad's slope of log R_t/t over the last decade", slope[PAPER], "less", -0.25),
        verdicts.observe("Adam's", slope[ADAM], "greater", -0.25)]))
    rows.append(ch.judge("torch_form", [verdicts.observe("§5 deterministic: torch form's mean x over the last 10%",
                                                         curve_tail(deterministic, TORCH), "less", 0.0)],
                         note=f"paper form {curve_tail(deterministic, PAPER):+.3f}"))
    return rows


def regret_slopes(frame: pd.DataFrame, since: float) -> dict[str, float]:
    """Adam's and the paper's AMSGrad's log-log slope of the average regret against t from
    ``since`` on, in a :func:`curves` frame (:func:`optim.problems.log_slope`)."""
    return {m: log_slope(part.t, part["average regret"], since)
            for m, part in frame.groupby("method") if m in (ADAM, PAPER)}


def lower_than_adam(ch, plan: str, tables: list[tuple[str, str, dict]], note: str = "") -> dict:
    """The plan's claim that the paper's AMSGrad ends below Adam: for each (metric, label suffix,
    label → per-seed values), the paired ratio at the plan's SESOI (:func:`optim.verdicts.compare`)."""
    return ch.judge(plan, [verdicts.compare(PAPER + suffix, values[PAPER], ADAM + suffix, values[ADAM], metric, "less",
                                            ch.plans[plan].sesoi) for metric, suffix, values in tables], note=note)


def glue_values(ch, deterministic: pd.DataFrame, long_runs: dict, maps: dict, sensitivity_table: pd.DataFrame,
                section5: dict, p: float) -> dict[str, object]:
    """The numbers the chapter's reading of the online problems quotes (``section5``: the
    problem's big and small gradients; ``p``: the stochastic problem's chance of the big one),
    as text, keyed as the chapter glues them. In the stochastic problem the expected loss slope
    is small next to its noise: only after 9·Var(c)/E[c]² steps (:func:`noise_horizon`) is
    x* = −1 the best point in hindsight with 3σ confidence."""
    sizes = ch.sizes
    det_adam, det_ams, det_torch = (curve_tail(deterministic, m) for m in (ADAM, PAPER, TORCH))
    regret = {m: curve_tail(deterministic, m, "average regret") for m in (ADAM, PAPER)}
    slope = regret_slopes(deterministic, sizes["online_steps"] / 10)
    trend = trends(long_runs, sizes["stochastic_steps"] / 10)
    noise = noise_horizon(p, section5["big"], section5["small"])
    # x = +1 against x* = −1 over one period of §5's deterministic problem: 2·(1010 − 100·10)
    period_regret = 2 * (section5["big"] - 100 * section5["small"])
    return dict(
        det_adam=f"{det_adam:+.2f}", online_steps=f"{sizes['online_steps']:,}",
        adam_wrong=int((sensitivity_table[ADAM] > 0).sum()), variants=len(sensitivity_table),
        adam_worst=int((sensitivity_table[ADAM] > 0.9).sum()), ams_escapes=int((sensitivity_table[PAPER] < 0).sum()),
        det_ams=f"{det_ams:+.2f}",
        det_ams_reading=("at the optimum." if det_ams < -0.9 else
                         "still on its way to −1, slower than the paper's figure suggests: with β2 = 0.99 the maximum "
                         "of v_t is set by the gradient 1010, so AMSGrad's steps are small."),
        regret_ams=f"{regret[PAPER]:.3f}", regret_adam=f"{regret[ADAM]:.3f}",
        slope_ams=f"{slope[PAPER]:.2f}", slope_adam=f"{slope[ADAM]:.2f}",
        period_regret=f"{period_regret:g}", regret_floor=f"{period_regret / 101:.3f}", det_torch=f"{det_torch:+.2f}",
        torch_reading=(", further from the optimum" if det_torch > det_ams else
                       ", no further from the optimum than AMSGrad's"),
        drift=f"{noise['drift']:.1f}", noise=f"{noise['sd']:.0f}", horizon=f"{noise['horizon']:,.0f}",
        stochastic_steps=f"{sizes['stochastic_steps']:,}",
        stochastic_seeds=len({seed for _, seed in long_runs}),
        **{f"long_{key}_{m}": f"{trend.loc[label, column].mean():+.2f}"
           for m, label in [("adam", ADAM), ("ams", PAPER)]
           for key, column in [("gap", "gap_slope"), ("regret", "regret_slope"), ("x", "mean_x")]},
        curve_fails=int((maps[ADAM][1] > 0.9).sum()), curve_points=len(maps[ADAM][1]),
        map_adam=int((maps[ADAM][0] > 0).sum()), map_cells=maps[ADAM][0].size,
        map_ams=int((maps[PAPER][0] > 0).sum()),
        wrong_half="; ".join(f"{label} ends on the wrong half (x > 0) in {len(w)} of {len(sensitivity_table)} settings"
                             + (f" ({', '.join(w)})" if 0 < len(w) < len(sensitivity_table) else "")
                             for label in sensitivity_table
                             for w in [[v for v, x in sensitivity_table[label].items() if x > 0]]))


def map_figure(maps: dict, c_values, beta2_values, steps: int):
    """Adam's and the paper's AMSGrad's :func:`failure_map` (``maps``: label → (grid, curve)),
    one panel each (:func:`optim.plots.failure_map`)."""
    import matplotlib.pyplot as plt

    from . import plots

    fig, axes = plt.subplots(len(maps), 1, figsize=(9, 9.5), sharex=True)
    for ax, (label, (grid, curve)) in zip(axes, maps.items()):
        plots.failure_map(grid, curve, c_values, beta2_values, ax=ax,
                          title=f"{label}: mean iterate over the last 10% of {steps:,} steps")
    axes[-1].set_xlabel("C (the rare large gradient)")
    fig.tight_layout()
    return fig


def real_models_glue(named_rows: list[tuple[str, dict]]) -> dict[str, object]:
    """The real models' claims in the chapter's words (``named_rows``: (model, its claim row)):
    each comparison as 'model[, β2] metric ratio× [90% interval]', and how many support,
    contradict or cannot decide their claim."""
    real = [(model, c) for model, row in named_rows for c in row["comparisons"]]
    outcomes = [c["outcome"] for _, c in real]
    return dict(real="; ".join(f"{model}{', ' + c['a'].split(', ')[-1] if 'β2' in c['a'] else ''} "
                               f"{c['metric'].removeprefix('final ')} {c['effect']:.3g}× [{c['low']:.3g}, {c['high']:.3g}]"
                               for model, c in real),
                supports=outcomes.count("supports"), comparisons=len(real), contradicts=outcomes.count("contradicts"),
                inconclusive=outcomes.count("inconclusive"))
