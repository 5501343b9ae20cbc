"""Comparisons and gate results for people (terminal, markdown) and for machines (csv, json).

Order for people: the decision and the summary first, then a compact table per comparable group that
fits 100 columns (point, base, cand, ratio [CI], verdict) showing the largest changes in BOTH
directions, then what the times and the statistics mean. Every piece of user data (point labels, sweep
names, error messages, group descriptions) reaches rich as Text, never as markup: a label with "[/]" or
"[cuda]" must print as written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from bench import mdtable
from bench.analysis.compare import GROUP, Comparison
from bench.analysis.gate import EXIT_FAIL, EXIT_REFUSED, RERUN_ADVICE, GateResult

TIMING_MEANING = {
    "graph": "device time from CUDA-graph replay (no launch overhead)",
    "events": "CUDA-event time per call, launch overhead included",
    "host": "host clock (perf_counter) around the call",
}
VERDICT_STYLE = {"faster": "green", "slower": "bold red", "same": "dim", "ambiguous": "yellow"}
TERMINAL_ROWS = 20  # per comparable group: half the largest ratios, half the smallest
LABEL_WIDTH = 44
LIST_LIMIT = 10  # failing / missing / unjudgeable points named in full on a terminal


def describe_timing(methods: Iterable[object]) -> str:
    """'graph = device time from ...; events = ...' for the methods present."""
    names = sorted({str(m) for m in methods if m is not None and not (isinstance(m, float) and np.isnan(m))})
    if not names:
        return "timing method not recorded"
    return "; ".join(f"{m} = {TIMING_MEANING.get(m, 'unknown method')}" for m in names)


def point_label(row: pd.Series, backend: bool = True) -> str:
    """'channel fp16 1x3x224x224 axis=default [cuda]': enough to find the point in a sweep."""
    tail = f" [{row['backend']}]" if backend and "backend" in row.index else ""
    return f"{row.get('mode', '?')} {row.get('precision', '?')} {row.get('shape', '?')} axis={row.get('channel_axis', '?')}{tail}"


def _ratio_text(row: pd.Series) -> str:
    return f"{row['ratio']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.1%}"


def _number(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.2f}"


def context_line(comp: Comparison) -> str:
    """What the ratios, intervals and verdicts mean: one line under every comparison."""
    methods = comp.points["timing_method"] if "timing_method" in comp.points.columns else []
    band = f"1/{1 + comp.threshold:.2f}-{1 + comp.threshold:.2f}"
    drift = ", widened by what each point's memcpy of the same shape moved" if comp.with_yardstick else ""
    return (
        f"Ratio = {comp.cand_label} / {comp.base_label} of per-call medians (geometric mean over a side's runs; "
        f">1 is slower), 95% CI per point from the run-to-run noise. Times: {describe_timing(methods)}. Verdicts: "
        f"slower/faster when the data show the ratio outside {band} (±{comp.threshold:.0%} in log ratio{drift}), "
        f"same when inside; one-sided t tests, Benjamini-Hochberg at alpha {comp.alpha:g}."
    )


def summary_line(comp: Comparison) -> str:
    s = comp.summary
    counts = ", ".join(f"{v} {n}" for v, n in s.counts.items())
    groups = len({g for g in comp.points[GROUP]}) if len(comp.points) else 0
    return (
        f"{s.n_points} points compared in {groups} comparable group(s): {counts}; "
        f"only in {comp.base_label}: {s.n_only_base}, only in {comp.cand_label}: {s.n_only_cand}, "
        f"cannot be judged: {len(comp.problems)}"
    )


def group_lines(comp: Comparison) -> list[str]:
    """Per comparable group: what it holds, its counts and geometric mean, the runs combined, the noise."""
    lines = []
    for gid, info in comp.groups.items():
        s = comp.group_summary(gid)
        role = " (the yardstick: measures the machine, not gated)" if _is_yardstick_group(comp, gid) else ""
        geo = f"geometric-mean ratio {s.geomean_ratio:.3f}" if np.isfinite(s.geomean_ratio) else "no ratio"
        counts = ", ".join(f"{n} {v}" for v, n in s.counts.items() if n)
        lines.append(f"{info.group.describe()}{role}: {s.n_points} points ({counts or 'none judged'}); {geo}")
        lines.append("    " + info.runs_sentence())
        if info.prior is not None:
            lines.append(f"    noise model: {info.prior.describe()}")
    return lines


def _is_yardstick_group(comp: Comparison, gid: str) -> bool:
    points = comp.points[comp.points[GROUP] == gid]
    return bool(len(points)) and bool(points["yardstick"].all())


def sides_line(comp: Comparison) -> str:
    return f"base = {comp.base_label}; cand = {comp.cand_label}"


def both_ends(points: pd.DataFrame, n: int | None) -> tuple[pd.DataFrame, int]:
    """The n points with the largest and smallest ratios (half each), highest first, and how many
    points lie between them: the biggest slowdowns and the biggest speedups both show."""
    ordered = points.sort_values("ratio", ascending=False, kind="stable")
    if n is None or len(ordered) <= n:
        return ordered, 0
    top, bottom = (n + 1) // 2, n // 2
    return pd.concat([ordered.head(top), ordered.tail(bottom)]), len(ordered) - top - bottom


def _group_table(points: pd.DataFrame, comp: Comparison, max_rows: int | None) -> Table:
    shown, between = both_ends(points, max_rows)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("point", no_wrap=True, overflow="ellipsis", max_width=LABEL_WIDTH)
    table.add_column("base µs", justify="right", no_wrap=True)
    table.add_column("cand µs", justify="right", no_wrap=True)
    table.add_column("ratio [95% CI]", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    top = (len(shown) + 1) // 2 if between else len(shown)
    for i, (_, row) in enumerate(shown.iterrows()):
        if between and i == top:
            table.add_row(Text(f"… {between} points between", style="dim"), "", "", "", "")
        verdict = row["verdict"]
        table.add_row(
            Text(point_label(row, backend=False)),  # Text, never markup: labels are user data
            _number(row["base_median_us"]),
            _number(row["cand_median_us"]),
            _ratio_text(row),
            Text(verdict, style=VERDICT_STYLE.get(row["verdict"], "")),
        )
    return table


def comparison_renderable(comp: Comparison, max_rows: int | None = TERMINAL_ROWS) -> Group:
    """Summary first, then one compact table per comparable group, then what it all means."""
    parts: list = [
        Text(f"{comp.cand_label} vs {comp.base_label}", style="bold"),
        Text(sides_line(comp)),
        Text(summary_line(comp)),
    ]
    parts += [Text(line) for line in group_lines(comp)]
    parts += [Text(line) for line in unmatched_lines(comp, LIST_LIMIT)]
    for gid, info in comp.groups.items():
        points = comp.points[comp.points[GROUP] == gid]
        if len(points):
            role = " (yardstick)" if _is_yardstick_group(comp, gid) else ""
            parts += [Text(""), Text(info.group.describe() + role, style="bold"), _group_table(points, comp, max_rows)]
    parts.append(Text(context_line(comp), style="dim"))
    if max_rows is not None and len(comp.points) > max_rows:
        parts.append(
            Text("every point, with its noise, p-values and reasons: --markdown PATH or --format csv", style="dim")
        )
    return Group(*parts)


def unmatched_lines(comp: Comparison, limit: int | None = LIST_LIMIT) -> list[str]:
    """Points timed on one side only (with what the other side recorded) and points that cannot be judged."""
    lines = []
    for frame, where, other in (
        (comp.only_base, comp.base_label, comp.cand_label),
        (comp.only_cand, comp.cand_label, comp.base_label),
    ):
        for _, row in frame.head(limit).iterrows():
            lines.append(
                f"only in {where}: {point_label(row)} ({other}: {row['other_status']}{_detail(row['other_error'])})"
            )
        if limit is not None and len(frame) > limit:
            lines.append(f"... and {len(frame) - limit} more only in {where}")
    for _, row in comp.problems.head(limit).iterrows():
        side = comp.base_label if row["side"] == "base" else comp.cand_label
        lines.append(f"cannot be judged in {side}: {point_label(row)}: {row['reason']}")
    if limit is not None and len(comp.problems) > limit:
        lines.append(f"... and {len(comp.problems) - limit} more that cannot be judged")
    return lines


def _detail(error: object) -> str:
    text = short_text(error)
    return f": {text}" if text else ""


def comparison_markdown(comp: Comparison, title: str | None = None, max_rows: int | None = None) -> str:
    """Markdown: the summary, per group the points (all, or the max_rows largest changes both ways) with
    their noise, band, adjusted p and reason, then what is only on one side or cannot be judged."""
    out = [f"## {title or f'{comp.cand_label} vs {comp.base_label}'}", "", sides_line(comp), "", summary_line(comp), ""]
    out += [f"- {line.strip()}" for line in group_lines(comp)]
    out += ["", context_line(comp), ""]
    header = [
        "point",
        "base µs",
        "cand µs",
        "ratio [95% CI]",
        "band",
        "noise/run",
        "runs",
        "p_adj",
        "verdict",
        "why",
    ]
    for gid, info in comp.groups.items():
        points = comp.points[comp.points[GROUP] == gid]
        if not len(points):
            continue
        shown, between = both_ends(points, max_rows)
        rows = [
            [
                point_label(r, backend=False),
                f"{r['base_median_us']:.3f}",
                f"{r['cand_median_us']:.3f}",
                _ratio_text(r),
                f"{r['band_low']:.3f}-{r['band_high']:.3f}",
                _pct(r["noise"]),
                f"{r['runs_base']}/{r['runs_cand']}",
                f"{r['p_adj']:.2g}",
                f"**{r['verdict']}**" if r["verdict"] in ("slower", "faster") else r["verdict"],
                r["reason"],
            ]
            for _, r in shown.iterrows()
        ]
        role = " (yardstick: measures the machine, not gated)" if _is_yardstick_group(comp, gid) else ""
        out += [f"### {info.group.describe()}{role}", "", mdtable.table(header, rows), ""]
        if between:
            out += [f"... {between} points with ratios between those shown (largest and smallest first).", ""]
    for frame, where, other in (
        (comp.only_base, comp.base_label, comp.cand_label),
        (comp.only_cand, comp.cand_label, comp.base_label),
    ):
        if len(frame):
            out += [f"### Only in {where} ({len(frame)})", ""]
            out.append(
                mdtable.table(
                    ["point", f"status in {other}", "detail"],
                    ([point_label(r), r["other_status"], short_text(r["other_error"])] for _, r in frame.iterrows()),
                )
            )
            out.append("")
    if len(comp.problems):
        out += [f"### Cannot be judged ({len(comp.problems)})", ""]
        out.append(
            mdtable.table(
                ["side", "point", "why"],
                (
                    [comp.base_label if r["side"] == "base" else comp.cand_label, point_label(r), r["reason"]]
                    for _, r in comp.problems.iterrows()
                ),
            )
        )
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def short_text(text: object, width: int = 120) -> str:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    s = str(text).replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", default_handler=str)) if len(frame) else []


def _json(content: object) -> str:
    """Strict JSON (NaN and inf become null: json.dumps would write the invalid token NaN)."""

    def clean(x: object) -> object:
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, (float, np.floating)):
            return float(x) if np.isfinite(x) else None
        if isinstance(x, np.integer):
            return int(x)
        return x

    return json.dumps(clean(content), indent=2, allow_nan=False, default=str) + "\n"


def comparison_dict(comp: Comparison) -> dict:
    """Everything a machine needs, JSON-ready."""
    return {
        "base": comp.base_label,
        "cand": comp.cand_label,
        "threshold": comp.threshold,
        "alpha": comp.alpha,
        "groups": [
            {
                "group": gid,
                "describe": info.group.describe(),
                "base_runs": list(info.base_runs),
                "cand_runs": list(info.cand_runs),
                "noise_model": None
                if info.prior is None
                else {"s0": info.prior.s0, "df": info.prior.df, "source": info.prior.source},
                "summary": vars(comp.group_summary(gid)),
            }
            for gid, info in comp.groups.items()
        ],
        "machine_drift": [vars(d) for d in comp.drift],
        "points": _records(comp.points),
        "only_base": _records(comp.only_base),
        "only_cand": _records(comp.only_cand),
        "problems": _records(comp.problems),
    }


def comparison_text(comp: Comparison, fmt: str) -> str:
    """--format md|csv|json: the whole comparison for a machine (csv: the per-point table)."""
    if fmt == "md":
        return comparison_markdown(comp)
    if fmt == "csv":
        return comp.points.to_csv(index=False)
    return _json(comparison_dict(comp))


def gate_lines(result: GateResult, limit: int | None = LIST_LIMIT) -> list[str]:
    """The decision, then every reason for it (the first `limit` of each kind), then the notes."""
    lines = [result.headline()]

    def listed(frame: pd.DataFrame, text) -> None:
        for _, r in frame.head(limit).iterrows():
            lines.append("  " + text(r))
        if limit is not None and len(frame) > limit:
            lines.append(f"  ... and {len(frame) - limit} more")

    listed(result.failures, lambda r: f"slower: {point_label(r)}: ratio {_ratio_text(r)}; {r['reason']}")
    listed(result.unjudgeable, lambda r: f"cannot be judged: {point_label(r)}: {r['reason']}")
    verb = "allowed" if result.allow_missing else "FAILS"
    listed(result.missing, lambda r: f"missing from cand ({verb}): {point_label(r)}")
    if len(result.ambiguous):
        lines.append(f"  {len(result.ambiguous)} ambiguous: {RERUN_ADVICE}")
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
        "refusals": result.refusals,
        "failures": _records(result.failures),
        "cannot_be_judged": _records(result.unjudgeable),
        "missing": _records(result.missing),
        "notes": result.notes,
        "comparison": None if result.comparison is None else comparison_dict(result.comparison),
    }
    return _json(content)
