"""Why each point got its verdict, in words: the band it was tested against and what widened it, the
noise it was judged with, and for undecided points how many runs would decide them.

Plain arrays, not itertuples: a comparison explains every point, and compare, gate and report all show
these sentences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis import model, rule

COLUMNS = (
    "verdict", "band_low", "band_high", "ci_low", "ci_high", "noise_base", "noise_cand", "drift", "drift_established",
    "copy_moved", "runs_to_decide", "ratio", "tail_verdict", "tail_ratio", "tail_ci_low", "tail_ci_high",
    "tail_runs_to_decide", "p_adj", "copy_unlike", "ran_changed", "ran_base", "ran_cand",
)  # fmt: skip


def runs_text(runs: int) -> str:
    """'about 3 runs a side would decide it', or why none would."""
    if runs > model.MAX_RUNS:
        return f"more than {model.MAX_RUNS} runs a side would be needed to decide it (it sits near the band's edge, or the noise is large)"
    return f"about {runs} run{'s' if runs != 1 else ''} a side would decide it if the estimate held"


def reasons(points: pd.DataFrame, decision: rule.DecisionRule, tests: int) -> list[str]:
    col = {c: points[c].to_numpy() for c in COLUMNS}
    out = []
    for i, verdict in enumerate(col["verdict"]):
        parts = [_median(col, i, verdict, decision, tests)]
        tail = col["tail_verdict"][i]
        if tail in ("slower", "undecided") and col["tail_ratio"][i] > 1:
            parts.append(_tail(col, i, tail))
        if col["copy_moved"][i]:
            parts.append(f"its memcpy moved {col['drift'][i]:.3f}x, beyond the threshold: not judged by the gate")
        if col["copy_unlike"][i]:
            parts.append(str(col["copy_unlike"][i]))
        if col["ran_changed"][i]:
            parts.append(f"what ran changed: {col['ran_base'][i]} -> {col['ran_cand'][i]}")
        out.append("; ".join(parts))
    return out


def _widened(col: dict, i: int) -> str:
    drift = col["drift"][i]
    if col["drift_established"][i] and np.isfinite(drift) and abs(np.log(drift)) > 1e-12:
        return (
            f", band widened to [{col['band_low'][i]:.3f}, {col['band_high'][i]:.3f}] by its memcpy's established "
            f"move ({drift:.3f}x)"
        )
    return ""


def _median(col: dict, i: int, verdict: str, decision: rule.DecisionRule, tests: int) -> str:
    low, high, widened = col["band_low"][i], col["band_high"][i], _widened(col, i)
    noise = f"noise {col['noise_base'][i]:.2%}/{col['noise_cand'][i]:.2%} a run (base/cand)"
    p = col["p_adj"][i]
    if verdict == "slower":
        return f"above {high:.3f}: adjusted p {p:.2g} < {decision.family_alpha:g}{widened}"
    if verdict == "faster":
        return f"below {low:.3f}: adjusted p {p:.2g} < {decision.family_alpha:g}{widened}"
    if verdict == "same":
        return f"inside [{low:.3f}, {high:.3f}]: adjusted p {p:.2g} < {decision.family_alpha:g}{widened}"
    ci = f"CI [{col['ci_low'][i]:.3f}, {col['ci_high'][i]:.3f}]"
    if verdict == "undecided":
        return (
            f"estimate {col['ratio'][i]:.3f} beyond the ±{decision.threshold:.0%} threshold but not shown beyond "
            f"[{low:.3f}, {high:.3f}] ({ci}, {noise}){widened}; {runs_text(int(col['runs_to_decide'][i]))}"
        )
    return (
        f"{ci} neither beyond nor inside the ±{decision.threshold:.0%} band at alpha {decision.family_alpha:g} "
        f"(BH over {tests} points); {noise}{widened}"
    )


def _tail(col: dict, i: int, tail: str) -> str:
    ci = f"[{col['tail_ci_low'][i]:.3f}, {col['tail_ci_high'][i]:.3f}]"
    if tail == "slower":
        return f"tail: p90 {col['tail_ratio'][i]:.3f}x {ci}, shown beyond the band"
    return (
        f"tail: p90 {col['tail_ratio'][i]:.3f}x {ci}, beyond the threshold, not shown; "
        f"{runs_text(int(col['tail_runs_to_decide'][i]))}"
    )
