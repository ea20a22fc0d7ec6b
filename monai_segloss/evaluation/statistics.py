"""Uncertainty of per-case results: bootstrap confidence intervals, paired differences, Wilcoxon signed-rank test.

A study evaluates every loss on the same *units*: one unit is one held-out case of one training seed (a seed fixes
the split and the network's initialisation, so the units of a seed share one trained network). The intervals here
resample those units:

- **two-level bootstrap** (``groups`` given, more than one group): resample the groups (seeds) with replacement, then
  the units (cases) within each drawn group with replacement (a group drawn twice is resampled twice,
  independently). This carries both sources of variation — the training run and the cases — into the interval; with
  cases nested in seeds it is slightly conservative (the within-seed variance is counted at both levels; Davison &
  Hinkley, *Bootstrap Methods and their Application*, 1997, §3.8). With one group it is the ordinary case bootstrap.
- **crossed bootstrap** (:func:`crossed_bootstrap_weights`): when every seed is evaluated on the *same* test cases,
  a unit is a (seed, case) pair and seeds and cases are crossed, not nested: a case is shared by every seed. Seeds
  and cases are resampled independently, each with replacement, and a unit weighs (draws of its seed) × (draws of
  its case) — the "pigeonhole" bootstrap of Owen (*The pigeonhole bootstrap*, Ann. Appl. Stat. 1:386, 2007;
  Davison & Hinkley 1997 §3.8 for the two-way layout). For the additive model ``y_sc = μ + a_s + b_c + e_sc`` on
  S seeds × C cases the variance of the mean is ``σ_a²/S + σ_b²/C + σ_e²/(SC)``; the crossed bootstrap estimates
  the first two terms and counts the last about ``(1 - 1/S) + (1 - 1/C) + (1 - 1/S)(1 - 1/C)`` ≈ 3 times (mildly
  conservative; Owen 2007), whereas
  resampling (seed, case) units as if independent misses the shared case effect (σ_b² counted as σ_b²/(SC)).
- **percentile interval**: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the statistic over the
  bootstrap replicates (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, §13.3).
- **ratio of sums**: every statistic is ``Σ w_u num_u / Σ w_u den_u`` over the units with bootstrap weights ``w``
  (the number of times a unit is drawn): a mean over cases is ``num = value, den = 1`` (``den = 0`` where the value
  is undefined, e.g. the lesion sensitivity of a case without lesions); a pooled rate is ``num = detected,
  den = lesions``. Replicates whose denominator is 0 are dropped.
- **paired difference**: two methods on identical units; the difference ``a_u - b_u`` on the units where both are
  defined, its mean and the bootstrap interval of that mean (the same weights for both methods), and the Wilcoxon
  signed-rank test of the differences.
- **simultaneous intervals** (a family of comparisons, e.g. every loss against one baseline): the percentile
  intervals of all K statistics at one common level λ >= ``level``, the smallest at which a ``level`` share of the
  joint bootstrap replicates lie inside all K intervals at once (Mandel & Betensky, *Simultaneous confidence
  intervals based on the percentile bootstrap approach*, Comput. Stat. Data Anal. 52:2158, 2008). Together they
  cover the K true values with probability ``level``, so a difference whose simultaneous interval excludes 0 is
  significant with the family-wise error controlled. λ adapts to the correlation of the comparisons: K independent
  ones give about Šidák's ``level ** (1 / K)``, K identical ones ``level``; with one comparison the intervals are the
  ordinary percentile intervals.

:func:`wilcoxon_signed_rank` follows ``scipy.stats.wilcoxon`` with its defaults (zero differences dropped — Wilcoxon's
rule; average ranks for ties; two-sided): the exact null distribution when there are no ties and no zeros and at most
50 differences, an exact sign-flip enumeration when there are ties or zeros among at most 13 differences, otherwise
the normal approximation with the tie correction and no continuity correction. The test treats the units as
independent, which units of one seed are not (they share a network): read the p-value beside the interval, and let
the interval decide.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Interval", "PairedComparison", "interval_excludes", "significant", "simultaneous_interval",
           "bootstrap_weights", "crossed_bootstrap_weights", "ratio_interval", "mean_interval", "paired_comparison",
           "wilcoxon_signed_rank", "percentile_interval", "simultaneous_percentile_intervals",
           "simultaneous_paired_intervals", "bootstrap_ranks"]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval.

    Attributes:
        estimate: the statistic on all units (NaN when no unit defines it).
        low: lower bound of the interval (NaN when undefined).
        high: upper bound.
        n: number of units that define the statistic (a non-zero denominator).
    """

    estimate: float
    low: float
    high: float
    n: int

    def excludes(self, value: float = 0.0) -> bool:
        """True when the interval lies entirely above or below ``value`` (False when undefined)."""
        return bool(self.low > value or self.high < value)

    def as_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def interval_excludes(interval: Mapping[str, float], value: float = 0.0) -> bool:
    """:meth:`Interval.excludes` of an interval stored as a mapping (``low``, ``high``: an ``as_dict`` read back
    from ``metrics.json``); False when a bound is NaN or missing.

    Example:
        >>> interval_excludes({"low": 0.01, "high": 0.11}), interval_excludes({"low": -0.1, "high": 0.03})
        (True, False)
    """
    return Interval(math.nan, float(interval.get("low", math.nan)), float(interval.get("high", math.nan)),
                    0).excludes(value)


