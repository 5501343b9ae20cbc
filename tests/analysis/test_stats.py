"""The statistics agree with brute force: hand-cut blocks and rounds, scipy's distributions, simulated
priors recovered by the moment fit, and the model's tests holding their error rate on simulated runs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from bench.analysis import model, stats


def test_within_run_se_is_the_spread_of_block_medians_in_time_order() -> None:
    rng = np.random.default_rng(0)
    x = 10 * rng.lognormal(0, 0.05, 103)
    se, df = stats.within_run_se(x)
    blocks = [x[0:11], x[11:22], x[22:33], *(x[33 + 10 * i : 43 + 10 * i] for i in range(7))]  # 103 = 3*11 + 7*10
    medians = np.log([np.median(b) for b in blocks])
    assert se == pytest.approx(np.std(medians, ddof=1) / np.sqrt(10))
    assert df == 9


def test_within_run_se_uses_rounds_when_there_are_three_or_more() -> None:
    x = np.array([1.0] * 5 + [2.0] * 5 + [4.0] * 5)
    se, df = stats.within_run_se(x, np.array([5, 5, 5]))
    assert se == pytest.approx(np.std(np.log([1.0, 2.0, 4.0]), ddof=1) / np.sqrt(3))
    assert df == 2


def test_a_slow_spell_widens_the_block_error_where_independent_samples_would_not() -> None:
    rng = np.random.default_rng(1)
    steady = 5 * rng.lognormal(0, 0.02, 2000)
    spell = steady.copy()
    spell[600:800] *= 2.0  # 200 consecutive samples twice as slow, as events timings show
    iid_se = 1.2533 * np.std(np.log(spell)) / np.sqrt(spell.size)
    assert stats.within_run_se(spell)[0] > 5 * stats.within_run_se(steady)[0]
    assert stats.within_run_se(spell)[0] > 2 * iid_se


def test_t_tail_matches_scipy_and_the_normal_at_infinite_df() -> None:
    t = np.array([-2.0, 0.0, 1.5, 8.0])
    for df in (1.0, 3.0, 7.5, 40.0):
        np.testing.assert_allclose(stats.t_upper_p(t, df), sps.t.sf(t, df), rtol=1e-10)
        np.testing.assert_allclose(stats.t_quantile(0.975, np.array(df)), sps.t.ppf(0.975, df), rtol=1e-10)
    np.testing.assert_allclose(stats.t_upper_p(t, np.inf), sps.norm.sf(t), rtol=1e-10)


def test_trigamma_inverse_inverts_trigamma() -> None:
    for x in (0.01, 0.5, 2.0, 30.0):
        assert special.polygamma(1, stats.trigamma_inverse(x)) == pytest.approx(x, rel=1e-6)


@pytest.mark.parametrize(("s0", "d0", "df"), [(0.002, 4.0, 2.0), (0.05, 10.0, 4.0), (0.01, 2.0, 1.0)])
def test_prior_fit_recovers_a_simulated_prior(s0: float, d0: float, df: float) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    sigma2 = s0**2 * d0 / rng.chisquare(d0, n)  # scaled inverse chi-square, as the model assumes
    s2 = sigma2 * rng.chisquare(df, n) / df
    fit_s0sq, fit_d0 = stats.fit_prior(s2, np.full(n, df))
    assert np.sqrt(fit_s0sq) == pytest.approx(s0, rel=0.1)
    assert fit_d0 == pytest.approx(d0, rel=0.3)


def test_prior_fit_says_infinite_df_for_identical_variances() -> None:
    rng = np.random.default_rng(3)
    s2 = 0.01**2 * rng.chisquare(3, 5000) / 3
    _, d0 = stats.fit_prior(s2, np.full(5000, 3.0))
    assert d0 > 50


def _simulated_points(
    rng: np.random.Generator, n_points: int, m: int, n: int, effect: float = 0.0
) -> model.PointArrays:
    """Runs of n_points points whose true run noise varies from point to point (the prior's shape)."""
    sigma = 0.003 * np.sqrt(4.0 / rng.chisquare(4.0, n_points))
    base = rng.normal(0, sigma[:, None], (n_points, m))
    cand = rng.normal(effect, sigma[:, None], (n_points, n))
    ss = ((base - base.mean(1, keepdims=True)) ** 2).sum(1) + ((cand - cand.mean(1, keepdims=True)) ** 2).sum(1)
    zeros = np.zeros(n_points)
    return model.PointArrays(
        base.mean(1), cand.mean(1), np.full(n_points, m * 1.0), np.full(n_points, n * 1.0), ss, zeros, zeros, zeros
    )


@pytest.mark.parametrize(("m", "n"), [(3, 3), (4, 1), (2, 2)])
def test_replicated_tests_hold_their_level_on_simulated_runs(m: int, n: int) -> None:
    """With repeated runs the moderated one-sided test at the band's edge rejects at most about `level`
    of the time, and not far less (no point is judged quieter than the group's typical one, which makes
    it conservative): brute force over 40,000 simulated points whose true ratio sits exactly on the edge."""
    rng = np.random.default_rng(11)
    edge = np.log1p(0.03)
    points = _simulated_points(rng, 40_000, m, n, effect=edge)
    prior = model.fit(points, "graph")
    assert prior.source == "repeated runs"
    judged = model.judge(model.estimate(points, prior), np.full(40_000, -edge), np.full(40_000, edge))
    for level in (0.05, 0.01):
        assert 0.5 * level <= np.mean(judged.p_slower < level) <= 1.2 * level


def test_without_repeats_the_scatter_across_points_is_the_noise_and_tails_are_heavy() -> None:
    rng = np.random.default_rng(5)
    points = _simulated_points(rng, 5_000, 1, 1)
    prior = model.fit(points, "graph")
    assert prior.source == "spread across points" and prior.df == model.UNREPLICATED_PRIOR_DF
    assert prior.s0 == pytest.approx(np.median(0.003 * np.sqrt(4.0 / rng.chisquare(4.0, 100_000))), rel=0.25)
    judged = model.judge(model.estimate(points, prior), np.full(5_000, -0.1), np.full(5_000, 0.0))
    assert np.mean(judged.p_slower < 0.05) < 0.05  # conservative: unseen per-point noise is allowed for


def test_too_few_points_fall_back_to_the_explicit_default() -> None:
    points = _simulated_points(np.random.default_rng(0), 3, 1, 1)
    assert model.fit(points, "events").s0 == model.DEFAULT_RUN_NOISE["events"]
    assert "default" in model.fit(points, "events").describe()


def test_benjamini_hochberg_known_values_and_nan() -> None:
    adj = stats.benjamini_hochberg(np.array([0.01, 0.04, np.nan, 0.03, 0.5]))
    np.testing.assert_allclose(adj, [0.04, 0.04 * 4 / 3, np.nan, 0.04 * 4 / 3, 0.5])


def test_robust_sd_is_the_sd_of_a_normal_and_ignores_one_outlier() -> None:
    x = np.random.default_rng(2).normal(0, 3.0, 20_000)
    assert stats.robust_sd(x) == pytest.approx(3.0, rel=0.03)
    assert stats.robust_sd(np.append(x, 1e9)) == pytest.approx(stats.robust_sd(x), rel=1e-3)


def test_geometric_mean_ignores_nonpositive() -> None:
    assert stats.geometric_mean(np.array([0.5, 2.0, np.nan, -1.0])) == pytest.approx(1.0)
