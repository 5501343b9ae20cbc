"""Measure the regression gate's error rates on real repeated runs: false alarms and power, as markdown.

    python scripts/gate_error_rates.py RESULTS... [--threshold 5%] [--alpha 0.01] [--points-per-split 24]

RESULTS are results files or folders (bench.results.load). Runs of one commit on one card (GPU UUID) that
time the same comparable groups (bench.comparability) with the same kernel launches are repeats of one thing: every way of splitting
them into a base and a candidate is an A/A gate run whose right answer is "pass". On each split:

- **A/A**: the gate as it is (exit 1 is a false alarm; exit 2, a refusal, is counted apart);
- **drift 1%**: every candidate point, the memcpy yardstick included, 1% slower (a machine 1% slower);
  the goal is that it never fails;
- **one point slowed by f**: one gated point's candidate samples times 1 + f, for f in 2, 5, 7, 10, 25%
  (a seeded sample of `--points-per-split` points per split, each its own gate run); caught when the gate
  fails naming that point as slower;
- **all points slowed by f**: every gated point (not the yardstick: a change to the Scale layer does not
  slow the copy); caught when the gate fails.

Splits: every ordered pair of runs ("1 vs 1", one run a side: the gate's fallback; and "1 vs 1, history
of k-2", the same pairs with the set's other runs as `--noise-from`, each point's noise learned from
them), every
leave-one-out split ("k-1 vs 1": a committed baseline of several runs against one new run), and halves
("h vs h": same-machine A/B, as `nox -s gate` runs it), at most `--max-splits` of each (a seeded sample).
Slowing samples by f is done on the per-run estimates (bench.analysis.replicates: the log median moves
by log(1 + f), nothing else does), through the same compare and decide code the gate runs.
Deterministic: the same inputs and arguments print the same table.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import comparability  # noqa: E402
from bench.analysis import replicates, yardstick  # noqa: E402
from bench.analysis.compare import DEFAULT_ALPHA, DEFAULT_THRESHOLD, GROUP, Prepared, compare_prepared, prepare  # noqa: E402
from bench.analysis.gate import EXIT_FAIL, EXIT_REFUSED, decide  # noqa: E402
from bench.cli.compare import parse_fraction  # noqa: E402
from bench.results import load  # noqa: E402

FACTORS = (0.02, 0.05, 0.07, 0.10, 0.25)
WITH_HISTORY = ", history of "  # in a split kind's name: the set's other runs are the noise history
DRIFT = 0.01
# Issue 13's goals on H100 data with the defaults: A/A false alarms, one point slowed, all points slowed.
GOAL_FALSE_ALARMS = 0.01
GOAL_ONE, GOAL_ONE_POWER = 0.10, 0.99
GOAL_ALL, GOAL_ALL_POWER = 0.05, 0.99


@dataclass
class RunSet:
    """Runs that repeat one thing: same machine kind, commit and comparable groups."""

    label: str
    runs: list[str]


def run_sets(df: pd.DataFrame) -> list[RunSet]:
    """Group the runs of `df` into sets of repeats (two or more runs each).

    Repeats time one thing: the same commit, comparable groups, card (GPU UUID: two cards of one model
    differ, and a run spread over several cards is not a repeat of a run on one), kernel launch
    configurations (a re-tuned kernel runs other launches) and number of rounds (another protocol). Runs that differ in any of these are not an
    A/A pair, and the gate is right to tell them apart."""
    ok = df[df["status"] == "ok"]
    signature = {}
    started = ok.groupby("run_id")["timestamp"].min().sort_values(kind="stable")
    for run_id in started.index:  # in time order: splits are told apart by how they interleave
        rows = ok[ok["run_id"] == run_id]
        groups = tuple(sorted(g.describe() for g, _ in comparability.groups(rows)))
        machine = rows["gpu_name"].astype("string").fillna("CPU host").iloc[0]
        cards = tuple(sorted(rows["gpu_uuid"].dropna().astype(str).unique())) if "gpu_uuid" in rows else ()
        configs = _config_digest(rows)
        commit = str(rows["git_commit"].iloc[0])[:7]
        methods = ", ".join(sorted(rows["timing_method"].astype("string").fillna("?").unique()))
        backends = ", ".join(sorted(rows["backend"].astype("string").unique()))
        sweep = ", ".join(sorted(rows["sweep"].astype("string").fillna("?").unique()))
        card = f", card {cards[0][4:12]}" if len(cards) == 1 else (f", {len(cards)} cards" if cards else "")
        rounds = _rounds(rows)
        signature.setdefault((machine, cards, configs, commit, groups, rounds), []).append(
            (run_id, f"{machine}{card}, {methods}, {backends}, sweep {sweep}, {rounds}, commit {commit}")
        )
    return [RunSet(members[0][1], [r for r, _ in members]) for members in signature.values() if len(members) >= 2]


def _rounds(rows: pd.DataFrame) -> str:
    """How many interleaved rounds the run timed each point in: one protocol's repeats are not another's."""
    counts = (
        sorted({int(t.get("rounds") or 1) for t in rows["timing_settings"] if isinstance(t, dict)})
        if "timing_settings" in rows
        else []
    )
    return "rounds " + "/".join(map(str, counts)) if counts else "rounds not recorded"


def _config_digest(rows: pd.DataFrame) -> str:
    """A digest of every point's kernel launch configuration, not how it was chosen (a run that tuned and
    one that read the tuning cache ran the same launches); empty where none is recorded."""
    if "kernel_config" not in rows:
        return ""
    items = sorted(
        f"{k}|{b}|{sorted((n, v) for n, v in (c or {}).items() if n != 'source')}"
        for k, b, c in zip(rows["point_key"], rows["backend"], rows["kernel_config"], strict=True)
        if isinstance(c, dict) and c
    )
    return str(zlib.crc32("\n".join(items).encode())) if items else ""


def splits(runs: list[str], max_splits: int, seed: int) -> list[tuple[str, list[tuple[list[str], list[str]]]]]:
    """(config, [(base runs, cand runs), ...]) for 1 vs 1, k-1 vs 1 and h vs h; `runs` in time order.

    h vs h splits are told apart by how the two sides' runs lie in time: "interleaved" (base, cand,
    base, cand, ... as `nox -s gate` times them), "blocked" (all of one side, then all of the other: a
    baseline from earlier), "nested" (the rest)."""
    k = len(runs)
    pairs = [([a], [b]) for a, b in itertools.permutations(runs, 2)]
    configs = [("1 vs 1", pairs)]
    if k >= 4:  # the fallback for one baseline run: the set's other runs as its noise history
        configs.append((f"1 vs 1{WITH_HISTORY}{k - 2}", pairs))
    if k >= 3:
        configs.append((f"{k - 1} vs 1", [([r for r in runs if r != c], [c]) for c in runs]))
    h = k // 2
    if h >= 2:
        kinds: dict[str, list] = {"interleaved": [], "blocked": [], "nested": []}
        for b in itertools.combinations(runs, h):
            for c in itertools.combinations([r for r in runs if r not in b], h):
                kinds[_layout(runs, set(b), set(c))].append((list(b), list(c)))
        configs += [(f"{h} vs {h}, {kind}", parts) for kind, parts in kinds.items() if parts]
    out = []
    for name, parts in configs:
        if len(parts) > max_splits:
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            parts = [parts[i] for i in sorted(rng.choice(len(parts), max_splits, replace=False))]
        out.append((name, parts))
    return out


def _layout(runs: list[str], base: set[str], cand: set[str]) -> str:
    """How a split's runs, in time order, alternate between the sides."""
    sides = "".join("b" if r in base else "c" for r in runs if r in base | cand)
    changes = sum(x != y for x, y in itertools.pairwise(sides))
    return "blocked" if changes == 1 else ("interleaved" if changes == len(sides) - 1 else "nested")


