"""The sides of a comparison, prepared: results rows reduced to per-point run estimates and joined.

A side is a DataFrame of results rows (bench.results.load of some files and folders): one or more runs.
What may be compared follows bench.comparability, never pooled across: rows are split into comparable
groups (timing method, L2 state, backend, unit); a point joins its counterpart on `point_key` plus
`backend` in the same group (on `point_key` alone when the sides are themselves backends, `--by
backend`). A point measured in several runs of one side is combined only as repeated runs of the same
thing: within a side and group the runs must agree on GPU, driver, CUDA, backend version and commit
(else UserError naming the mix).

Per point and side this keeps what the model reads (the mean and spread of the runs' log medians and
log p90s), what the reader needs beside a verdict (what ran: the launch or the engine, bench.what_ran;
% of the copy; the machine) and, per machine, the noise profile the model's prior comes from
(bench.analysis.noise). Nothing that cannot be judged is dropped quietly: rows with unusable samples are
`problems`, points timed on one side only are `only_base` / `only_cand` with what the other recorded.
This is the costly, pandas part of a comparison; the model runs on its arrays many times over (the
error-rate replay shifts the candidate's estimates without preparing again).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import comparability, copy_yardstick, what_ran
from bench.analysis import model, noise, noise_sources, replicates, yardstick
from bench.errors import UserError

DESCRIBE_COLUMNS = ("shape", "numel", "mode", "precision", "channel_axis", "timing_method", "l2_mode", "bytes_moved")
# A side's runs are repeats of one thing only if these agree; host and GPU index may differ (the same
# model of GPU in another slot or VM), run_id differs by definition.
REPEATS_AGREE_ON = tuple(c for c in comparability.ABOUT if c not in ("host", "gpu_index", "run_id"))
GROUP = "group"  # column: the comparable group's id
ESTIMATES = {"median": "log_median", "p90": "log_p90"}


def join_keys(by: str | None = None) -> list[str]:
    """point_key plus backend, minus the column the sides were split by (it differs by construction)."""
    return [k for k in ("point_key", "backend") if k != by]


@dataclass
class Side:
    """One side reduced to what the model reads: per (group, point) the runs' estimates."""

    timed: pd.DataFrame  # index (group, *keys)
    statuses: pd.DataFrame  # index keys: non-ok statuses and errors per point
    info: dict[str, tuple[comparability.Group, tuple[str, ...], dict[str, str]]]


def reduce(df: pd.DataFrame, keys: list[str], by: str | None, role: str) -> Side:
    """A side's rows, estimated (replicates.estimate) and reduced per comparable group and point."""
    wanted = dict.fromkeys(
        [*keys, "run_id", "status", "error", "samples_us", "cv", "gpu_name", "pct_of_memcpy", *DESCRIBE_COLUMNS,
         *comparability.COMPARABLE_ON, *REPEATS_AGREE_ON, *replicates.ESTIMATE_COLUMNS]
    )  # fmt: skip
    df = replicates.estimate(df)
    df = df.assign(l2_mode=comparability.l2_modes(df), what_ran=what_ran.column(df))
    versus = copy_yardstick.time_over_copy(df.reset_index(drop=True))  # labels may repeat: values by position
    df = df.assign(time_over_copy=versus["time_over_copy"].to_numpy(), launch_bound=versus["launch_bound"].to_numpy())
    # Results rows have ~90 columns; copying them dominates. A fresh index: comparability.groups selects
    # rows by index label, and sides concatenated without ignore_index repeat labels.
    df = df[[c for c in [*wanted, "what_ran", "time_over_copy", "launch_bound"] if c in df.columns]].reset_index(
        drop=True
    )
    ok = df[df["status"] == "ok"]
    frames, info = [], {}
    for group, rows in comparability.groups(ok, by):
        gid = "|".join(group.key)
        info[gid] = (group, tuple(sorted(rows["run_id"].astype(str).unique())), _about(rows, keys, by, role, group))
        frames.append(_timed_points(rows.assign(**{GROUP: gid}), keys))
    timed = pd.concat(frames) if frames else _timed_points(ok.assign(**{GROUP: ""}), keys)
    statuses = _statuses(df[df["status"] != "ok"], keys)
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
    return Side(timed, statuses, info)


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
            point = point if isinstance(point, tuple) else (point,)
            values = sorted(text[(rows[keys] == pd.Series(point, index=keys)).all(axis=1)].unique())
            raise UserError(
                f"{role} mixes {column} ({', '.join(values)}) on the same point ({', '.join(map(str, point))}) "
                f"in {group.describe()}: a point's runs are combined only as repeats of one thing; "
                f"give each side runs of one {column}, or split with --by {column}"
            )
        values = sorted(text.unique())
        about[column] = ", ".join(v[:10] if column == "git_commit" else v for v in values)
    return about


