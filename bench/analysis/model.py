"""The comparison model: how sure can we be that a point got slower, given runs of both sides?

**Unit of replication: the run.** Samples within one run share the machine's state (clocks, caches,
what else ran, where the buffers landed); between runs that state changes, and that is where the noise
lives. On the committed H100 runs of one commit, a graph-timed point's median moves by 0.1% (median
over points) from run to run, while the within-run standard error of that median is ~0.015%: a model
that treats samples as independent is ~7x too sure of itself. So each run gives ONE estimate per point,
y = log(median of the run's samples), and the comparison is between the runs of each side:

    d = mean of the cand runs' y - mean of the base runs' y      (ratio = exp(d), a geometric mean)
    Var(d) = σ² (1/m + 1/n)                                      (m base runs, n cand runs)

where σ² is the variance of one run's y around the point's true value. Rounds and blocks within a run
give the within-run part (stats.within_run_se); they are replication inside the run, not instead of it.

**σ², point by point, moderated across points (empirical Bayes).** With m + n >= 3 runs, a point has its
own estimate s² (pooled variance of y within each side, m + n - 2 degrees of freedom). Two to four
degrees of freedom are too few to trust alone (a one-sided t test on 4 df at 0.01 / 240 needs t > 16),
so, as limma does for genes measured in few replicates, s² is shrunk towards a prior fitted to all the
points of the same comparable group (stats.fit_prior: the typical σ² and how much points differ, d0):

    σ̃² = (d0 · σ0² + ν · s²) / (d0 + ν),   t = (d - bound) / sqrt(σ̃² (1/m + 1/n)),   df = d0 + ν

The prior for a point never claims less noise than its own runs show inside (σ0² >= the mean squared
within-run error of its runs). Points far noisier than the rest keep most of their own variance (the
fitted d0 is small when points are unalike).

**One run a side (the fallback).** Without repeated runs, σ² cannot be seen point by point. Var(d) is
then what each run shows inside (per point: the rounds' or blocks' standard errors, with their own
degrees of freedom) plus a between-run part common to the group, taken from how much the log ratios of
the group's points scatter beyond that (robust sd of d over sqrt(1/m + 1/n)): most points of a change
are unchanged, and the scatter of unchanged points is the run-to-run noise. The between-run part counts
as UNREPLICATED_PRIOR_DF degrees of freedom (a heavy-tailed t: a point may be several times noisier
than the typical one, and one run cannot show it), the whole by Welch-Satterthwaite. Where rounds
explain the run-to-run noise (CPU runs of 9 rounds) the test keeps their degrees of freedom; where
they do not (GPU graph timing) the heavy tails rule. A group with fewer than MIN_PRIOR_POINTS points
uses DEFAULT_RUN_NOISE for its timing method instead, an explicit, wide figure. The comparison says
which source each group used.

**A noise history (the fallback for one baseline run).** Earlier runs of the base's machine (`gate
--noise-from`, or the replay's other runs) are used for nothing but each point's run-to-run variance:
their squared deviations join the point's own (with their degrees of freedom) beside the prior. One
baseline run then knows which points are noisy: on the H100 (results/h100-rounds1-2026-11-26), the
elementwise fp32 8x128x56x56 axis-1 point (L2-resident) moved by up to 9% between runs while most
points move by about 0.1%, and the scatter across points cannot tell them apart.

**Decisions are one-sided tests against the threshold band**, symmetric in log ratio,
[-log(1 + T), +log(1 + T)] (widened by the machine's drift where a yardstick is given, see
yardstick.py): slower means the data show d > log(1 + T) (a non-inferiority test, null d <= log(1 + T));
faster, d < -log(1 + T); same, both (two one-sided tests). Each family of p-values is corrected with
Benjamini-Hochberg over all judged points, so when no point truly moved past the threshold the chance of
any "slower" is at most alpha (BH's false discovery rate equals the family-wise error rate when every
null is true), and among named points the expected share of wrongly named ones is at most alpha.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.analysis import stats

MIN_PRIOR_POINTS = 8  # points a group needs before the spread across them is a noise estimate
# df of the between-run part when no point has repeated runs: what the prior fit (stats.fit_prior) gives
# on the committed repeats, 3.0 on the H100 graph kernel points (without the one shape and precision
# the machine moved; the yardstick takes care of that) and 3.6 on the CPU runs. Heavy tails.
UNREPLICATED_PRIOR_DF = 3.0
MAX_PRIOR_DF = 30.0  # beyond this the t is a normal to the precision that matters
NOISE_FLOOR = 1e-4  # no run-to-run noise below 0.01%: a guard against division by zero, not a claim
# Explicit, wide run-to-run noise (sd of a run's log median) for groups too small to learn it from:
# ten times the median over points on the committed H100 graph runs (0.10%), about twice the events
# runs' (7.2%) and the CPU runs' (1.9%).
DEFAULT_RUN_NOISE = {"graph": 0.01, "events": 0.15, "host": 0.05}
UNKNOWN_METHOD_NOISE = 0.15
# With one run a side, the scatter across points stands for run-to-run noise only where that noise is
# independent from point to point. Events timing is host-bound, and its noise comes in spells and in
# whole-run shifts: on the H100 one run of the 1x3x3x3 points took 1.41x as long as another on average
# and at least 1.12x on every point (results/h100-gate-events-2026-11-26), so the points scatter little
# around a large shared move and the scatter says nothing. There the explicit default is the least noise assumed.
SPREAD_FLOOR = {"events": DEFAULT_RUN_NOISE["events"]}
CONFIDENCE = 0.95  # the displayed interval; decisions use the corrected one-sided tests
REPLICATED = "repeated runs"


@dataclass(frozen=True)
class Prior:
    """What a group's points are assumed to share about their run-to-run noise, and where it came from."""

    s0: float  # repeated runs: typical sd of one run's log median; otherwise the sd BETWEEN runs beyond
    # what each run shows inside (its rounds or blocks)
    df: float  # how many degrees of freedom the prior counts as
    source: str  # "repeated runs" | "spread across points" | "default for <method>"
    shift: float = 0.0  # the log shift all points share, taken for the machine's (see fit's `unattributed`)

    @property
    def replicated(self) -> bool:
        return self.source == REPLICATED

    def describe(self) -> str:
        dof = "∞" if np.isinf(self.df) else f"{self.df:.1f}"
        what = "run-to-run noise" if self.replicated else "run-to-run noise beyond what each run shows inside"
        text = f"{what} {self.s0:.2%} per run (from {self.source}; prior df {dof})"
        if self.shift:
            text += (
                f"; the shift all points share ({np.expm1(self.shift):+.2%}) widens the band: with one run a side "
                "and no memcpy yardstick it cannot be told from the machine"
            )
        return text


