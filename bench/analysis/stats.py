"""Statistics for comparing two sets of raw timing samples; pure functions, no pandas.

Why these: timings are skewed and heavy-tailed (a preempted call is 10x slower), so we compare medians,
test with a rank test (Mann-Whitney U) that assumes no distribution, bound the ratio with a bootstrap CI
from the raw samples, and correct p-values for the many points of a sweep (Benjamini-Hochberg) so that a
sweep of 500 points does not "find" 5 regressions by chance.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy import special
from scipy import stats as sps

CONFIDENCE = 0.95
N_RESAMPLES = 4000


def point_rng(seed: int, key: str) -> np.random.Generator:
    """A generator seeded by (seed, key): a point's CI does not depend on which other points exist."""
    return np.random.default_rng([int(seed), zlib.crc32(key.encode())])


def bootstrap_medians(samples: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `n_resamples` bootstrap resamples of `samples`, drawn without materialising them,
    returned in ascending order (shuffle before pairing them with another side's).

    The median of a resample is an order statistic of the sorted original: the k-th smallest draw lands
    at sorted position <= j exactly when at least k of the n draws do, so
    P(J <= j) = P(Binomial(n, j/n) >= k) (Efron's exact bootstrap of the median). Inverting that CDF
    with uniforms gives the same distribution as resampling, in O(n log n + R) instead of O(n * R), which
    is what makes a 10,000-row report fast. For even n the two middle order statistics are drawn with one
    shared uniform (they are adjacent and nearly always move together) and averaged, as np.median does.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = x.size
    if n == 0:
        return np.full(n_resamples, np.nan)
    u = np.sort(rng.random(n_resamples))  # sorted keys make searchsorted ~4x faster
    k_lo, k_hi = (n + 1) // 2, n // 2 + 1
    lo = x[_order_statistic_index(n, k_lo, u)]
    if k_hi == k_lo:
        return lo
    hi = x[_order_statistic_index(n, k_hi, u)]
    return (lo + hi) / 2.0


def _order_statistic_index(n: int, k: int, u: np.ndarray) -> np.ndarray:
    """0-based sorted position of the k-th smallest of n draws with replacement, by inverse CDF at u.

    The CDF is 0 or 1 to double precision more than 5*sqrt(n) positions from k (10 standard deviations
    of the Binomial, whose sd is at most sqrt(n)/2), so it is evaluated only in that window: bdtrc on all n positions would cost more than
    everything else together at n = 2,000.
    """
    half_width = int(np.ceil(5.0 * np.sqrt(n))) + 2
    start = max(0, k - half_width)
    stop = min(n, k + half_width)
    positions = np.arange(start + 1, stop + 1) / n
    # bdtrc(k - 1, n, p) = P(Binomial(n, p) >= k): the ufunc, ~10x cheaper than binom.sf per call.
    cdf = special.bdtrc(k - 1, n, positions)
    idx = start + np.searchsorted(cdf, u, side="left")
    return np.minimum(idx, n - 1)


def ratio_of_medians_ci(
    base: np.ndarray,
    cand: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(cand) / median(base); (nan, nan) when either side has < 2 samples."""
    base = np.asarray(base, dtype=np.float64)
    cand = np.asarray(cand, dtype=np.float64)
    if base.size < 2 or cand.size < 2:
        return float("nan"), float("nan")
    rng = rng if rng is not None else np.random.default_rng(0)
    mb = bootstrap_medians(base, n_resamples, rng)
    mc = rng.permutation(bootstrap_medians(cand, n_resamples, rng))  # both come sorted: pair at random
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mc / mb
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(ratios, [tail, 100.0 - tail])
    return float(lo), float(hi)


MIN_GROUPS = 3  # rounds (or runs) per side before their spread is trusted as between-run noise


def ratio_of_group_medians_ci(
    base_groups: list[np.ndarray],
    cand_groups: list[np.ndarray],
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Cluster bootstrap: resample whole rounds (the medians of each), so the CI carries the spread
    between rounds, i.e. how much the machine itself drifted while the points were measured."""
    mb_groups = np.array([np.median(g) for g in base_groups if len(g)])
    mc_groups = np.array([np.median(g) for g in cand_groups if len(g)])
    if mb_groups.size < MIN_GROUPS or mc_groups.size < MIN_GROUPS:
        return float("nan"), float("nan")
    rng = rng if rng is not None else np.random.default_rng(0)
    mb = np.median(rng.choice(mb_groups, size=(n_resamples, mb_groups.size)), axis=1)
    mc = np.median(rng.choice(mc_groups, size=(n_resamples, mc_groups.size)), axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(mc / mb, [tail, 100.0 - tail])
    return float(lo), float(hi)


def ratio_ci(
    base: np.ndarray,
    cand: np.ndarray,
    base_groups: list[np.ndarray] | None = None,
    cand_groups: list[np.ndarray] | None = None,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """CI of the ratio of medians: the sample bootstrap, widened to the round (cluster) bootstrap where
    both sides were measured in enough rounds. Samples within one run share the machine's state at that
    time; on a shared CPU the state drifts by several percent between runs, which the sample bootstrap
    alone would call significant."""
    rng = rng if rng is not None else np.random.default_rng(0)
    lo, hi = ratio_of_medians_ci(base, cand, confidence=confidence, n_resamples=n_resamples, rng=rng)
    if base_groups is None or cand_groups is None:
        return lo, hi
    glo, ghi = ratio_of_group_medians_ci(
        base_groups, cand_groups, confidence=confidence, n_resamples=n_resamples, rng=rng
    )
    if np.isnan(glo) or np.isnan(lo):
        return lo, hi
    return min(lo, glo), max(hi, ghi)


def mann_whitney_p(base: np.ndarray, cand: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value; nan when a side is empty, 1.0 when every sample is equal.

    Small samples (either side <= 8) go to scipy, which uses the exact distribution there. Larger ones
    use the normal approximation with tie and continuity corrections, the same formula as scipy's
    method="asymptotic", computed here in plain numpy because scipy's per-call overhead (~0.5 ms) would
    dominate a 5,000-point comparison.
    """
    base = np.asarray(base, dtype=np.float64)
    cand = np.asarray(cand, dtype=np.float64)
    n1, n2 = cand.size, base.size
    if n1 == 0 or n2 == 0:
        return float("nan")
    if min(n1, n2) <= 8:
        p = float(sps.mannwhitneyu(cand, base, alternative="two-sided").pvalue)
        return p if np.isfinite(p) else 1.0
    both = np.concatenate([cand, base])
    n = both.size
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0  # average 1-based rank of each distinct value
    u = float(avg_rank[inverse[:n1]].sum()) - n1 * (n1 + 1) / 2.0
    ties = float(np.sum(counts.astype(np.float64) ** 3 - counts))
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2.0) - 0.5) / np.sqrt(var)
    return float(min(1.0, 2.0 * special.ndtr(-z)))


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (false discovery rate); NaNs stay NaN and do not count as tests.

    Written out rather than scipy.stats.false_discovery_control so that scipy 1.10 (our floor) works.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out


def geometric_mean(values: np.ndarray) -> float:
    """Geometric mean of positive finite values (the right average for ratios); nan when none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return float("nan")
    return float(np.exp(np.mean(np.log(v))))
