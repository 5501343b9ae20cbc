"""report(): results in, `report.md` plus PNGs out.

The report is cut into sections, one per kind of measurement (bench.report.sections, following
bench.comparability): graph and events times, warm and cold L2, never share a plot, a line or a number.
Each section says what it holds (rows per backend and side, from which runs), then draws time, bandwidth
against the copy, the time ratio between sides and raw sample distributions, each with a sentence computed
from the data it describes (bench.report.readings). The points that could not be timed, the runs'
warnings and every run's environment close the report: a report that only shows what worked hides the
interesting points.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench.analysis import noise_sources
from bench.analysis.compare import Comparison, compare
from bench.analysis.rule import DecisionRule
from bench.analysis.sides import sides
from bench.errors import UserError
from bench.report import frames, labels, plots, readings, sections, summaries, tables
from bench.report.render import comparison_markdown
from bench.report.sections import Section

SHOWN_COMPARISON_ROWS = 20


def report(
    df_or_paths: pd.DataFrame | str | Path | list,
    out_dir: str | Path,
    sides_by: str | None = None,
    decision: DecisionRule | None = None,
    sources: noise_sources.Sources | None = None,
) -> Path:
    """Write report.md and its PNGs into out_dir; returns the markdown's path. Comparisons use `decision`
    (the same rule as compare and gate; its defaults unless given) and each machine's noise profile
    (`sources`, see bench.analysis.noise)."""
    if isinstance(df_or_paths, pd.DataFrame):
        df = df_or_paths
    else:
        from bench.results import load

        df = load(df_or_paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = labels.run_labels(df)
    parts = sections.build(df, sides_by, runs)
    gpu_labels = labels.side_labels(list(sides(df, "gpu_name")), "gpu_name", runs) if "gpu_name" in df.columns else {}

    decision = decision or DecisionRule()
    body, summary = [], []
    for section in parts:
        lines, headline = _section(section, out, runs, decision, sources)
        body += lines
        summary += headline
    md = ["# Scale layer benchmark report", "", *_intro(df, parts, sides_by, runs), ""]
    if summary:
        md += ["## Summary", "", "The headline of each section, as its readings below give it:", "", *summary, ""]
    md += body
    md += ["## Points not timed", "", tables.problems_table(df, gpu_labels), ""]
    warned = tables.warnings_table(df, runs)
    if warned:
        md += ["## Warnings", "", "Warnings the runs recorded, per distinct text:", "", warned, ""]
    md += ["## Runs", "", "The run labels used above, and where each run ran:", "", tables.runs_table(df, runs), ""]
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _intro(df: pd.DataFrame, parts: list[Section], sides_by: str | None, runs: dict[str, str]) -> list[str]:
    n_timed = sum(len(s.rows) for s in parts)
    lines = [
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from {df.shape[0]:,} rows of "
        f"{summaries.count(len(runs), 'run')} ({_label_span(runs)}, listed under Runs); "
        f"{n_timed:,} rows carry a time." + (f" Sides by `{sides_by}`." if sides_by else ""),
        "",
    ]
    if not parts:
        return [*lines, "No row carries a time, so there is nothing to plot."]
    lines += [
        f"The timed rows fall into {summaries.count(len(parts), 'section')}, one per kind of measurement (timing "
        "method, L2 state, unit). Rows are drawn, summarized and compared only within a section, and backends "
        "only as separate series, so no number below mixes graph with events times, cold with warm L2, or two "
        "GPUs.",
        "",
        tables.markdown(
            ["section", "what the times are", "rows", "backends", "sides (runs)"],
            (
                [
                    f"{s.number}. {s.title}",
                    s.group.describe(),
                    f"{len(s.rows):,}",
                    ", ".join(s.backends),
                    "; ".join(_side_cell(side, runs) for side in s.sides),
                ]
                for s in parts
            ),
            right=("rows",),
        ),
    ]
    named = {}
    for s in parts:
        for side in s.sides:
            if side.label != side.value:
                named[side.value] = side.label
    if named:
        lines += ["", "Side labels: " + "; ".join(f"{label} = {value}" for value, label in named.items()) + "."]
    return lines


def _side_cell(side: sections.Side, runs: dict[str, str]) -> str:
    """'H100: R2, R3, R5' (a side and its runs); a side that is one run is just its label."""
    run_list = readings.run_list(side.rows, runs)
    if side.label == sections.ONE_SIDE:
        return f"one side: {run_list}"
    return side.label if run_list == side.label else f"{side.label}: {run_list}"


def _label_span(runs: dict[str, str]) -> str:
    values = list(runs.values())
    return values[0] if len(values) == 1 else f"{values[0]}–{values[-1]}" if values else "none"


def _section(
    section: Section, out: Path, runs: dict[str, str], decision: DecisionRule, sources: noise_sources.Sources | None
) -> tuple[list[str], list[str]]:
    """The section's markdown, and its lines for the report's summary."""
    mixes = {side.value: sections.about_mixes(side, section.side_column) for side in section.sides}
    md = [f"## {section.number}. {section.title}", "", *_paragraphs(readings.holds(section, runs, mixes)), ""]
    roof = frames.roofline(section.rows)
    copy = "the wide pale line is the copy (memcpy) of the same tensor; " if len(roof) else ""
    l2 = (
        "the dotted vertical line is where input + output fill the GPU's L2 (from the run's environment): "
        + (
            "with rotated buffers every call streams its data from memory on both sides of it (a point whose "
            "buffers are under 2 x L2 / 1024 stays on one set, in the L2)."
            if section.rotated
            else "left of it a call can run from L2, faster than HBM allows."
        )
        if frames.l2_bytes(section.rows)
        else "no L2 size was recorded for these rows."
    )
    against_copy = [f"- {part[:1].upper()}{part[1:]}." for part in readings.copy_parts(section)]
    md += _figure(
        plots.plot_time(section, out),
        "Time per call",
        "x: elements (log), y: median µs per call (log), one panel per mode and precision; a line is the median of "
        f"the row medians at a size, its band the lowest to highest of those medians (channel axes, runs); {copy}"
        "series are offset a little along x so none hides another.",
        readings.time_reading(section) + " " + readings.noise_reading(section),
    )
    md += _figure(
        plots.plot_bandwidth(section, out),
        "Achieved bandwidth" + (" against the copy" if len(roof) else ""),
        "x: elements (log), y: GB/s = bytes_moved / median time (input read and output written once, weights read "
        "once); "
        + (
            "the wide pale line is the copy (`memcpy`: the faster of cudaMemcpyAsync and a plain copy kernel, timed "
            "the same way) of the same tensor, the best copy of those bytes the harness makes, not a physical "
            "limit; "
            if len(roof)
            else ""
        )
        + l2,
        readings.bandwidth_reading(section),
    )
    below = readings.below_copy(section)
    if len(below):
        md += [
            f"Sizes where kernel lines stay under {readings.BELOW_COPY:.0f}% of the copy's bandwidth, and the bound "
            "that holds the lowest one there (a line: the median over its rows' % of the copy; launch-bound rows, "
            "read as time over the copy's above, are left out):",
            "",
            tables.markdown(list(below.columns), below.itertuples(index=False), width=200),
            "",
        ]
    compared: list[str] = []
    if section.compared:
        lines, compared = _comparisons(section, out, decision, sources)
        md += lines
    keys = frames.representative_points(section.rows)
    md += _figure(
        plots.plot_distributions(section, out, keys),
        "Raw samples",
        "per point (the largest and smallest of each backend): a violin of the raw per-call samples per series, "
        "quartiles dashed; the tick label says how many runs it pools.",
        readings.distribution_reading(section, keys),
    )
    items = [f"- {line}" for line in compared] + against_copy
    return md, [
        f"**{section.number}. {section.title}**",
        "",
        *(items or ["- One side and no copy: see the section."]),
        "",
    ]


def _paragraphs(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        out += [line, ""]
    return out[:-1]


def _figure(path: Path, title: str, axes: str, reading: str) -> list[str]:
    return [
        f"### {title}",
        "",
        f"![{title}]({path.name})",
        "",
        f"*How to read:* {axes}",
        "",
        f"**Reading:** {reading}",
        "",
    ]


def _units(section: Section) -> list[tuple[str, str]]:
    """(backend, title) of each comparison: one per backend, or one over all rows when sides are backends."""
    if section.side_column == "backend":
        return [("", "")]
    return [(b, b) for b in section.backends]


def _compare_sides(
    section: Section, decision: DecisionRule, sources: noise_sources.Sources | None
) -> tuple[list[tuple[sections.Side, object]], list[str]]:
    """Each side against the first over ALL the section's backends at once (so the memcpy yardstick
    controls its points as in compare and gate: the same data gives the same verdicts), and the sides
    that could not be compared, with why."""
    base = section.sides[0]
    comps, refused = [], []
    for cand in section.sides[1:]:
        try:
            comp = compare(
                base.rows, cand.rows, by=section.side_column, base_label=base.label, cand_label=cand.label,
                decision=decision, sources=sources,
            )  # fmt: skip
        except UserError as exc:  # a side combining unlike runs: said, not compared, not pooled
            refused.append(f"{cand.label} against {base.label}: not compared: {exc}")
            continue
        comps.append((cand, comp))
    return comps, refused


def _comparisons(
    section: Section, out: Path, decision: DecisionRule, sources: noise_sources.Sources | None
) -> tuple[list[str], list[str]]:
    """Each side against the first, per backend: heatmap, reading, the largest changes, every point in a
    file; and the headline of each comparison for the summary."""
    base = section.sides[0]
    compared, refused = _compare_sides(section, decision, sources)
    md, headlines = [decision.describe(), ""], []
    for backend, name in _units(section):
        comps = [(cand, restrict(comp, backend) if backend else comp) for cand, comp in compared]
        comps = [(cand, comp) for cand, comp in comps if len(comp.points)]
        if not comps:
            continue
        panels = [(cand.label, *frames.ratio_matrix(comp.points)) for cand, comp in comps]
        panels = [p for p in panels if not p[1].empty]
        what = f"{name}: " if name else ""
        md += [f"### {what}time ratio against {base.label}", ""]
        if panels:
            stem = f"{section.slug}-{labels.slug(name or 'all')}-ratio"
            path = plots.plot_ratio_heatmap(panels, base.label, name, decision.threshold, stem, out)
            md += [
                f"![time ratio]({path.name})",
                "",
                "*How to read:* a cell is the geometric mean of the per-point time ratio (cand median / base median) "
                f"over the n points it holds; white: within ±{decision.threshold:.0%} (the decision rule's threshold), "
                "blue: the candidate is faster, red: slower, in steps of ±25%, ±50% and 2x; grey: no point.",
                "",
            ]
        for cand, comp in comps:
            reading = readings.ratio_reading(comp.points, base.label, cand.label, name, decision.threshold)
            headline = readings.ratio_headline(comp.points, base.label, cand.label, name)
            headlines.append(headline[:1].upper() + headline[1:] + ".")
            md += [f"**Reading:** {reading}", ""]
            full = (
                out
                / f"{section.slug}-{labels.slug(name or 'all')}-{labels.slug(cand.label)}-vs-{labels.slug(base.label)}.md"
            )
            title = f"{cand.label} vs {base.label}, {what}{section.title}"
            full.write_text(comparison_markdown(comp, title=title))
            md += [
                _demote(comparison_markdown(comp, title=title, max_rows=SHOWN_COMPARISON_ROWS), 2),
                f"Every point: [{full.name}]({full.name}).",
                "",
            ]
    if refused:
        md += ["### Not compared", "", *[f"- {line}" for line in refused], ""]
        headlines += [line[:1].upper() + line[1:] + "." for line in refused]
    return md, headlines


def _demote(markdown_text: str, levels: int) -> str:
    """Headings of an embedded document, `levels` deeper (its '## title' under this report's '## section')."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in markdown_text.splitlines())


def restrict(comp: Comparison, backend: str) -> Comparison:
    """The comparison's points, one-side points and problems of one backend (verdicts as they were: the
    same counts as the whole comparison, read per backend)."""

    def of(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["backend"] == backend] if len(frame) and "backend" in frame.columns else frame

    groups = {g: i for g, i in comp.groups.items() if i.group.as_dict().get("backend") == backend}
    return Comparison(
        points=of(comp.points).reset_index(drop=True),
        only_base=of(comp.only_base),
        only_cand=of(comp.only_cand),
        keys=comp.keys,
        rule=comp.rule,
        base_label=comp.base_label,
        cand_label=comp.cand_label,
        problems=of(comp.problems),
        groups=groups,
        drift=comp.drift,
        tail_drift=comp.tail_drift,
        with_yardstick=comp.with_yardstick,
        profiles=comp.profiles,
    )
