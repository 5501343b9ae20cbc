"""The comparison model: how sure can we be that a point got slower, given runs of both sides?

**Unit of replication: the run.** Samples within one run share the machine's state (clocks, caches,
what else ran, where the buffers landed); between runs that state changes, and that is where the noise
lives. On the committed H100 runs of one commit a graph-timed point's median moves by ~0.15% (median over
points) from run to run, several times the within-run standard error of that median. So each run gives
ONE estimate per point and statistic, y = log(median) or log(p90) of the run's samples, and the
comparison is between the runs of each side:

    d = mean of the cand runs' y - mean of the base runs' y      (ratio = exp(d), a geometric mean)
    Var(d) = σ_b² / m + σ_c² / n                                  (m base runs, n cand runs)

**σ² per point: a profile's prior, moderated by the point's own runs.** The prior is the noise profile of
the side's machine (noise.py: the point's size class, scale s0 and tail weight d0, measured from repeated
runs, never from the ratios judged). Where the point has repeated runs on a side of the same machine, or
a history in the profile, their squared deviations (SS, ν degrees of freedom) moderate it, as limma does
for genes measured in few replicates:

    σ̃² = max((d0 · s0² + SS) / (d0 + ν),  s0²,  w²)        df = d0 + ν

never less than the class's s0² (a point whose four runs happened to agree within 0.14%, where its
run-to-run sd is 0.8%, is not taken for quiet: DESeq's "maximum" rule) nor than what its runs show inside
(w², rounds or blocks). Sides of one machine pool their evidence (one σ for both, as the null says);
sides of two GPUs keep their own and the test's df comes from Welch-Satterthwaite. With no repeated run
at all, σ̃ = s0 and df = d0: the predictive distribution of a point drawn from its class is a t with d0
degrees of freedom, heavy-tailed where the class's points are unalike.

**Decisions are one-sided tests against the threshold band** (rule.py), symmetric in log ratio,
[-log(1 + T), +log(1 + T)], widened by the machine's established drift where a memcpy yardstick controls
the point (yardstick.py): slower when the data show d above the band, faster below, same inside (two
one-sided tests), each family Benjamini-Hochberg-corrected over the judged points. A point whose estimate
lies beyond log(1 + T) and is not shown slower is **undecided**, never passed (fail closed); `runs_to_decide`
says how many runs a side would decide it if the estimate held.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.analysis import stats

CONFIDENCE = 0.95  # the displayed interval; decisions use the corrected one-sided tests
NOISE_FLOOR = 1e-4  # no run-to-run noise below 0.01%: a guard against division by zero, not a claim
MAX_RUNS = 50  # more runs a side than this is no practical way to decide a point
POWER_MULTIPLE = 3.0  # the gate must name a change of this many thresholds at a typical point (gate.py)


@dataclass
class Side:
    """One side's points as arrays, for one statistic: means of the runs' log estimates and their spread."""

    mean: np.ndarray
    runs: np.ndarray
    ss: np.ndarray  # the point's own squared deviations (pooled over the sides of its machine)
    nu: np.ndarray  # their degrees of freedom
    s0: np.ndarray  # the profile's scale for the point's class
    d0: np.ndarray  # ... and its tail weight
    w2: np.ndarray  # mean squared within-run standard error of the side's runs (0 where unknown)

    def variance(self) -> tuple[np.ndarray, np.ndarray]:
        """(σ̃² of one run's estimate, its degrees of freedom); see the module docstring."""
        prior = np.maximum(self.s0, NOISE_FLOOR) ** 2
        moderated = (self.d0 * prior + self.ss) / (self.d0 + self.nu)
        var = np.maximum(np.maximum(moderated, prior), np.nan_to_num(self.w2))
        return var, self.d0 + self.nu


@dataclass
class Estimate:
    """Per point: the log ratio, its standard error and degrees of freedom, and each side's σ̃ per run."""

    d: np.ndarray
    se: np.ndarray
    df: np.ndarray
    sigma_base: np.ndarray
    sigma_cand: np.ndarray
    df_base: np.ndarray
    df_cand: np.ndarray


def estimate(base: Side, cand: Side, pooled: np.ndarray | bool = True) -> Estimate:
    """`pooled`: per point, both sides share one σ̃ (one machine): the test has its degrees of freedom.
    Otherwise (two GPUs) each side has its own and the df is Welch-Satterthwaite's."""
    vb, dfb = base.variance()
    vc, dfc = cand.variance()
    pb, pc = vb / base.runs, vc / cand.runs
    var = pb + pc
    with np.errstate(divide="ignore", invalid="ignore"):
        welch = var**2 / (pb**2 / dfb + pc**2 / dfc)
    welch = np.where(np.isfinite(welch), np.maximum(welch, np.minimum(dfb, dfc)), np.minimum(dfb, dfc))
    df = np.where(pooled, np.minimum(dfb, dfc), welch)
    return Estimate(cand.mean - base.mean, np.sqrt(var), df, np.sqrt(vb), np.sqrt(vc), dfb, dfc)


@dataclass
class Judgement:
    """Raw one-sided p-values per point and the CONFIDENCE interval (log ratios)."""

    p_slower: np.ndarray
    p_faster: np.ndarray
    p_same: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def judge(est: Estimate, low: np.ndarray, high: np.ndarray) -> Judgement:
    """One-sided p-values against the band [low, high] (log ratios, low < 0 < high)."""
    d, se, df = est.d, est.se, est.df
    p_slower = stats.t_upper_p((d - high) / se, df)
    p_faster = stats.t_upper_p((low - d) / se, df)
    p_same = np.maximum(stats.t_upper_p((high - d) / se, df), stats.t_upper_p((d - low) / se, df))
    half = stats.t_quantile(0.5 + CONFIDENCE / 2.0, df) * se
    return Judgement(p_slower, p_faster, p_same, d - half, d + half)


@dataclass
class Verdicts:
    verdict: np.ndarray
    adj_slower: np.ndarray
    adj_faster: np.ndarray
    adj_same: np.ndarray


def decide(d: np.ndarray, judged: Judgement, half: float, alpha: float) -> Verdicts:
    """Verdicts (rule.py) with Benjamini-Hochberg over the given points (one family per test)."""
    adj_slower = stats.benjamini_hochberg(judged.p_slower)
    adj_faster = stats.benjamini_hochberg(judged.p_faster)
    adj_same = stats.benjamini_hochberg(judged.p_same)
    verdict = np.where(adj_same < alpha, "same", "ambiguous").astype(object)
    verdict[np.abs(d) > half] = "undecided"
    verdict[adj_faster < alpha] = "faster"
    verdict[adj_slower < alpha] = "slower"
    return Verdicts(verdict, adj_slower, adj_faster, adj_same)


def critical_t(alpha: float, tests: int, df: np.ndarray) -> np.ndarray:
    """The t a single point must reach to be named among `tests` under Benjamini-Hochberg when it is the
    only change (its adjusted p is its raw p times the number of tests)."""
    return stats.t_quantile(1.0 - alpha / max(tests, 1), df)


def runs_to_decide(est: Estimate, gap: np.ndarray, alpha: float, tests: int) -> np.ndarray:
    """Runs a side (the same on both) after which a point whose log ratio stays `gap` beyond the band edge
    would be shown beyond it; MAX_RUNS + 1 where no practical number does (a gap of zero or less)."""
    return runs_needed(est.sigma_base, est.sigma_cand, np.minimum(est.df_base, est.df_cand), gap, alpha, tests)


def runs_needed(
    sigma_base: np.ndarray, sigma_cand: np.ndarray, df0: np.ndarray, gap: np.ndarray, alpha: float, tests: int
) -> np.ndarray:
    """Runs a side after which the critical t times the standard error fits in `gap` (log ratio), with
    the degrees of freedom the runs add to df0; MAX_RUNS + 1 where none up to MAX_RUNS does."""
    gap = np.asarray(gap, dtype=np.float64)
    out = np.full(gap.shape, MAX_RUNS + 1, dtype=np.int64)
    todo = gap > 0
    var = np.asarray(sigma_base) ** 2 + np.asarray(sigma_cand) ** 2
    for k in range(1, MAX_RUNS + 1):
        if not todo.any():
            break
        shown = todo & (critical_t(alpha, tests, np.asarray(df0) + 2 * (k - 1)) * np.sqrt(var / k) <= gap)
        out[shown] = k
        todo &= ~shown
    return out


def resolution(est: Estimate, high: np.ndarray, alpha: float, tests: int) -> np.ndarray:
    """Per point, the log ratio at which it is called slower half the time: the band edge plus the
    critical t times its standard error (the smallest change this design can name)."""
    return high + critical_t(alpha, tests, est.df) * est.se