@dataclass
class PointArrays:
    """One group's points as arrays: per-side means of the runs' log medians and their spread."""

    mean_base: np.ndarray
    mean_cand: np.ndarray
    m: np.ndarray  # runs in base
    n: np.ndarray  # runs in cand
    ss: np.ndarray  # sum of squared deviations of y from its side's mean, both sides
    w2_base: np.ndarray  # mean squared within-run standard error over the point's base runs
    w2_cand: np.ndarray  # ... and over its cand runs
    w4df: np.ndarray  # sum over runs of (w² / runs)² / df: the within-run part's Welch-Satterthwaite term
    # Noise history (optional): earlier runs of the base's machine, used only for each point's run-to-run
    # variance: sum of squared deviations of their log medians, and its degrees of freedom (runs - 1).
    hist_ss: np.ndarray | None = None
    hist_nu: np.ndarray | None = None

    @property
    def history(self) -> tuple[np.ndarray, np.ndarray]:
        """(hist_ss, hist_nu), zeros where a point has no history."""
        zeros = np.zeros_like(self.mean_base)
        ss = zeros if self.hist_ss is None else np.nan_to_num(np.asarray(self.hist_ss, dtype=np.float64))
        nu = zeros if self.hist_nu is None else np.nan_to_num(np.asarray(self.hist_nu, dtype=np.float64))
        return np.where(nu > 0, ss, 0.0), np.maximum(nu, 0.0)

    @property
    def d(self) -> np.ndarray:
        return self.mean_cand - self.mean_base

    @property
    def nu(self) -> np.ndarray:
        return self.m + self.n - 2.0

    @property
    def s2(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.nu > 0, self.ss / np.maximum(self.nu, 1.0), np.nan)

    @property
    def design(self) -> np.ndarray:
        return 1.0 / self.m + 1.0 / self.n

    @property
    def w2(self) -> np.ndarray:
        """Mean squared within-run standard error over all the point's runs."""
        return (self.w2_base * self.m + self.w2_cand * self.n) / (self.m + self.n)

    @property
    def within_var(self) -> np.ndarray:
        """Var(d) that the runs themselves show: sum of w² / runs² over both sides."""
        return self.w2_base / self.m + self.w2_cand / self.n


