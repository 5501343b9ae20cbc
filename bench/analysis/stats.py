"""The statistics of the comparison model; pure functions over NumPy arrays, no pandas.

What they serve (the argument is in bench/analysis/model.py): a run's estimate of a point is the log of
its median (or p90), with a within-run standard error from its rounds or from contiguous blocks of its
samples; runs are the unit of replication; a point's run-to-run variance comes from a noise profile (its
size class's prior, fitted with fit_prior as limma does for genes measured in few replicates) moderated
by its own repeated runs; decisions are one-sided t tests against the threshold band, with
Benjamini-Hochberg over the points.

Written out rather than taken from scipy.stats where scipy's per-call overhead would dominate a
5,000-point comparison; scipy.special supplies the distribution functions (vectorised ufuncs).
"""

from __future__ import annotations

import numpy as np
from scipy import special

MIN_BLOCK_SIZE = 4  # samples per block: the block median must not be one sample
MIN_BLOCKS = 5  # blocks (or rounds) before their spread is trusted as a standard error
MAX_BLOCKS = 10  # more blocks of fewer samples would cut slow spells (autocorrelation) into pieces
MIN_ROUNDS = 3  # interleaved rounds before the spread between them stands for the within-run error
MIN_SAMPLES = MIN_BLOCKS * MIN_BLOCK_SIZE
# Why 20 samples per run, and no fewer: (1) five blocks of four is the fewest that give the within-run
# error; (2) twenty samples bound their median on their own: the chance that all twenty fall on one
# side of it is 2**-20 = 1e-6, below alpha / points for alpha = 0.01 and up to 10,000 gated points, so
# no sweep size makes a point impossible to fail (five or six samples made a 240-point sweep unfailable
# under a rank test); (3) tests/analysis/test_gate.py checks that a 25% slowdown of one point measured
# with exactly 20 samples a run is caught in a 240-point sweep with one run a side.


def within_run_se(samples: np.ndarray, round_sizes: np.ndarray | None = None) -> tuple[float, int]:
    """(standard error of a run's log median from inside the run, its degrees of freedom).

    With MIN_ROUNDS or more interleaved rounds, the spread of the rounds' log medians over sqrt(rounds):
    each round met the machine at a different time. Otherwise batch medians: the samples in time order,
    cut into up to MAX_BLOCKS contiguous blocks, whose log medians' spread over sqrt(blocks) carries the
    slow spells that make consecutive samples alike (events timings show spells of hundreds of samples
    at 1.5-3x; an independent-samples error would be ten times too small). Callers check the sample
    count (MIN_SAMPLES) and the round sizes first. Degrees of freedom: rounds or blocks minus one.
    """
    x = np.asarray(samples, dtype=np.float64)
    sizes = None if round_sizes is None else np.asarray(round_sizes, dtype=np.int64)
    if sizes is not None and sizes.size >= MIN_ROUNDS:
        bounds = np.concatenate([[0], np.cumsum(sizes)])
    else:
        blocks = min(MAX_BLOCKS, x.size // MIN_BLOCK_SIZE)
        bounds = np.concatenate([[0], np.cumsum([len(b) for b in np.array_split(np.empty(x.size), blocks)])])
    medians = np.log(_part_medians(x, bounds))
    return float(np.std(medians, ddof=1) / np.sqrt(medians.size)), medians.size - 1


def _part_medians(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The medians of x[bounds[i]:bounds[i+1]] (each part non-empty), in one sort: parts padded with +inf
    into rows, so each row's first n values are its part's, in order."""
    lengths = np.diff(bounds)
    table = np.full((lengths.size, int(lengths.max())), np.inf)
    for i, (start, n) in enumerate(zip(bounds[:-1], lengths, strict=True)):
        table[i, :n] = x[start : start + n]
    table.sort(axis=1)
    rows = np.arange(lengths.size)
    return (table[rows, (lengths - 1) // 2] + table[rows, lengths // 2]) / 2.0


def trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x, by Newton's method from limma's starting point (Smyth 2004)."""
    if x > 1e7:
        return 1.0 / np.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = special.polygamma(1, y)
        step = tri * (1.0 - tri / x) / special.polygamma(2, y)
        y += step
        if -step / y < 1e-8:
            break
    return float(y)


def fit_prior(s2: np.ndarray, df: np.ndarray, scale: np.ndarray | None = None) -> tuple[float, float]:
    """(s0², d0): the scaled inverse-chi-square prior that per-point variances are drawn from.

    limma's method of moments on log variances (Smyth 2004, fitFDist): for s² with df degrees of freedom
    around a true σ² drawn from the prior, E[log s²] and Var[log s²] are known functions of s0², d0 and
    df; solving them gives how noisy a typical point is (s0²) and how much points differ from each other
    (small d0: very unalike, trust each point's own variance; large d0: alike, pool). `scale` (optional,
    per point) divides the variances first, so the prior is for s² / scale. Points with df 0 or s² <= 0
    do not count. Returns (nan, nan) when fewer than 3 points count.
    """
    s2 = np.asarray(s2, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    scale = np.ones_like(s2) if scale is None else np.asarray(scale, dtype=np.float64)
    use = (df > 0) & (s2 > 0) & np.isfinite(s2) & (scale > 0)
    if use.sum() < 3:
        return float("nan"), float("nan")
    z = np.log(s2[use] / scale[use])
    half = df[use] / 2.0
    e = z - special.digamma(half) + np.log(half)
    e_mean = float(np.mean(e))
    excess = float(np.var(e, ddof=1) - np.mean(special.polygamma(1, half)))
    if excess <= 0:
        return float(np.exp(e_mean)), float("inf")
    d0 = 2.0 * trigamma_inverse(excess)
    s0sq = float(np.exp(e_mean + special.digamma(d0 / 2.0) - np.log(d0 / 2.0)))
    return s0sq, d0


def t_upper_p(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """P(T >= t) for Student's t with df degrees of freedom (df may be inf: the normal)."""
    t = np.asarray(t, dtype=np.float64)
    df = np.broadcast_to(np.asarray(df, dtype=np.float64), t.shape)
    return np.where(np.isinf(df), special.ndtr(-t), special.stdtr(np.where(np.isinf(df), 1.0, df), -t))


def t_quantile(q: float, df: np.ndarray) -> np.ndarray:
    """The q-quantile of Student's t with df degrees of freedom (inf: the normal)."""
    df = np.asarray(df, dtype=np.float64)
    return np.where(np.isinf(df), special.ndtri(q), special.stdtrit(np.where(np.isinf(df), 1.0, df), q))


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
