"""Compare two sides (runs, GPUs, versions, commits) point by point, with verdicts that know about noise.

The sides are prepared by bench/analysis/sides.py (comparable groups, repeats combined, joins, what ran,
each machine's noise profile); the statistics are model.py's; the decision rule (threshold, alpha,
verdict names) is rule.py's, the same for compare, gate and report. This module runs the model on the
prepared arrays, for the median and for the tail (p90), and lays the result out per point.

The memcpy yardstick controls the points of its shape (yardstick.py) when both sides ran on one kind of
machine with one driver and CUDA (`control=None` decides that from the data; the gate can switch it
off): between two GPUs or two drivers the copy's change is part of the answer, not noise. Whether it is
on is decided from the sides alone, so that compare, gate and report give the same verdicts on the same
data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import comparability
from bench.analysis import model, noise, noise_sources, rule, stats, yardstick
from bench.analysis.sides import GROUP, Prepared, prepare
from bench.errors import UserError

ABOUT_NAMES = {
    "gpu_name": "GPU",
    "driver_version": "driver",
    "cuda_version": "CUDA",
    "backend_version": "backend",
    "git_commit": "commit",
}


@dataclass
class Summary:
    """What a comparison (or one comparable group of it) adds up to."""

    geomean_ratio: float  # over the points of ONE comparable group; nan for a mix of groups
    counts: dict[str, int]
    n_points: int
    n_only_base: int
    n_only_cand: int
    ran_changed: int = 0  # points whose launch or tactics differ between the sides
    changed_counts: dict[str, int] = field(default_factory=dict)  # verdicts among those


@dataclass
class GroupInfo:
    """One comparable group: what it holds, which runs each side combined, where its noise came from."""

    group: comparability.Group
    base_runs: tuple[str, ...]
    cand_runs: tuple[str, ...]
    base_about: dict[str, str]
    cand_about: dict[str, str]
    noise: str = ""  # the noise the group's points were judged with, in words

    def runs_sentence(self, base_label: str = "base", cand_label: str = "cand") -> str:
        """'base 3 runs (combined as repeats), cand 1 run; both NVIDIA H100 ..., commit base abc / cand def'."""

        def count(label: str, runs: tuple[str, ...]) -> str:
            return f"{label} {len(runs)} run" + ("s (combined as repeats of one thing)" if len(runs) > 1 else "")

        keys = dict.fromkeys([*self.base_about, *self.cand_about])
        same = [
            f"{ABOUT_NAMES.get(k, k)} {self.base_about[k]}"
            for k in keys
            if self.base_about.get(k) == self.cand_about.get(k) and self.base_about.get(k) != "(none)"
        ]
        differ = [
            f"{ABOUT_NAMES.get(k, k)} {self.base_about.get(k, '-')} vs {self.cand_about.get(k, '-')}"
            for k in keys
            if self.base_about.get(k) != self.cand_about.get(k)
        ]
        parts = [f"{count(base_label, self.base_runs)}, {count(cand_label, self.cand_runs)}"]
        if same:
            parts.append("both " + ", ".join(same))
        if differ:
            parts.append("differ in " + ", ".join(differ))
        return "; ".join(parts)


@dataclass
class Comparison:
    """Per-point table plus everything that could not be compared, and why.

    `points` columns: `group`, the join keys, sides.DESCRIBE_COLUMNS; per side (base_, cand_): runs, median
    time (geometric mean of the runs' medians) with its 95% CI in µs, p90 in µs, noise (σ̃ of one run's log
    median), % of the copy, what ran (`ran_base`, `ran_cand`, `ran_changed`); ratio (cand/base) with
    ci_low/ci_high, df, p_slower/p_faster/p_same (raw) and p_adj (the test behind the verdict, adjusted),
    band_low/band_high, drift (what its copy moved) with drift_established and copy_moved (its copy moved
    beyond the threshold), verdict, runs_to_decide (undecided points: runs a side that would decide them),
    resolution (the ratio this design would call slower half the time), the same for the tail (tail_ratio,
    tail_ci_low, tail_ci_high, tail_verdict, tail_runs_to_decide), yardstick (the row is a control),
    noise_from (the profile entry), reason.
    `only_base` / `only_cand`: group, join keys, DESCRIBE_COLUMNS and `other_status` ("absent", "failed",
    "mismatch", "skipped", "built", or "measured differently") with `other_error`. `problems`: side, group,
    join keys, DESCRIBE_COLUMNS, reason.
    """

    points: pd.DataFrame
    only_base: pd.DataFrame
    only_cand: pd.DataFrame
    keys: list[str]
    rule: rule.DecisionRule = field(default_factory=rule.DecisionRule)
    base_label: str = "base"
    cand_label: str = "cand"
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: dict[str, GroupInfo] = field(default_factory=dict)
    drift: list[yardstick.Drift] = field(default_factory=list)
    tail_drift: list[yardstick.Drift] = field(default_factory=list)
    with_yardstick: bool = False  # the copies controlled their points
    profiles: dict[str, noise.NoiseProfile] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # shared by every comparison of the same prepared sides

    @property
    def threshold(self) -> float:
        return self.rule.threshold

    @property
    def alpha(self) -> float:
        return self.rule.alpha

    @property
    def summary(self) -> Summary:
        """Counts over every point; the geometric mean only when all points are of one group."""
        return self._summary(self.points, self.only_base, self.only_cand)

    def group_summary(self, group_id: str) -> Summary:
        def of(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame[GROUP] == group_id] if len(frame) else frame

        return self._summary(of(self.points), of(self.only_base), of(self.only_cand))

    @staticmethod
    def _summary(points: pd.DataFrame, only_base: pd.DataFrame, only_cand: pd.DataFrame) -> Summary:
        verdicts = points["verdict"] if len(points) else pd.Series([], dtype=object)
        changed = points["ran_changed"].to_numpy(dtype=bool) if len(points) else np.zeros(0, bool)
        one_group = len(points) and points[GROUP].nunique() == 1
        return Summary(
            geomean_ratio=float(np.exp(np.mean(np.log(points["ratio"])))) if one_group else float("nan"),
            counts={v: int((verdicts == v).sum()) for v in rule.VERDICTS},
            n_points=len(points),
            n_only_base=len(only_base),
            n_only_cand=len(only_cand),
            ran_changed=int(changed.sum()),
            changed_counts={v: int((verdicts[changed] == v).sum()) for v in rule.VERDICTS} if changed.any() else {},
        )


def compare(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    decision: rule.DecisionRule | None = None,
    by: str | None = None,
    base_label: str = "base",
    cand_label: str = "cand",
    control: bool | None = None,
    sources: noise_sources.Sources | None = None,
) -> Comparison:
    """Per-point ratios cand/base with CIs, one-sided tests against the band and verdicts, for medians and
    tails; see the module docstring. `control`: the memcpy yardstick controls its points (None: when
    both sides are one machine, see yardstick.same_machine; never with `by='backend'`). `sources`: committed and
    --noise-from noise profiles (see noise_sources.resolve)."""
    prep = prepare(base, cand, by=by, sources=sources)
    if by is not None and not len(prep.index) and len(prep.only_base) and len(prep.only_cand):
        raise UserError(_nothing_shared(prep, by, base_label, cand_label))
    if control is None:
        control = yardstick.same_machine(base, cand)
    return compare_prepared(prep, decision=decision, base_label=base_label, cand_label=cand_label, control=control)


def _nothing_shared(prep: Prepared, by: str, base_label: str, cand_label: str) -> str:
    """Why a --by split compared nothing: every point was timed on one side only (a --gpus run puts each
    point on one card)."""
    n_base, n_cand = len(prep.only_base), len(prep.only_cand)
    hint = (
        "each point of a run spread over several GPUs (--gpus) ran on one card; to compare the cards, run the "
        "sweep once per card (--gpus 0, then --gpus 1) and compare those runs"
        if by == "gpu_index"
        else f"the sides of --by {by} timed different points; compare runs that timed the same points"
    )
    return (
        f"--by {by}: no point was timed on both sides ({n_base} only on {by} {base_label}, {n_cand} only on "
        f"{by} {cand_label}): {hint}"
    )


@dataclass
class Family:
    """The model's answer for one statistic (median or p90) over the joined points."""

    est: model.Estimate
    judged: model.Judgement
    verdicts: model.Verdicts
    low: np.ndarray
    high: np.ndarray
    drift: np.ndarray
    established: np.ndarray
    moved: np.ndarray  # per copy: its own move is established (two-sided test of no change)
    copies: np.ndarray  # the yardstick's rows (when it controls): judged as their own family
    controls: np.ndarray  # of them, those that ran the same copy on both sides: only they control


