"""The book's one rule for judging a paper's claim from runs over seeds.

**A plan first.** Every claim is judged under a :class:`Plan` declared beside its chapter
(``chapters/plans/<chapter>.yml``): the metric and when it is read, the smallest effect of
interest (SESOI) with its source, the claim's kind, its comparison family and seeds, and
whether the plan was written after its results were seen (``post_hoc``, shown in the book).

**Comparisons.** A claim is made of comparisons of method A with method B on the plan's
metric. Each has an effect on one of two scales — ``ratio`` (losses: the ratio of geometric
means, analysed as a difference of logarithms) or ``difference`` (accuracies, rates) — and a
90% confidence interval (:data:`CONFIDENCE`): the effects that neither one-sided 5% test
rejects.

* **Paired** where both methods ran the same seeds (same seed = same initialization and data
  order): a paired t interval on the per-seed log ratios or differences. **Welch's** t
  interval only where the runs are not paired; each comparison names its ``test``.
* **Divergence is an outcome.** A run that diverged (a non-finite value) is counted, never
  turned into a number: the finished runs give the metric's interval, and Fisher's exact test
  compares the two methods' counts of diverged runs. When some run diverged the comparison's
  p-values are the smaller of the two tests', Bonferroni-doubled. When too few runs finished
  to compare the metric, the effect is the difference in divergence rates with Newcombe's
  interval.

**One decision rule, symmetric around the SESOI δ** (for ``ratio``: a relative change, so
thresholds sit at ``1 ± δ`` on the log scale, ``log(1 + δ)``). Each comparison has a
``direction`` and one or two thresholds; it *supports* the claim when a one-sided 5% test puts
the effect on the claim's side of every threshold, and *contradicts* it when the same test puts
it on the other side — the same strength of evidence both ways:

* ``less`` / ``greater`` (superiority): A is lower / higher than B by at least δ. Threshold
  ``−δ`` / ``+δ``. Contradicts: A is not better by δ (which includes "worse").
* ``at_most`` / ``at_least`` (non-inferiority): A is not higher / lower than B by δ or more.
  Threshold ``+δ`` / ``−δ``.
* ``similar`` (equivalence, TOST): the effect lies within ``±δ`` (the 90% interval inside
  the band); contradicts when it lies outside the band.

**Multiplicity.** The p-values of a claim's comparisons are Holm-adjusted within the claim
(separately for support and for contradiction) before the outcomes are read.

**A claim's verdict:** ``reproduced`` — every comparison supports it; ``not reproduced`` —
at least one contradicts it and none supports it; ``partly`` — some support and some
contradict; ``inconclusive`` — none contradicts but not all support (each comparison says how
many seeds would resolve it, :func:`seeds_for_power`); ``not testable at this scale`` — the
set-up cannot address the claim (:func:`untestable`, with a reason that is true of the data).

**Noisy aggregates** (a time-to-target, a switch fraction, a slope, a rank correlation) are
computed per seed and judged by :func:`estimate` (a one-sample t interval against the claim's
threshold, at least 2 seeds); claims over many methods use :func:`omnibus` (Friedman's test
over seeds). :func:`observe` is only for quantities with no seed noise (a 2-D trajectory, an
update rule's steady state). Every claim row also carries its verdict at ½× and 2× its SESOI.

Why t intervals and not the bootstrap: with 2–5 seeds a bootstrap sees a handful of distinct
resamples and its intervals are far too narrow; the t interval is exact for normal seed noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.90  # the interval of two one-sided 5% tests (TOST's)
ALPHA = 0.05       # each one-sided test's level, before Holm's adjustment
POWER = 0.80       # the power :func:`seeds_for_power` asks for
MIN_AGGREGATE_SEEDS = 2  # the t interval exists from two seeds on (and is honestly wide there)
VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive", "not testable at this scale")
DIRECTIONS = ("less", "greater", "at_most", "at_least", "similar")
SCALES = ("ratio", "difference")
# What a claim is, for the scoreboard's sections: a paper's own claim, one of the book's own
# checks (of an implementation detail, a replication, the regime's positive controls), the
# engine's outside check against published numbers, or a re-created bug of an earlier replication.
CATEGORIES = ("paper", "check", "outside check", "bug")
KINDS = ("superiority", "non-inferiority", "equivalence", "threshold", "trend", "deterministic", "positive control")
SIGNS = {"less": "<", "greater": ">", "at_most": "≤", "at_least": "≥", "similar": "≈"}


@dataclass(frozen=True)
class Plan:
    """A claim's analysis plan, declared before the runs that judge it (see the module docstring).

    ``sesoi`` is on the claim's scale: a relative change for ratios (0.1: 10%), an absolute
    difference otherwise (0.005: half a point of accuracy); 0 for deterministic claims."""

    metric: str
    read_at: str
    sesoi: float
    sesoi_source: str
    kind: str
    family: str
    seeds: int | None = None
    post_hoc: bool = False
    note: str = ""
    claim: str = ""
    section: str = ""
    category: str = "paper"
    headline: bool = False

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"plan category={self.category!r} is invalid: expected one of {', '.join(CATEGORIES)}")
        if not isinstance(self.headline, bool):
            raise ValueError(f"plan headline={self.headline!r} is invalid: expected true or false")
        if self.kind not in KINDS:
            raise ValueError(f"plan kind={self.kind!r} is invalid: expected one of {', '.join(KINDS)}")
        if not (isinstance(self.sesoi, (int, float)) and self.sesoi >= 0):
            raise ValueError(f"plan sesoi={self.sesoi!r} is invalid: expected a number >= 0")
        for name in ("metric", "read_at", "sesoi_source", "family"):
            if not getattr(self, name):
                raise ValueError(f"plan {name}={getattr(self, name)!r} is invalid: a plan states every field")


@dataclass(frozen=True)
class Comparison:
    """One comparison of a claim, with everything a reader needs to check it.

    ``effect``, ``low``, ``high``: on the comparison's own scale (``scale``: a ratio, a
    difference, or a difference in divergence rates). ``center``, ``se``, ``df``, ``sd``: the t
    statistic's parts on the analysis scale (log for ratios), kept to re-judge the comparison
    at another SESOI and to size its seeds; ``p_fisher_*``: Fisher's one-sided p-values for divergence."""

    a: str
    b: str
    metric: str
    direction: str
    scale: str
    test: str
    paired: bool
    a_mean: float
    b_mean: float
    n_a: int
    n_b: int
    diverged_a: int
    diverged_b: int
    effect: float
    low: float
    high: float
    sesoi: float
    p_support: float
    p_contradict: float
    outcome: str
    seeds_for_power: int | None
    seeds_to_resolve: int | None = None
    center: float = float("nan")
    se: float = float("nan")
    df: float = float("nan")
    sd: float = float("nan")  # per-seed standard deviation (of paired differences, or pooled), for power
    p_fisher_support: float = 1.0
    p_fisher_contradict: float = 1.0
    adjusted: str = "none"

    def text(self, digits: int = 3) -> str:
        what = {"ratio": "ratio", "difference": "difference"}.get(self.scale, self.scale)
        band = (f"±{self.sesoi:.0%}" if self.scale == "ratio" else f"±{self.sesoi:.{digits}g}")
        runs = f"{self.n_a} vs {self.n_b} runs" if not self.paired else f"{min(self.n_a, self.n_b)} paired seeds"
        diverged = (f"; diverged {self.diverged_a} of {self.n_a} vs {self.diverged_b} of {self.n_b}"
                    if self.diverged_a or self.diverged_b else "")
        power = ""
        if self.outcome == "inconclusive":
            need = self.seeds_to_resolve
            power = (f"; would need ≈{need} seeds" if need else "; more seeds than is sensible would be needed")
        if self.test.startswith("Fisher"):
            band = "divergence decides"
        else:
            band = f"SESOI {band}"

        if self.test == "one-sample t":
            return (f"{self.a} {self.effect:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}] "
                    f"(claim {SIGNS[self.direction]} {self.b}{f' by {self.sesoi:g}' if self.sesoi else ''}), "
                    f"one-sample t over {self.n_a - self.diverged_a} seeds → {self.outcome}{power}")
        if self.test == "exact binomial":
            return (f"{self.a}: {round(self.effect * self.n_a)} of {self.n_a} seeds, share {self.effect:.{digits}g} "
                    f"[{self.low:.{digits}g}, {self.high:.{digits}g}] (claim {SIGNS[self.direction]} {self.b}), "
                    f"exact binomial → {self.outcome}{power}")
        if self.test == "Friedman":
            return (f"{self.a}: Kendall's W {self.effect:.{digits}g} over {self.n_a} seeds, Friedman p = "
                    f"{self.p_support:.2g} → {self.outcome}")

        def centre(v: float) -> str:
            return "all diverged" if not np.isfinite(v) else f"{v:.{digits}g}"

        return (f"{self.a} {centre(self.a_mean)} vs {self.b} {centre(self.b_mean)} "
                f"(claim {SIGNS[self.direction]}): {what} {self.effect:.{digits}g} "
                f"[{self.low:.{digits}g}, {self.high:.{digits}g}], {self.test}, {runs}{diverged}, {band} "
                f"→ {self.outcome}{power}")


