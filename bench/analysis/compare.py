"""Compare two sides (runs, GPUs, versions) point by point, with verdicts that know about noise.

A side is a DataFrame of results rows (bench.results.load of some files). Points join on `point_key`
(the workload) plus `backend`, because one workload run by two backends is two series; when the sides
are themselves backends (`--by backend`), the join is on `point_key` alone. Only rows with status "ok"
carry timings; a point that is ok on one side only is listed, never silently dropped.

Verdicts follow nvbench's robust compare: "same" needs evidence of sameness (the CI of the ratio lies
inside 1 +/- threshold), "faster"/"slower" need significance after Benjamini-Hochberg correction AND a CI
wholly past the threshold; everything else is "ambiguous" (too few or too noisy samples to decide).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.analysis import stats
from bench.errors import UserError

VERDICTS = ("faster", "slower", "same", "ambiguous")
DESCRIBE_COLUMNS = ("shape", "numel", "mode", "precision", "channel_axis", "timing_method", "l2_flush")
MIN_SAMPLES = 5


@dataclass
class Summary:
    """What a comparison adds up to: the geometric-mean ratio and how many points fell where."""

    geomean_ratio: float
    counts: dict[str, int]
    n_points: int
    n_only_base: int
    n_only_cand: int


@dataclass
class Comparison:
    """Per-point table plus the points only one side has.

    `points` columns: the join keys, DESCRIBE_COLUMNS, n_base, n_cand, base_median_us, cand_median_us,
    base_cv, cand_cv, ratio (cand/base of medians), ci_low, ci_high, p_value, p_adj, verdict, reason.
    `only_base` / `only_cand`: join keys, DESCRIBE_COLUMNS and `other_status` (the status the other side
    recorded for that point, e.g. "failed", or "absent") with `other_error`.
    """

    points: pd.DataFrame
    only_base: pd.DataFrame
    only_cand: pd.DataFrame
    keys: list[str]
    base_label: str = "base"
    cand_label: str = "cand"
    threshold: float = 0.05
    alpha: float = 0.01

    @property
    def summary(self) -> Summary:
        verdicts = self.points["verdict"] if len(self.points) else pd.Series([], dtype=object)
        return Summary(
            geomean_ratio=stats.geometric_mean(self.points["ratio"].to_numpy()) if len(self.points) else float("nan"),
            counts={v: int((verdicts == v).sum()) for v in VERDICTS},
            n_points=len(self.points),
            n_only_base=len(self.only_base),
            n_only_cand=len(self.only_cand),
        )


def join_keys(by: str | None = None) -> list[str]:
    """point_key plus backend, minus the column the sides were split by (it differs by construction)."""
    return [k for k in ("point_key", "backend") if k != by]


def verdict(
    ratio: float, ci: tuple[float, float], p_adj: float, n: tuple[int, int], threshold: float, alpha: float
) -> tuple[str, str]:
    """(verdict, reason) of one point: see the module docstring for the rule."""
    lo, hi = ci
    if min(n) < MIN_SAMPLES:
        return "ambiguous", f"too few samples (n={min(n)} < {MIN_SAMPLES})"
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(ratio)):
        return "ambiguous", "no confidence interval (zero or missing medians)"
    if lo >= 1 - threshold and hi <= 1 + threshold:
        return "same", f"CI within ±{threshold:.0%}"
    significant = np.isfinite(p_adj) and p_adj < alpha
    if significant and lo > 1 + threshold:
        return "slower", f"CI above +{threshold:.0%}, p_adj={p_adj:.2g}"
    if significant and hi < 1 - threshold:
        return "faster", f"CI below -{threshold:.0%}, p_adj={p_adj:.2g}"
    if not significant:
        return "ambiguous", f"CI [{lo:.3f}, {hi:.3f}] too wide to decide and p_adj={p_adj:.2g} ≥ {alpha:g}"
    return "ambiguous", f"significant but CI [{lo:.3f}, {hi:.3f}] straddles the ±{threshold:.0%} band"


def _rounds(samples: object, sizes: object) -> list[np.ndarray]:
    """A row's samples cut into its interleaved rounds (one group when it has no round sizes)."""
    x = np.asarray(samples, dtype=np.float64)
    if sizes is None or (isinstance(sizes, float) and np.isnan(sizes)):
        return [x]
    sizes = [int(n) for n in sizes]
    if len(sizes) < 2 or sum(sizes) != x.size:
        return [x]
    return np.split(x, np.cumsum(sizes)[:-1])


