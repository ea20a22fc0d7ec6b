"""Bootstrap intervals, paired comparisons and the Wilcoxon signed-rank test: hand-computed examples and SciPy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats as st

from monai_segloss.evaluation.statistics import (
    bootstrap_ranks,
    bootstrap_weights,
    crossed_bootstrap_weights,
    mean_interval,
    paired_comparison,
    percentile_interval,
    ratio_interval,
    significant,
    simultaneous_paired_intervals,
    simultaneous_percentile_intervals,
    wilcoxon_signed_rank,
)


def test_one_level_weights_resample_units_with_replacement():
    w = bootstrap_weights(["a"] * 5, n_boot=400, seed=3)
    assert w.shape == (400, 5) and w.dtype == np.int64
    assert (w.sum(axis=1) == 5).all()  # n draws per replicate
    assert np.allclose(w.mean(axis=0), 1.0, atol=0.15)  # each unit drawn once on average
    assert np.array_equal(w, bootstrap_weights(["a"] * 5, n_boot=400, seed=3))  # seeded


def test_two_level_weights_draw_groups_then_units():
    groups = [0, 0, 0, 1, 1, 2]
    w = bootstrap_weights(groups, n_boot=3000, seed=0)
    sizes = {0: 3, 1: 2, 2: 1}
    members = {g: [i for i, x in enumerate(groups) if x == g] for g in sizes}
    for row in w[:200]:
        # a group drawn k times contributes k x its size draws, all within the group
        k = {g: row[m].sum() / sizes[g] for g, m in members.items()}
        assert all(float(v).is_integer() for v in k.values()) and sum(k.values()) == 3
    # expected weight of every unit is 1 (groups uniform, units uniform within a group)
    assert np.allclose(w.mean(axis=0), 1.0, atol=0.1)
    # the lone unit of group 2 is drawn exactly when its group is: P(group 2 never drawn) = (2/3)^3
    assert (w[:, 5] == 0).mean() == pytest.approx((2 / 3) ** 3, abs=0.03)


def _grid(n_seeds, n_cases):
    seeds = [s for s in range(n_seeds) for _ in range(n_cases)]
    cases = [f"case{c}" for _ in range(n_seeds) for c in range(n_cases)]
    return seeds, cases


def test_crossed_weights_are_seed_count_times_case_count():
    seeds, cases = _grid(3, 5)
    perm = np.random.default_rng(0).permutation(15)  # units in any order: weights follow the ids, not positions
    w_perm = crossed_bootstrap_weights([seeds[i] for i in perm], [cases[i] for i in perm], n_boot=500, seed=4)
    w = np.empty_like(w_perm)
    w[:, perm] = w_perm  # back to seed-major grid order
    assert w.shape == (500, 15) and w.dtype == np.int64
    assert (w.sum(axis=1) == 15).all()  # complete grid: (Σ seed draws = 3) x (Σ case draws = 5)
    assert np.array_equal(w_perm, crossed_bootstrap_weights([seeds[i] for i in perm], [cases[i] for i in perm],
                                                            n_boot=500, seed=4))
    assert not np.array_equal(w, crossed_bootstrap_weights(seeds, cases, n_boot=500, seed=5))
    for row in w[:100]:
        grid = row.reshape(3, 5)
        # Σ_c A_s B_c = 5 A_s and Σ_s A_s B_c = 3 B_c: the draws of every seed and case, and grid = A ⊗ B
        a, b = grid.sum(1) // 5, grid.sum(0) // 3
        assert (a * 5 == grid.sum(1)).all() and (b * 3 == grid.sum(0)).all()
        assert (a.sum(), b.sum()) == (3, 5) and np.array_equal(grid, np.outer(a, b))
    # a case is shared by every seed: dropping it drops it under every seed at once
    dropped = (w.reshape(-1, 3, 5) == 0).all(axis=1)  # (n_boot, 5): case absent under all seeds
    present = (w.reshape(-1, 3, 5) > 0).any(axis=1)
    assert np.array_equal(dropped, ~present) and dropped.mean() == pytest.approx((4 / 5) ** 5, abs=0.05)
    assert np.allclose(w.mean(axis=0), 1.0, atol=0.2)  # E[draws of seed] x E[draws of case] = 1


def test_crossed_weights_incomplete_grid_and_one_seed():
    seeds, cases = _grid(3, 4)
    keep = [i for i in range(12) if i not in (1, 6, 11)]  # three (seed, case) units missing
    w = crossed_bootstrap_weights([seeds[i] for i in keep], [cases[i] for i in keep], n_boot=20000, seed=0)
    assert w.shape == (20000, 9) and w.sum(axis=1).mean() == pytest.approx(9, rel=0.02)
    # one seed: exactly the ordinary bootstrap of the cases (same generator seed)
    assert np.array_equal(crossed_bootstrap_weights(["s"] * 6, list("abcdef"), 300, seed=7),
                          bootstrap_weights(["g"] * 6, 300, seed=7))


def test_crossed_bootstrap_variance_of_an_additive_grid():
    """y_sc = x_s + z_c on a complete S x C grid: the weighted mean is mean(x*) + mean(z*) with x* and z* drawn
    independently, so its bootstrap variance is var(x)/S + var(z)/C (population variances) exactly."""
    n_seeds, n_cases = 5, 40
    rng = np.random.default_rng(0)
    x = np.array([0.0, 0.3, -0.2, 0.5, 0.1])  # seed effects
    z = rng.normal(0.0, 0.4, n_cases)  # case effects, shared by every seed
    y = (x[:, None] + z[None, :]).reshape(-1)
    seeds, cases = _grid(n_seeds, n_cases)
    w = crossed_bootstrap_weights(seeds, cases, n_boot=20000, seed=1)
    boot = (w @ y) / w.sum(axis=1)
    expected = x.var() / n_seeds + z.var() / n_cases
    assert boot.var() == pytest.approx(expected, rel=0.05)
    assert mean_interval(y, w).estimate == pytest.approx(y.mean())
    # resampling the 200 units as independent ignores that a case is shared: far too narrow
    unit = bootstrap_weights(["g"] * y.size, n_boot=4000, seed=1)
    assert ((unit @ y) / y.size).var() < 0.5 * expected
    # the two-level (nested) scheme treats the cases of each seed as different cases: also narrower here
    nested = bootstrap_weights(seeds, n_boot=4000, seed=1)
    assert ((nested @ y) / nested.sum(axis=1)).var() < boot.var()


def test_crossed_weights_bad_input():
    with pytest.raises(ValueError, match="one value per unit"):
        crossed_bootstrap_weights([0, 1], ["a"])
    with pytest.raises(ValueError, match="at least one unit"):
        crossed_bootstrap_weights([], [])
    with pytest.raises(ValueError, match="pair"):
        crossed_bootstrap_weights([0, 0], ["a", "a"])
    with pytest.raises(ValueError, match="n_boot"):
        crossed_bootstrap_weights([0], ["a"], n_boot=0)


def test_percentile_interval_of_the_exact_bootstrap_distribution():
    """Values (0, 1, 3): the 27 equally likely resamples give the exact bootstrap distribution of the mean; its
    2.5 % and 97.5 % quantiles are 0 and 3 (each extreme resample has probability 1/27 > 2.5 %), and 5 % / 95 %
    fall on the next values, 1/3 and 7/3 (cumulative 4/27 > 5 % after 1/27)."""
    v = np.array([0.0, 1.0, 3.0])
    exact = np.sort([np.mean(v[list(idx)]) for idx in itertools.product(range(3), repeat=3)])

    def quantile(q):  # smallest value whose cumulative probability reaches q
        return exact[int(np.ceil(q * exact.size)) - 1]

    w = bootstrap_weights(["g"] * 3, n_boot=40000, seed=1)
    iv = mean_interval(v, w)
    assert iv.estimate == pytest.approx(4 / 3) and iv.n == 3
    assert (quantile(0.025), quantile(0.975)) == (0.0, 3.0)
    assert (iv.low, iv.high) == (0.0, 3.0)
    iv90 = mean_interval(v, w, level=0.90)
    assert (quantile(0.05), quantile(0.95)) == pytest.approx((1 / 3, 7 / 3))
    assert (iv90.low, iv90.high) == pytest.approx((1 / 3, 7 / 3))


def test_mean_interval_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 1.0, 40)
    ours = mean_interval(x, bootstrap_weights(["g"] * x.size, n_boot=20000, seed=2))
    ref = st.bootstrap((x,), np.mean, n_resamples=20000, method="percentile", random_state=5).confidence_interval
    assert ours.estimate == pytest.approx(x.mean())
    # two Monte-Carlo estimates of the same quantiles: agree to a few hundredths of the spread
    assert ours.low == pytest.approx(ref.low, abs=0.04) and ours.high == pytest.approx(ref.high, abs=0.04)


def test_ratio_interval_pools_and_skips_undefined_units():
    # per case detected / lesions; case 2 has no lesion (den 0) and is undefined
    num, den = np.array([1.0, 3.0, 0.0, 2.0]), np.array([2.0, 3.0, 0.0, 4.0])
    iv = ratio_interval(num, den, bootstrap_weights(["g"] * 4, n_boot=500, seed=0))
    assert iv.estimate == pytest.approx(6 / 9) and iv.n == 3
    assert 0.0 <= iv.low <= iv.estimate <= iv.high <= 1.0
    # NaN values are skipped by the mean
    m = mean_interval([0.5, math.nan, 1.0], bootstrap_weights(["g"] * 3, n_boot=200, seed=0))
    assert m.estimate == pytest.approx(0.75) and m.n == 2
    # nothing defined: NaN, not an error
    empty = mean_interval([math.nan, math.nan], bootstrap_weights(["g"] * 2, n_boot=50, seed=0))
    assert math.isnan(empty.estimate) and math.isnan(empty.low) and empty.n == 0


def test_paired_comparison_hand_example():
    a = np.array([0.9, 0.8, math.nan, 0.5, 0.7])
    b = np.array([0.6, 0.8, 0.4, 0.2, 0.9])
    pc = paired_comparison(a, b, bootstrap_weights(["s0", "s0", "s1", "s1", "s1"], n_boot=2000, seed=0))
    d = np.array([0.3, 0.0, 0.3, -0.2])  # unit 2 skipped (a undefined)
    assert pc.difference.estimate == pytest.approx(d.mean()) and pc.difference.n == 4
    assert (pc.wins, pc.losses, pc.ties) == (2, 1, 1)
    ref = st.wilcoxon(d)
    assert pc.statistic == pytest.approx(ref.statistic) and pc.p_value == pytest.approx(ref.pvalue)
    assert pc.difference.low <= pc.difference.estimate <= pc.difference.high
    # a constant shift: the interval excludes zero
    sure = paired_comparison(np.arange(10) + 0.1, np.arange(10.0), bootstrap_weights(["g"] * 10, 500, seed=0))
    assert sure.difference.excludes(0.0) and sure.difference.low == pytest.approx(0.1)


def _joint_coverage(reps: np.ndarray, bounds: list[tuple[float, float]]) -> float:
    lo, hi = np.array(bounds).T
    return float(((reps >= lo[:, None]) & (reps <= hi[:, None])).all(axis=0).mean())


def test_simultaneous_intervals_adapt_to_the_correlation_of_the_family():
    rng = np.random.default_rng(3)
    one = rng.normal(size=(1, 2000))  # a family of one: the ordinary percentile interval
    bounds, level = simultaneous_percentile_intervals(one)
    assert level == 0.95 and bounds == [percentile_interval(one[0])]
    same = np.tile(rng.normal(size=2000), (4, 1))  # four copies of one statistic: no multiplicity to correct
    bounds, level = simultaneous_percentile_intervals(same)
    assert level == 0.95 and bounds == [percentile_interval(same[0])] * 4
    indep = rng.normal(size=(9, 20000))  # nine independent statistics: Šidák's per-comparison level
    bounds, level = simultaneous_percentile_intervals(indep)
    assert level == pytest.approx(0.95 ** (1 / 9), abs=0.0015) and level != pytest.approx(0.95, abs=0.02)
    assert _joint_coverage(indep, bounds) >= 0.95 > _joint_coverage(
        indep, [percentile_interval(r, level - 0.002) for r in indep])  # the smallest such level
    # two statistics with correlation 0.9 need less than two independent ones
    z = rng.normal(size=(2, 20000))
    corr = np.stack([z[0], 0.9 * z[0] + math.sqrt(1 - 0.81) * z[1]])
    assert 0.95 < simultaneous_percentile_intervals(corr)[1] < simultaneous_percentile_intervals(z)[1]
    assert simultaneous_percentile_intervals(z)[1] == pytest.approx(0.95 ** 0.5, abs=0.002)


def test_simultaneous_intervals_skip_undefined_replicates():
    rng = np.random.default_rng(4)
    reps = rng.normal(size=(3, 4000))
    reps[1, ::2] = np.nan  # statistic 1 undefined in half the replicates: they do not constrain it
    reps[2] = np.nan  # never defined
    bounds, level = simultaneous_percentile_intervals(reps)
    assert all(math.isnan(b) for b in bounds[2])
    assert bounds[1] == percentile_interval(reps[1], level) and bounds[0] == percentile_interval(reps[0], level)
    assert 0.95 < level < 0.98
    for bad in (np.zeros(5), np.zeros((0, 5)), np.zeros((2, 0))):
        with pytest.raises(ValueError, match="replicates must be"):
            simultaneous_percentile_intervals(bad)
    with pytest.raises(ValueError, match="level"):
        simultaneous_percentile_intervals(reps, level=1.0)


def test_simultaneous_paired_intervals_hold_paired_comparisons_estimates():
    rng = np.random.default_rng(5)
    w = crossed_bootstrap_weights([s for s in range(3) for _ in range(8)], [c for _ in range(3) for c in range(8)],
                                  n_boot=2000, seed=0)
    base = rng.random(24)
    others = [base + 0.05 + 0.1 * rng.normal(size=24), base + 0.1 * rng.normal(size=24), rng.random(24)]
    others[2][[3, 7]] = math.nan  # undefined on two units: skipped in that pair only
    family, level = simultaneous_paired_intervals([(o, base) for o in others], w)
    assert level > 0.95
    for o, iv in zip(others, family, strict=True):
        own = paired_comparison(o, base, w).difference
        assert (iv.estimate, iv.n) == (pytest.approx(own.estimate), own.n)
        assert iv.low <= own.low <= own.high <= iv.high  # wider than each comparison's own interval
        assert (iv.low, iv.high) != (own.low, own.high)
    alone, level = simultaneous_paired_intervals([(others[0], base)], w)
    own = paired_comparison(others[0], base, w).difference
    assert level == 0.95 and (alone[0].low, alone[0].high) == pytest.approx((own.low, own.high))
    with pytest.raises(ValueError, match="pairs"):
        simultaneous_paired_intervals([], w)
    with pytest.raises(ValueError, match="weights"):
        simultaneous_paired_intervals([(base[:5], base[:5])], w)


def test_significant_needs_the_family_interval_too():
    own = {"estimate": -0.03, "low": -0.058, "high": -0.005}
    assert significant(own) and significant({"difference": own})
    assert not significant({"difference": own, "simultaneous": {"low": -0.07, "high": 0.01, "family": 9}})
    assert significant({"difference": own, "simultaneous": {"low": -0.07, "high": -0.001, "family": 9}})
    assert significant({"difference": own, "simultaneous": {"low": -0.07, "high": 0.01, "family": 1}})  # alone
    assert not significant({"difference": {"estimate": 0.01, "low": -0.01, "high": 0.03},
                            "simultaneous": {"low": 0.001, "high": 0.02, "family": 9}})


def test_bootstrap_ranks_hand_example():
    """Three replicates, each drawing one unit three times: A wins the first, B the second, C the third (A and B
    tied behind it, so C ranks 2, 2, 1); on all units A and B tie ahead of C."""
    a, b, c = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.2, 0.2]
    w = np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3]])
    ra, rb, rc = bootstrap_ranks([a, b, c], w)
    assert (ra["rank"], rb["rank"], rc["rank"]) == (1.5, 1.5, 3.0)
    assert (ra["low"], ra["high"], rb["low"], rb["high"], rc["low"], rc["high"]) == (1, 3, 1, 3, 1, 2)
    assert ra["first"] == rb["first"] == rc["first"] == pytest.approx(1 / 3)
    w2 = np.array([[3, 0, 0], [3, 0, 0], [0, 0, 3], [1, 1, 1]])  # ties for first split the share
    ra, rb, rc = bootstrap_ranks([a, b, c], w2)
    assert (ra["first"], rb["first"], rc["first"]) == pytest.approx((0.5 + 0.125, 0.125, 0.25))
    assert (ra["low"], ra["high"]) == (1.0, 2.5)


def test_bootstrap_ranks_identical_undefined_and_bad_input():
    rng = np.random.default_rng(6)
    w = bootstrap_weights(["s"] * 20, 500, seed=0)
    x = rng.random(20)
    same = bootstrap_ranks([x, x, x], w)
    assert all(d["rank"] == 2.0 and d["low"] == d["high"] == 2.0 and d["first"] == pytest.approx(1 / 3) for d in same)
    undefined = np.full(20, math.nan)
    undefined[0] = 5.0  # defined on one unit only: its mean is 5 where that unit is drawn, else it ranks last
    ranks = bootstrap_ranks([x, undefined], w)
    drawn = float((w[:, 0] > 0).mean())
    assert ranks[1]["rank"] == 1.0 and ranks[1]["first"] == pytest.approx(drawn) and ranks[0]["first"] == \
        pytest.approx(1 - drawn)
    with pytest.raises(ValueError, match="at least one method"):
        bootstrap_ranks([], w)
    with pytest.raises(ValueError, match="same number of units"):
        bootstrap_ranks([x, x[:5]], w)
    with pytest.raises(ValueError, match="weights must be"):
        bootstrap_ranks([x[:5]], w)


def test_wilcoxon_hand_computed_exact():
    # d = (1, -2, 3, 4): ranks 1..4, R+ = 1 + 3 + 4 = 8, R- = 2. Under the null every subset of {1, 2, 3, 4} is
    # the positive set with probability 1/16; R+ >= 8 for {1,3,4}, {2,3,4}, {1,2,3,4}: P = 3/16, two-sided 6/16
    stat, p, method = wilcoxon_signed_rank([1.0, -2.0, 3.0, 4.0])
    assert (stat, method) == (2.0, "exact")
    assert p == pytest.approx(6 / 16)


@pytest.mark.parametrize("n", [1, 4, 9, 13, 14, 25, 50, 51, 80])
@pytest.mark.parametrize("kind", ["continuous", "ties", "zeros"])
def test_wilcoxon_matches_scipy(n, kind):
    rng = np.random.default_rng(n)
    d = rng.normal(0.2, 1.0, n)
    if kind == "ties":
        d = np.round(d * 2) / 2
        d[d == 0] = 0.5
    elif kind == "zeros":
        d = np.round(d * 2) / 2
    stat, p, method = wilcoxon_signed_rank(d)
    if not (d != 0).any():
        assert (stat, p, method) == (0.0, 1.0, "none")
        return
    ref = st.wilcoxon(d)
    assert stat == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    nz = np.abs(d[d != 0])
    clean = nz.size == n and np.unique(nz).size == nz.size  # no zero, no tie
    assert method == ("exact" if clean and n <= 50 else "permutation" if n <= 13 else "asymptotic")


def test_wilcoxon_degenerate_inputs():
    assert wilcoxon_signed_rank([0.0, 0.0]) == (0.0, 1.0, "none")
    s, p, m = wilcoxon_signed_rank([])
    assert math.isnan(s) and math.isnan(p) and m == "none"
    with pytest.raises(ValueError, match="finite"):
        wilcoxon_signed_rank([1.0, math.nan])


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_weights([0, 1], n_boot=0)
    with pytest.raises(ValueError, match="groups"):
        bootstrap_weights([])
    with pytest.raises(ValueError, match="level"):
        percentile_interval(np.ones(3), level=1.5)
    w = bootstrap_weights(["g"] * 3, 10)
    with pytest.raises(ValueError, match="weights"):
        mean_interval([1.0, 2.0], w)
    with pytest.raises(ValueError, match="den"):
        ratio_interval([1.0, 1.0, 1.0], [1.0, -1.0, 1.0], w)