def _timed_points(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per (group, point): mean and spread of the runs' log estimates, what ran, the first problem."""
    index = [GROUP, *keys]
    dup = rows.duplicated([*index, "run_id"], keep=False)
    rows = rows.assign(
        problem=np.where(dup, "measured twice in one run (run " + rows["run_id"].astype(str) + ")", rows["problem"]),
        n_samples=[len(s) if s is not None else 0 for s in rows["samples_us"]],
        w2=rows["within_se"] ** 2,
        machine=rows["gpu_name"].astype("string").fillna(noise.CPU) if "gpu_name" in rows else noise.CPU,
    )
    rows["problem"] = rows["problem"].where(rows["problem"].map(lambda p: isinstance(p, str)), None)
    grouped = rows.groupby(index, sort=False, dropna=False)
    out = grouped[[c for c in [*DESCRIBE_COLUMNS, "machine"] if c in rows.columns]].first()
    out["backend_name"] = grouped["backend"].first()  # a column too where backend is not a key (--by backend)
    out["problem"] = grouped["problem"].first()
    out["runs"] = grouped["run_id"].size()
    out["n_samples"] = grouped["n_samples"].sum()
    out["cv"] = grouped["cv"].median() if "cv" in rows.columns else np.nan
    out["pct_of_memcpy"] = grouped["pct_of_memcpy"].median() if "pct_of_memcpy" in rows.columns else np.nan
    out["time_over_copy"] = grouped["time_over_copy"].median() if "time_over_copy" in rows.columns else np.nan
    out["launch_bound"] = grouped["launch_bound"].any() if "launch_bound" in rows.columns else False
    labels = rows["what_ran"].fillna("") if "what_ran" in rows else pd.Series("", index=rows.index)
    out["ran"] = labels.groupby([rows[c] for c in index], sort=False).agg(lambda v: "; ".join(sorted(set(v) - {""})))
    good = rows[rows["problem"].isna()].groupby(index, sort=False, dropna=False)
    out["w2"] = good["w2"].mean()
    for name, column in ESTIMATES.items():
        out[f"mean_{name}"] = good[column].mean()
        out[f"ss_{name}"] = good[column].var(ddof=1).fillna(0.0) * (good[column].size() - 1)
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
    """Both sides reduced, joined and given their noise: everything the model needs, as arrays.

    `index` holds the (group, *keys) of the points both sides timed without a problem, in the order the
    model sees them; a `cand_shift` (compare.compare_prepared) is aligned with it."""

    base: Side
    cand: Side
    keys: list[str]
    index: pd.Index
    problems: pd.DataFrame
    only_base: pd.DataFrame
    only_cand: pd.DataFrame
    described: pd.DataFrame  # group, keys, DESCRIBE_COLUMNS, machine and what ran of the joined points
    control_keys: np.ndarray  # yardstick.control_key of each joined point
    by: str | None
    joined_base: pd.DataFrame  # base.timed and cand.timed at `index`, taken once
    joined_cand: pd.DataFrame
    profiles: dict[str, noise.NoiseProfile]  # per machine
    noise_base: noise_sources.PointNoise
    noise_cand: noise_sources.PointNoise
    same_machine: bool  # every joined point ran on one GPU model on both sides
    cache: dict = field(default_factory=dict)  # what every evaluation of these sides shares (compare, gate)

    @property
    def pooled(self) -> np.ndarray:
        """Per joined point: both sides ran on one machine, so they share one noise estimate."""
        return self.described["machine_base"].to_numpy() == self.described["machine_cand"].to_numpy()

    def arrays(self, stat: str, cand_shift: np.ndarray | None = None) -> tuple[model.Side, model.Side]:
        """The model's two sides for a statistic ('median' or 'p90'); `cand_shift` adds to the candidate's
        means (what scaling its samples by exp(shift) gives: means move, spreads do not)."""
        b, c = self.joined_base, self.joined_cand
        m, n = b["runs"].to_numpy(dtype=np.float64), c["runs"].to_numpy(dtype=np.float64)
        ss_b, ss_c = (f[f"ss_{stat}"].to_numpy(dtype=np.float64) for f in (b, c))
        pooled = self.pooled
        # Sides of one machine pool their evidence on the point's noise (their runs and the profile's
        # history of the point); sides of two keep their own.
        hb, hc = self.noise_base, self.noise_cand
        ss_b, ss_c = ss_b + hb.hist_ss[stat], ss_c + np.where(pooled, 0.0, hc.hist_ss[stat])
        nu_b, nu_c = m - 1 + hb.hist_nu[stat], n - 1 + np.where(pooled, 0.0, hc.hist_nu[stat])
        ss_base, nu_base = np.where(pooled, ss_b + ss_c, ss_b), np.where(pooled, nu_b + nu_c, nu_b)
        ss_cand, nu_cand = np.where(pooled, ss_b + ss_c, ss_c), np.where(pooled, nu_b + nu_c, nu_c)
        w2 = (b["w2"].to_numpy(dtype=np.float64), c["w2"].to_numpy(dtype=np.float64))
        if stat != "median":  # the within-run error is the median's
            w2 = (np.zeros(len(m)), np.zeros(len(n)))
        mean_c = c[f"mean_{stat}"].to_numpy(dtype=np.float64) + (0.0 if cand_shift is None else cand_shift)
        return (
            model.Side(b[f"mean_{stat}"].to_numpy(dtype=np.float64), m, ss_base, nu_base,
                       self.noise_base.s0[stat], self.noise_base.df[stat], w2[0]),
            model.Side(mean_c, n, ss_cand, nu_cand, self.noise_cand.s0[stat], self.noise_cand.df[stat], w2[1]),
        )  # fmt: skip


def prepare(
    base: pd.DataFrame, cand: pd.DataFrame, *, by: str | None = None, sources: noise_sources.Sources | None = None
) -> Prepared:
    """Reduce and join the sides (see Prepared); UserError when a side's runs are not repeats of one thing
    or a run is on both sides. `sources`: committed and --noise-from profiles (noise_sources.resolve); without
    them each machine's noise comes from its sides' own repeated runs, else the default profile."""
    keys = join_keys(by)
    base, cand = replicates.estimate(base), replicates.estimate(cand)  # once: reduce and the profiles read it
    if by is None:  # (split by a column, one run can hold both sides: --by backend)
        shared = sorted(set(base["run_id"].astype(str)) & set(cand["run_id"].astype(str)))
        if shared:
            raise UserError(
                f"run(s) {', '.join(shared)} are on both sides: a run compared with itself shows no change; "
                "give each run to one side (a baseline manifest names its runs: leave them out of the candidate)"
            )
    b, c = reduce(base, keys, by, "base"), reduce(cand, keys, by, "cand")
    both = b.timed.index.intersection(c.timed.index, sort=False)
    usable = both[(b.timed.loc[both, "problem"].isna() & c.timed.loc[both, "problem"].isna()).to_numpy()]
    joined_base, joined_cand = b.timed.loc[usable], c.timed.loc[usable]
    described = joined_base[[col for col in DESCRIBE_COLUMNS if col in joined_base.columns]].reset_index()
    described = described.assign(
        machine_base=joined_base["machine"].to_numpy(dtype=object),
        machine_cand=joined_cand["machine"].to_numpy(dtype=object),
        backend_base=joined_base["backend_name"].to_numpy(dtype=object),
        backend_cand=joined_cand["backend_name"].to_numpy(dtype=object),
        ran_base=joined_base["ran"].to_numpy(dtype=object),
        ran_cand=joined_cand["ran"].to_numpy(dtype=object),
    )
    profiles = _profiles(sources or noise_sources.Sources(), base, cand)
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
        joined_base=joined_base,
        joined_cand=joined_cand,
        profiles=profiles,
        noise_base=_point_noise(profiles, described, "base"),
        noise_cand=_point_noise(profiles, described, "cand"),
        same_machine=bool(len(described)) and bool((described["machine_base"] == described["machine_cand"]).all()),
    )