@dataclass(frozen=True)
class Observation:
    """A deterministic measurement against a threshold (no seed noise; see the module docstring)."""

    what: str
    value: float
    direction: str  # "less" or "greater": the claim holds when value < or > threshold
    threshold: float
    outcome: str
    test: str = "deterministic"
    paired: bool = False
    seeds_for_power: int | None = None
    n_a: int = 0  # the fields every comparison carries (the claims' data contract): no seeds, no interval
    n_b: int = 0
    diverged_a: int = 0
    diverged_b: int = 0

    def text(self, digits: int = 3) -> str:
        return (f"{self.what} {self.value:.{digits}g} (claim: {SIGNS[self.direction]} {self.threshold:.{digits}g}) "
                f"→ {self.outcome}")


def observe(what: str, value: float, direction: str, threshold: float) -> Observation:
    """A deterministic quantity ``value`` that supports the claim when it is ``direction``
    (``less``/``greater``) than ``threshold`` and contradicts it otherwise."""
    if direction not in ("less", "greater"):
        raise ValueError(f"direction={direction!r} is invalid: expected 'less' or 'greater'")
    if not np.isfinite(value):
        raise ValueError(f"value={value!r} is invalid: a deterministic observation is a finite number")
    holds = value < threshold if direction == "less" else value > threshold
    return Observation(what, float(value), direction, float(threshold), "supports" if holds else "contradicts")