def fit(points: PointArrays, method: str, unattributed: bool = False) -> Prior:
    """The group's prior: from repeated runs where enough points have them, else from the scatter of
    the points' log ratios, else the explicit default for the timing method.

    `unattributed` (a same-machine question, the gate, on a group no memcpy yardstick controls): without
    repeated runs, a shift all points share (their median log ratio) is as likely the machine (a busy
    host, another clock) as the change, so it is recorded as `shift` and the caller widens the band by
    it, as a yardstick's drift would (one slowed point still shows; a uniform slowdown cannot be told
    from the machine and does not fail). With repeated runs the runs' own spread carries the machine's
    shifts between them."""
    replicated = (points.nu > 0) & (points.s2 > 0)
    if replicated.sum() >= MIN_PRIOR_POINTS:
        s0sq, d0 = stats.fit_prior(points.s2, points.nu)
        if np.isfinite(s0sq):
            return Prior(max(float(np.sqrt(s0sq)), NOISE_FLOOR), min(d0, MAX_PRIOR_DF), REPLICATED)
    shift = float(np.median(points.d)) if unattributed and points.d.size else 0.0
    if points.d.size >= MIN_PRIOR_POINTS:
        spread = stats.robust_sd(points.d / np.sqrt(points.design))
        inside = float(np.median(points.within_var / points.design))
        if np.isfinite(spread):
            between = np.sqrt(max(spread**2 - inside, 0.0))
            floor = SPREAD_FLOOR.get(method, 0.0)
            if between < floor:
                return Prior(floor, UNREPLICATED_PRIOR_DF, f"the floor for {method} timing", shift)
            return Prior(max(between, NOISE_FLOOR), UNREPLICATED_PRIOR_DF, "spread across points", shift)
    default = DEFAULT_RUN_NOISE.get(method, UNKNOWN_METHOD_NOISE)
    return Prior(default, UNREPLICATED_PRIOR_DF, f"default for {method or 'unknown'} timing", shift)


@dataclass
class Estimate:
    """Per point: the log ratio, its standard error and degrees of freedom, and the run noise used."""

    d: np.ndarray
    se: np.ndarray
    df: np.ndarray
    sigma: np.ndarray  # moderated sd of one run's log median


