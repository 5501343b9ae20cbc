"""Compare two sides (runs, GPUs, versions, commits) point by point, with verdicts that know about noise.

A side is a DataFrame of results rows (bench.results.load of some files and folders): one or more runs.
What may be compared follows bench.comparability, never pooled across: rows are split into comparable
groups (timing method, L2 state, backend, unit) and each group is compared on its own; a point joins its
counterpart on `point_key` plus `backend` in the same group (on `point_key` alone when the sides are
themselves backends, `--by backend`). A point measured in several runs of one side is combined only as
repeated runs of the same thing: within a side and group the runs must agree on GPU, driver, CUDA,
backend version and commit (else UserError naming the mix), and the comparison says how many runs each
side combined.

The statistics are in bench/analysis/model.py (runs as the unit of replication, moderated run-to-run
variance, one-sided tests against the threshold band, Benjamini-Hochberg over the points). Verdicts:
slower / faster (the data show the ratio beyond the band), same (inside it), ambiguous (neither shown).

Nothing that cannot be judged is dropped quietly: rows with unusable samples are listed in `problems`,
points timed on one side only in `only_base` / `only_cand` with what the other side recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import comparability
from bench.analysis import model, replicates, yardstick
from bench.errors import UserError

VERDICTS = ("faster", "slower", "same", "ambiguous")
DESCRIBE_COLUMNS = ("shape", "numel", "mode", "precision", "channel_axis", "timing_method", "l2_mode")
DEFAULT_THRESHOLD = 0.03
DEFAULT_ALPHA = 0.01
# A side's runs are repeats of one thing only if these agree; host and GPU index may differ (the same
# model of GPU in another slot or VM), run_id differs by definition.
REPEATS_AGREE_ON = tuple(c for c in comparability.ABOUT if c not in ("host", "gpu_index", "run_id"))
HISTORY = "noise history"  # the role of --noise-from runs in messages
GROUP = "group"  # column: the comparable group's id
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


@dataclass
class GroupInfo:
    """One comparable group: what it holds, which runs each side combined, the noise model it used."""

    group: comparability.Group
    prior: model.Prior | None
    base_runs: tuple[str, ...]
    cand_runs: tuple[str, ...]
    base_about: dict[str, str]
    cand_about: dict[str, str]

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

    `points` columns: `group` (comparable group id), the join keys, DESCRIBE_COLUMNS, runs_base, runs_cand,
    n_base, n_cand (samples), base_median_us, cand_median_us (geometric mean of the runs' medians),
    base_cv, cand_cv, ratio (cand/base), ci_low, ci_high (95%, per point), noise (moderated sd of one
    run's log median), df, p_slower, p_faster, p_same (one-sided, raw), p_value, p_adj (the test
    behind the verdict, raw and BH-adjusted), band_low, band_high (the band as ratios), drift (what
    widened the band, as a ratio) and drift_from ("memcpy": the point's copy; "shared shift": the median
    of its group, where no copy was timed and one run a side; see yardstick_control), yardstick (the row
    is a control), verdict, reason.
    `only_base` / `only_cand`: group, join keys, DESCRIBE_COLUMNS and `other_status` (what the other side
    recorded: "absent", "failed", "mismatch", "skipped", "built", or "measured differently") with
    `other_error`. `problems`: side ("base"/"cand"), group, join keys, DESCRIBE_COLUMNS, reason.
    """

    points: pd.DataFrame
    only_base: pd.DataFrame
    only_cand: pd.DataFrame
    keys: list[str]
    base_label: str = "base"
    cand_label: str = "cand"
    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: dict[str, GroupInfo] = field(default_factory=dict)
    drift: list[yardstick.Drift] = field(default_factory=list)
    with_yardstick: bool = False
    history_runs: tuple[str, ...] = ()  # runs that gave each point its run-to-run noise, nothing else
    history_unusable: list[str] = field(default_factory=list)  # per point judged without it: why

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
        one_group = len(points) and points[GROUP].nunique() == 1
        return Summary(
            geomean_ratio=float(np.exp(np.mean(np.log(points["ratio"])))) if one_group else float("nan"),
            counts={v: int((verdicts == v).sum()) for v in VERDICTS},
            n_points=len(points),
            n_only_base=len(only_base),
            n_only_cand=len(only_cand),
        )