# --- the statistics ----------------------------------------------------------------------------
def _series(values) -> pd.Series:
    """Values as a Series indexed by seed (a dict or Series keeps its seeds; a list is unpaired)."""
    if isinstance(values, pd.Series):
        return values.astype(float)
    if isinstance(values, dict):
        return pd.Series(values, dtype=float)
    return pd.Series(np.asarray(values, dtype=float), index=pd.RangeIndex(len(values)), dtype=float).rename("unpaired")


def _is_unpaired(s: pd.Series) -> bool:
    return s.name == "unpaired"


def thresholds(direction: str, scale: str, sesoi: float) -> tuple[float, ...]:
    """The decision thresholds on the analysis scale (log for ratios)."""
    d = math.log1p(sesoi) if scale == "ratio" else float(sesoi)
    return {"less": (-d,), "greater": (d,), "at_most": (d,), "at_least": (-d,), "similar": (-d, d)}[direction]


def _below(center: float, se: float, df: float, t0: float) -> float:
    """One-sided p-value that the effect lies below ``t0`` (H0: effect >= t0)."""
    if se == 0:
        return 0.0 if center < t0 else 1.0
    return float(stats.t.cdf((center - t0) / se, df))


def t_pvalues(direction: str, center: float, se: float, df: float, limits: tuple[float, ...]) -> tuple[float, float]:
    """(p_support, p_contradict) of the one-sided t tests at the thresholds (module docstring)."""
    below = [_below(center, se, df, t) for t in limits]
    above = [1.0 - b if se else (0.0 if center > t else 1.0) for b, t in zip(below, limits)]
    if direction in ("less", "at_most"):
        return below[0], above[0]
    if direction in ("greater", "at_least"):
        return above[0], below[0]
    low_t, high_t = 0, 1  # similar: inside the band by TOST, outside it by the nearer side
    return max(above[low_t], below[high_t]), min(below[low_t], above[high_t])


def t_interval(a: pd.Series, b: pd.Series, paired: bool, confidence: float = CONFIDENCE
               ) -> tuple[float, float, float, float, float]:
    """(center, low, high, se, df) of A − B: the paired t interval on per-seed differences, or
    Welch's for independent runs (inputs already on the analysis scale)."""
    if paired:
        d = (a - b).to_numpy()
        n = len(d)
        center, se, df = float(d.mean()), float(d.std(ddof=1) / math.sqrt(n)), n - 1
    else:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        center, se = float(a.mean() - b.mean()), math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * se) if se > 0 else 0.0
    return center, center - half, center + half, se, float(df)


def fisher_pvalues(diverged_a: int, n_a: int, diverged_b: int, n_b: int) -> tuple[float, float]:
    """(p that A diverges more often than B, p that B diverges more often than A): Fisher's exact test."""
    table = [[diverged_a, n_a - diverged_a], [diverged_b, n_b - diverged_b]]
    return (float(stats.fisher_exact(table, alternative="greater").pvalue),
            float(stats.fisher_exact(table, alternative="less").pvalue))


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def newcombe_interval(k_a: int, n_a: int, k_b: int, n_b: int, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(difference, low, high) of two proportions k_a/n_a − k_b/n_b: Newcombe's hybrid score interval."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    pa, pb = k_a / n_a, k_b / n_b
    la, ua = _wilson(k_a, n_a, z)
    lb, ub = _wilson(k_b, n_b, z)
    d = pa - pb
    return d, d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error at the nominal level)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def seeds_for_power(sd: float, sesoi_scaled: float, paired: bool, equivalence: bool,
                    alpha: float = ALPHA, power: float = POWER, most: int = 100_000) -> int | None:
    """Seeds per method for ``power`` at the SESOI (``seeds_for_power``), or at the observed gap
    between the effect and its threshold (``seeds_to_resolve``): the smallest n whose one-sided ``alpha`` t test
    detects a true effect ``sesoi_scaled`` away from its threshold, given the per-seed standard
    deviation ``sd`` (of paired differences, or of each method's runs). For equivalence (TOST
    with a true effect of 0) each one-sided test gets power 1 − (1 − power)/2. None: more than
    ``most`` (or no SESOI to power)."""
    if not sesoi_scaled > 0:
        return None
    if not sd > 0:
        return 2
    target = 1 - (1 - power) / 2 if equivalence else power

    def enough(n: int) -> bool:
        df = n - 1 if paired else 2 * n - 2
        nc = sesoi_scaled / (sd * math.sqrt((1 if paired else 2) / n))
        return stats.nct.sf(stats.t.ppf(1 - alpha, df), df, nc) >= target

    low, high = 1, 2  # power grows with n: double until enough, then bisect
    while not enough(high):
        if high >= most:
            return None
        low, high = high, min(2 * high, most)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def fisher_seeds_for_power(rate_a: float, rate_b: float, alpha: float = ALPHA, power: float = POWER,
                           most: int = 30) -> int | None:
    """Runs per method for Fisher's one-sided exact test to detect divergence rates
    ``rate_a`` > ``rate_b`` (clipped to [0.02, 0.98]) with ``power``, by exact enumeration."""
    pa, pb = (min(max(r, 0.02), 0.98) for r in (max(rate_a, rate_b), min(rate_a, rate_b)))
    if pa - pb < 1e-9:
        return None
    for n in range(2, most + 1):
        ka, kb = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        weight = stats.binom.pmf(ka, n, pa) * stats.binom.pmf(kb, n, pb)
        p = np.array([[stats.fisher_exact([[i, n - i], [j, n - j]], alternative="greater").pvalue
                       for j in range(n + 1)] for i in range(n + 1)])
        if float(weight[p < alpha].sum()) >= power:
            return n
    return None