def estimate(points: PointArrays, prior: Prior) -> Estimate:
    """Each point's log ratio with its standard error (see the module docstring)."""
    if not prior.replicated:
        return _unreplicated(points, prior)
    prior_s2 = np.maximum(prior.s0**2, points.w2)
    hist_ss, hist_nu = points.history
    # the history's runs are more replicates of the point's run-to-run variance: their squared deviations
    # join the point's own, with their degrees of freedom, beside the prior
    own = np.where(points.nu > 0, points.ss, 0.0) + hist_ss
    nu = np.maximum(points.nu, 0.0) + hist_nu
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(nu > 0, own / np.maximum(nu, 1e-300), 0.0)
    # never quieter than the group's typical point: with a few runs a side, a point whose runs happened to
    # agree would otherwise be judged by that luck alone (DESeq's "maximum" rule). It matters where the
    # noise comes in spells: events timing on the H100 puts a few consecutive points of a run 1.5x slow
    # (results/h100-events-rounds1-2026-11-26), and the points a spell missed in the base runs look quiet.
    var = np.maximum(stats.moderated_variance(pooled, nu, prior_s2, prior.df), np.maximum(prior_s2, NOISE_FLOOR**2))
    return Estimate(
        d=points.d,
        se=np.sqrt(var * points.design),
        df=prior.df + nu,
        sigma=np.sqrt(var),
    )


@dataclass
class Judgement:
    """Raw one-sided p-values per point; `decide` corrects and names verdicts."""

    p_slower: np.ndarray
    p_faster: np.ndarray
    p_same: np.ndarray
    ci_low: np.ndarray  # log ratio bounds of the CONFIDENCE interval
    ci_high: np.ndarray


def judge(est: Estimate, low: np.ndarray, high: np.ndarray) -> Judgement:
    """One-sided p-values against the band [low, high] (log ratios, low < 0 < high)."""
    p_slower = stats.t_upper_p((est.d - high) / est.se, est.df)
    p_faster = stats.t_upper_p((low - est.d) / est.se, est.df)
    p_same = np.maximum(
        stats.t_upper_p((high - est.d) / est.se, est.df), stats.t_upper_p((est.d - low) / est.se, est.df)
    )
    half = stats.t_quantile(0.5 + CONFIDENCE / 2.0, est.df) * est.se
    return Judgement(p_slower, p_faster, p_same, est.d - half, est.d + half)


def decide(p_slower: np.ndarray, p_faster: np.ndarray, p_same: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    """(verdict, adjusted p of slower, faster, same) with BH over the given points (one family each)."""
    adj_slower = stats.benjamini_hochberg(p_slower)
    adj_faster = stats.benjamini_hochberg(p_faster)
    adj_same = stats.benjamini_hochberg(p_same)
    verdict = np.full(p_slower.shape, "ambiguous", dtype=object)
    verdict[adj_same < alpha] = "same"
    verdict[adj_faster < alpha] = "faster"
    verdict[adj_slower < alpha] = "slower"
    return verdict, adj_slower, adj_faster, adj_same


def _unreplicated(points: PointArrays, prior: Prior) -> Estimate:
    """Without repeated runs: Var(d) = what the runs show inside (rounds, blocks: per point, with their
    own degrees of freedom) + the between-run part (the prior, the same for every point, counted as
    prior.df degrees of freedom); the t's df by Welch-Satterthwaite. Where rounds explain the run-to-run
    noise (the CPU runs: 9 rounds a run), the within part dominates and the test keeps many degrees of
    freedom; where they do not (GPU graph timing, ~7x more noise between runs than inside), the prior
    dominates with its heavy tails."""
    hist_ss, hist_nu = points.history
    # a noise history gives each point its own run-to-run variance (it counts the whole variance of a
    # run's estimate, the part inside included: conservative), moderated towards the group's prior
    between_s2 = np.maximum((prior.df * prior.s0**2 + hist_ss) / (prior.df + hist_nu), prior.s0**2)  # see estimate
    between_df = prior.df + hist_nu
    between = between_s2 * points.design
    var = np.maximum(points.within_var + between, NOISE_FLOOR**2 * points.design)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = var**2 / (np.nan_to_num(points.w4df) + between**2 / between_df)
    df = np.where(np.isfinite(df), np.clip(df, between_df, np.maximum(MAX_PRIOR_DF, between_df)), between_df)
    return Estimate(d=points.d, se=np.sqrt(var), df=df, sigma=np.sqrt(var / points.design))