def _machines(df: pd.DataFrame) -> pd.Series:
    return (
        df["gpu_name"].astype("string").fillna(noise.CPU)
        if "gpu_name" in df.columns
        else pd.Series(noise.CPU, df.index)
    )


def _profiles(sources: noise_sources.Sources, base: pd.DataFrame, cand: pd.DataFrame) -> dict[str, noise.NoiseProfile]:
    """Per machine of either side: its profile (noise_sources.resolve), from each side's own runs on it."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for side in (base, cand):
        ok = side[side["status"] == "ok"]
        machines = _machines(ok)
        for machine in machines.unique():
            frames.setdefault(str(machine), []).append(ok[machines == machine])
    return noise_sources.resolve(sources, frames)


def _point_noise(profiles: dict[str, noise.NoiseProfile], points: pd.DataFrame, side: str) -> noise_sources.PointNoise:
    """Each point's prior from the profile of the machine its side ran on, for that side's backend."""
    out = noise_sources.PointNoise.empty(len(points))
    points = points.assign(backend=points[f"backend_{side}"])
    for machine, rows in points.groupby(f"machine_{side}", sort=False).indices.items():
        found = noise_sources.for_points(profiles[str(machine)], points.iloc[rows])
        for s in noise.STATS:
            out.s0[s][rows], out.df[s][rows] = found.s0[s], found.df[s]
            out.hist_ss[s][rows], out.hist_nu[s][rows] = found.hist_ss[s], found.hist_nu[s]
        out.how[rows] = found.how
    return out


def _problems(base: pd.DataFrame, cand: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for role, timed in (("base", base), ("cand", cand)):
        bad = timed[timed["problem"].notna()]
        desc = [c for c in DESCRIBE_COLUMNS if c in bad.columns]
        frames.append(bad[desc].assign(reason=bad["problem"], runs=bad["runs"]).reset_index().assign(side=role))
    out = pd.concat(frames, ignore_index=True)
    return out[["side", *[c for c in out.columns if c != "side"]]]


def _unmatched(side: Side, other: Side, keys: list[str]) -> pd.DataFrame:
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