def binomial_seeds_for_power(share: float, threshold: float, alpha: float = ALPHA, power: float = POWER,
                             most: int = 200) -> int | None:
    """Runs for the exact binomial test to tell a true share ``share`` (clipped to [0.02, 0.98])
    from ``threshold`` with ``power`` at one-sided level ``alpha``; None beyond ``most``."""
    share = min(max(share, 0.02), 0.98)
    if abs(share - threshold) < 1e-9:
        return None
    side = "greater" if share > threshold else "less"
    for m in range(2, most + 1):
        ks = np.arange(m + 1)
        crit = np.array([stats.binomtest(int(j), m, threshold, alternative=side).pvalue < alpha for j in ks])
        if stats.binom.pmf(ks, m, share)[crit].sum() >= power:
            return m
    return None


def seeds_to_resolve(part: Comparison, alpha: float = ALPHA) -> int | None:
    """How many seeds (runs per method) would likely settle ``part`` at one-sided level ``alpha``:
    80% power at the observed gap between its effect and the nearest threshold."""
    if part.test == "exact binomial":
        return binomial_seeds_for_power(part.effect, part.b_mean, alpha)
    if part.test.startswith("Fisher"):
        return fisher_seeds_for_power(part.diverged_a / part.n_a, part.diverged_b / part.n_b, alpha)
    if not np.isfinite(part.sd):
        return None
    one_sample = part.test == "one-sample t"  # its center is already measured from its threshold
    limits = (0.0,) if one_sample and part.direction != "similar" else \
        thresholds(part.direction, "difference" if one_sample else part.scale, part.sesoi)
    gap = min(abs(part.center - t) for t in limits)
    return seeds_for_power(part.sd, gap, part.paired or one_sample, False, alpha, most=1000)


def outcome_of(p_support: float, p_contradict: float, alpha: float = ALPHA) -> str:
    return "supports" if p_support < alpha else "contradicts" if p_contradict < alpha else "inconclusive"