def evaluate(
    prep: Prepared, decision: rule.DecisionRule, control: bool, stat: str, cand_shift: np.ndarray | None = None
) -> Family:
    """The model on one statistic: estimates, the yardstick's control, tests and verdicts (copies judged
    as their own Benjamini-Hochberg family: they are not the change under test)."""
    base, cand = prep.arrays(stat, cand_shift)
    est = model.estimate(base, cand, _cached(prep.cache, "pooled", lambda: prep.pooled))
    copies = (
        _cached(prep.cache, "is_copy", lambda: yardstick.is_copy(prep.described))
        if control and prep.by != "backend"
        else np.zeros(len(est.d), bool)
    )
    moved = np.zeros(len(est.d), bool)
    if copies.any():
        p_moved = np.minimum(2.0 * stats.t_upper_p(np.abs(est.d[copies]) / est.se[copies], est.df[copies]), 1.0)
        moved[copies] = stats.benjamini_hochberg(p_moved) < decision.family_alpha
    controls = _cached(
        prep.cache,
        ("controls", bool(copies.any())),
        lambda: yardstick.like_copies(copies, prep.described["ran_base"], prep.described["ran_cand"]),
    )
    copy_of = _cached(
        prep.cache,
        ("copy_of", bool(copies.any())),
        lambda: yardstick.copy_index(controls, prep.control_keys, copies),
    )
    drift, established = yardstick.control_drift(copy_of, est.d, moved)
    low, high = yardstick.bands(decision.half, drift, established)
    judged = model.judge(est, low, high)
    n = len(est.d)
    verdicts = model.Verdicts(np.full(n, "ambiguous", dtype=object), *(np.full(n, np.nan) for _ in range(3)))
    for family in (~copies, copies):
        if family.any():
            part = model.Judgement(
                *(getattr(judged, f)[family] for f in ("p_slower", "p_faster", "p_same", "ci_low", "ci_high"))
            )
            v = model.decide(est.d[family], part, decision.half, decision.family_alpha)
            for name in ("verdict", "adj_slower", "adj_faster", "adj_same"):
                getattr(verdicts, name)[family] = getattr(v, name)
    return Family(
        est, judged, verdicts, low, high, np.where(copies, np.nan, drift), established, moved, copies, controls
    )