def join_keys(by: str | None = None) -> list[str]:
    """point_key plus backend, minus the column the sides were split by (it differs by construction)."""
    return [k for k in ("point_key", "backend") if k != by]


@dataclass
class _Side:
    """One side reduced to what the model reads: per (group, point) the runs' estimates."""

    timed: pd.DataFrame  # index (group, *keys)
    statuses: pd.DataFrame  # index keys: non-ok statuses and errors per point
    info: dict[str, tuple[comparability.Group, tuple[str, ...], dict[str, str]]]


def _side(df: pd.DataFrame, keys: list[str], by: str | None, role: str) -> _Side:
    wanted = dict.fromkeys(
        [*keys, "run_id", "status", "error", "samples_us", "cv", *DESCRIBE_COLUMNS, *comparability.COMPARABLE_ON,
         *REPEATS_AGREE_ON, *replicates.ESTIMATE_COLUMNS]
    )  # fmt: skip
    df = replicates.estimate(df)
    df = df.assign(l2_mode=comparability.l2_modes(df))  # rows written before rotated buffers: from l2_flush
    # Results rows have ~90 columns; copying them dominates. A fresh index: comparability.groups selects
    # rows by index label, and sides concatenated without ignore_index repeat labels.
    df = df[[c for c in wanted if c in df.columns]].reset_index(drop=True)
    ok = df[df["status"] == "ok"]
    not_ok = df[df["status"] != "ok"]
    frames, info = [], {}
    for group, rows in comparability.groups(ok, by):
        gid = "|".join(group.key)
        info[gid] = (group, tuple(sorted(rows["run_id"].astype(str).unique())), _about(rows, keys, by, role, group))
        frames.append(_timed_points(rows.assign(**{GROUP: gid}), keys))
    timed = pd.concat(frames) if frames else _timed_points(ok.assign(**{GROUP: ""}), keys)
    statuses = _statuses(not_ok, keys)
    mixed = timed.index.droplevel(GROUP).isin(statuses.index)
    if mixed.any():
        where = timed.index[mixed].droplevel(GROUP)
        note = [
            f"ok in {r} run(s) but {s}"
            for r, s in zip(timed["runs"][mixed], statuses.loc[where, "summary"], strict=True)
        ]
        timed.loc[mixed, "problem"] = [
            p if isinstance(p, str) else n for p, n in zip(timed["problem"][mixed], note, strict=True)
        ]
    return _Side(timed, statuses, info)


def _about(
    rows: pd.DataFrame, keys: list[str], by: str | None, role: str, group: comparability.Group
) -> dict[str, str]:
    """What a side's runs in one group are runs of; UserError when a point would combine runs that are
    not repeats of one thing (another GPU, driver, CUDA, backend version or commit). Runs of unlike
    things that time different points (a smoke sweep beside a default sweep) are not combined, so they
    may share a side; the side then says it holds both."""
    about = {}
    for column in REPEATS_AGREE_ON:
        if column == by or column not in rows.columns:
            continue
        text = rows[column].astype("string").fillna("(none)")
        spread = text.groupby([rows[k] for k in keys], sort=False).nunique()
        if (spread > 1).any():
            point = spread.index[int(np.argmax(spread.to_numpy() > 1))]
            values = sorted(
                text[
                    (rows[keys] == pd.Series(point if isinstance(point, tuple) else (point,), index=keys)).all(axis=1)
                ].unique()
            )
            raise UserError(
                f"{role} mixes {column} ({', '.join(values)}) on the same point ({', '.join(map(str, point if isinstance(point, tuple) else (point,)))}) "
                f"in {group.describe()}: a point's runs are combined only as repeats of one thing; "
                + (
                    f"give the noise history runs of one {column}"
                    if role == HISTORY
                    else f"give each side runs of one {column}, or split with --by {column}"
                )
            )
        values = sorted(text.unique())
        about[column] = ", ".join(v[:10] if column == "git_commit" else v for v in values)
    return about


