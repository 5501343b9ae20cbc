"""Regression gate: exit 1 when a point of CAND is slower than BASE beyond the threshold, in its median or
its tail (p90), shown by the data (one-sided tests on the runs' log medians and p90s, Benjamini-Hochberg
over the points), or cannot be judged (no, too few, NaN/inf or non-positive samples; failed, mismatch or
skipped; absent unless --allow-missing), or when nothing could be judged; exit 0 when every gated point is
inside the threshold. Exit 2 refuses: an unusable baseline; another GPU, driver, CUDA or backend version
(a comparison, not a gate: --cross reports without gating); no comparable group in common; a machine that
drifted beyond the threshold (the memcpy yardstick); a shift every point shares with no copy to tell it
from the machine; timing too noisy to see a change of three thresholds; and, when nothing failed, points
whose estimate is beyond the threshold but not shown (undecided: the gate says how many runs would decide
them) or whose own copy moved beyond it.

Sides: `gate BASE CAND` (a file or folder each; a folder of several runs is several runs), or
`gate --base PATH... --cand PATH...` (repeat the flags), or `gate --baseline NAME CAND...` with a
committed baseline manifest results/_baselines/NAME.json (e.g. nvidia-h100-80gb-hbm3) naming runs in
results/. Each point's run-to-run noise comes from the machine's noise profile (results/_baselines/
<gpu>.noise.json, written with each baseline), from --noise-from (a profile file, or earlier runs of the
base's machine), and from each side's own repeated runs; a GPU with none gets a conservative default.
Never from the spread of the ratios being judged. memcpy points measure the machine and are not gated
unless --gate-yardstick. The summary leads with how many points changed what ran (launch, tactics).
"""

from __future__ import annotations

import argparse

from bench.cli.compare import (
    WIDTH,
    add_noise_arguments,
    add_output_arguments,
    add_side_arguments,
    check_writable,
    emit,
    noise_sources,
    parse_fraction,
    resolve_sides,
    side_label,
    write_text,
)
from bench.cli.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_side_arguments(parser, "BASE CAND (one each), or CAND... with --base or --baseline, or BASE... with --cand")
    parser.add_argument(
        "--baseline", metavar="NAME|FILE", help="base = the runs a manifest in results/_baselines/ names"
    )
    parser.add_argument("--allow-missing", action="store_true", help="points of BASE absent from CAND do not fail")
    parser.add_argument(
        "--cross", action="store_true", help="compare another GPU or version; reports, never gates (exit 0)"
    )
    parser.add_argument("--gate-yardstick", action="store_true", help="gate the memcpy points too (no drift control)")
    add_noise_arguments(parser)
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bench.analysis import baseline
    from bench.analysis.gate import gate
    from bench.analysis.rule import DecisionRule
    from bench.report.gate_render import gate_markdown, gate_renderable, gate_text
    from bench.results import load

    decision = DecisionRule(
        parse_fraction(args.threshold, "--threshold"), parse_fraction(args.alpha, "--alpha", allow_zero=False)
    )
    check_writable(args.markdown)
    manifest = baseline.manifest_path(args.baseline) if args.baseline else None
    runs = [str(f) for f in baseline.run_files(manifest)] if manifest else []
    base_paths, cand_paths = resolve_sides(args, runs)
    base, cand = load(base_paths), load(cand_paths)
    if manifest is not None and args.profiles is None:
        args.profiles = manifest.parent  # the profiles beside the manifest
    sources = noise_sources(args, exclude_runs=set(cand["run_id"].astype(str)))
    result = gate(
        base,
        cand,
        decision=decision,
        allow_missing=args.allow_missing,
        cross=args.cross,
        gate_yardstick=args.gate_yardstick,
        sources=sources,
    )
    if result.comparison is not None:
        result.comparison.base_label = args.baseline or side_label(base_paths)
        result.comparison.cand_label = side_label(cand_paths)
    if args.markdown:
        write_text(args.markdown, gate_markdown(result))
    if args.format:
        emit(gate_text(result, args.format))
        return result.exit_code
    console.print(gate_renderable(result, max(args.rows, 2)), width=min(console.width, WIDTH))
    if args.markdown:
        console.print(f"markdown: {args.markdown}", markup=False, highlight=False)
    return result.exit_code