def _timed_side(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per key from the ok rows; samples of repeated runs of one point are pooled, and `groups`
    keeps them apart by run and round (the units of between-run noise)."""
    ok = df[df["status"] == "ok"]
    has_rounds = "round_sizes" in ok.columns
    cols = [*keys, *[c for c in DESCRIBE_COLUMNS if c in ok.columns], "samples_us"]
    groups = [
        _rounds(s, r)
        for s, r in zip(ok["samples_us"], ok["round_sizes"] if has_rounds else [None] * len(ok), strict=True)
    ]
    ok = ok[cols].assign(groups=groups)
    if not ok.duplicated(keys).any():
        return ok.set_index(keys)
    grouped = ok.groupby(keys, sort=False)
    first = grouped.first()
    first["samples_us"] = grouped["samples_us"].agg(
        lambda s: np.concatenate([np.asarray(x, dtype=np.float64) for x in s])
    )
    first["groups"] = grouped["groups"].agg(lambda g: [part for parts in g for part in parts])
    return first


def _unmatched(side: pd.DataFrame, other_all: pd.DataFrame, missing: pd.Index, keys: list[str]) -> pd.DataFrame:
    """Rows of `side` whose key has no ok row on the other side, with what the other side recorded."""
    cols = [c for c in DESCRIBE_COLUMNS if c in side.columns]
    out = side.loc[missing, cols].reset_index()
    other = other_all.drop_duplicates(keys, keep="last").set_index(keys)
    found = other.reindex(missing)
    out["other_status"] = found["status"].fillna("absent").to_numpy()
    errors = found["error"] if "error" in found.columns else pd.Series(None, index=found.index)
    out["other_error"] = errors.to_numpy()
    return out


def compare(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    *,
    threshold: float = 0.05,
    alpha: float = 0.01,
    by: str | None = None,
    base_label: str = "base",
    cand_label: str = "cand",
    n_resamples: int = stats.N_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Per-point ratio cand/base of medians with bootstrap CI, Mann-Whitney p, BH-adjusted p and verdict."""
    keys = join_keys(by)
    b, c = _timed_side(base, keys), _timed_side(cand, keys)
    common = b.index.intersection(c.index, sort=False)
    rows = []
    # Plain dicts: pandas' .at on a MultiIndex costs ~0.1 ms a lookup, as much as the statistics.
    b_samples, c_samples = (
        dict(zip(b.index, b["samples_us"], strict=True)),
        dict(zip(c.index, c["samples_us"], strict=True)),
    )
    b_groups, c_groups = dict(zip(b.index, b["groups"], strict=True)), dict(zip(c.index, c["groups"], strict=True))
    for key in common:
        bs = np.asarray(b_samples[key], dtype=np.float64)
        cs = np.asarray(c_samples[key], dtype=np.float64)
        key_tuple = key if isinstance(key, tuple) else (key,)
        rng = stats.point_rng(seed, "|".join(map(str, key_tuple)))
        mb, mc = float(np.median(bs)) if bs.size else np.nan, float(np.median(cs)) if cs.size else np.nan
        rows.append(
            {
                **dict(zip(keys, key_tuple, strict=True)),
                "n_base": bs.size,
                "n_cand": cs.size,
                "base_median_us": mb,
                "cand_median_us": mc,
                "base_cv": _cv(bs),
                "cand_cv": _cv(cs),
                "ratio": mc / mb if mb > 0 else np.nan,
                "ci": stats.ratio_ci(bs, cs, b_groups[key], c_groups[key], n_resamples=n_resamples, rng=rng),
                "p_value": stats.mann_whitney_p(bs, cs),
            }
        )
    points = _finish_points(rows, b.loc[common] if len(common) else b.iloc[:0], keys, threshold, alpha)
    return Comparison(
        points=points,
        only_base=_unmatched(b, cand, b.index.difference(c.index, sort=False), keys),
        only_cand=_unmatched(c, base, c.index.difference(b.index, sort=False), keys),
        keys=keys,
        base_label=base_label,
        cand_label=cand_label,
        threshold=threshold,
        alpha=alpha,
    )


def _cv(samples: np.ndarray) -> float:
    if samples.size < 2 or np.mean(samples) == 0:
        return float("nan")
    return float(np.std(samples, ddof=1) / np.mean(samples))


def _finish_points(
    rows: list[dict], described: pd.DataFrame, keys: list[str], threshold: float, alpha: float
) -> pd.DataFrame:
    """Adds descriptions, BH-adjusted p and verdicts; sorted worst ratio first."""
    columns = [*keys, *[c for c in DESCRIBE_COLUMNS if c in described.columns]]
    if not rows:
        extra = ["n_base", "n_cand", "base_median_us", "cand_median_us", "ratio", "ci_low", "ci_high"]
        return pd.DataFrame(columns=[*columns, *extra, "p_value", "p_adj", "verdict", "reason"])
    points = pd.DataFrame(rows)
    desc = described.drop(columns=["samples_us"]).reset_index(drop=True)
    points = pd.concat([points[keys], desc, points.drop(columns=keys)], axis=1)
    points["ci_low"] = [ci[0] for ci in points["ci"]]
    points["ci_high"] = [ci[1] for ci in points["ci"]]
    points = points.drop(columns=["ci"])
    points["p_adj"] = stats.benjamini_hochberg(points["p_value"].to_numpy())
    decided = [
        verdict(r, (lo, hi), p, (nb, nc), threshold, alpha)
        for r, lo, hi, p, nb, nc in zip(
            points["ratio"],
            points["ci_low"],
            points["ci_high"],
            points["p_adj"],
            points["n_base"],
            points["n_cand"],
            strict=True,
        )
    ]
    points["verdict"] = [v for v, _ in decided]
    points["reason"] = [r for _, r in decided]
    return points.sort_values("ratio", ascending=False, kind="stable", na_position="last").reset_index(drop=True)


def sides(df: pd.DataFrame, column: str) -> dict[str, pd.DataFrame]:
    """Split one frame into sides by the values of `column`, oldest side first (by earliest timestamp).

    Oldest first makes the earlier commit, version or run the base without the user saying so.
    """
    if column not in df.columns:
        raise UserError(f"--by {column}: no such column; choose one of: {', '.join(sorted(df.columns))}")
    values = df[column].astype("string").fillna("(none)")
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
