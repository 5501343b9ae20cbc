"""Noise profiles: how much a point's time moves from run to run on one kind of machine, by size class.

**Why a profile.** A comparison decides by dividing a change by its noise; if the noise is estimated
from the same comparison (the scatter of the points' ratios), a regression of many points inflates the
noise it is judged against and hides itself (100 points 8% slower read as "ambiguous"), and a uniform
change is absorbed entirely. So the noise never comes from the ratios being judged. It comes from
repeated runs of the same thing: how much the log median (and log p90) of a point moves between runs of
one commit on one machine. That is a property of the machine and of how many bytes the point moves: on
the committed rotated-buffer runs, points under a few KiB move ~0.2% per run on an H100 and an H200,
multi-GiB points ~0.07%, and the elementwise points whose weights are as large as the tensor have the
heavy tail (up to 1%). A profile stores exactly that, per (backend, timing method, L2 state, size
class), and gets stored beside each baseline manifest (`results/_baselines/<gpu>.noise.json`).

**What is stored, and why it is robust.** For each size class (one octave of `bytes_moved`) a scale s0
and, for its key (backend, timing method, L2 state), a tail weight df: the run-to-run variances of the
points are modelled as s0² · df / χ²_df (a scaled inverse chi-square, as limma fits genes measured in
few replicates; stats.fit_prior), so the noise of a point the comparison knows nothing else about is a
t distribution with df degrees of freedom around s0. A class's s0 is a mean of LOG variances over its
points, pulled towards its key's mean by CLASS_PSEUDO_POINTS (a class of three points does not make its
own luck), and df is fitted over all the key's points after dividing each by its class's scale. Two
consequences: a point whose few runs happened to agree (four runs within 0.14% where its sd is 0.82%)
does not look quiet, because the comparison never uses less than its class's s0 for it
(model.py); and one outlying run moves a log mean far less than it moves a mean of variances, while
points that are noisier than their class make df small: heavy tails, honest about how unlike points
are. df is kept within [MIN_DF, MAX_DF].

**Each point's own history.** Beside the classes, a profile keeps each point's squared deviations over
its runs (and their degrees of freedom). The points that are noisy on a machine are noisy on every card
of it (the elementwise 8x128x56x56 points, on both committed H100 cards and on the H200), and a class
prior cannot say which they are; their history does. A comparison adds it to the point's own runs,
moderated by the class prior and never below it (model.py), so a point is never made quiet by it.

Where a comparison's profiles come from, and the default for a machine without one:
bench/analysis/noise_sources.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from bench import comparability
from bench.analysis import replicates, stats
from bench.errors import UserError

SUFFIX = ".noise.json"
FORMAT = "scale-bench noise profile"
FORMAT_VERSION = 1
STATS = {"median": "log_median", "p90": "log_p90"}  # what a profile holds noise for, and from which estimate
MIN_DF, MAX_DF = 4.0, 30.0  # tail weight bounds: below 4 a t test has no power at 220 points; above 30 it is normal
CLASS_PSEUDO_POINTS = 3.0  # how many points' worth of the key's mean a class's own mean is pulled towards
CPU = "CPU host"  # the machine name of rows without a GPU


@dataclass(frozen=True)
class Entry:
    """One class's noise for one statistic: scale (sd of one run's log estimate) and tail weight."""

    s0: float
    df: float
    points: int = 0


Key = tuple[str, str, str, int]  # backend, timing_method, l2_mode, size class
PointKey = tuple[str, str, str, str]  # backend, timing_method, l2_mode, point_key


@dataclass
class NoiseProfile:
    """Per (backend, timing method, L2 state, size class): an Entry per statistic (median, p90)."""

    machine: str
    source: str  # where it came from, as messages say it ("results/_baselines/x.noise.json", "the default")
    runs: tuple[str, ...] = ()
    classes: dict[Key, dict[str, Entry]] = field(default_factory=dict)
    # Per point the profile's runs timed: its own squared deviations and their degrees of freedom, per
    # statistic. A point the profile knows is judged with its own history beside its class's prior.
    points: dict[PointKey, dict[str, tuple[float, float]]] = field(default_factory=dict)
    default: bool = False

    def lookup(self, backend: str, method: str, l2: str, size: int) -> tuple[dict[str, Entry], str] | None:
        """The entries for one point and how they were found; None when nothing of this method and L2
        state is in the profile (the caller then asks the default). Each statistic is looked up on its
        own: a class can lack one (two runs whose medians were equal to the timer's last digit)."""
        out, how = {}, set()
        for stat in STATS:
            found = self._lookup(stat, backend, method, l2, size)
            if found is None:
                return None
            out[stat] = found[0]
            how.add(found[1])
        return out, " / ".join(sorted(how))

    def _lookup(self, stat: str, backend: str, method: str, l2: str, size: int) -> tuple[Entry, str] | None:
        exact = self.classes.get((backend, method, l2, size), {}).get(stat)
        if exact is not None:
            return exact, "its size class"
        same = [k for k, v in self.classes.items() if k[:3] == (backend, method, l2) and stat in v]
        if same:
            return self._nearest(same, size, stat), "the nearest size class"
        alike = [k for k, v in self.classes.items() if k[1:3] == (method, l2) and stat in v]
        if alike:
            return self._nearest(alike, size, stat), "the nearest size class of " + ", ".join(
                sorted({k[0] for k in alike})
            )
        return None

    def _nearest(self, keys: list[Key], size: int, stat: str) -> Entry:
        """The nearest size among `keys`; ties (and several backends) go to the noisier."""
        distance = min(abs(k[3] - size) for k in keys)
        near = [self.classes[k][stat] for k in keys if abs(k[3] - size) == distance]
        return max(near, key=lambda e: (e.s0, -e.df))

    def to_json(self) -> dict:
        rows = [
            {
                "backend": k[0],
                "timing_method": k[1],
                "l2_mode": k[2],
                "size_class": k[3],
                "bytes": size_label(k[3]),
                **{s: {"s0": float(f"{e.s0:.6g}"), "df": round(e.df, 3), "points": e.points} for s, e in v.items()},
            }
            for k, v in sorted(self.classes.items())
        ]
        points = [
            {"backend": k[0], "timing_method": k[1], "l2_mode": k[2], "point_key": k[3],
             **{s: {"ss": float(f"{v[0]:.6g}"), "nu": v[1]} for s, v in e.items()}}
            for k, e in sorted(self.points.items())
        ]  # fmt: skip
        return {"format": FORMAT, "version": FORMAT_VERSION, "machine": self.machine, "runs": list(self.runs),
                "classes": rows, "points": points}  # fmt: skip


def size_class(bytes_moved: object) -> int:
    """The octave of a point's bytes moved (floor of log2); -1 where not recorded."""
    try:
        b = float(bytes_moved)
    except (TypeError, ValueError):
        return -1
    return int(np.floor(np.log2(b))) if np.isfinite(b) and b >= 1 else -1


def size_label(size: int) -> str:
    """'1-2 MiB' for the class of bytes in [2^size, 2^(size+1))."""
    if size < 0:
        return "size not recorded"
    low, high = 2.0**size, 2.0 ** (size + 1)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("B", 1)):
        if low >= scale:
            return f"{low / scale:g}-{high / scale:g} {unit}"
    return f"{low:g}-{high:g} B"