def simultaneous_interval(comparison: Mapping) -> Mapping | None:
    """A stored comparison's simultaneous interval (its ``"simultaneous"`` entry: ``low``, ``high``, ``family``)
    when its family holds more than one comparison; ``None`` otherwise."""
    sim = comparison.get("simultaneous")
    return sim if isinstance(sim, Mapping) and sim.get("family", 1) > 1 else None


def significant(comparison: Mapping) -> bool:
    """Whether a stored paired comparison (a :meth:`PairedComparison.as_dict`, or an interval mapping) states a
    difference: its 95 % interval excludes 0 and, in a family of comparisons, so does its simultaneous interval
    (the multiple-comparison correction).

    Example:
        >>> one = {"difference": {"estimate": -0.03, "low": -0.058, "high": -0.005}}
        >>> significant(one), significant({**one, "simultaneous": {"low": -0.07, "high": 0.01, "family": 9}})
        (True, False)
    """
    iv = comparison["difference"] if "difference" in comparison else comparison
    sim = simultaneous_interval(comparison)
    return interval_excludes(iv) and (sim is None or interval_excludes(sim))


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """Method A minus method B on the units where both are defined.

    Attributes:
        difference: the mean difference with its bootstrap interval (:class:`Interval`).
        statistic: the Wilcoxon statistic ``min(R+, R-)`` (NaN when no difference is non-zero).
        p_value: the two-sided Wilcoxon signed-rank p-value (NaN when no unit is defined, 1.0 when every
            difference is zero).
        method: how the p-value was computed: ``"exact"``, ``"permutation"``, ``"asymptotic"`` or ``"none"``.
        wins: units where A is larger.
        losses: units where B is larger.
        ties: units with equal values.
    """

    difference: Interval
    statistic: float
    p_value: float
    method: str
    wins: int
    losses: int
    ties: int

    def as_dict(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["difference"] = self.difference.as_dict()
        return out


def _check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


def bootstrap_weights(groups: Sequence[object], n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap weights ``(n_boot, n_units)``: how often each unit is drawn in each replicate.

    Args:
        groups: the group (e.g. training seed) of every unit. More than one distinct group: two-level resampling
            (groups, then units within each drawn group); one group: the ordinary bootstrap of the units.
        n_boot: number of replicates, >= 1. Default 2000.
        seed: seed of the random generator (the same seed gives the same weights). Default 0.

    Returns:
        int64 array whose row sums equal the number of units (in expectation for the two-level scheme, exactly for
        the one-level one).
    """
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    keys = list(groups)
    if not keys:
        raise ValueError("groups must hold at least one unit")
    rng = np.random.default_rng(seed)
    names = list(dict.fromkeys(keys))
    members = [np.flatnonzero(np.array([k == g for k in keys])) for g in names]
    weights = np.zeros((n_boot, len(keys)), dtype=np.int64)
    if len(names) == 1:
        idx = rng.integers(0, len(keys), size=(n_boot, len(keys)))
        np.add.at(weights, (np.arange(n_boot)[:, None], idx), 1)
        return weights
    drawn = rng.integers(0, len(names), size=(n_boot, len(names)))
    for b in range(n_boot):
        for g in drawn[b]:
            m = members[g]
            np.add.at(weights[b], m[rng.integers(0, m.size, size=m.size)], 1)
    return weights


def crossed_bootstrap_weights(seeds: Sequence[object], cases: Sequence[object], n_boot: int = 2000,
                              seed: int = 0) -> np.ndarray:
    """Bootstrap weights ``(n_boot, n_units)`` for units that cross seeds with cases (module doc).

    Unit ``u`` is the pair ``(seeds[u], cases[u])``. Each replicate draws the distinct seeds S times with
    replacement and, independently, the distinct cases C times; the weight of a unit is the number of draws of its
    seed times the number of draws of its case. :func:`mean_interval`, :func:`ratio_interval` and
    :func:`paired_comparison` take these weights unchanged.

    Args:
        seeds: the training seed of every unit.
        cases: the test case of every unit (the same case id under every seed).
        n_boot: number of replicates, >= 1. Default 2000.
        seed: seed of the random generator (the same seed gives the same weights). Default 0.

    Returns:
        int64 array. Its row sums are ``S·C`` exactly on a complete grid (every seed on every case) and the number
        of units in expectation otherwise. With one seed it equals ``bootstrap_weights`` of the cases (same
        ``seed``, cases in unit order).

    Raises:
        ValueError: lengths differ, no unit, a (seed, case) pair repeated, bad ``n_boot``.

    Example:
        >>> w = crossed_bootstrap_weights([0, 0, 1, 1], ["a", "b", "a", "b"], n_boot=3, seed=1)
        >>> w.shape, w.sum(axis=1).tolist()
        ((3, 4), [4, 4, 4])
    """
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    s_keys, c_keys = list(seeds), list(cases)
    if len(s_keys) != len(c_keys):
        raise ValueError(f"seeds and cases must give one value per unit, got {len(s_keys)} and {len(c_keys)}")
    if not s_keys:
        raise ValueError("seeds and cases must hold at least one unit")
    if len(set(zip(s_keys, c_keys, strict=True))) != len(s_keys):
        raise ValueError("every (seed, case) pair must appear once")
    s_names, c_names = list(dict.fromkeys(s_keys)), list(dict.fromkeys(c_keys))
    s_pos, c_pos = {k: i for i, k in enumerate(s_names)}, {k: i for i, k in enumerate(c_names)}
    s_idx = np.array([s_pos[k] for k in s_keys])
    c_idx = np.array([c_pos[k] for k in c_keys])
    rng = np.random.default_rng(seed)
    rows = np.arange(n_boot)[:, None]
    case_counts = np.zeros((n_boot, len(c_names)), dtype=np.int64)  # cases first: one seed = the case bootstrap
    np.add.at(case_counts, (rows, rng.integers(0, len(c_names), size=(n_boot, len(c_names)))), 1)
    seed_counts = np.zeros((n_boot, len(s_names)), dtype=np.int64)
    np.add.at(seed_counts, (rows, rng.integers(0, len(s_names), size=(n_boot, len(s_names)))), 1)
    return seed_counts[:, s_idx] * case_counts[:, c_idx]


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the finite replicates (NaN, NaN if none)."""
    level = _check_level(level)
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(r, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def simultaneous_percentile_intervals(replicates: ArrayLike, level: float = 0.95
                                      ) -> tuple[list[tuple[float, float]], float]:
    """Percentile intervals of K statistics that hold together with probability ``level`` (module docstring).

    Args:
        replicates: ``(K, n_boot)``: row k holds statistic k's bootstrap replicates, all rows from the same
            resamples (NaN: the statistic is undefined in that replicate, which then does not constrain row k).
        level: the family-wise confidence level. Default 0.95.

    Returns:
        ``(intervals, common_level)``: row k's ``(low, high)`` (NaN, NaN for a row without a finite replicate) and the
        per-row level λ.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> same = np.tile(rng.normal(size=4000), (3, 1))  # three copies of one statistic: no multiplicity
        >>> simultaneous_percentile_intervals(same)[1]
        0.95
        >>> round(simultaneous_percentile_intervals(rng.normal(size=(3, 40000)))[1], 3)  # independent: ~0.95 ** (1/3)
        0.983
    """
    level = _check_level(level)
    r = np.asarray(replicates, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] == 0 or r.shape[1] == 0:
        raise ValueError(f"replicates must be (K, n_boot) with K, n_boot >= 1, got shape {r.shape}")
    finite = np.isfinite(r)
    rows = [i for i in range(r.shape[0]) if finite[i].any()]

    def bounds(lam: float) -> np.ndarray:
        out = np.full((r.shape[0], 2), np.nan)
        for i in rows:
            out[i] = percentile_interval(r[i], lam)
        return out

    def coverage(lam: float) -> float:
        b = bounds(lam)
        with np.errstate(invalid="ignore"):
            inside = ~finite | ((r >= b[:, :1]) & (r <= b[:, 1:]))
        return float(inside.all(axis=0).mean())

    lo, hi = level, 1.0  # coverage rises with λ and is 1 at λ = 1 ([min, max] of every row)
    if coverage(lo) < level:
        for _ in range(40):
            mid = (lo + hi) / 2.0
            lo, hi = (lo, mid) if coverage(mid) >= level else (mid, hi)
        lo = hi
    return [(float(a), float(b)) for a, b in bounds(lo)], lo


def simultaneous_paired_intervals(pairs: Sequence[tuple[ArrayLike, ArrayLike]], weights: np.ndarray,
                                  level: float = 0.95) -> tuple[list[Interval], float]:
    """The mean differences ``a - b`` of a family of paired comparisons on the same units (each on the units where
    its pair is defined, as :func:`paired_comparison`), with :func:`simultaneous_percentile_intervals`.

    Returns:
        ``(intervals, common_level)``: one :class:`Interval` per pair (the estimate and ``n`` of
        :func:`paired_comparison`; its bounds hold for all pairs together) and the per-pair level λ.
    """
    if not pairs:
        raise ValueError("pairs must hold at least one (a, b) comparison")
    estimates, counts, reps = [], [], []
    for a, b in pairs:
        d, both = _differences(a, b)
        w = _weights(weights, d.size)
        estimates.append(float(_ratio(d.sum(), both.sum())))
        counts.append(int(both.sum()))
        reps.append(_ratio(w @ d, w @ both.astype(np.float64)))
    bounds, common = simultaneous_percentile_intervals(np.stack(reps), level)
    return [Interval(e, lo, hi, n) for e, (lo, hi), n in zip(estimates, bounds, counts, strict=True)], common


def bootstrap_ranks(values: Sequence[ArrayLike], weights: np.ndarray, level: float = 0.95) -> list[dict[str, float]]:
    """How stable a ranking of methods is (the bootstrap ranking of challengeR, Wiesenfarth et al., *Methods and
    open-source toolkit for analyzing and visualizing challenge results*, Sci. Rep. 11:2369, 2021): every method's
    mean over the units (NaN: undefined, skipped) in each bootstrap replicate, the methods ranked in every replicate
    (1 = the highest mean; ties share the average rank), and per method its rank on all units, the interval of its
    rank (the quantiles of the replicates' ranks, each a rank some replicate took) and the share of replicates where
    it ranks first (alone or tied: a tie of t methods counts 1/t).

    Args:
        values: one sequence per method, one value per unit (the same units for every method).
        weights: ``(n_boot, n_units)`` from :func:`bootstrap_weights` or :func:`crossed_bootstrap_weights`.
        level: the level of the rank intervals. Default 0.95.

    Returns:
        per method: ``rank`` (on all units), ``low``, ``high`` (the interval of its rank) and ``first`` (a share).

    Example:
        >>> w = bootstrap_weights(["s"] * 4, n_boot=200, seed=0)
        >>> out = bootstrap_ranks([[0.9, 0.8, 0.9, 0.7], [0.1, 0.2, 0.1, 0.3]], w)
        >>> [(d["rank"], d["low"], d["high"], d["first"]) for d in out]
        [(1.0, 1.0, 1.0, 1.0), (2.0, 2.0, 2.0, 0.0)]
    """
    level = _check_level(level)
    if not values:
        raise ValueError("values must hold at least one method")
    rows = [_as_units(f"values[{i}]", v) for i, v in enumerate(values)]
    n = rows[0].size
    if any(r.size != n for r in rows):
        raise ValueError(f"values must hold the same number of units for every method, got {[r.size for r in rows]}")
    w = _weights(weights, n)
    defined = [np.isfinite(r).astype(np.float64) for r in rows]
    full = np.array([_ratio(np.nansum(r), d.sum()) for r, d in zip(rows, defined, strict=True)])[:, None]
    reps = np.stack([_ratio(w @ np.where(d > 0, r, 0.0), w @ d) for r, d in zip(rows, defined, strict=True)])

    def ranks(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # (K, B) means -> average ranks, tie sizes
        m = np.where(np.isfinite(m), m, -np.inf)  # undefined: last
        above = (m[None, :, :] > m[:, None, :]).sum(axis=1)
        tied = (m[None, :, :] == m[:, None, :]).sum(axis=1)
        return 1.0 + above + (tied - 1) / 2.0, tied

    point, _ = ranks(full)
    r, tied = ranks(reps)
    first = np.where(r - (tied - 1) / 2.0 == 1.0, 1.0 / tied, 0.0).mean(axis=1)
    out = []
    for k in range(len(rows)):
        lo, hi = np.quantile(r[k], [(1.0 - level) / 2.0, (1.0 + level) / 2.0], method="inverted_cdf")  # ranks held
        out.append({"rank": float(point[k, 0]), "low": float(lo), "high": float(hi), "first": float(first[k])})
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _as_units(name: str, x: ArrayLike | np.ndarray, n: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or (n is not None and a.size != n):
        raise ValueError(f"{name} must be a 1D sequence with one value per unit{'' if n is None else f' ({n})'}, "
                         f"got shape {a.shape}")
    return a


def _weights(weights: np.ndarray, n: int) -> np.ndarray:
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"weights must be (n_boot, {n}), got {w.shape}")
    return w


def _differences(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(d, both)``: ``a - b`` where both are defined (0 elsewhere) and where that is."""
    a_v = _as_units("a", a)
    b_v = _as_units("b", b, a_v.size)
    both = np.isfinite(a_v) & np.isfinite(b_v)
    return np.where(both, a_v - b_v, 0.0), both


def ratio_interval(num: ArrayLike, den: ArrayLike, weights: np.ndarray, level: float = 0.95) -> Interval:
    """``Σ num / Σ den`` over the units, with the percentile interval over the bootstrap ``weights``.

    Args:
        num: numerator per unit (finite where ``den > 0``).
        den: denominator per unit, >= 0 (0: the unit does not define the statistic).
        weights: ``(n_boot, n_units)`` from :func:`bootstrap_weights`.
        level: confidence level. Default 0.95.
    """
    den_a = _as_units("den", den)
    num_a = _as_units("num", num, den_a.size)
    w = _weights(weights, den_a.size)
    if (den_a < 0).any() or not np.isfinite(den_a).all():
        raise ValueError("den must be finite and >= 0")
    num_a = np.where(den_a > 0, num_a, 0.0)
    if not np.isfinite(num_a).all():
        raise ValueError("num must be finite where den > 0")
    estimate = float(_ratio(num_a.sum(), den_a.sum()))
    lo, hi = percentile_interval(_ratio(w @ num_a, w @ den_a), level)
    return Interval(estimate, lo, hi, int((den_a > 0).sum()))


def mean_interval(values: ArrayLike, weights: np.ndarray, level: float = 0.95) -> Interval:
    """The mean over the units of ``values`` (NaN: undefined for that unit, skipped) with its bootstrap interval."""
    v = _as_units("values", values)
    defined = np.isfinite(v)
    return ratio_interval(np.where(defined, v, 0.0), defined.astype(np.float64), weights, level)


def paired_comparison(a: ArrayLike, b: ArrayLike, weights: np.ndarray,
                      level: float = 0.95) -> PairedComparison:
    """Method A against method B on identical units (NaN: undefined for that unit; skipped when either is).

    The mean of ``a - b`` with its bootstrap interval (the same ``weights`` resample both methods) and the Wilcoxon
    signed-rank test of the differences.
    """
    d, both = _differences(a, b)
    interval = ratio_interval(d, both.astype(np.float64), weights, level)
    stat, p, method = wilcoxon_signed_rank(d[both])
    return PairedComparison(interval, stat, p, method, int((d[both] > 0).sum()), int((d[both] < 0).sum()),
                            int((d[both] == 0).sum()))


def _average_ranks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks 1..n of ``x`` with ties given their average rank, and the size of every tie group."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    sizes = np.diff(np.r_[starts, xs.size])
    avg = starts + (sizes + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, sizes)
    return ranks, sizes


def _exact_signed_rank_counts(n: int) -> np.ndarray:
    """Number of sign assignments of ranks 1..n giving each value 0..n(n+1)/2 of R+."""
    counts = np.zeros(n * (n + 1) // 2 + 1, dtype=np.float64)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    return counts


def wilcoxon_signed_rank(d: ArrayLike) -> tuple[float, float, str]:
    """Two-sided Wilcoxon signed-rank test of paired differences ``d`` (module docstring for the method).

    Returns:
        ``(statistic, p_value, method)``: ``min(R+, R-)``, the two-sided p-value and ``"exact"``,
        ``"permutation"`` or ``"asymptotic"``; ``(nan, nan, "none")`` for no difference at all and
        ``(0.0, 1.0, "none")`` when every difference is zero (nothing to test: no evidence of a difference).
    """
    x = _as_units("d", d)
    if not np.isfinite(x).all():
        raise ValueError("d must hold finite differences")
    if x.size == 0:
        return math.nan, math.nan, "none"
    has_zeros = bool((x == 0).any())
    nz = x[x != 0]
    n = nz.size
    if n == 0:
        return 0.0, 1.0, "none"
    ranks, tie_sizes = _average_ranks(np.abs(nz))
    r_plus = float(ranks[nz > 0].sum())
    r_minus = float(ranks[nz < 0].sum())
    statistic = min(r_plus, r_minus)
    has_ties = bool((tie_sizes > 1).any())
    if not has_ties and not has_zeros and n <= 50:
        counts = _exact_signed_rank_counts(n)
        total = counts.sum()
        cdf = counts[: int(math.ceil(r_plus)) + 1].sum() / total
        sf = counts[int(math.floor(r_plus)):].sum() / total
        return statistic, float(min(1.0, 2.0 * min(cdf, sf))), "exact"
    if x.size <= 13:
        # every assignment of signs to the non-zero differences is equally likely under the null
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
        null = (signs * ranks).sum(axis=1)
        gamma = abs(np.finfo(np.float64).eps * 100 * r_plus)
        less = float((null <= r_plus + gamma).mean())
        greater = float((null >= r_plus - gamma).mean())
        return statistic, float(min(1.0, 2.0 * min(less, greater))), "permutation"
    mean = n * (n + 1) / 4.0
    var = (n * (n + 1) * (2 * n + 1) - float((tie_sizes**3 - tie_sizes).sum()) / 2.0) / 24.0
    if var <= 0:
        return statistic, 1.0, "asymptotic"
    z = (r_plus - mean) / math.sqrt(var)
    return statistic, float(min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))), "asymptotic"
