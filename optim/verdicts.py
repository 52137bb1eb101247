"""The book's one rule for judging a paper's claim from runs over seeds.

A claim is made of **comparisons**: a metric of method A against method B (``less``: A's
is lower, ``greater``: higher, ``similar``: within a stated margin). Each comparison has an
**effect** with a 95% confidence interval over seeds:

* ``ratio`` (the default for losses, which live on a multiplicative scale): the ratio of
  geometric means, with Welch's t interval computed on the logarithms and exponentiated;
* ``difference`` (accuracies, or metrics that can be ≤ 0): the difference of means with
  Welch's t interval.

Why Welch's t and not the bootstrap: the book judges claims on 2–5 seeds per method. A
bootstrap over so few seeds sees only a handful of distinct resamples and gives intervals
that are far too narrow (with 3 seeds, the percentile interval covers the true mean well
under 95% of the time); Welch's t interval is exact for normal seed-to-seed noise, allows the
two methods different spreads, and widens honestly as seeds get fewer.

A comparison **supports** the claim when its whole interval lies on the claimed side (beyond
the margin for ``similar``: inside it), **contradicts** it when the whole interval lies on the
other side, and is **inconclusive** otherwise. A claim's verdict:

* ``reproduced`` — every comparison supports it;
* ``not reproduced`` — at least one contradicts it and none supports it;
* ``partly`` — some comparisons support it and some contradict it;
* ``inconclusive`` — none contradicts it but not all support it: the seeds cannot tell;
* ``not testable at this scale`` — the data cannot address the claim at all (stated with a
  reason, :func:`untestable`).

Some claims are about deterministic quantities — a 2-D trajectory, the steady state of an
update rule, a constraint the optimizer enforces — where seeds add no noise. They are judged
by :func:`observe`: a measured value against a stated threshold, which supports or
contradicts the claim (never inconclusive), and they combine with comparisons by the same
verdict rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive", "not testable at this scale")
DIRECTIONS = ("less", "greater", "similar")
KINDS = ("ratio", "difference")


@dataclass(frozen=True)
class Comparison:
    """One comparison of a claim, with everything a reader needs to check it."""

    a: str
    b: str
    metric: str
    direction: str
    kind: str
    a_mean: float
    b_mean: float
    n_a: int
    n_b: int
    effect: float
    low: float
    high: float
    margin: float
    outcome: str  # "supports", "contradicts" or "inconclusive"
    # a_mean, b_mean: geometric means for kind="ratio", arithmetic for "difference"

    def text(self, digits: int = 3) -> str:
        sign = {"less": "<", "greater": ">", "similar": "≈"}[self.direction]
        what = "ratio" if self.kind == "ratio" else "difference"
        return (f"{self.a} {self.a_mean:.{digits}g} {sign} {self.b} {self.b_mean:.{digits}g}: {what} "
                f"{self.effect:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}] → {self.outcome}")


@dataclass(frozen=True)
class Observation:
    """A deterministic measurement against a threshold (see the module docstring)."""

    what: str
    value: float
    direction: str  # "less" or "greater": the claim holds when value < or > threshold
    threshold: float
    outcome: str

    def text(self, digits: int = 3) -> str:
        sign = "<" if self.direction == "less" else ">"
        return f"{self.what} {self.value:.{digits}g} (claim: {sign} {self.threshold:.{digits}g}) → {self.outcome}"


def observe(what: str, value: float, direction: str, threshold: float) -> Observation:
    """A deterministic quantity ``value`` that supports the claim when it is ``direction``
    (``less``/``greater``) than ``threshold`` and contradicts it otherwise."""
    if direction not in ("less", "greater"):
        raise ValueError(f"direction={direction!r} is invalid: expected 'less' or 'greater'")
    holds = value < threshold if direction == "less" else value > threshold
    return Observation(what, float(value), direction, float(threshold), "supports" if holds else "contradicts")


def welch_interval(a, b, kind: str = "ratio", confidence: float = 0.95) -> tuple[float, float, float]:
    """(effect, low, high) of A against B: ratio of geometric means or difference of means,
    with Welch's t interval (see the module docstring). Needs two values per side."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is invalid: expected one of {', '.join(KINDS)}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a comparison needs at least 2 seeds per method, got {len(a)} and {len(b)}")
    if kind == "ratio":
        if (a <= 0).any() or (b <= 0).any():
            raise ValueError("kind='ratio' needs positive values; use kind='difference'")
        a, b = np.log(a), np.log(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = a.mean() - b.mean()
    se = math.sqrt(va + vb)
    if se == 0:
        low = high = diff
    else:
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
        low, high = diff - half, diff + half
    if kind == "ratio":
        return math.exp(diff), math.exp(low), math.exp(high)
    return diff, low, high


def compare(a: str, a_values, b: str, b_values, metric: str, direction: str = "less", kind: str = "ratio",
            margin: float | None = None) -> Comparison:
    """Compare ``metric`` of method ``a`` (its values over seeds) with ``b``'s.

    ``margin`` (for ``similar``; optional for the others): the largest effect still counted
    as "about equal" — a ratio such as 1.25 (within 25%) or an absolute difference."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r} is invalid: expected one of {', '.join(DIRECTIONS)}")
    if direction == "similar" and margin is None:
        raise ValueError("direction='similar' needs a margin")
    effect, low, high = welch_interval(a_values, b_values, kind)
    neutral = 1.0 if kind == "ratio" else 0.0
    if margin is None:
        lo_edge = hi_edge = neutral
    elif kind == "ratio":
        lo_edge, hi_edge = 1 / margin, margin
    else:
        lo_edge, hi_edge = -margin, margin
    if direction == "less":
        outcome = "supports" if high < lo_edge else "contradicts" if low > neutral else "inconclusive"
    elif direction == "greater":
        outcome = "supports" if low > hi_edge else "contradicts" if high < neutral else "inconclusive"
    else:
        outcome = ("supports" if lo_edge <= low and high <= hi_edge else
                   "contradicts" if high < lo_edge or low > hi_edge else "inconclusive")
    center = (lambda v: float(np.exp(np.mean(np.log(v))))) if kind == "ratio" else (lambda v: float(np.mean(v)))
    return Comparison(a, b, metric, direction, kind, center(a_values), center(b_values),
                      len(a_values), len(b_values), effect, low, high, float("nan") if margin is None else margin,
                      outcome)


def verdict(comparisons: list[Comparison | Observation]) -> str:
    """The claim's verdict from its comparisons (see the module docstring)."""
    if not comparisons:
        raise ValueError("a claim needs at least one comparison; use untestable() for none")
    outcomes = [c.outcome for c in comparisons]
    if all(o == "supports" for o in outcomes):
        return "reproduced"
    if "contradicts" not in outcomes:
        return "inconclusive"
    return "partly" if "supports" in outcomes else "not reproduced"


def claim(text: str, comparisons: list[Comparison | Observation], profile: str, section: str = "",
          note: str = "") -> dict:
    """A claims-table row judged by the rule: the numbers, effects, intervals, seeds, verdict."""
    seeds = sorted({n for c in comparisons if isinstance(c, Comparison) for n in (c.n_a, c.n_b)})
    return {"claim": text, "verdict": verdict(comparisons), "profile": profile, "section": section,
            "seeds": ("deterministic" if not seeds else seeds[0] if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"),
            "measured": "; ".join(c.text() for c in comparisons) + (f". {note}" if note else ""),
            "comparisons": [asdict(c) for c in comparisons]}


def untestable(text: str, reason: str, profile: str, section: str = "") -> dict:
    """A claim the data cannot address at all, with the reason."""
    return {"claim": text, "verdict": "not testable at this scale", "profile": profile, "section": section,
            "seeds": "", "measured": reason, "comparisons": []}
