"""The regression gate: may this change merge? Exit 0 (yes), 1 (a real slowdown or lost point), 2 (refused).

A point fails only when it is slower with significance after Benjamini-Hochberg correction AND the whole
95% CI of its ratio lies above 1 + threshold: noise alone cannot fail a build (unlike a fixed-percentage
check on one number). Ambiguous points never fail; they are listed with advice to measure longer.
Comparing across GPUs, backends or timing methods answers a different question, so the gate refuses it
(exit 2) unless `cross`, which compares and reports but always exits 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench.analysis.compare import Comparison, compare
from bench.analysis.stats import N_RESAMPLES

EXIT_PASS, EXIT_FAIL, EXIT_REFUSED = 0, 1, 2
RERUN_ADVICE = (
    "ambiguous points never fail the gate; to decide them, re-run with more samples "
    "(raise --max-time, lower --target-noise, or quiet the machine: fixed clocks, no other jobs)"
)


@dataclass
class GateResult:
    """The decision and everything needed to explain it."""

    exit_code: int
    comparison: Comparison | None
    failures: pd.DataFrame  # points slower beyond the threshold with significance
    missing: pd.DataFrame  # points timed in base without an ok row in cand
    ambiguous: pd.DataFrame
    refusals: list[str] = field(default_factory=list)  # why base and cand are not comparable
    cross: bool = False
    allow_missing: bool = False

    def headline(self) -> str:
        """One line for a CI log: the verdict and its cause."""
        if self.exit_code == EXIT_REFUSED:
            return "REFUSED: " + "; ".join(self.refusals) + " (pass --cross to compare anyway; it never gates)"
        if self.cross:
            return "CROSS comparison (not gated)" + (": " + "; ".join(self.refusals) if self.refusals else "")
        if self.exit_code == EXIT_FAIL:
            parts = []
            if len(self.failures):
                parts.append(f"{len(self.failures)} point(s) slower")
            if len(self.missing) and not self.allow_missing:
                parts.append(f"{len(self.missing)} point(s) of base missing from cand")
            return "FAIL: " + ", ".join(parts)
        return "PASS" + (f" ({len(self.ambiguous)} ambiguous point(s) listed)" if len(self.ambiguous) else "")


def _values(df: pd.DataFrame, column: str) -> set[str]:
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    if column not in ok.columns:
        return set()
    return set(ok[column].astype("string").fillna("(none)").unique())


def run_refusals(base: pd.DataFrame, cand: pd.DataFrame) -> list[str]:
    """Why base and cand are runs of different things: their GPUs or backends differ. Empty when alike."""
    reasons = []
    for column, what in (("gpu_name", "GPUs"), ("backend", "backends")):
        b, c = _values(base, column), _values(cand, column)
        if b != c:
            reasons.append(f"different {what}: base has {sorted(b)}, cand has {sorted(c)}")
    return reasons


def point_refusals(base: pd.DataFrame, cand: pd.DataFrame, comparison: Comparison) -> list[str]:
    """Joined points whose timing method (graph/events/host) or L2 flush differs between the sides.

    Checked per point, not per run: one point that fell back from graph to events makes its own ratio
    meaningless (launch overhead included on one side only) but says nothing about the others.
    """
    reasons = []
    for column in ("timing_method", "l2_flush"):
        differs = _differs_per_point(base, cand, comparison, column)
        if differs:
            reasons.append(f"different {column} on {len(differs)} point(s), e.g. {differs[0]}")
    return reasons


def _differs_per_point(base: pd.DataFrame, cand: pd.DataFrame, comparison: Comparison, column: str) -> list[str]:
    keys = comparison.keys
    if column not in base.columns or column not in cand.columns:
        return []

    def per_key(df: pd.DataFrame) -> pd.Series:
        ok = df[df["status"] == "ok"]
        return (
            ok.assign(_v=ok[column].astype("string").fillna("(none)"))
            .groupby(keys)["_v"]
            .agg(lambda s: ",".join(sorted(set(s))))
        )

    joined = pd.concat([per_key(base).rename("b"), per_key(cand).rename("c")], axis=1, join="inner")
    bad = joined[joined["b"] != joined["c"]]
    return [f"{key}: base {row.b} vs cand {row.c}" for key, row in bad.iterrows()]


def gate(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    threshold: float = 0.05,
    alpha: float = 0.01,
    allow_missing: bool = False,
    cross: bool = False,
    n_resamples: int = N_RESAMPLES,
) -> GateResult:
    """Compare and decide; see the module docstring."""
    empty = pd.DataFrame()
    if not (base["status"] == "ok").any():
        return GateResult(EXIT_REFUSED, None, empty, empty, empty, ["base has no timed (status ok) points"])
    reasons = run_refusals(base, cand)
    if reasons and not cross:
        return GateResult(EXIT_REFUSED, None, empty, empty, empty, reasons, allow_missing=allow_missing)
    comparison = compare(base, cand, threshold=threshold, alpha=alpha, n_resamples=n_resamples)
    reasons += point_refusals(base, cand, comparison)
    points = comparison.points
    failures = points[points["verdict"] == "slower"]
    ambiguous = points[points["verdict"] == "ambiguous"]
    missing = comparison.only_base
    if cross:
        code = EXIT_PASS
    elif reasons:
        code = EXIT_REFUSED
    elif len(failures) or (len(missing) and not allow_missing):
        code = EXIT_FAIL
    else:
        code = EXIT_PASS
    return GateResult(code, comparison, failures, missing, ambiguous, reasons, cross=cross, allow_missing=allow_missing)