def machine_of(rows: pd.DataFrame) -> str:
    """The GPU name the rows ran on ('CPU host' without one); UserError for a mix (a profile is of one)."""
    names = set(rows["gpu_name"].dropna().astype(str)) if "gpu_name" in rows.columns else set()
    if len(names) > 1:
        raise UserError(f"a noise profile is of one machine; these runs are of {', '.join(sorted(names))}")
    return names.pop() if names else CPU


def point_keys(rows: pd.DataFrame) -> pd.DataFrame:
    """backend, timing_method, l2_mode (as comparability reads them) and size class of each row."""
    return pd.DataFrame(
        {
            "backend": rows["backend"].astype("string").fillna("(none)"),
            "timing_method": rows["timing_method"].astype("string").fillna("(none)"),
            "l2_mode": comparability.l2_modes(rows),
            "size": [size_class(b) for b in rows.get("bytes_moved", pd.Series(np.nan, index=rows.index))],
        },
        index=rows.index,
    )


def within_spread(sides: list[pd.DataFrame]) -> pd.DataFrame:
    """Per point (backend, timing method, L2 state, size, point_key): the sum of squared deviations of each
    statistic from its side's own mean and the degrees of freedom, pooled over the sides. Deviations are
    taken within a side only, so a change between sides never enters (that would be the ratios)."""
    frames = []
    for side in sides:
        rows = replicates.estimate(side)
        rows = rows[(rows["status"] == "ok") & rows["problem"].isna()]
        if rows.empty:
            continue
        rows = pd.concat([point_keys(rows), rows[["point_key", "run_id", *STATS.values()]]], axis=1)
        rows = rows.drop_duplicates(["backend", "timing_method", "l2_mode", "point_key", "run_id"], keep=False)
        key = ["backend", "timing_method", "l2_mode", "size", "point_key"]
        grouped = rows.groupby(key, sort=False)
        part = grouped.size().rename("n").to_frame()
        for name, column in STATS.items():
            part[f"ss_{name}"] = grouped[column].var(ddof=1).fillna(0.0) * (part["n"] - 1)
        frames.append(part.assign(nu=part["n"] - 1).drop(columns="n"))
    if not frames:
        return pd.DataFrame(columns=["nu", *(f"ss_{s}" for s in STATS)])
    return pd.concat(frames).groupby(level=[0, 1, 2, 3, 4], sort=False).sum()