def compare(a: str, a_values, b: str, b_values, metric: str, direction: str, sesoi: float,
            scale: str = "ratio", higher_is_better: bool = False) -> Comparison:
    """Compare ``metric`` of method ``a`` with ``b`` under the rule of the module docstring.

    ``a_values``, ``b_values``: one value per run, as a mapping seed → value (a dict or a
    Series from :func:`optim.analysis.per_seed`: runs with the same seed are paired) or a plain
    sequence (unpaired). A non-finite value is a diverged run. ``sesoi``: the plan's smallest
    effect of interest (module docstring). ``higher_is_better``: for accuracies, where a
    diverged run is the worse outcome on the high side."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r} is invalid: expected one of {', '.join(DIRECTIONS)}")
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is invalid: expected one of {', '.join(SCALES)}")
    if not (isinstance(sesoi, (int, float)) and np.isfinite(sesoi) and sesoi >= 0):
        raise ValueError(f"sesoi={sesoi!r} is invalid: expected a number >= 0 (the plan's smallest effect of interest)")
    sa, sb = _series(a_values), _series(b_values)
    if len(sa) < 2 or len(sb) < 2:
        raise ValueError(f"a comparison needs at least 2 runs per method, got {len(sa)} and {len(sb)}")
    fa, fb = sa[np.isfinite(sa)], sb[np.isfinite(sb)]
    if scale == "ratio" and ((fa <= 0).any() or (fb <= 0).any()):
        raise ValueError("scale='ratio' needs positive values; use scale='difference'")
    da, db = len(sa) - len(fa), len(sb) - len(fb)
    transform = np.log if scale == "ratio" else (lambda v: v)
    common = fa.index.intersection(fb.index)
    paired = not (_is_unpaired(sa) or _is_unpaired(sb)) and len(common) >= 2 and len(common) >= min(len(fa), len(fb))
    limits = thresholds(direction, scale, sesoi)
    center = se = df = sd = float("nan")
    if paired:
        xa, xb = transform(fa.loc[common]), transform(fb.loc[common])
    else:
        xa, xb = transform(fa), transform(fb)
    metric_ok = len(xa) >= 2 and len(xb) >= 2
    mean = (lambda v: float(np.exp(np.mean(np.log(v))))) if scale == "ratio" else (lambda v: float(np.mean(v)))
    if metric_ok:
        center, low, high, se, df = t_interval(xa, xb, paired)
        p_s, p_c = t_pvalues(direction, center, se, df, limits)
        effect, low, high = (math.exp(center), math.exp(low), math.exp(high)) if scale == "ratio" else (center, low, high)
        test = f"{'paired' if paired else 'Welch'} t ({'log ratio' if scale == 'ratio' else 'difference'})"
        sd = float((xa - xb).std(ddof=1)) if paired else float(math.sqrt((xa.var(ddof=1) + xb.var(ddof=1)) / 2))
        power_n = seeds_for_power(sd, abs(limits[-1]), paired, direction == "similar")
    else:
        p_s = p_c = 1.0
        paired = False
        effect, low, high = newcombe_interval(da, len(sa), db, len(sb))
        test = "Fisher exact (diverged runs)"
        power_n = fisher_seeds_for_power(da / len(sa), db / len(sb))
    pf_s = pf_c = 1.0
    if da or db:
        a_worse, b_worse = fisher_pvalues(da, len(sa), db, len(sb))
        # which side is "the claim holds"? A better for less/at_most on losses, greater/at_least on accuracies
        claims_a_better = (direction in ("less", "at_most")) != higher_is_better
        if direction == "similar":
            pf_s, pf_c = 1.0, min(1.0, 2 * min(a_worse, b_worse))
        elif claims_a_better:
            pf_s, pf_c = b_worse, a_worse
        else:
            pf_s, pf_c = a_worse, b_worse
        if metric_ok:  # two tests looked at the same runs: Bonferroni over the pair
            p_s, p_c = min(1.0, 2 * min(p_s, pf_s)), min(1.0, 2 * min(p_c, pf_c))
        else:
            p_s, p_c = pf_s, pf_c
    part = Comparison(a, b, metric, direction, scale if metric_ok else "divergence rate difference", test, paired,
                      mean(fa) if len(fa) else float("nan"), mean(fb) if len(fb) else float("nan"),
                      len(sa), len(sb), da, db, float(effect), float(low), float(high), float(sesoi),
                      float(p_s), float(p_c), outcome_of(p_s, p_c), power_n, None, center, se, df, sd, pf_s, pf_c)
    return replace(part, seeds_to_resolve=seeds_to_resolve(part))


def pooled(a: str, b: str, strata: dict, metric: str, direction: str, sesoi: float, scale: str = "ratio") -> Comparison:
    """One comparison of A with B pooled over strata (optimizers, say) that each compare
    independent runs: the effect is the mean over the strata of A's mean minus B's (on the
    analysis scale, log for ratios), its standard error √(Σ v)/k over the 2k groups' variances
    of the mean v = s²/n, and its degrees of freedom Welch–Satterthwaite's over those 2k groups
    (with one stratum: Welch's interval, as :func:`compare`). ``strata``: label → (A's values,
    B's values). Pools only runs that finished: a stratum with a diverged run is refused (judge
    it on its own, where divergence is an outcome). Judged by the module's rule."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r} is invalid: expected one of {', '.join(DIRECTIONS)}")
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is invalid: expected one of {', '.join(SCALES)}")
    if not strata:
        raise ValueError("strata is empty: give at least one stratum of (A's values, B's values)")
    transform = np.log if scale == "ratio" else (lambda v: v)
    diffs, variances, counts, means, n_a, n_b = [], [], [], [], 0, 0
    for label, (values_a, values_b) in strata.items():
        xa, xb = (np.asarray(list(_series(v)), dtype=float) for v in (values_a, values_b))
        if not (np.isfinite(xa).all() and np.isfinite(xb).all()):
            raise ValueError(f"stratum {label!r} has a diverged run: pool only strata whose runs all finished")
        if len(xa) < 2 or len(xb) < 2:
            raise ValueError(f"stratum {label!r} needs at least 2 runs per side, got {len(xa)} and {len(xb)}")
        xa, xb = transform(xa), transform(xb)
        diffs.append(xa.mean() - xb.mean())
        means.append((xa.mean(), xb.mean()))
        variances += [xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)]
        counts += [len(xa), len(xb)]
        n_a, n_b = n_a + len(xa), n_b + len(xb)
    k, v, n = len(diffs), np.array(variances), np.array(counts)
    center, se = float(np.mean(diffs)), float(math.sqrt(v.sum()) / k)
    df = float(v.sum() ** 2 / np.sum(v ** 2 / (n - 1))) if se > 0 else float(n.sum() - 2 * k)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df) * se) if se > 0 else 0.0
    limits = thresholds(direction, scale, sesoi)
    p_s, p_c = t_pvalues(direction, center, se, df, limits)
    low, high = center - half, center + half
    effect, low, high = (math.exp(center), math.exp(low), math.exp(high)) if scale == "ratio" else (center, low, high)
    sd = float(math.sqrt(np.mean(v * n)))  # a run's standard deviation, averaged over the groups
    per_group = seeds_for_power(sd, abs(limits[-1]), False, direction == "similar")
    power_n = None if per_group is None else -(-per_group // k)  # per stratum and side: the k strata share the load
    back = math.exp if scale == "ratio" else float
    mean_a, mean_b = (back(float(np.mean(side))) for side in zip(*means))  # the strata's average, on the metric's scale
    test = f"Welch t over {k} strata ({'log ratio' if scale == 'ratio' else 'difference'})"
    part = Comparison(a, b, metric, direction, scale, test, False, mean_a, mean_b, n_a, n_b, 0, 0, float(effect), float(low),
                      float(high), float(sesoi), float(p_s), float(p_c), outcome_of(p_s, p_c), power_n, None, center, se, df,
                      sd)
    need = seeds_to_resolve(part)
    return replace(part, seeds_to_resolve=None if need is None else -(-need // k))


def estimate(what: str, values, direction: str, threshold: float, sesoi: float = 0.0) -> Comparison:
    """A noisy aggregate computed per seed (``values``: one per seed; non-finite = that seed's
    run never got there), judged by a one-sample t interval against ``threshold`` with the
    module's rule (``direction``: ``less``/``greater``, the claim's side, ``sesoi`` widening the
    threshold on that side; ``similar``: within ``threshold ± sesoi``, by two one-sided tests).
    Needs :data:`MIN_AGGREGATE_SEEDS` finite values."""
    if direction not in ("less", "greater", "similar"):
        raise ValueError(f"direction={direction!r} is invalid: expected 'less', 'greater' or 'similar'")
    if direction == "similar" and not sesoi > 0:
        raise ValueError(f"{what}: sesoi={sesoi!r} is invalid for 'similar': expected the band's half-width > 0")
    s = _series(values)
    finite = s[np.isfinite(s)]
    if len(finite) < MIN_AGGREGATE_SEEDS:
        raise ValueError(f"{what}: an aggregate over seeds needs at least {MIN_AGGREGATE_SEEDS} finite values, "
                         f"got {len(finite)} of {len(s)}")
    # the t statistic's center is kept relative to the threshold it is judged against: the
    # claim's side's shifted threshold, or for "similar" the band's middle (bounds ±sesoi)
    shifted = {"less": threshold - sesoi, "greater": threshold + sesoi, "similar": threshold}[direction]
    limits = (-sesoi, sesoi) if direction == "similar" else (0.0,)
    n = len(finite)
    center, se, df = float(finite.mean()), float(finite.std(ddof=1) / math.sqrt(n)), n - 1
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df) * se) if se > 0 else 0.0
    p_s, p_c = t_pvalues(direction, center - shifted, se, df, limits)
    sd = float(finite.std(ddof=1))
    power_n = seeds_for_power(sd, sesoi, True, direction == "similar") if sesoi > 0 else None
    part = Comparison(what, f"{threshold:g}", what, direction, "difference", "one-sample t", False, center, threshold,
                      len(s), 0, len(s) - n, 0, center, center - half, center + half, float(sesoi), p_s, p_c,
                      outcome_of(p_s, p_c), power_n, None, center - shifted, se, df, sd)
    return replace(part, seeds_to_resolve=seeds_to_resolve(part))


def proportion(what: str, outcomes, direction: str, threshold: float) -> Comparison:
    """A yes/no outcome per seed (a run switched, reached a target, agreed): the share of yeses
    against ``threshold`` by the exact binomial test, with its Clopper–Pearson interval. Supports
    the claim when the share is ``direction`` (``less``/``greater``) than the threshold at
    one-sided level α, contradicts it when the opposite test says so — three seeds of three
    are p = 0.125 against a threshold of 0.5: a handful of seeds cannot decide a coin-flip claim."""
    if direction not in ("less", "greater"):
        raise ValueError(f"direction={direction!r} is invalid: expected 'less' or 'greater'")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold!r} is invalid: expected a share strictly between 0 and 1")
    values = [bool(v) for v in outcomes]
    if not values:
        raise ValueError(f"{what}: a share needs at least one outcome")
    k, n = sum(values), len(values)
    above = float(stats.binomtest(k, n, threshold, alternative="greater").pvalue)
    below = float(stats.binomtest(k, n, threshold, alternative="less").pvalue)
    p_s, p_c = (below, above) if direction == "less" else (above, below)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    part = Comparison(what, f"{threshold:g}", what, direction, "share", "exact binomial", False, k / n, threshold,
                      n, 0, 0, 0, k / n, float(ci.low), float(ci.high), 0.0, p_s, p_c, outcome_of(p_s, p_c), None)
    need = seeds_to_resolve(part)
    return replace(part, seeds_for_power=need, seeds_to_resolve=need)


