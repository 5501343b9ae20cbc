"""Comparisons for people (terminal, markdown) and for machines (csv, json).

Order for people: the sides and the decision rule, the summary (verdict counts, split by whether what
ran changed), then a compact table per comparable group that fits 100 columns (point, base, cand, ratio
[CI], verdict) showing the largest changes in BOTH directions. Markdown holds every point, with each
side's time and CI, the tail, the point against the copy (its bytes per second over the copy's, or its
time over the copy's where launches set the time: bench.copy_yardstick), the noise, and what ran (both labels where it changed), the
points whose launch or tactics changed in a table of their own. Every piece of user data (point labels,
sweep names, error messages, group descriptions) reaches rich as Text, never as markup: a label with
"[/]" or "[cuda]" must print as written.
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

from bench import copy_yardstick, mdtable
from bench.analysis.compare import Comparison
from bench.analysis.rule import VERDICTS
from bench.analysis.sides import GROUP
from bench.comparability import TIMING_MEANING

VERDICT_STYLE = {
    "faster": "green",
    "slower": "bold red",
    "same": "dim",
    "ambiguous": "yellow",
    "undecided": "bold yellow",
}
TERMINAL_ROWS = 20  # per comparable group: half the largest ratios, half the smallest
LABEL_WIDTH = 44
LIST_LIMIT = 10  # failing / missing / unjudgeable points named in full on a terminal
CHANGED_MARK = "†"  # beside a verdict on a terminal: what ran changed


def describe_timing(methods: Iterable[object]) -> str:
    """'graph: device time from ...; events: ...' for the methods present."""
    names = sorted({str(m) for m in methods if m is not None and not (isinstance(m, float) and np.isnan(m))})
    if not names:
        return "timing method not recorded"
    return "; ".join(TIMING_MEANING.get(m, f"{m}: unknown method") for m in names)


def point_label(row: pd.Series, backend: bool = True) -> str:
    """'channel fp16 1x3x224x224 axis=default [cuda]': enough to find the point in a sweep."""
    tail = f" [{row['backend']}]" if backend and "backend" in row.index else ""
    return f"{row.get('mode', '?')} {row.get('precision', '?')} {row.get('shape', '?')} axis={row.get('channel_axis', '?')}{tail}"


def ratio_text(row: pd.Series) -> str:
    return f"{row['ratio']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def time_text(row: pd.Series, side: str) -> str:
    return f"{row[f'{side}_median_us']:.3f} [{row[f'{side}_ci_low_us']:.3f}, {row[f'{side}_ci_high_us']:.3f}]"


def versus_copy(row: pd.Series, side: str) -> str:
    """One side of a point against its copy: '87%' (bytes per second over the copy's) or, where launches set
    the time (bench.copy_yardstick.launch_bound), 'x1.23' (time over the copy's)."""
    return copy_yardstick.versus_copy(
        row.get(f"pct_copy_{side}"), row.get(f"time_copy_{side}"), bool(row.get(f"launch_bound_{side}", False))
    )


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.1%}"


def _number(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.2f}"


def context_line(comp: Comparison) -> str:
    """What the ratios, intervals and verdicts mean: one line under every comparison."""
    methods = comp.points["timing_method"] if "timing_method" in comp.points.columns else []
    control = (
        " The memcpy of each point's shape controlled it: an established move widens the band for 'slower' "
        "by at most the threshold."
        if comp.with_yardstick
        else ""
    )
    return (
        f"Ratio = {comp.cand_label} / {comp.base_label} of per-call medians (geometric mean over a side's runs; "
        f">1 is slower), 95% CI from the run-to-run noise. Times: {describe_timing(methods)}. {comp.rule.describe()}"
        f"{control}"
    )


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {counts.get(v, 0)}" for v in VERDICTS)


def summary_line(comp: Comparison) -> str:
    s = comp.summary
    groups = comp.points[GROUP].nunique() if len(comp.points) else 0
    tails = int((comp.points["tail_verdict"] == "slower").sum()) if len(comp.points) else 0
    return (
        f"{s.n_points} points compared in {groups} comparable group(s): {counts_text(s.counts)}; tails (p90) slower: "
        f"{tails}; only in {comp.base_label}: {s.n_only_base}, only in {comp.cand_label}: {s.n_only_cand}, "
        f"cannot be judged: {len(comp.problems)}"
    )


def ran_line(comp: Comparison) -> str:
    """'what ran: the same launch/tactics on all 240 points' or the split of the verdicts by it."""
    s = comp.summary
    if not s.ran_changed:
        return f"what ran: the same launch/tactics on all {s.n_points} points"
    same = {v: s.counts[v] - s.changed_counts.get(v, 0) for v in VERDICTS}
    return (
        f"what ran: same launch/tactics on {s.n_points - s.ran_changed} points ({counts_text(same)}); "
        f"launch/tactics changed on {s.ran_changed} ({counts_text(s.changed_counts)}; marked {CHANGED_MARK})"
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
        if info.noise:
            lines.append(f"    noise: {info.noise}")
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


def _group_table(points: pd.DataFrame, max_rows: int | None) -> Table:
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
        mark = CHANGED_MARK if row["ran_changed"] else ""
        table.add_row(
            Text(point_label(row, backend=False)),  # Text, never markup: labels are user data
            _number(row["base_median_us"]),
            _number(row["cand_median_us"]),
            ratio_text(row),
            Text(row["verdict"] + mark, style=VERDICT_STYLE.get(row["verdict"], "")),
        )
    return table


def comparison_renderable(comp: Comparison, max_rows: int | None = TERMINAL_ROWS) -> Group:
    """Summary first, then one compact table per comparable group, then what it all means."""
    parts: list = [
        Text(f"{comp.cand_label} vs {comp.base_label}", style="bold"),
        Text(sides_line(comp)),
        Text(summary_line(comp)),
        Text(ran_line(comp)),
    ]
    parts += [Text(line) for line in group_lines(comp)]
    parts += [Text(line) for line in unmatched_lines(comp, LIST_LIMIT)]
    for gid, info in comp.groups.items():
        points = comp.points[comp.points[GROUP] == gid]
        if len(points):
            role = " (yardstick)" if _is_yardstick_group(comp, gid) else ""
            parts += [Text(""), Text(info.group.describe() + role, style="bold"), _group_table(points, max_rows)]
    parts += [Text(line, style="dim") for line in changed_lines(comp, LIST_LIMIT)]
    parts.append(Text(context_line(comp), style="dim"))
    if max_rows is not None and len(comp.points) > max_rows:
        parts.append(
            Text(
                "every point, with its noise, tail, what ran and reasons: --markdown PATH or --format csv", style="dim"
            )
        )
    return Group(*parts)


def changed_lines(comp: Comparison, limit: int | None = LIST_LIMIT) -> list[str]:
    """Each point whose launch or tactics changed, with both labels and its verdict."""
    changed = comp.points[comp.points["ran_changed"]] if len(comp.points) else comp.points
    lines = [
        f"{CHANGED_MARK} {point_label(r)}: {r['ran_base']} -> {r['ran_cand']} ({r['verdict']}, ratio {r['ratio']:.3f})"
        for _, r in changed.head(limit).iterrows()
    ]
    if limit is not None and len(changed) > limit:
        lines.append(f"... and {len(changed) - limit} more points whose launch/tactics changed")
    return lines


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


MD_HEADER = ["point", "base µs [95% CI]", "cand µs [95% CI]", "ratio [95% CI]", "verdict", "p90 ratio", "vs copy",
             "noise/run", "runs", "p_adj", "why"]  # fmt: skip


VS_COPY_NOTE = (
    "*vs copy* (base / cand): a point's bytes moved per second (input, output and weights once) over those of the "
    "copy of the same tensor (the faster of cudaMemcpyAsync and the copy kernel), in %; where launches rather "
    f"than bytes set the time (the copy under {copy_yardstick.LAUNCH_BOUND_US:g} µs, or events timing bound by "
    "the host's enqueue rate), the point's time over the copy's (x1.23)."
)


def _md_row(r: pd.Series, changed: bool) -> list[str]:
    verdict = f"**{r['verdict']}**" if r["verdict"] in ("slower", "faster", "undecided") else r["verdict"]
    row = [
        point_label(r, backend=False),
        time_text(r, "base"),
        time_text(r, "cand"),
        ratio_text(r),
        verdict,
        f"{r['tail_ratio']:.3f} ({r['tail_verdict']})",
        f"{versus_copy(r, 'base')} / {versus_copy(r, 'cand')}",
        f"{_pct(r['noise_base'])} / {_pct(r['noise_cand'])}",
        f"{r['runs_base']}/{r['runs_cand']}",
        f"{r['p_adj']:.2g}",
        r.get("reason", ""),
    ]
    return [*row[:5], f"{r['ran_base']} -> {r['ran_cand']}", *row[5:]] if changed else row


def _points_tables(comp: Comparison, points: pd.DataFrame, max_rows: int | None) -> list[str]:
    """The group's points whose launch/tactics changed (both labels), then those that ran the same."""
    out = [VS_COPY_NOTE, ""]
    for changed, title in ((True, "launch/tactics changed"), (False, "same launch/tactics")):
        part = points[points["ran_changed"] == changed]
        if not len(part):
            continue
        shown, between = both_ends(part, max_rows)
        header = [*MD_HEADER[:5], "what ran (base -> cand)", *MD_HEADER[5:]] if changed else MD_HEADER
        ran = "" if changed else f" ({_ran_label(part)})"
        out += [
            f"{title}: {len(part)} points{ran}",
            "",
            mdtable.table(header, (_md_row(r, changed) for _, r in shown.iterrows())),
            "",
        ]
        if between:
            out += [f"... {between} points with ratios between those shown (largest and smallest first).", ""]
    return out


def _ran_label(points: pd.DataFrame) -> str:
    labels = sorted(set(points["ran_base"]) - {""})
    return f"{len(labels)} distinct launches/engines" if len(labels) > 3 else ", ".join(labels) or "not recorded"


def comparison_markdown(comp: Comparison, title: str | None = None, max_rows: int | None = None) -> str:
    """Markdown: the summary, per group the points (all, or the max_rows largest changes both ways), what
    ran apart, then what is only on one side or cannot be judged."""
    out = [f"## {title or f'{comp.cand_label} vs {comp.base_label}'}", "", sides_line(comp), "", summary_line(comp),
           "", ran_line(comp), ""]  # fmt: skip
    out += [f"- {line.strip()}" for line in group_lines(comp)]
    out += ["", context_line(comp), ""]
    for gid, info in comp.groups.items():
        points = comp.points[comp.points[GROUP] == gid]
        if len(points):
            role = " (yardstick: measures the machine, not gated)" if _is_yardstick_group(comp, gid) else ""
            out += [f"### {info.group.describe()}{role}", "", *_points_tables(comp, points, max_rows)]
    for frame, where, other in (
        (comp.only_base, comp.base_label, comp.cand_label),
        (comp.only_cand, comp.cand_label, comp.base_label),
    ):
        if len(frame):
            rows = ([point_label(r), r["other_status"], short_text(r["other_error"])] for _, r in frame.iterrows())
            out += [
                f"### Only in {where} ({len(frame)})",
                "",
                mdtable.table(["point", f"status in {other}", "detail"], rows),
                "",
            ]
    if len(comp.problems):
        rows = (
            [comp.base_label if r["side"] == "base" else comp.cand_label, point_label(r), r["reason"]]
            for _, r in comp.problems.iterrows()
        )
        out += [f"### Cannot be judged ({len(comp.problems)})", "", mdtable.table(["side", "point", "why"], rows), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def short_text(text: object, width: int = 120) -> str:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    s = str(text).replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", default_handler=str)) if len(frame) else []


def strict_json(content: object) -> str:
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
        if isinstance(x, np.bool_):
            return bool(x)
        return x

    return json.dumps(clean(content), indent=2, allow_nan=False, default=str) + "\n"


def comparison_dict(comp: Comparison) -> dict:
    """Everything a machine needs, JSON-ready."""
    return {
        "base": comp.base_label,
        "cand": comp.cand_label,
        "rule": {"threshold": comp.threshold, "alpha": comp.alpha, "text": comp.rule.describe()},
        "groups": [
            {
                "group": gid,
                "describe": info.group.describe(),
                "base_runs": list(info.base_runs),
                "cand_runs": list(info.cand_runs),
                "noise": info.noise,
                "summary": vars(comp.group_summary(gid)),
            }
            for gid, info in comp.groups.items()
        ],
        "machine_drift": [vars(d) for d in comp.drift],
        "points": records(comp.points),
        "only_base": records(comp.only_base),
        "only_cand": records(comp.only_cand),
        "problems": records(comp.problems),
    }


def comparison_text(comp: Comparison, fmt: str) -> str:
    """--format md|csv|json: the whole comparison for a machine (csv: the per-point table)."""
    if fmt == "md":
        return comparison_markdown(comp)
    if fmt == "csv":
        return comp.points.to_csv(index=False)
    return strict_json(comparison_dict(comp))


def sides_frame(comps: list[Comparison]) -> pd.DataFrame:
    """Several comparisons against one first side, joined per point: each side's time with its CI, % of
    the copy and what ran, and each later side's ratio to the first with its verdict (one row per point
    the first side shares with any other)."""
    first = comps[0].base_label
    key = [GROUP, *comps[0].keys]
    frames = []
    for comp in comps:
        p = comp.points
        mine = p[[*key, "mode", "precision", "shape", "channel_axis", "timing_method"]].copy()
        mine[f"{first} µs"] = [time_text(r, "base") for _, r in p.iterrows()]
        mine[f"{first} vs copy"] = [versus_copy(r, "base") for _, r in p.iterrows()]
        mine[f"{first} ran"] = p["ran_base"]
        side = comp.cand_label
        mine[f"{side} µs"] = [time_text(r, "cand") for _, r in p.iterrows()]
        mine[f"{side}/{first}"] = [ratio_text(r) for _, r in p.iterrows()]
        mine[f"{side} verdict"] = p["verdict"]
        mine[f"{side} vs copy"] = [versus_copy(r, "cand") for _, r in p.iterrows()]
        mine[f"{side} ran"] = p["ran_cand"]
        frames.append(mine.set_index(key))
    out = frames[0]
    for frame in frames[1:]:
        new = [c for c in frame.columns if c not in out.columns]
        out = out.join(frame[new], how="outer")
        for c in ("mode", "precision", "shape", "channel_axis", "timing_method"):
            out[c] = out[c].fillna(frame[c])
    return out.reset_index()


def sides_markdown(comps: list[Comparison]) -> str:
    """Markdown of sides_frame, then each comparison in full."""
    frame = sides_frame(comps)
    labels = [comps[0].base_label, *(c.cand_label for c in comps)]
    cols = [c for c in frame.columns if any(c.startswith(f"{label} ") or c.startswith(f"{label}/") for label in labels)]
    rows = ([point_label(r), *(short_text(r[c]) if not isinstance(r[c], float) else _number(r[c]) for c in cols)]
            for _, r in frame.iterrows())  # fmt: skip
    out = [f"# {' vs '.join(labels)}", "", "Each later side against the first, point by point.", "", VS_COPY_NOTE, "",
           mdtable.table(["point", *cols], rows), ""]  # fmt: skip
    return "\n".join(out) + "\n" + "\n".join(comparison_markdown(c) for c in comps)