def fit(
    spread: pd.DataFrame, machine: str, source: str, runs: tuple[str, ...] = (), per_point: bool = True
) -> NoiseProfile:
    """A profile from per-point within-side spread (see the module docstring for the estimator);
    `per_point`: keep each point's own history too."""
    profile = NoiseProfile(machine, source, runs)
    spread = spread[spread["nu"] >= 1]
    if per_point:
        for (backend, method, l2, _, key), row in spread.iterrows():
            profile.points[(backend, method, l2, key)] = {s: (float(row[f"ss_{s}"]), float(row["nu"])) for s in STATS}
    for key, part in spread.groupby(level=[0, 1, 2], sort=True):
        sizes = part.index.get_level_values(3).to_numpy()
        nu = part["nu"].to_numpy(dtype=np.float64)
        for name in STATS:
            s2 = part[f"ss_{name}"].to_numpy(dtype=np.float64) / nu
            for size, entry in _fit_key(s2, nu, sizes).items():
                profile.classes.setdefault((*key, int(size)), {})[name] = entry
    return profile


def _fit_key(s2: np.ndarray, nu: np.ndarray, sizes: np.ndarray) -> dict[int, Entry]:
    """Entries per size class of one key: class log-mean scales pulled to the key's, one tail weight."""
    use = s2 > 0
    if not use.any():
        return {}
    s2, nu, sizes = s2[use], nu[use], sizes[use]
    e = np.log(s2) - special.digamma(nu / 2.0) + np.log(nu / 2.0)  # unbiased for log sigma² per point
    key_mean = float(np.mean(e))
    class_mean = {
        int(c): (float(e[sizes == c].sum()) + CLASS_PSEUDO_POINTS * key_mean)
        / ((sizes == c).sum() + CLASS_PSEUDO_POINTS)
        for c in np.unique(sizes)
    }
    scale = np.exp([class_mean[int(c)] for c in sizes])
    _, d0 = stats.fit_prior(s2, nu, scale)
    df = float(np.clip(d0 if np.isfinite(d0) else MAX_DF, MIN_DF, MAX_DF))
    shift = special.digamma(df / 2.0) - np.log(df / 2.0)  # mean log of a scaled inverse chi-square
    return {c: Entry(float(np.sqrt(np.exp(m + shift))), df, int((sizes == c).sum())) for c, m in class_mean.items()}


def build(sides: list[pd.DataFrame], source: str, per_point: bool = True) -> NoiseProfile | None:
    """A profile from runs of one machine (each frame one side, deviations within it); None when no point
    has two runs on one side. `per_point=False` keeps the classes only (for the sides' own runs, whose
    per-point spread the model reads directly)."""
    sides = [s for s in sides if len(s)]
    if not sides:
        return None
    machine = machine_of(pd.concat([s[["gpu_name"]] for s in sides if "gpu_name" in s.columns] or [sides[0][[]]]))
    runs = tuple(sorted({str(r) for s in sides for r in s["run_id"].unique()}))
    spread = within_spread(sides)
    if spread.empty or not (spread["nu"] >= 1).any():
        return None
    return fit(spread, machine, source, runs, per_point)


