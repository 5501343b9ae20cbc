"""Comparisons and gate results as a rich table for the terminal and as markdown for files and PRs.

Every table says what its times measured (timing method) and how noisy they were (cv), because a ratio
of two event-timed medians with 20% cv means something else than one of graph-timed medians with 0.5%.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from bench.analysis.compare import Comparison
from bench.analysis.gate import RERUN_ADVICE, GateResult

TIMING_MEANING = {
    "graph": "device time from CUDA-graph replay (no launch overhead)",
    "events": "CUDA-event time per call, launch overhead included",
    "host": "host clock (perf_counter) around the call",
}
VERDICT_STYLE = {"faster": "green", "slower": "bold red", "same": "dim", "ambiguous": "yellow"}
TERMINAL_ROWS = 40


def describe_timing(methods: Iterable[object]) -> str:
    """'graph = device time from ...; events = ...' for the methods present."""
    names = sorted({str(m) for m in methods if m is not None and not (isinstance(m, float) and np.isnan(m))})
    if not names:
        return "timing method not recorded"
    return "; ".join(f"{m} = {TIMING_MEANING.get(m, 'unknown method')}" for m in names)


def point_label(row: pd.Series) -> str:
    """'channel fp16 1x3x224x224 axis=default [cuda]': enough to find the point in a sweep."""
    backend = f" [{row['backend']}]" if "backend" in row.index else ""
    return f"{row.get('mode', '?')} {row.get('precision', '?')} {row.get('shape', '?')} axis={row.get('channel_axis', '?')}{backend}"


def _ratio_text(row: pd.Series) -> str:
    return f"{row['ratio']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.1%}"


def context_line(comp: Comparison) -> str:
    """What the times are and how noisy: one line under every comparison."""
    p = comp.points
    methods = p["timing_method"] if "timing_method" in p.columns else []
    noise = (
        f"median cv {comp.base_label} {_pct(float(np.nanmedian(p['base_cv'])))}, "
        f"{comp.cand_label} {_pct(float(np.nanmedian(p['cand_cv'])))}"
        if len(p) and p["base_cv"].notna().any() and p["cand_cv"].notna().any()
        else "noise not available"
    )
    return (
        f"Ratio = median {comp.cand_label} / median {comp.base_label} per call (>1 is slower), with bootstrap "
        f"95% CI. Times: {describe_timing(methods)}. Noise: {noise}. Verdicts: threshold ±{comp.threshold:.0%}, "
        f"alpha {comp.alpha:g} after Benjamini-Hochberg."
    )


def summary_line(comp: Comparison) -> str:
    s = comp.summary
    counts = ", ".join(f"{v} {n}" for v, n in s.counts.items())
    geo = f"{s.geomean_ratio:.3f}" if np.isfinite(s.geomean_ratio) else "n/a"
    return (
        f"{s.n_points} points compared: {counts}; geometric-mean ratio {geo}; "
        f"only in {comp.base_label}: {s.n_only_base}, only in {comp.cand_label}: {s.n_only_cand}"
    )


def comparison_table(comp: Comparison, max_rows: int = TERMINAL_ROWS) -> Group:
    """Rich renderable: the points that are not 'same' first (worst ratio first), then 'same' ones."""
    p = comp.points
    shown = pd.concat([p[p["verdict"] != "same"], p[p["verdict"] == "same"]]).head(max_rows)
    table = Table(title=f"{comp.cand_label} vs {comp.base_label}", show_lines=False)
    for col in ("point", f"{comp.base_label} µs", f"{comp.cand_label} µs", "ratio [95% CI]", "p_adj", "verdict"):
        table.add_column(col, justify="left" if col in ("point", "verdict") else "right")
    for _, row in shown.iterrows():
        table.add_row(
            Text(point_label(row)),  # Text, not str: rich would eat "[cuda]" as a markup tag
            f"{row['base_median_us']:.2f}",
            f"{row['cand_median_us']:.2f}",
            _ratio_text(row),
            f"{row['p_adj']:.2g}",
            Text(row["verdict"], style=VERDICT_STYLE.get(row["verdict"], "")),
        )
    parts: list = [table]
    if len(p) > len(shown):
        parts.append(Text(f"... {len(p) - len(shown)} more points not shown (write all with --markdown PATH)"))
    parts.extend(Text(line) for line in _unmatched_lines(comp))
    parts.append(Text(summary_line(comp), style="bold"))
    parts.append(Text(context_line(comp), style="dim"))
    return Group(*parts)


def _unmatched_lines(comp: Comparison, limit: int = 10) -> list[str]:
    lines = []
    for frame, where, other in (
        (comp.only_base, comp.base_label, comp.cand_label),
        (comp.only_cand, comp.cand_label, comp.base_label),
    ):
        for _, row in frame.head(limit).iterrows():
            lines.append(f"only in {where}: {point_label(row)} ({other}: {row['other_status']})")
        if len(frame) > limit:
            lines.append(f"... and {len(frame) - limit} more only in {where}")
    return lines


def md_table(header: list[str], rows: Iterable[list[str]]) -> str:
    def cell(x: str) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _largest_changes(points: pd.DataFrame, n: int) -> pd.DataFrame:
    """The n points that changed most (|log ratio|), non-'same' verdicts first, kept in ratio order."""
    changed = points["verdict"] != "same"
    magnitude = np.abs(np.log(points["ratio"].astype(float)))
    order = points.assign(_c=changed, _m=magnitude).sort_values(["_c", "_m"], ascending=False, kind="stable")
    return points.loc[sorted(order.index[:n])]


def comparison_markdown(comp: Comparison, title: str | None = None, max_rows: int | None = None) -> str:
    """Markdown: the points (all, or the max_rows that changed most), the unmatched
    ones, the summary and what the times mean."""
    out = [
        f"## {title or f'{comp.cand_label} vs {comp.base_label}'}",
        "",
        summary_line(comp),
        "",
        context_line(comp),
        "",
    ]
    p = comp.points
    shown = p if max_rows is None else _largest_changes(p, max_rows)
    rows = [
        [
            point_label(r),
            f"{r['base_median_us']:.3f}",
            f"{r['cand_median_us']:.3f}",
            _ratio_text(r),
            f"{r['p_adj']:.2g}",
            f"{_pct(r['base_cv'])} / {_pct(r['cand_cv'])}",
            f"**{r['verdict']}**" if r["verdict"] in ("slower", "faster") else r["verdict"],
            r["reason"],
        ]
        for _, r in shown.iterrows()
    ]
    header = [
        "point",
        f"{comp.base_label} µs",
        f"{comp.cand_label} µs",
        "ratio [95% CI]",
        "p_adj",
        "cv",
        "verdict",
        "why",
    ]
    out.append(md_table(header, rows))
    if len(shown) < len(p):
        out += [
            "",
            f"... {len(p) - len(shown)} more points with smaller changes (slowest first above; the full table is linked below).",
        ]
    for frame, where, other in (
        (comp.only_base, comp.base_label, comp.cand_label),
        (comp.only_cand, comp.cand_label, comp.base_label),
    ):
        if len(frame):
            out += ["", f"### Only in {where} ({len(frame)})", ""]
            out.append(
                md_table(
                    ["point", f"status in {other}", "error"],
                    ([point_label(r), r["other_status"], short_text(r["other_error"])] for _, r in frame.iterrows()),
                )
            )
    return "\n".join(out) + "\n"


def short_text(text: object, width: int = 120) -> str:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    s = str(text).replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def gate_lines(result: GateResult) -> list[str]:
    """Plain lines naming what failed, what is missing and what is ambiguous (with the advice)."""
    lines = [result.headline()]
    for _, r in result.failures.iterrows():
        lines.append(f"  slower: {point_label(r)}: ratio {_ratio_text(r)}, p_adj={r['p_adj']:.2g}")
    if len(result.missing):
        verb = "allowed" if result.allow_missing else "FAILS"
        for _, r in result.missing.iterrows():
            lines.append(f"  missing from cand ({verb}): {point_label(r)} (cand: {r['other_status']})")
    if len(result.ambiguous):
        lines.append(f"  {len(result.ambiguous)} ambiguous: {RERUN_ADVICE}")
        for _, r in result.ambiguous.head(TERMINAL_ROWS).iterrows():
            lines.append(f"    {point_label(r)}: {r['reason']}")
    return lines


def print_gate(result: GateResult, console: Console) -> None:
    """The comparison table (when there is one), then the decision with its reasons."""
    if result.comparison is not None:
        console.print(comparison_table(result.comparison))
    style = {0: "bold green", 1: "bold red", 2: "bold yellow"}[result.exit_code]
    for i, line in enumerate(gate_lines(result)):
        console.print(Text(line, style=style if i == 0 else ""))


def gate_markdown(result: GateResult) -> str:
    """Markdown for a PR comment or CI artifact: the decision, its reasons, then the full comparison."""
    out = [f"# Regression gate: {result.headline()}", "", f"Exit code {result.exit_code}.", ""]
    out += ["```", *gate_lines(result)[1:], "```", ""] if len(gate_lines(result)) > 1 else []
    if result.comparison is not None:
        out.append(comparison_markdown(result.comparison))
    return "\n".join(out)
