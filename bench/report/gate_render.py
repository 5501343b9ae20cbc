"""The gate's decision for people (terminal, markdown for a PR comment) and machines (csv, json).

The decision comes first and last (the last line of a CI log), led by what ran: how many gated points
ran another launch or other tactics. Then every reason for it, each point with both of its launches
where they changed, the undecided points with how many runs would decide them, and the notes (the
machine's drift, the noise each group was judged with, the decision rule).
"""

from __future__ import annotations

import pandas as pd
from rich.console import Group
from rich.text import Text

from bench.analysis.gate import EXIT_FAIL, EXIT_REFUSED, GateResult
from bench.analysis.reasons import runs_text
from bench.report.render import (
    LIST_LIMIT,
    TERMINAL_ROWS,
    comparison_dict,
    comparison_markdown,
    comparison_renderable,
    point_label,
    ratio_text,
    records,
    strict_json,
)


def _ran(r: pd.Series) -> str:
    return f"; what ran changed: {r['ran_base']} -> {r['ran_cand']}" if r.get("ran_changed", False) else ""


def _failure(r: pd.Series) -> str:
    tail = f", p90 {r['tail_ratio']:.3f} [{r['tail_ci_low']:.3f}, {r['tail_ci_high']:.3f}]"
    return f"slower ({r['failed_on']}): {point_label(r)}: ratio {ratio_text(r)}{tail}{_ran(r)}; {r.get('reason', '')}"


def _undecided(r: pd.Series) -> str:
    on_tail = (
        r["tail_verdict"] == "undecided"
        and r["tail_ratio"] > 1
        and not (r["verdict"] == "undecided" and r["ratio"] > 1)
    )
    what = f"p90 {r['tail_ratio']:.3f}x" if on_tail else f"ratio {ratio_text(r)}"
    runs = int(r["tail_runs_to_decide"] if on_tail else r["runs_to_decide"])
    return f"undecided: {point_label(r)}: {what}, beyond the threshold and not shown; {runs_text(runs)}{_ran(r)}"


def gate_lines(result: GateResult, limit: int | None = LIST_LIMIT) -> list[str]:
    """The decision, then every reason for it (the first `limit` of each kind), then the notes."""
    lines = [result.headline()]

    def listed(frame: pd.DataFrame, text) -> None:
        for _, r in frame.head(limit).iterrows():
            lines.append("  " + text(r))
        if limit is not None and len(frame) > limit:
            lines.append(f"  ... and {len(frame) - limit} more")

    listed(result.failures, _failure)
    listed(result.unjudgeable, lambda r: f"cannot be judged: {point_label(r)}: {r['reason']}")
    verb = "allowed" if result.allow_missing else "FAILS"
    listed(result.missing, lambda r: f"missing from cand ({verb}): {point_label(r)}")
    listed(result.undecided, _undecided)
    listed(
        result.refused_points,
        lambda r: f"not judged: {point_label(r)}: its memcpy moved {r['drift']:.3f}x, beyond the threshold{_ran(r)}",
    )
    if result.comparison is not None and result.ran_changed:
        changed = result.comparison.points
        changed = changed[changed["ran_changed"] & ~changed["yardstick"]]
        listed(
            changed,
            lambda r: f"launch/tactics changed: {point_label(r)}: {r['ran_base']} -> {r['ran_cand']} ({r['verdict']})",
        )
    lines += [f"  note: {n}" for n in result.notes]
    return lines


def gate_renderable(result: GateResult, max_rows: int | None = TERMINAL_ROWS) -> Group:
    """Decision and reasons first, then the comparison, then the decision again (the last line of a CI log)."""
    style = {0: "bold green", EXIT_FAIL: "bold red", EXIT_REFUSED: "bold yellow"}[result.exit_code]
    lines = gate_lines(result)
    parts: list = [Text(lines[0], style=style), *(Text(line) for line in lines[1:])]
    if result.comparison is not None:
        parts += [Text(""), comparison_renderable(result.comparison, max_rows)]
        parts.append(Text(lines[0], style=style))
    return Group(*parts)


def gate_markdown(result: GateResult) -> str:
    """Markdown for a PR comment or CI artifact: the decision, its reasons, then the full comparison."""
    lines = gate_lines(result, limit=None)
    out = [f"# Regression gate: {lines[0]}", "", f"Exit code {result.exit_code}.", ""]
    if len(lines) > 1:
        out += [f"- {line.strip()}" for line in lines[1:]] + [""]
    if result.comparison is not None:
        out.append(comparison_markdown(result.comparison))
    return "\n".join(out)


def gate_text(result: GateResult, fmt: str) -> str:
    """--format for the gate: md (gate_markdown), csv (the per-point table), json (decision + comparison)."""
    if fmt == "md":
        return gate_markdown(result)
    if fmt == "csv":
        return result.comparison.points.to_csv(index=False) if result.comparison is not None else ""
    content = {
        "exit_code": result.exit_code,
        "headline": result.headline(),
        "what_ran": {"gated": result.n_gated, "changed": result.ran_changed},
        "refusals": result.refusals,
        "failures": records(result.failures),
        "undecided": records(result.undecided),
        "refused_points": records(result.refused_points),
        "cannot_be_judged": records(result.unjudgeable),
        "missing": records(result.missing),
        "notes": result.notes,
        "comparison": None if result.comparison is None else comparison_dict(result.comparison),
    }
    return strict_json(content)