def combine(profiles: list[NoiseProfile], source: str | None = None) -> NoiseProfile:
    """Class by class, the noisier of the profiles (larger s0, then smaller df): a source that has seen
    more noise on this machine is believed."""
    out = NoiseProfile(profiles[0].machine, source or " + ".join(p.source for p in profiles))
    out.runs = tuple(sorted({r for p in profiles for r in p.runs}))
    out.default = all(p.default for p in profiles)
    for p in profiles:
        for key, entries in p.classes.items():
            mine = out.classes.setdefault(key, {})
            for s, e in entries.items():
                if s not in mine or (e.s0, -e.df) > (mine[s].s0, -mine[s].df):
                    mine[s] = e
        for key, entries in p.points.items():  # per point, too, the noisier history is believed
            mine = out.points.setdefault(key, {})
            for s, (ss, nu) in entries.items():
                if s not in mine or ss / nu > mine[s][0] / mine[s][1]:
                    mine[s] = (ss, nu)
    return out


def read(path: Path) -> NoiseProfile:
    """A profile file, checked: UserError naming the file, the field and the fix."""
    from bench.files import read_json

    try:
        content = read_json(Path(path))
    except ValueError as exc:
        raise UserError(
            f"{path}: not a readable noise profile: it {exc}; rebuild it with `python -m bench baseline profile NAME`"
        ) from None
    return from_json(content, str(path))


def _rows(content: dict, name: str, source: str) -> list:
    """A profile's list field (classes, points); absent or null is empty."""
    rows = content.get(name)
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise UserError(f"{source}: {name} must be a list of objects, not {type(rows).__name__}")
    return rows


def from_json(content: object, source: str) -> NoiseProfile:
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise UserError(f'{source}: not a noise profile (needs "format": "{FORMAT}")')
    runs = content.get("runs") or []
    if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
        raise UserError(f"{source}: runs must be a list of run ids (strings)")
    if not isinstance(content.get("machine") or CPU, str):
        raise UserError(f"{source}: machine must be a GPU name (a string)")
    profile = NoiseProfile(content.get("machine") or CPU, source, tuple(runs))
    for i, row in enumerate(_rows(content, "classes", source)):
        try:
            key = (str(row["backend"]), str(row["timing_method"]), str(row["l2_mode"]), int(row["size_class"]))
            entries = {
                s: Entry(float(row[s]["s0"]), float(row[s]["df"]), int(row[s].get("points", 0)))
                for s in STATS
                if s in row
            }
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise UserError(f"{source}: classes[{i}] lacks a valid {exc}: every class needs backend, timing_method, "
                            f"l2_mode, size_class and s0/df for {' or '.join(STATS)}") from None  # fmt: skip
        if not entries:
            raise UserError(f"{source}: classes[{i}] has no s0/df for {' or '.join(STATS)}")
        bad = [s for s, e in entries.items() if not (np.isfinite([e.s0, e.df]).all() and e.s0 > 0 and e.df > 0)]
        if bad:
            raise UserError(f"{source}: classes[{i}] has a non-positive or non-finite s0/df for {bad[0]}")
        profile.classes[key] = entries
    if not profile.classes:
        raise UserError(f"{source}: a noise profile with no classes")
    for i, row in enumerate(_rows(content, "points", source)):
        try:
            key = (str(row["backend"]), str(row["timing_method"]), str(row["l2_mode"]), str(row["point_key"]))
            entries = {s: (float(row[s]["ss"]), float(row[s]["nu"])) for s in STATS if s in row}
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{source}: points[{i}] lacks a valid {exc}: a point needs backend, timing_method, "
                            "l2_mode, point_key and ss/nu per statistic") from None  # fmt: skip
        if any(not (np.isfinite([ss, nu]).all() and ss >= 0 and nu > 0) for ss, nu in entries.values()):
            raise UserError(f"{source}: points[{i}] has a negative or non-finite ss, or nu <= 0 or not finite")
        profile.points[key] = entries
    return profile


def write(profile: NoiseProfile, path: Path, what: str | None = None) -> Path:
    """The profile as JSON at ``path``, atomically; ``what``: how a failure names the file (default: the path)."""
    from bench.files import save

    return save(path, json.dumps(profile.to_json(), indent=1) + "\n", what or str(path))
