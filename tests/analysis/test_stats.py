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


def _side(mean: np.ndarray, runs: int, ss: np.ndarray, s0: float, d0: float) -> model.Side:
    n = len(mean)
    return model.Side(
        mean, np.full(n, float(runs)), ss, np.full(n, runs - 1.0), np.full(n, s0), np.full(n, d0), np.zeros(n)
    )


def _simulated(rng: np.random.Generator, n_points: int, m: int, n: int, effect: float, s0: float, d0: float):
    """Runs of points whose true run noise is drawn from the profile's prior: sigma² ~ s0² d0 / chi²(d0)."""
    sigma = s0 * np.sqrt(d0 / rng.chisquare(d0, n_points))
    base = rng.normal(0, sigma[:, None], (n_points, m))
    cand = rng.normal(effect, sigma[:, None], (n_points, n))
    ss = ((base - base.mean(1, keepdims=True)) ** 2).sum(1) + ((cand - cand.mean(1, keepdims=True)) ** 2).sum(1)
    nu = m + n - 2.0
    side_b = model.Side(base.mean(1), np.full(n_points, m * 1.0), ss, np.full(n_points, nu), np.full(n_points, s0),
                        np.full(n_points, d0), np.zeros(n_points))  # fmt: skip
    side_c = model.Side(cand.mean(1), np.full(n_points, n * 1.0), ss, np.full(n_points, nu), np.full(n_points, s0),
                        np.full(n_points, d0), np.zeros(n_points))  # fmt: skip
    return side_b, side_c


@pytest.mark.parametrize(("m", "n"), [(1, 1), (4, 1), (2, 2), (3, 3)])
def test_tests_with_a_profile_prior_hold_their_level(m: int, n: int) -> None:
    """Points whose true noise is drawn from the profile's prior, sitting exactly on the band's edge: the
    one-sided test rejects at most about `level` of the time (never quieter than the class makes it a
    little conservative), with one run a side as with several."""
    rng = np.random.default_rng(11)
    edge = np.log1p(0.03)
    b, c = _simulated(rng, 40_000, m, n, edge, 0.004, 6.0)
    judged = model.judge(model.estimate(b, c), np.full(40_000, -edge), np.full(40_000, edge))
    for level in (0.05, 0.01):
        assert 0.4 * level <= np.mean(judged.p_slower < level) <= 1.2 * level


def test_a_point_whose_runs_happen_to_agree_is_never_quieter_than_its_class() -> None:
    quiet = _side(np.zeros(1), 4, np.array([1e-10]), s0=0.002, d0=6.0)
    one = _side(np.zeros(1), 1, np.zeros(1), s0=0.002, d0=6.0)
    var, df = quiet.variance()
    assert np.sqrt(var[0]) == pytest.approx(0.002) and df[0] == 9.0
    noisy = _side(np.zeros(1), 4, np.array([3 * 0.01**2]), s0=0.002, d0=6.0)
    assert np.sqrt(noisy.variance()[0][0]) > 0.005  # a point its own runs show noisy keeps most of it
    assert model.estimate(quiet, one).se[0] == pytest.approx(0.002 * np.sqrt(1 / 4 + 1))


def test_sides_of_two_machines_keep_their_own_noise_and_the_df_is_welchs() -> None:
    b = _side(np.zeros(1), 1, np.zeros(1), s0=0.001, d0=30.0)
    c = _side(np.full(1, 0.1), 1, np.zeros(1), s0=0.01, d0=4.0)
    est = model.estimate(b, c, pooled=False)
    assert est.se[0] == pytest.approx(np.hypot(0.001, 0.01))
    assert 4.0 <= est.df[0] < 5.0  # dominated by the noisier side's few degrees of freedom


def test_an_estimate_beyond_the_threshold_is_undecided_never_same_and_says_how_many_runs() -> None:
    half = np.log1p(0.03)
    d = np.array([0.045, 0.045, 0.01, 0.2, -0.2])
    est = model.Estimate(d, np.array([0.02, 0.001, 0.002, 0.002, 0.002]), np.full(5, 10.0), *(np.full(5, 0.01),) * 2,
                         *(np.full(5, 10.0),) * 2)  # fmt: skip
    high = np.array([half, half + 0.02, half, half, half])  # the second: band widened by a copy's move
    judged = model.judge(est, -high, high)
    v = model.decide(d, judged, half, 0.01)
    assert list(v.verdict) == ["undecided", "undecided", "same", "slower", "faster"]
    runs = model.runs_to_decide(est, d - high, 0.01, 5)
    assert 1 < runs[0] <= model.MAX_RUNS and runs[1] == model.MAX_RUNS + 1  # inside the widened band: no runs do


def test_benjamini_hochberg_known_values_and_nan() -> None:
    adj = stats.benjamini_hochberg(np.array([0.01, 0.04, np.nan, 0.03, 0.5]))
    np.testing.assert_allclose(adj, [0.04, 0.04 * 4 / 3, np.nan, 0.04 * 4 / 3, 0.5])


def test_geometric_mean_ignores_nonpositive() -> None:
    assert stats.geometric_mean(np.array([0.5, 2.0, np.nan, -1.0])) == pytest.approx(1.0)