@dataclass
class Tally:
    gate_runs: int = 0
    aa_fail: int = 0
    aa_refused: int = 0
    aa_points: int = 0
    aa_point_slower: int = 0
    drift_fail: int = 0
    drift_refused: int = 0
    aa_change: list[float] = field(default_factory=list)  # per split: median |log ratio| of the gated points

    factors: tuple[float, ...] = FACTORS

    def __post_init__(self) -> None:
        self.one = {f: [0, 0] for f in self.factors}  # caught, tried
        self.all = {f: [0, 0] for f in self.factors}


def replay(prep: Prepared, tally: Tally, args: argparse.Namespace, rng: np.random.Generator) -> None:
    """All scenarios on one split."""
    gated = ~np.isin(prep.described["backend"].to_numpy(), [yardstick.YARDSTICK])
    keys = [GROUP, *prep.keys]
    ids = [tuple(r) for r in prep.described[keys].itertuples(index=False)]

    def run(shift: np.ndarray | None):
        comp = compare_prepared(
            prep, threshold=args.threshold, alpha=args.alpha, yardstick_control=True, cand_shift=shift
        )
        return decide(comp)

    tally.gate_runs += 1
    aa = run(None)
    tally.aa_fail += aa.exit_code == EXIT_FAIL
    tally.aa_refused += aa.exit_code == EXIT_REFUSED
    tally.aa_points += aa.n_gated
    tally.aa_point_slower += len(aa.failures)
    judged = aa.comparison.points[~aa.comparison.points["yardstick"]]
    tally.aa_change.append(float(np.median(np.abs(np.log(judged["ratio"])))))
    drift = run(np.full(len(ids), np.log1p(DRIFT)))
    tally.drift_fail += drift.exit_code == EXIT_FAIL
    tally.drift_refused += drift.exit_code == EXIT_REFUSED
    candidates = np.flatnonzero(gated)
    chosen = (
        candidates
        if len(candidates) <= args.points_per_split
        else np.sort(rng.choice(candidates, args.points_per_split, replace=False))
    )
    for f in tally.factors:
        result = run(np.where(gated, np.log1p(f), 0.0))
        tally.all[f][0] += result.exit_code == EXIT_FAIL
        tally.all[f][1] += 1
        for i in chosen:
            shift = np.zeros(len(ids))
            shift[i] = np.log1p(f)
            result = run(shift)
            named = {tuple(r) for r in result.failures[keys].itertuples(index=False)}
            tally.one[f][0] += result.exit_code == EXIT_FAIL and ids[i] in named
            tally.one[f][1] += 1


