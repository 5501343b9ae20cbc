"""The statistics agree with their textbook definitions (brute-force bootstrap, scipy, known BH values)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from bench.analysis import stats


@pytest.mark.parametrize("n", [5, 40, 301, 1000])
def test_bootstrap_ci_matches_brute_force_resampling(n: int) -> None:
    rng = np.random.default_rng(n)
    base = 100 * rng.lognormal(0, 0.05, n)
    cand = 108 * rng.lognormal(0, 0.05, n)
    lo, hi = stats.ratio_of_medians_ci(base, cand, rng=np.random.default_rng(1))
    ib, ic = rng.integers(0, n, (4000, n)), rng.integers(0, n, (4000, n))
    ref_lo, ref_hi = np.percentile(np.median(cand[ic], 1) / np.median(base[ib], 1), [2.5, 97.5])
    width = ref_hi - ref_lo
    assert abs(lo - ref_lo) < 0.15 * width + 1e-3
    assert abs(hi - ref_hi) < 0.15 * width + 1e-3
    assert lo <= np.median(cand) / np.median(base) <= hi


def test_bootstrap_ci_is_seeded_and_nan_without_samples() -> None:
    a, b = np.arange(1.0, 50.0), np.arange(2.0, 51.0)
    r1 = stats.ratio_of_medians_ci(a, b, rng=stats.point_rng(0, "k"))
    r2 = stats.ratio_of_medians_ci(a, b, rng=stats.point_rng(0, "k"))
    assert r1 == r2
    assert all(np.isnan(stats.ratio_of_medians_ci(a[:1], b)))


def test_mann_whitney_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(10, 1, 200), 1)
    b = np.round(rng.normal(10.2, 1, 150), 1)
    expected = sps.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic").pvalue
    assert stats.mann_whitney_p(a, b) == pytest.approx(expected, rel=1e-9)
    assert stats.mann_whitney_p(np.ones(20), np.ones(20)) == 1.0


def test_benjamini_hochberg_known_values_and_nan() -> None:
    adj = stats.benjamini_hochberg(np.array([0.01, 0.04, np.nan, 0.03, 0.5]))
    np.testing.assert_allclose(adj, [0.04, 0.04 * 4 / 3, np.nan, 0.04 * 4 / 3, 0.5])


def test_geometric_mean_ignores_nonpositive() -> None:
    assert stats.geometric_mean(np.array([0.5, 2.0, np.nan, -1.0])) == pytest.approx(1.0)


def test_round_bootstrap_widens_the_ci_when_rounds_disagree():
    from bench.analysis.stats import ratio_ci

    rng = np.random.default_rng(1)
    steady = [100 + rng.standard_normal(50) for _ in range(9)]
    drifting = [(100 + 10 * (i % 3 == 0)) + rng.standard_normal(50) for i in range(9)]  # a slow spell in 3 rounds
    pooled = np.concatenate
    lo, hi = ratio_ci(pooled(steady), pooled(drifting))
    glo, ghi = ratio_ci(pooled(steady), pooled(drifting), steady, drifting)
    assert glo <= lo and ghi > hi and ghi > 1.05  # the spread between rounds counts as noise
    same_lo, same_hi = ratio_ci(pooled(steady), pooled(steady) * 1.1, steady, [g * 1.1 for g in steady])
    assert 1.05 < same_lo <= same_hi < 1.15  # a uniform 10% slowdown stays decisive
