"""Bootstrap intervals, paired comparisons and the Wilcoxon signed-rank test: hand-computed examples and SciPy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats as st

from monai_segloss.evaluation.statistics import (
    bootstrap_weights,
    mean_interval,
    paired_comparison,
    percentile_interval,
    ratio_interval,
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
