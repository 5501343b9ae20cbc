"""The error-rate replay's tables and goals as markdown (bench.analysis.error_rates measures them)."""

from __future__ import annotations

import numpy as np

from bench.analysis import error_rates as er
from bench.analysis.error_rates import RunSet, Tally
from bench.analysis.rule import DecisionRule

Rows = list[tuple[RunSet, str, Tally]]


def pct(caught: int, tried: int) -> str:
    return "–" if tried == 0 else f"{caught / tried:.1%}"


def table(rows: Rows, decision: DecisionRule, points_per_split: int, max_splits: int, seed: int) -> str:
    factors = rows[0][2].factors if rows else er.FACTORS
    head = ["runs", "split", "gate runs", "A/A median change", "A/A fail", "A/A refused", "slower points in A/A",
            "1% drift fail", "1% drift refused"]  # fmt: skip
    head += [f"one +{f:.0%}" for f in factors] + [f"all +{f:.0%}" for f in factors]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rs, kind, t in rows:
        cells = [
            f"{rs.label} ({len(rs.runs)} runs)",
            kind,
            str(t.gate_runs),
            f"{np.expm1(np.nanmedian(t.aa_change)):.2%}" if t.aa_change else "–",
            f"{t.aa_fail} ({pct(t.aa_fail, t.gate_runs)})",
            f"{t.aa_refused} ({pct(t.aa_refused, t.gate_runs)})",
            f"{t.aa_point_slower} of {t.aa_points:,}",
            f"{t.drift_fail} ({pct(t.drift_fail, t.gate_runs)})",
            f"{t.drift_refused} ({pct(t.drift_refused, t.gate_runs)})",
        ]
        cells += [f"{pct(c, n)} ({pct(b, n)})" for c, b, n in (t.one[f] for f in factors)]
        cells += [f"{pct(c, n)} ({pct(b, n)})" for c, b, n in (t.all[f] for f in factors)]
        lines.append("| " + " | ".join(cells) + " |")
    settings = (
        f"{decision.describe()} {points_per_split} sampled points per split for 'one', at most {max_splits} splits "
        f"per kind, seed {seed}. 'A/A fail': exit 1 (a false alarm); 'A/A refused': exit 2 (refused or undecided: "
        "never a pass, never a failure). 'A/A median change': median over splits of the median |ratio - 1| of the "
        "gated points between repeats. 'one +f': share of (split, point) gate runs that failed (exit 1) naming the "
        "slowed point as slower, in brackets the share that did not pass (exit 1 or 2); 'all +f': share of splits "
        "whose gate failed with every gated point f slower, in brackets the share that did not pass. h vs h "
        "splits: interleaved (base, cand, base, cand in time, as `nox -s gate` runs them), blocked (one side's "
        "runs all before the other's), nested (the rest)."
    )
    return "\n".join(lines) + "\n\n" + settings + "\n"


def refusals(rows: Rows) -> str:
    """Why the A/A gate runs that refused refused, per set and split kind."""
    out = []
    for rs, kind, t in rows:
        if t.refusal_reasons:
            reasons = "; ".join(f"{n} x {why}" for why, n in sorted(t.refusal_reasons.items(), key=lambda x: -x[1]))
            out.append(f"- {rs.label}, {kind}: {reasons}")
    return ("A/A refusals, by the first words of the first reason:\n\n" + "\n".join(out) + "\n") if out else ""


def goals(rows: Rows) -> str:
    """Per set of repeats and split kind: the goals and whether these runs meet them."""
    out = ["Goals, per set of repeats and split kind:", ""]
    for label in dict.fromkeys(rs.label for rs, _, _ in rows):
        kinds = [(kind, t) for rs, kind, t in rows if rs.label == label]
        n_runs = len(next(rs for rs, _, _ in rows if rs.label == label).runs)
        out.append(f"- {label} ({n_runs} runs):")
        met_all = []
        for kind, t in kinds:
            checks = [
                (f"A/A false alarms {t.aa_fail} of {t.gate_runs} ({t.aa_fail / t.gate_runs:.1%})",
                 t.aa_fail / t.gate_runs <= er.GOAL_FALSE_ALARMS),
                (f"1% drift failed {t.drift_fail} of {t.gate_runs}", t.drift_fail == 0),
            ]  # fmt: skip
            for what, factor, goal, table_ in (
                ("one point", er.GOAL_ONE, er.GOAL_ONE_POWER, t.one),
                ("all points", er.GOAL_ALL, er.GOAL_ALL_POWER, t.all),
            ):
                caught, _, tried = table_.get(factor, (0, 0, 0))
                if tried:
                    checks.append(
                        (
                            f"{what} {factor:.0%} slower caught {caught} of {tried} ({caught / tried:.1%})",
                            caught / tried >= goal,
                        )
                    )
            out.append(f"  - {kind}: " + "; ".join(f"{c} ({'met' if ok else 'NOT met'})" for c, ok in checks))
            if all(ok for _, ok in checks):
                met_all.append(kind)
        out.append(f"  - every goal met by: {', '.join(met_all) if met_all else 'no split kind'}")
    text = (
        f"(goals: A/A false alarms (exit 1) <= {er.GOAL_FALSE_ALARMS:.0%} of gate runs; a 1% drift never fails (exit 1); "
        f"one point {er.GOAL_ONE:.0%} slower caught (exit 1 naming it) >= {er.GOAL_ONE_POWER:.0%}; all points "
        f"{er.GOAL_ALL:.0%} slower caught (exit 1) >= {er.GOAL_ALL_POWER:.0%})"
    )
    return "\n".join(out) + "\n\n" + text + "\n"