def compare_prepared(
    prep: Prepared,
    *,
    decision: rule.DecisionRule | None = None,
    base_label: str = "base",
    cand_label: str = "cand",
    control: bool = False,
    cand_shift: np.ndarray | None = None,
    explain: bool = True,
) -> Comparison:
    """The model on prepared sides. `cand_shift` (log ratios aligned with prep.index) judges the candidate
    as if those points' samples had been exp(shift) times as long, in every cand run: exactly what
    scaling the samples gives (the runs' log medians and p90s move together, their spread does not),
    without redoing the pandas work; the error-rate replay injects slowdowns this way. `explain=False`
    leaves out the per-point reasons (text the replay never reads)."""
    decision = decision or rule.DecisionRule()
    control = control and prep.by != "backend"
    median = evaluate(prep, decision, control, "median", cand_shift)
    tail = evaluate(prep, decision, control, "p90", cand_shift)
    points = _points(prep, decision, median, tail)
    copies = points["yardstick"].to_numpy(dtype=bool)
    if explain:
        from bench.analysis.reasons import reasons

        points["reason"] = reasons(points, decision, int((~copies).sum()))
    order = np.argsort(-points["ratio"].to_numpy(), kind="stable")
    comp = Comparison(
        points=points.iloc[order].reset_index(drop=True),
        only_base=prep.only_base,
        only_cand=prep.only_cand,
        keys=prep.keys,
        rule=decision,
        base_label=base_label,
        cand_label=cand_label,
        problems=prep.problems,
        groups=_cached(prep.cache, "groups", lambda: _groups(prep, points)),
        with_yardstick=bool(control and copies.any()),
        profiles=prep.profiles,
        cache=prep.cache,
    )
    if copies.any():
        labels = _cached(prep.cache, "drift_labels", lambda: yardstick.drift_labels(prep.described))
        comp.drift = yardstick.summarize(labels, median.controls, np.exp(median.est.d), median.moved)
        comp.tail_drift = yardstick.summarize(labels, median.controls, np.exp(tail.est.d), tail.moved)
    return comp