def omnibus(what: str, table: pd.DataFrame) -> Comparison:
    """Do the methods differ at all? Friedman's test over seeds (``table``: seeds × methods,
    one value per cell). Supports "they differ" when p < α; it cannot contradict (no SESOI),
    so a large p reads inconclusive."""
    finite = table.replace([np.inf, -np.inf], np.nan).dropna()
    if len(finite) < 2 or finite.shape[1] < 3:
        raise ValueError(f"{what}: Friedman's test needs at least 2 seeds and 3 methods, got {finite.shape}")
    result = stats.friedmanchisquare(*[finite[c].to_numpy() for c in finite.columns])
    w = float(result.statistic / (len(finite) * (finite.shape[1] - 1)))  # Kendall's W: 0 no agreement, 1 full
    return Comparison(what, f"{finite.shape[1]} methods", what, "greater", "Kendall's W", "Friedman", True, w, 0.0,
                      len(finite), len(finite), 0, 0, w, w, w, 0.0, float(result.pvalue), 1.0,
                      outcome_of(float(result.pvalue), 1.0), None)


def rejudged(part: Comparison | Observation, sesoi: float) -> Comparison | Observation:
    """``part`` judged again at another SESOI (unadjusted; :func:`claim` re-applies Holm)."""
    if isinstance(part, Observation) or part.test in ("Friedman", "exact binomial") or not np.isfinite(part.se):
        return part
    if part.test == "one-sample t" and part.direction == "similar":  # center from the band's middle
        p_s, p_c = t_pvalues(part.direction, part.center, part.se, part.df, (-sesoi, sesoi))
    elif part.test == "one-sample t":
        shift = (sesoi - part.sesoi) * (1 if part.direction == "greater" else -1)
        p_s, p_c = t_pvalues(part.direction, part.center - shift, part.se, part.df, (0.0,))
    else:
        p_s, p_c = t_pvalues(part.direction, part.center, part.se, part.df, thresholds(part.direction, part.scale, sesoi))
    if part.diverged_a or part.diverged_b:  # as in compare(): Bonferroni over the metric and divergence tests
        p_s, p_c = min(1.0, 2 * min(p_s, part.p_fisher_support)), min(1.0, 2 * min(p_c, part.p_fisher_contradict))
    return replace(part, sesoi=float(sesoi), p_support=p_s, p_contradict=p_c, outcome=outcome_of(p_s, p_c))