def pct(caught: int, tried: int) -> str:
    return "–" if tried == 0 else f"{caught / tried:.1%}"


def table(rows: list[tuple[RunSet, str, Tally]], args: argparse.Namespace) -> str:
    head = [
        "runs",
        "split",
        "gate runs",
        "A/A median change",
        "A/A fail",
        "A/A refused",
        "slower points in A/A",
        "1% drift fail",
    ]
    head += [f"one +{f:.0%}" for f in args.factors] + [f"all +{f:.0%}" for f in args.factors]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rs, config, t in rows:
        cells = [
            f"{rs.label} ({len(rs.runs)} runs)",
            config,
            str(t.gate_runs),
            f"{np.expm1(np.median(t.aa_change)):.2%}",
            f"{t.aa_fail} ({pct(t.aa_fail, t.gate_runs)})",
            str(t.aa_refused),
            f"{t.aa_point_slower} of {t.aa_points:,}",
            f"{t.drift_fail} ({pct(t.drift_fail, t.gate_runs)})"
            + (f", {t.drift_refused} refused" if t.drift_refused else ""),
        ]
        cells += [pct(*t.one[f]) for f in t.factors] + [pct(*t.all[f]) for f in t.factors]
        lines.append("| " + " | ".join(cells) + " |")
    settings = (
        f"Threshold {args.threshold:.0%}, alpha {args.alpha:g} (the gate's defaults unless given), "
        f"{args.points_per_split} sampled points per split for 'one', at most {args.max_splits} splits per "
        f"kind, seed {args.seed}. 'A/A median change': median over splits of the median |ratio - 1| of the "
        f"gated points between repeats. 'one +f': share of (split, point) gate runs that failed naming the "
        f"slowed point; 'all +f': share of splits whose gate failed with every gated point f slower. "
        f"h vs h splits: interleaved (base, cand, base, cand in time, as `nox -s gate` runs them), "
        f"blocked (one side's runs all before the other's), nested (the rest)."
    )
    return "\n".join(lines) + "\n\n" + settings + "\n"