def _cached(cache: dict, key: str, make):
    """cache[key], made once: what depends on the prepared sides only, not on a shift of the candidate."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _side_columns(prefix: str, mean: np.ndarray, sigma: np.ndarray, df: np.ndarray, runs: np.ndarray) -> dict:
    half = stats.t_quantile(0.5 + model.CONFIDENCE / 2.0, df) * sigma / np.sqrt(runs)
    return {
        f"{prefix}_median_us": np.exp(mean),
        f"{prefix}_ci_low_us": np.exp(mean - half),
        f"{prefix}_ci_high_us": np.exp(mean + half),
        f"noise_{prefix}": sigma,
    }


def _points(prep: Prepared, decision: rule.DecisionRule, median: Family, tail: Family) -> pd.DataFrame:
    b, c = prep.joined_base, prep.joined_cand
    est, v = median.est, median.verdicts
    m, n = b["runs"].to_numpy(dtype=np.float64), c["runs"].to_numpy(dtype=np.float64)
    mean_b = b["mean_median"].to_numpy(dtype=np.float64)
    copies = median.copies
    tests = max(int((~copies).sum()), 1)
    ran_b, ran_c = prep.described["ran_base"].to_numpy(dtype=object), prep.described["ran_cand"].to_numpy(dtype=object)
    columns = {
        "runs_base": b["runs"].to_numpy(),
        "runs_cand": c["runs"].to_numpy(),
        "n_base": b["n_samples"].to_numpy(),
        "n_cand": c["n_samples"].to_numpy(),
        **_side_columns("base", mean_b, est.sigma_base, est.df_base, m),
        **_side_columns("cand", mean_b + est.d, est.sigma_cand, est.df_cand, n),
        "base_p90_us": np.exp(b["mean_p90"].to_numpy(dtype=np.float64)),
        "cand_p90_us": np.exp(b["mean_p90"].to_numpy(dtype=np.float64) + tail.est.d),
        "pct_copy_base": b["pct_of_memcpy"].to_numpy(dtype=np.float64),
        "pct_copy_cand": c["pct_of_memcpy"].to_numpy(dtype=np.float64),
        "time_copy_base": b["time_over_copy"].to_numpy(dtype=np.float64),
        "time_copy_cand": c["time_over_copy"].to_numpy(dtype=np.float64),
        "launch_bound_base": b["launch_bound"].to_numpy(dtype=bool),
        "launch_bound_cand": c["launch_bound"].to_numpy(dtype=bool),
        "ratio": np.exp(est.d),
        "ci_low": np.exp(median.judged.ci_low),
        "ci_high": np.exp(median.judged.ci_high),
        "df": est.df,
        "p_slower": median.judged.p_slower,
        "p_faster": median.judged.p_faster,
        "p_same": median.judged.p_same,
        "p_adj": _verdict_p(v),
        "band_low": np.exp(median.low),
        "band_high": np.exp(median.high),
        "drift": np.exp(median.drift),
        "drift_established": median.established,
        "copy_moved": yardstick.copy_moved(decision.half, median.drift, median.established)
        | yardstick.copy_moved(decision.half, tail.drift, tail.established),
        "yardstick": copies,
        "copy_unlike": _cached(prep.cache, ("copy_unlike", bool(copies.any())), lambda: _copy_unlike(prep, median)),
        "verdict": v.verdict,
        "runs_to_decide": _runs_to_decide(median, decision, tests),
        "resolution": np.exp(model.resolution(est, median.high, decision.family_alpha, tests)),
        "tail_ratio": np.exp(tail.est.d),
        "tail_ci_low": np.exp(tail.judged.ci_low),
        "tail_ci_high": np.exp(tail.judged.ci_high),
        "tail_verdict": tail.verdicts.verdict,
        "tail_runs_to_decide": _runs_to_decide(tail, decision, tests),
        "ran_base": ran_b,
        "ran_cand": ran_c,
        "ran_changed": (ran_b != "") & (ran_c != "") & (ran_b != ran_c),
        "noise_from": prep.noise_base.how,
        "noise_from_cand": prep.noise_cand.how,
    }
    described = _cached(
        prep.cache,
        "described",
        lambda: prep.described.drop(
            columns=["machine_base", "machine_cand", "ran_base", "ran_cand", "backend_base", "backend_cand"]
        ),
    )
    return pd.concat([described, pd.DataFrame(columns, index=described.index)], axis=1)


def _copy_unlike(prep: Prepared, family: Family) -> np.ndarray:
    """Per point, '' or why its copy does not control it: the copy ran differently on the two sides."""
    out = np.full(len(family.copies), "", dtype=object)
    if not family.copies.any():
        return out
    any_copy = yardstick.copy_index(family.copies, prep.control_keys)
    ran_b, ran_c = prep.described["ran_base"].to_numpy(dtype=object), prep.described["ran_cand"].to_numpy(dtype=object)
    for i in np.flatnonzero((any_copy >= 0) & ~family.copies):
        j = any_copy[i]
        if not family.controls[j]:
            out[i] = f"its copy ran {ran_b[j] or 'nothing'} in base and {ran_c[j] or 'nothing'} in cand: not a control"
    return out


def _runs_to_decide(family: Family, decision: rule.DecisionRule, tests: int) -> np.ndarray:
    """Runs a side that would decide each undecided point if its estimate held; 0 for the others."""
    d = family.est.d
    gap = np.where(d > 0, d - family.high, family.low - d)
    runs = model.runs_to_decide(family.est, gap, decision.family_alpha, tests)
    return np.where(family.verdicts.verdict == "undecided", runs, 0)


def _verdict_p(v: model.Verdicts) -> np.ndarray:
    """The adjusted p of the test behind each verdict (for undecided and ambiguous: the closest to deciding)."""
    stacked = np.vstack([v.adj_slower, v.adj_faster, v.adj_same])
    best = np.nanmin(np.where(np.isnan(stacked), np.inf, stacked), axis=0) if stacked.size else np.zeros(0)
    by_name = {"slower": v.adj_slower, "faster": v.adj_faster, "same": v.adj_same}
    out = best.copy()
    for name, adj in by_name.items():
        out = np.where(v.verdict == name, adj, out)
    return out


def _groups(prep: Prepared, points: pd.DataFrame) -> dict[str, GroupInfo]:
    """Every group either side holds (groups with nothing joined still say what they held), with the
    noise its points were judged with."""
    b, c = prep.base.info, prep.cand.info
    out = {}
    for gid in dict.fromkeys([*b, *c]):
        group, base_runs, base_about = b.get(gid) or (c[gid][0], (), {})
        _, cand_runs, cand_about = c.get(gid) or (group, (), {})
        rows = points[points[GROUP] == gid]
        out[gid] = GroupInfo(group, base_runs, cand_runs, base_about, cand_about, _noise_text(rows))
    return out


def _noise_text(rows: pd.DataFrame) -> str:
    """'run-to-run noise 0.15% per run (median over 220 points, 0.07%-0.41%), from <source>', per side
    where the sides' noise differs in source (two GPUs)."""
    if rows.empty:
        return ""
    parts = []
    for side in ("base", "cand"):
        sigma = rows[f"noise_{side}"].to_numpy(dtype=np.float64)
        column = "noise_from" if side == "base" else "noise_from_cand"
        sources = "; ".join(sorted({str(h).split(", ")[0] for h in rows[column]}))
        parts.append(
            f"run-to-run noise {np.median(sigma):.2%} per run (median over {len(rows)} points, "
            f"{sigma.min():.2%}-{sigma.max():.2%}), from {sources}"
        )
    same = (
        rows["noise_from"]
        .astype(str)
        .str.split(", ")
        .str[0]
        .equals(rows["noise_from_cand"].astype(str).str.split(", ").str[0])
    )
    return parts[0] if same else f"base {parts[0]}; cand {parts[1]}"