def adjust(parts: list[Comparison | Observation]) -> list[Comparison | Observation]:
    """Holm-adjust the p-values of a claim's comparisons (observations have none) and re-read outcomes."""
    tested = [i for i, p in enumerate(parts) if isinstance(p, Comparison)]
    if len(tested) < 2:
        return list(parts)
    ps = holm([parts[i].p_support for i in tested])
    pc = holm([parts[i].p_contradict for i in tested])
    out = list(parts)
    for i, s, c in zip(tested, ps, pc):
        outcome = outcome_of(s, c)
        # an inconclusive comparison must clear Holm's strictest level, α/m, to settle: size its seeds for that
        resolve = seeds_to_resolve(parts[i], ALPHA / len(tested)) if outcome == "inconclusive" \
            and parts[i].test != "Friedman" else parts[i].seeds_to_resolve
        out[i] = replace(parts[i], p_support=float(s), p_contradict=float(c), outcome=outcome, adjusted="Holm",
                         seeds_to_resolve=resolve)
    return out


def _contract(part: Comparison | Observation) -> dict:
    """A comparison as the claims' data contract stores it (``effect``, ``low``, ``high`` for all)."""
    row = asdict(part)
    if isinstance(part, Observation):
        row.update(effect=part.value, low=part.value, high=part.value)
    # strict JSON for the readers who download it: a number that does not exist is null, not NaN
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def verdict(comparisons) -> str:
    """The claim's verdict from its (adjusted) comparisons' outcomes (module docstring)."""
    if not comparisons:
        raise ValueError("a claim needs at least one comparison; use untestable() for none")
    outcomes = [c.outcome for c in comparisons]
    if all(o == "supports" for o in outcomes):
        return "reproduced"
    if "contradicts" not in outcomes:
        return "inconclusive"
    return "partly" if "supports" in outcomes else "not reproduced"


def _seeds_label(parts) -> str | int:
    seeds = sorted({n for c in parts if isinstance(c, Comparison) for n in (c.n_a, c.n_b) if n})
    return "deterministic" if not seeds else seeds[0] if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"


def claim(text: str, comparisons: list[Comparison | Observation], plan: Plan, profile: str, section: str = "",
          note: str = "") -> dict:
    """A claims-table row judged by the rule: its plan, the numbers, effects, intervals, seeds,
    the Holm-adjusted outcomes, the verdict, and the verdict at ½× and 2× the SESOI."""
    if not isinstance(plan, Plan):
        raise ValueError(f"claim {text!r} has no plan: every claim is judged under a declared optim.verdicts.Plan")
    if not comparisons:
        raise ValueError("a claim needs at least one comparison; use untestable() for none")
    parts = adjust(comparisons)
    sensitivity = {}
    for label, factor in (("half", 0.5), ("double", 2.0)):
        again = adjust([rejudged(p, p.sesoi * factor) if isinstance(p, Comparison) else p for p in comparisons])
        sensitivity[label] = verdict(again)
    return {"claim": text, "verdict": verdict(parts), "profile": profile, "section": section,
            "seeds": _seeds_label(parts), "plan": asdict(plan),
            "measured": "; ".join(c.text() for c in parts) + (f". {note}" if note else ""),
            "sensitivity": sensitivity, "comparisons": [_contract(c) for c in parts]}


def _short(part: dict, digits: int = 3) -> str:
    """One comparison (a row's dict) in a few words: what decided its outcome."""
    if "threshold" in part:  # an Observation
        return f"{part['what']} {part['value']:.{digits}g} (claim {SIGNS[part['direction']]} {part['threshold']:g})"
    numbers = f"{part['effect']:.{digits}g} [{part['low']:.{digits}g}, {part['high']:.{digits}g}]"
    if part["test"].startswith("Fisher"):
        return (f"{part['a']}: {part['diverged_a']} of {part['n_a']} diverged against {part['diverged_b']} of "
                f"{part['n_b']} (Fisher p = {min(part['p_support'], part['p_contradict']):.2g})")
    if part["test"] == "Friedman":
        return f"{part['a']}: Kendall's W {part['effect']:.{digits}g}, Friedman p = {part['p_support']:.2g}"
    if part["test"] in ("one-sample t", "exact binomial"):
        return f"{part['a']} {numbers} ({part['test']}, claim {SIGNS[part['direction']]} {part['b']})"
    band = f"±{part['sesoi']:.0%}" if part["scale"] == "ratio" else f"±{part['sesoi']:g}"
    where = {"supports": "beyond the SESOI on the claim's side", "contradicts": "on the other side of the SESOI",
             "inconclusive": "across the SESOI"}[part["outcome"]]
    if part["direction"] == "similar":
        where = {"supports": "inside", "contradicts": "outside", "inconclusive": "across the edge of"}[part["outcome"]] + \
            f" {band}"
    held = " (after Holm)" if part.get("adjusted") == "Holm" and part["outcome"] == "inconclusive" else ""
    return f"{part['a']} vs {part['b']}: {part['scale']} {numbers} {where}{held}, {part['test']}"