def goals(rows: list[tuple[RunSet, str, Tally]]) -> str:
    """Per set of repeats and split kind: the issue's goals and whether these runs meet them."""
    out = ["Goals (issue 13), per set of repeats and split kind:", ""]
    for label in dict.fromkeys(rs.label for rs, _, _ in rows):
        kinds = [(config, t) for rs, config, t in rows if rs.label == label]
        n_runs = len(next(rs for rs, _, _ in rows if rs.label == label).runs)
        out.append(f"- {label} ({n_runs} runs):")
        met_all = []
        for config, t in kinds:
            checks = [
                (
                    f"A/A false alarms {t.aa_fail} of {t.gate_runs} ({t.aa_fail / t.gate_runs:.1%})",
                    t.aa_fail / t.gate_runs <= GOAL_FALSE_ALARMS,
                ),
                (f"1% drift failed {t.drift_fail} of {t.gate_runs}", t.drift_fail == 0),
            ]
            for what, factor, goal, key in (
                ("one point", GOAL_ONE, GOAL_ONE_POWER, "one"),
                ("all points", GOAL_ALL, GOAL_ALL_POWER, "all"),
            ):
                caught, tried = getattr(t, key).get(factor, (0, 0))
                if tried:
                    checks.append(
                        (
                            f"{what} {factor:.0%} slower caught {caught} of {tried} ({caught / tried:.1%})",
                            caught / tried >= goal,
                        )
                    )
            text = "; ".join(f"{c} ({_met(ok)})" for c, ok in checks)
            out.append(f"  - {config}: {text}")
            if all(ok for _, ok in checks):
                met_all.append(config)
        out.append(f"  - every goal met by: {', '.join(met_all) if met_all else 'no split kind'}")
    goals_text = (
        f"(goals: A/A false alarms <= {GOAL_FALSE_ALARMS:.0%} of gate runs; a 1% drift never fails; one point "
        f"{GOAL_ONE:.0%} slower caught >= {GOAL_ONE_POWER:.0%}; all points {GOAL_ALL:.0%} slower caught >= "
        f"{GOAL_ALL_POWER:.0%})"
    )
    return "\n".join(out) + "\n\n" + goals_text + "\n"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="results files or folders")
    ap.add_argument("--threshold", default=f"{DEFAULT_THRESHOLD:.0%}")
    ap.add_argument("--alpha", default=f"{DEFAULT_ALPHA:g}")
    ap.add_argument("--points-per-split", type=int, default=24)
    ap.add_argument("--max-splits", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--factors", default=",".join(f"{f:.0%}" for f in FACTORS), help="slowdowns to inject (default %(default)s)"
    )
    args = ap.parse_args(argv)
    args.threshold = parse_fraction(args.threshold, "--threshold")
    args.alpha = parse_fraction(args.alpha, "--alpha", allow_zero=False)
    args.factors = tuple(parse_fraction(f, "--factors", allow_zero=False) for f in args.factors.split(",") if f.strip())
    df = replicates.estimate(load(args.results))
    by_run = {run_id: rows for run_id, rows in df.groupby("run_id", sort=False)}
    rows = []
    for rs in run_sets(df):
        for config, parts in splits(rs.runs, args.max_splits, args.seed):
            tally = Tally(factors=args.factors)
            for i, (base, cand) in enumerate(parts):
                history = None
                if WITH_HISTORY in config:  # every run of the set but the two compared, earlier and later alike
                    history = pd.concat([by_run[r] for r in rs.runs if r not in base and r not in cand])
                prep = prepare(
                    pd.concat([by_run[r] for r in base]), pd.concat([by_run[r] for r in cand]), history=history
                )
                replay(prep, tally, args, np.random.default_rng([args.seed, zlib.crc32(config.encode()), i]))
            rows.append((rs, config, tally))
    if not rows:
        print("no set of two or more runs of one commit on one machine in these results", file=sys.stderr)
        return 2
    print(table(rows, args))
    print(goals(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