def _timed_points(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per (group, point): mean and spread of the runs' log medians, and the first problem."""
    index = [GROUP, *keys]
    dup = rows.duplicated([*index, "run_id"], keep=False)
    rows = rows.assign(
        problem=np.where(dup, "measured twice in one run (run " + rows["run_id"].astype(str) + ")", rows["problem"]),
        n_samples=[len(s) if s is not None else 0 for s in rows["samples_us"]],
        w2=rows["within_se"] ** 2,
        w4df=rows["within_se"] ** 4 / rows["within_df"],
    )
    rows["problem"] = rows["problem"].where(rows["problem"].map(lambda p: isinstance(p, str)), None)
    good = rows[rows["problem"].isna()]
    grouped = rows.groupby(index, sort=False, dropna=False)
    out = grouped[[c for c in DESCRIBE_COLUMNS if c in rows.columns]].first()
    out["problem"] = grouped["problem"].first()
    out["runs"] = grouped["run_id"].size()
    out["n_samples"] = grouped["n_samples"].sum()
    out["cv"] = grouped["cv"].median() if "cv" in rows.columns else np.nan
    g = good.groupby(index, sort=False, dropna=False)
    out["mean_y"] = g["log_median"].mean()
    out["ss"] = g["log_median"].var(ddof=1).fillna(0.0) * (g["log_median"].size() - 1)
    out["w2"] = g["w2"].mean()
    out["w4df"] = g["w4df"].sum()
    return out


def _statuses(not_ok: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per point key with non-ok rows: its commonest status, 'failed in 2 run(s), skipped in 1 run(s)' and the
    first error. Built from plain counts: per-group Python lambdas cost seconds on a 600-row run."""
    counts = not_ok.groupby([*keys, "status"], sort=False).size()
    summary: dict[object, list[tuple[int, str]]] = {}
    for (*key, status), n in counts.items():
        summary.setdefault(tuple(key) if len(keys) > 1 else key[0], []).append((int(n), str(status)))
    index = (
        pd.MultiIndex.from_tuples(list(summary), names=keys) if len(keys) > 1 else pd.Index(list(summary), name=keys[0])
    )
    ordered = [sorted(v, key=lambda x: -x[0]) for v in summary.values()]
    errors = not_ok.dropna(subset=["error"]).groupby(keys, sort=False)["error"].first()
    return pd.DataFrame(
        {
            "status": [v[0][1] for v in ordered],
            "summary": [", ".join(f"{s} in {n} run(s)" for n, s in v) for v in ordered],
            "error": errors.reindex(index).to_numpy() if len(index) else [],
        },
        index=index,
    )


@dataclass
class Prepared:
    """Both sides reduced to per-point run estimates and joined: the costly, model-free part of compare.

    `index` holds the (group, *keys) of the points both sides timed without a problem, in the order the
    model sees them; `cand_shift` of compare_prepared is aligned with it."""

    base: _Side
    cand: _Side
    keys: list[str]
    index: pd.Index
    problems: pd.DataFrame
    only_base: pd.DataFrame
    only_cand: pd.DataFrame
    described: pd.DataFrame  # group, keys and DESCRIBE_COLUMNS of the joined points
    control_keys: np.ndarray  # yardstick.control_key of each joined point
    by: str | None
    joined_base: pd.DataFrame  # base.timed and cand.timed at `index`, taken once
    joined_cand: pd.DataFrame
    hist_ss: np.ndarray | None = None  # noise history at `index`: sum of squared deviations, runs - 1
    hist_nu: np.ndarray | None = None
    history_runs: tuple[str, ...] = ()
    history_unusable: list[str] = field(default_factory=list)  # why some points' history could not count


def prepare(
    base: pd.DataFrame, cand: pd.DataFrame, *, by: str | None = None, history: pd.DataFrame | None = None
) -> Prepared:
    """Reduce and join the sides (see Prepared); UserError when a side's runs are not repeats of one thing.

    `history`: earlier runs of the base's machine, used only for each point's run-to-run variance (see
    model.py); they must be repeats of one thing like a side's runs, and runs of the candidate are
    refused (a history that holds the candidate would learn its change as noise)."""
    keys = join_keys(by)
    if by is None:  # (split by a column, one run can hold both sides: --by backend)
        shared = sorted(set(base["run_id"].astype(str)) & set(cand["run_id"].astype(str)))
        if shared:
            raise UserError(
                f"run(s) {', '.join(shared)} are on both sides: a run compared with itself shows no change; "
                "give each run to one side (a baseline manifest names its runs: leave them out of the candidate)"
            )
    b, c = _side(base, keys, by, "base"), _side(cand, keys, by, "cand")
    both = b.timed.index.intersection(c.timed.index, sort=False)
    usable = both[(b.timed.loc[both, "problem"].isna() & c.timed.loc[both, "problem"].isna()).to_numpy()]
    described = b.timed.loc[usable, [col for col in DESCRIBE_COLUMNS if col in b.timed.columns]].reset_index()
    hist_ss, hist_nu, history_runs, history_unusable = _noise_history(history, base, cand, keys, by, usable)
    return Prepared(
        base=b,
        cand=c,
        keys=keys,
        index=usable,
        problems=_problems(b.timed, c.timed),
        only_base=_unmatched(b, c, keys),
        only_cand=_unmatched(c, b, keys),
        described=described,
        control_keys=yardstick.control_key(described),
        by=by,
        joined_base=b.timed.loc[usable],
        joined_cand=c.timed.loc[usable],
        hist_ss=hist_ss,
        hist_nu=hist_nu,
        history_runs=history_runs,
        history_unusable=history_unusable,
    )


def _noise_history(
    history: pd.DataFrame | None, base: pd.DataFrame, cand: pd.DataFrame, keys: list[str], by: str | None, at: pd.Index
) -> tuple[np.ndarray | None, np.ndarray | None, tuple[str, ...], list[str]]:
    """(sum of squared deviations, degrees of freedom, run ids, why points' history is unusable) of the
    history's log medians at the points `at`, zero where a point has no usable history; (None, None, (),
    []) without one. The base's own runs count once, as the base's; a history of the candidate or of
    another GPU is refused. A point whose history rows cannot be judged (NaN, no samples, ...) is judged
    without history, and the reasons say so."""
    if history is not None and len(history):
        history = history[~history["run_id"].astype(str).isin(set(base["run_id"].astype(str)))]
    if history is None or not len(history):
        return None, None, (), []
    if "gpu_name" in history.columns and "gpu_name" in base.columns:
        theirs = set(history["gpu_name"].dropna().astype(str))
        ours = set(base["gpu_name"].dropna().astype(str))
        if theirs and ours and theirs != ours:
            raise UserError(
                f"the noise history was timed on {', '.join(sorted(theirs))}, the base on {', '.join(sorted(ours))}: "
                "another machine's noise says nothing of this one's; give runs of the base's machine"
            )
    shared = set(history["run_id"].astype(str)) & set(cand["run_id"].astype(str))
    if shared:
        raise UserError(
            f"the noise history holds candidate run(s) {', '.join(sorted(shared))}: it would learn the change "
            "as noise; give earlier runs of the base's machine"
        )
    h = _side(replicates.estimate(history), keys, by, HISTORY)
    runs = h.timed["runs"].reindex(at).to_numpy(dtype=np.float64)
    ok = h.timed["problem"].reindex(at).isna().to_numpy() & np.isfinite(runs)
    nu = np.where(ok, np.nan_to_num(runs) - 1.0, 0.0)
    ss = np.where(ok, np.nan_to_num(h.timed["ss"].reindex(at).to_numpy(dtype=np.float64)), 0.0)
    problems = h.timed["problem"].reindex(at).to_numpy(dtype=object)
    unusable = [str(p) for p in problems[np.isfinite(runs) & ~ok]]
    return ss, nu, tuple(sorted(history["run_id"].astype(str).unique())), unusable


def compare(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    by: str | None = None,
    base_label: str = "base",
    cand_label: str = "cand",
    n_resamples: int | None = None,
    seed: int = 0,
    yardstick_control: bool = False,
    history: pd.DataFrame | None = None,
) -> Comparison:
    """Per-point ratio cand/base (of the runs' geometric-mean medians) with its model-based CI, one-sided
    tests against the threshold band and verdicts; see the module docstring and model.py.

    `yardstick_control`: memcpy rows measure the machine (see yardstick.py): their points' bands widen by
    what their copy moved, and they are judged apart from the others (their own BH family); a group no
    copy controls, with one run a side, widens by the shift all its points share instead (model.fit).
    For comparisons of one kind of machine (the gate); never across GPUs, where the copy's change is the
    answer, not noise. `n_resamples` and `seed` are accepted for callers of the bootstrap this model
    replaced; the model is analytic and deterministic, so they change nothing.
    """
    del n_resamples, seed
    return compare_prepared(
        prepare(base, cand, by=by, history=history),
        threshold=threshold,
        alpha=alpha,
        base_label=base_label,
        cand_label=cand_label,
        yardstick_control=yardstick_control,
    )


def compare_prepared(
    prep: Prepared,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    base_label: str = "base",
    cand_label: str = "cand",
    yardstick_control: bool = False,
    cand_shift: np.ndarray | None = None,
) -> Comparison:
    """The model on prepared sides. `cand_shift` (log ratios aligned with prep.index) judges the candidate
    as if those points' samples had been exp(shift) times as long, in every cand run: exactly what
    scaling the samples gives (the runs' log medians move together, their spread does not), without
    redoing the pandas work; the error-rate replay injects slowdowns this way."""
    control = yardstick_control and prep.by != "backend"
    points, groups = _model(prep, threshold, alpha, control, cand_shift)
    is_copy = points["yardstick"].to_numpy(dtype=bool) if len(points) else np.zeros(0, bool)
    drift = yardstick.summarize(points, is_copy, points["ratio"].to_numpy()) if is_copy.any() else []
    return Comparison(
        points=points,
        only_base=prep.only_base,
        only_cand=prep.only_cand,
        keys=prep.keys,
        base_label=base_label,
        cand_label=cand_label,
        threshold=threshold,
        alpha=alpha,
        problems=prep.problems,
        groups=groups,
        drift=drift,
        with_yardstick=bool(is_copy.any()),
        history_runs=prep.history_runs,
        history_unusable=prep.history_unusable,
    )


def _problems(base: pd.DataFrame, cand: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for role, timed in (("base", base), ("cand", cand)):
        bad = timed[timed["problem"].notna()]
        desc = [c for c in DESCRIBE_COLUMNS if c in bad.columns]
        frames.append(bad[desc].assign(reason=bad["problem"], runs=bad["runs"]).reset_index().assign(side=role))
    out = pd.concat(frames, ignore_index=True)
    return out[["side", *[c for c in out.columns if c != "side"]]]


def _model(
    prep: Prepared, threshold: float, alpha: float, control: bool, cand_shift: np.ndarray | None
) -> tuple[pd.DataFrame, dict[str, GroupInfo]]:
    b, c = prep.base, prep.cand
    bt, ct = prep.joined_base, prep.joined_cand
    mean_cand = ct["mean_y"].to_numpy(dtype=np.float64) + (0.0 if cand_shift is None else np.asarray(cand_shift))
    d = mean_cand - bt["mean_y"].to_numpy(dtype=np.float64)
    if control:  # the copies' log ratios are the same with any noise model: the drift comes first
        is_copy, drift = yardstick.control_drift(prep.described, prep.control_keys, d)
    else:
        is_copy, drift = np.zeros(len(d), bool), np.full(len(d), np.nan)
    drift_from = np.where(np.isfinite(drift) & ~is_copy, "memcpy", "").astype(object)
    se, df, sigma = np.full(len(d), np.nan), np.full(len(d), np.nan), np.full(len(d), np.nan)
    gids = prep.index.get_level_values(GROUP).to_numpy()
    groups: dict[str, GroupInfo] = {}
    for gid in dict.fromkeys(gids):
        rows = gids == gid
        arrays = model.PointArrays(
            mean_base=bt["mean_y"].to_numpy(dtype=np.float64)[rows],
            mean_cand=mean_cand[rows],
            m=bt["runs"].to_numpy(dtype=np.float64)[rows],
            n=ct["runs"].to_numpy(dtype=np.float64)[rows],
            ss=bt["ss"].to_numpy(dtype=np.float64)[rows] + ct["ss"].to_numpy(dtype=np.float64)[rows],
            w2_base=bt["w2"].to_numpy(dtype=np.float64)[rows],
            w2_cand=ct["w2"].to_numpy(dtype=np.float64)[rows],
            w4df=bt["w4df"].to_numpy(dtype=np.float64)[rows] / bt["runs"].to_numpy(dtype=np.float64)[rows] ** 4
            + ct["w4df"].to_numpy(dtype=np.float64)[rows] / ct["runs"].to_numpy(dtype=np.float64)[rows] ** 4,
            hist_ss=None if prep.hist_ss is None else prep.hist_ss[rows],
            hist_nu=None if prep.hist_nu is None else prep.hist_nu[rows],
        )
        group = b.info[gid][0]
        uncontrolled = control and not is_copy[rows].any() and not np.isfinite(drift[rows]).any()
        prior = model.fit(arrays, group.as_dict().get("timing_method", ""), unattributed=uncontrolled)
        est = model.estimate(arrays, prior)
        se[rows], df[rows], sigma[rows] = est.se, est.df, est.sigma
        if prior.shift:  # no copy timed: the shift all points share stands in for the machine's drift
            drift[rows], drift_from[rows] = prior.shift, "shared shift"
        groups[gid] = GroupInfo(group, prior, b.info[gid][1], c.info[gid][1], b.info[gid][2], c.info[gid][2])
    for gid in dict.fromkeys([*b.info, *c.info]):  # groups with nothing joined still say what they held
        if gid not in groups:
            group, base_runs, base_about = b.info.get(gid) or (c.info[gid][0], (), {})
            _, cand_runs, cand_about = c.info.get(gid) or (group, (), {})
            groups[gid] = GroupInfo(group, None, base_runs, cand_runs, base_about, cand_about)
    points = prep.described
    low, high = yardstick.bands(threshold, drift)
    judged = model.judge(model.Estimate(d, se, df, sigma), low, high)
    verdict = np.full(len(points), "ambiguous", dtype=object)
    adj = {name: np.full(len(points), np.nan) for name in ("slower", "faster", "same")}
    for family in (~is_copy, is_copy):  # the yardstick is judged apart: it is not the change under test
        if family.any():
            v, a_s, a_f, a_e = model.decide(
                judged.p_slower[family], judged.p_faster[family], judged.p_same[family], alpha
            )
            verdict[family], adj["slower"][family], adj["faster"][family], adj["same"][family] = v, a_s, a_f, a_e
    points = points.assign(
        runs_base=bt["runs"].to_numpy(),
        runs_cand=ct["runs"].to_numpy(),
        n_base=bt["n_samples"].to_numpy(),
        n_cand=ct["n_samples"].to_numpy(),
        base_median_us=np.exp(bt["mean_y"].to_numpy(dtype=np.float64)),
        cand_median_us=np.exp(mean_cand),
        base_cv=bt["cv"].to_numpy(),
        cand_cv=ct["cv"].to_numpy(),
        ratio=np.exp(d),
        ci_low=np.exp(judged.ci_low),
        ci_high=np.exp(judged.ci_high),
        noise=sigma,
        df=df,
        p_slower=judged.p_slower,
        p_faster=judged.p_faster,
        p_same=judged.p_same,
        band_low=np.exp(low),
        band_high=np.exp(high),
        drift=np.exp(np.where(is_copy, np.nan, drift)),
        drift_from=np.where(drift_from == "", None, drift_from),
        yardstick=is_copy,
        verdict=verdict,
    )
    points["p_value"], points["p_adj"] = _verdict_p(points, judged, adj)
    points["reason"] = _reasons(points, adj, threshold, alpha, int((~is_copy).sum()))
    return points.sort_values("ratio", ascending=False, kind="stable").reset_index(drop=True), groups


def _verdict_p(
    points: pd.DataFrame, judged: model.Judgement, adj: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The raw and adjusted p of the test behind each verdict (for 'ambiguous': the closest to deciding)."""
    raw = {"slower": judged.p_slower, "faster": judged.p_faster, "same": judged.p_same}
    stacked = np.vstack([adj["slower"], adj["faster"], adj["same"]])
    closest = (
        np.array(["slower", "faster", "same"])[np.argmin(np.nan_to_num(stacked, nan=np.inf), axis=0)]
        if len(points)
        else np.array([])
    )
    which = np.where(points["verdict"].to_numpy() == "ambiguous", closest, points["verdict"].to_numpy())
    rows = np.arange(len(points))
    raw_p = np.array([raw[w][i] for i, w in zip(rows, which, strict=True)], dtype=np.float64)
    adj_p = np.array([adj[w][i] for i, w in zip(rows, which, strict=True)], dtype=np.float64)
    return raw_p, adj_p


def _reasons(
    points: pd.DataFrame, adj: dict[str, np.ndarray], threshold: float, alpha: float, family: int
) -> list[str]:
    """Why each verdict, in words. Plain arrays, not itertuples: the replay calls this thousands of times."""
    cols = {
        c: points[c].to_numpy()
        for c in ("verdict", "band_low", "band_high", "ci_low", "ci_high", "noise", "drift", "drift_from")
    }
    out = []
    for i, verdict in enumerate(cols["verdict"]):
        low, high, drift = cols["band_low"][i], cols["band_high"][i], cols["drift"][i]
        widened = ""
        if np.isfinite(drift) and abs(np.log(drift)) > 1e-12:
            source = "the shift all points share" if cols["drift_from"][i] == "shared shift" else "its memcpy"
            widened = f", band widened to [{low:.3f}, {high:.3f}] by the machine's drift ({drift:.3f}x, {source})"
        if verdict == "slower":
            out.append(f"above {high:.3f}: adjusted p {adj['slower'][i]:.2g} < {alpha:g}{widened}")
        elif verdict == "faster":
            out.append(f"below {low:.3f}: adjusted p {adj['faster'][i]:.2g} < {alpha:g}{widened}")
        elif verdict == "same":
            out.append(f"inside [{low:.3f}, {high:.3f}]: adjusted p {adj['same'][i]:.2g} < {alpha:g}{widened}")
        else:
            out.append(
                f"CI [{cols['ci_low'][i]:.3f}, {cols['ci_high'][i]:.3f}] neither beyond nor inside the "
                f"±{threshold:.0%} band at alpha {alpha:g} (BH over {family} points); noise {cols['noise'][i]:.2%} "
                f"a run{widened}"
            )
    return out


def _unmatched(side: _Side, other: _Side, keys: list[str]) -> pd.DataFrame:
    """Points of `side` timed in a group where `other` has no timed counterpart, and what other recorded."""
    missing = side.timed.index.difference(other.timed.index, sort=False)
    cols = [c for c in DESCRIBE_COLUMNS if c in side.timed.columns]
    out = side.timed.loc[missing, cols].reset_index()
    if out.empty:
        return out.assign(other_status=pd.Series(dtype=object), other_error=pd.Series(dtype=object))
    point_index = pd.MultiIndex.from_frame(out[keys]) if len(keys) > 1 else pd.Index(out[keys[0]])
    other_timed = other.timed.reset_index()
    elsewhere = other_timed.groupby(keys)[GROUP].agg(lambda g: ", ".join(other.info[x][0].describe() for x in g))
    found_elsewhere = elsewhere.reindex(point_index)
    status = other.statuses.reindex(point_index)
    out["other_status"] = np.where(
        found_elsewhere.notna().to_numpy(),
        "measured differently",
        status["status"].astype(object).fillna("absent").to_numpy(),
    )
    out["other_error"] = np.where(
        found_elsewhere.notna().to_numpy(),
        "timed as " + found_elsewhere.fillna("").astype(str),
        status["error"].to_numpy(),
    )
    return out


def sides(df: pd.DataFrame, column: str) -> dict[str, pd.DataFrame]:
    """Split one frame into sides by the values of `column`, oldest side first (by earliest timestamp).

    Oldest first makes the earlier commit, version or run the base without the user saying so.
    """
    if column not in df.columns:
        raise UserError(f"--by {column}: no such column; choose one of: {', '.join(sorted(df.columns))}")
    values = (
        comparability.l2_modes(df, untimed_from_settings=True)
        if column == "l2_mode"
        else df[column].astype("string").fillna("(none)")
    )
    order = (
        df.assign(_side=values).groupby("_side")["timestamp"].min().sort_values(kind="stable").index.tolist()
        if "timestamp" in df.columns and df["timestamp"].notna().any()
        else sorted(values.unique())
    )
    return {str(v): df[values == v] for v in order}


def split_by(df: pd.DataFrame, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(base, cand) for `--by COLUMN` on one folder; exactly two distinct values, else UserError."""
    parts = sides(df, column)
    if len(parts) != 2:
        found = ", ".join(repr(v) for v in parts) or "none"
        raise UserError(
            f"--by {column}: needs exactly two distinct values to compare, found {len(parts)}: {found}; "
            "filter the inputs or choose another column"
        )
    (_, base), (_, cand) = parts.items()
    return base, cand


def side_labels(df: pd.DataFrame, column: str) -> tuple[str, str]:
    """The two values split_by put on each side, for titles."""
    base_label, cand_label = list(sides(df, column))[:2]
    return base_label, cand_label