def found(row: dict) -> str:
    """What was measured for a row, comparison by comparison, in a few words each (the effect
    with its interval and where it sits against the SESOI); a row without comparisons gives its
    reason. The claims tables' "found" column."""
    parts = row.get("comparisons") or []
    return "; ".join(_short(c) for c in parts) if parts else row["measured"]


def reason(row: dict) -> str:
    """A one-line reason for a row's verdict: the comparison that decided it (the first that does
    not support the claim, else the one that supports it least clearly)."""
    parts = row.get("comparisons") or []
    if not parts:
        return row["measured"]
    against = [c for c in parts if c["outcome"] != "supports"]
    if against:
        return _short(against[0]) + (f"; {len(against) - 1} more" if len(against) > 1 else "")
    return _short(max(parts, key=lambda c: c.get("p_support", 0.0)))


def plans(chapter: str) -> dict[str, Plan]:
    """The declared plans of a chapter's claims, by id, from ``chapters/plans/<chapter>.yml``."""
    import yaml

    from .layout import ROOT

    path = ROOT / "chapters" / "plans" / f"{chapter}.yml"
    if not path.exists():
        raise ValueError(f"chapter={chapter!r} has no plans: expected {path.relative_to(ROOT)}")
    declared = yaml.safe_load(path.read_text()) or {}
    out = {}
    for name, fields in declared.items():
        try:
            out[name] = Plan(**fields)
        except TypeError as error:
            raise ValueError(f"{path.name}: plan {name!r} is invalid: {error}") from None
    return out


def judge(plan: Plan, comparisons: list[Comparison | Observation], profile: str, note: str = "") -> dict:
    """:func:`claim` for a declared plan that names its claim and section."""
    return claim(plan.claim, comparisons, plan, profile, plan.section, note)


def untestable(text: str, reason: str, plan: Plan, profile: str, section: str = "") -> dict:
    """A claim the set-up cannot address, with the reason (which must be true of the data)."""
    if not isinstance(plan, Plan):
        raise ValueError(f"claim {text!r} has no plan: every claim is judged under a declared optim.verdicts.Plan")
    return {"claim": text, "verdict": "not testable at this scale", "profile": profile, "section": section,
            "seeds": "", "plan": asdict(plan), "measured": reason, "sensitivity": {}, "comparisons": []}


def judge_pairs(plan: Plan, values, pairs, direction: str, profile: str, metric: str = "final training loss",
                scale: str = "ratio", higher_is_better: bool = False, note: str = "") -> dict:
    """:func:`judge` of the comparisons of ``pairs`` — (a, b) labels of ``values``, label →
    per-seed values (:func:`optim.analysis.per_seed`), or (a, b, direction) where one pair's
    direction differs — each :func:`compare` at the plan's SESOI."""
    return judge(plan, [compare(a, values[a], b, values[b], metric, way, plan.sesoi, scale, higher_is_better)
                        for a, b, way in ((*pair, direction)[:3] for pair in pairs)], profile, note=note)


def judge_accuracy(plan: Plan, values, pairs, direction: str, profile: str, metric: str = "final test accuracy",
                   note: str = "") -> dict:
    """:func:`judge_pairs` of accuracies: differences, higher being better."""
    return judge_pairs(plan, values, pairs, direction, profile, metric, "difference", True, note)


def ratio_words(c: dict) -> str:
    """One ratio comparison of a claims row as a reader wants it: 'ratio× [90% interval], what the
    seeds show' — alike / different, or lower (higher) by at least the SESOI, the other way, not
    by the SESOI, or that the seeds cannot tell."""
    size, direction, outcome = f"{c['sesoi']:.0%}", c["direction"], c["outcome"]
    if direction == "similar":
        shown = {"supports": "alike", "contradicts": "different"}.get(outcome, "the seeds cannot tell")
    else:
        way, other, wrong = ("lower", "higher", c["low"] > 1) if direction == "less" else ("higher", "lower", c["high"] < 1)
        shown = (f"{way} by at least {size}" if outcome == "supports" else other if wrong else
                 f"not {way} by {size}" if outcome == "contradicts" else "the seeds cannot tell")
    return f"{c['effect']:.3g}× [{c['low']:.3g}, {c['high']:.3g}], {shown}"


def points_words(c) -> str:
    """One difference of accuracies (fractions) as a reader wants it: '+1.35 points [+0.64, +2.05]',
    the effect and its 90% interval in percentage points. ``c``: a :class:`Comparison` or a claims
    row's comparison (a dict)."""
    effect, low, high = (c[k] if isinstance(c, dict) else getattr(c, k) for k in ("effect", "low", "high"))
    return f"{100 * effect:+.2f} points [{100 * low:+.2f}, {100 * high:+.2f}]"
