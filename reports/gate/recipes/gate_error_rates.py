"""Measure the regression gate's error rates on real repeated runs: false alarms and power, as markdown.

    python reports/gate/recipes/gate_error_rates.py RESULTS... [--profile PROFILE_OR_RUNS]... [--threshold 3%] [--alpha 0.01]

RESULTS are results files or folders (bench.results.load); every set of repeated runs in them is split
every way into base and candidate and replayed through the gate's own code with injected slowdowns
(bench/analysis/error_rates.py says how). --profile adds a split kind "1 vs 1, profile NAME" for the
sets of its machine whose runs it was not built from: a *.noise.json file, or a results folder of
another set of runs (built into a profile here), e.g. one H100 card's runs for the other card's set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.analysis import error_rates, noise
from bench.analysis.rule import DEFAULT_ALPHA, DEFAULT_THRESHOLD, DecisionRule
from bench.cli.compare import parse_fraction
from bench.errors import UserError
from bench.report import error_rates as text
from bench.results import load


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="results files or folders")
    ap.add_argument("--profile", action="append", default=[], help="a noise profile file or a folder of runs")
    ap.add_argument("--threshold", default=f"{DEFAULT_THRESHOLD:.0%}")
    ap.add_argument("--alpha", default=f"{DEFAULT_ALPHA:g}")
    ap.add_argument("--points-per-split", type=int, default=24)
    ap.add_argument("--max-splits", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--factors", default=",".join(f"{f:.0%}" for f in error_rates.FACTORS))
    args = ap.parse_args(argv)
    try:
        decision = DecisionRule(
            parse_fraction(args.threshold, "--threshold"), parse_fraction(args.alpha, "--alpha", allow_zero=False)
        )
        factors = tuple(parse_fraction(f, "--factors", allow_zero=False) for f in args.factors.split(",") if f.strip())
        given = []
        for p in args.profile:
            made = noise.read(Path(p)) if p.endswith(noise.SUFFIX) else noise.build([load(p)], Path(p).name)
            if made is None:
                raise UserError(f"--profile {p}: no repeated runs to build a profile from")
            given.append(made)
        rows = error_rates.measure(
            load(args.results), decision, given=given, points_per_split=args.points_per_split,
            max_splits=args.max_splits, seed=args.seed, factors=factors,
        )  # fmt: skip
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print("no set of two or more runs of one commit on one machine in these results", file=sys.stderr)
        return 2
    print(text.table(rows, decision, args.points_per_split, args.max_splits, args.seed))
    print(text.goals(rows))
    reasons = text.refusals(rows)
    if reasons:
        print(reasons)
    return 0


if __name__ == "__main__":
    sys.exit(main())
