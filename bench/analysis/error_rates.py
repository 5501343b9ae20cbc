"""The gate's error rates, measured by replaying committed repeated runs through the gate's own code.

Runs of one commit on one card (GPU UUID) that time the same comparable groups (bench.comparability)
with the same kernel launches and rounds are repeats of one thing: every way of splitting them into a
base and a candidate is an A/A gate run whose right answer is "pass". On each split:

- **A/A**: the gate as it is. Exit 1 is a false alarm; exit 2 (refused or undecided) is counted apart;
- **drift 1%**: every candidate point, the memcpy yardstick included, 1% slower (a machine 1% slower);
  the goal is that it never fails;
- **one point slowed by f**: one gated point's candidate samples times 1 + f (a seeded sample of
  `points_per_split` points per split, each its own gate run); caught when the gate fails naming it
  slower; blocked when the gate does not pass and names it (slower or undecided);
- **all points slowed by f**: every gated point (not the yardstick: a change to the Scale layer does not
  slow the copy); caught when the gate fails, blocked when it does not pass.

Split kinds, the noise each gate run is given, and never the runs it judges:
- `1 vs 1, default profile`: one run a side and no profile (the conservative default, noise_default.py);
- `1 vs 1, profile from <k-2> other runs`: the same pairs, the set's other runs built into a profile;
- `1 vs 1, profile <name>`: the same pairs, a profile given from elsewhere (another card of the model,
  a committed baseline's), skipped where it was built from runs of this set;
- `k-1 vs 1` (a baseline of several runs against one new run, as `gate --baseline` runs) and `h vs h`
  (same-machine A/B as `nox -s gate` runs it, told apart by how the sides interleave in time: interleaved,
  blocked, nested): the sides' own repeated runs give the profile.
Slowing samples by f is done on the per-run estimates (replicates: the log median and log p90 move by
log(1 + f), nothing else does), through the same compare and decide code the gate runs. Deterministic.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import comparability
from bench.analysis import noise, noise_sources, rule, yardstick
from bench.analysis.compare import compare_prepared
from bench.analysis.gate import EXIT_FAIL, EXIT_PASS, EXIT_REFUSED, GateResult, decide
from bench.analysis.sides import GROUP, Prepared, prepare

FACTORS = (0.02, 0.05, 0.07, 0.10, 0.25)
DRIFT = 0.01
# The goals: A/A false alarms, one point slowed, all points slowed.
GOAL_FALSE_ALARMS = 0.01
GOAL_ONE, GOAL_ONE_POWER = 0.10, 0.99
GOAL_ALL, GOAL_ALL_POWER = 0.05, 0.99


@dataclass
class RunSet:
    """Runs that repeat one thing: same machine kind, card, commit, launches, rounds and comparable groups."""

    label: str
    runs: list[str]
    machine: str = ""


def run_sets(df: pd.DataFrame) -> list[RunSet]:
    """Group the runs of `df` into sets of repeats (two or more runs each), in time order.

    Repeats time one thing: the same commit, comparable groups, card (GPU UUID: two cards of one model
    differ, and a run spread over several cards is not a repeat of a run on one), kernel launch
    configurations (a re-tuned kernel runs other launches) and number of rounds (another protocol). Runs that
    differ in any of these are not an A/A pair, and the gate is right to tell them apart."""
    ok = df[df["status"] == "ok"]
    signature: dict[tuple, list[tuple[str, str, str]]] = {}
    started = ok.groupby("run_id")["timestamp"].min().sort_values(kind="stable")
    for run_id in started.index:  # in time order: splits are told apart by how they interleave
        rows = ok[ok["run_id"] == run_id]
        groups = tuple(sorted(g.describe() for g, _ in comparability.groups(rows)))
        machine = noise.machine_of(rows)
        cards = tuple(sorted(rows["gpu_uuid"].dropna().astype(str).unique())) if "gpu_uuid" in rows else ()
        commit = str(rows["git_commit"].iloc[0])[:7]
        methods = ", ".join(sorted(rows["timing_method"].astype("string").fillna("?").unique()))
        backends = ", ".join(sorted(rows["backend"].astype("string").unique()))
        sweep = ", ".join(sorted(rows["sweep"].astype("string").fillna("?").unique()))
        card = f", card {cards[0][4:12]}" if len(cards) == 1 else (f", {len(cards)} cards" if cards else "")
        rounds = _rounds(rows)
        key = (machine, cards, _config_digest(rows), commit, groups, rounds)
        label = f"{machine}{card}, {methods}, {backends}, sweep {sweep}, {rounds}, commit {commit}"
        signature.setdefault(key, []).append((run_id, label, machine))
    return [RunSet(m[0][1], [r for r, _, _ in m], m[0][2]) for m in signature.values() if len(m) >= 2]


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


@dataclass
class Split:
    base: list[str]
    cand: list[str]
    profile: list[noise.NoiseProfile] = field(default_factory=list)  # given as --noise-from would be


def splits(
    rs: RunSet, by_run: dict[str, pd.DataFrame], given: list[noise.NoiseProfile], max_splits: int, seed: int
) -> list[tuple[str, list[Split]]]:
    """(kind, splits) for each split kind (see the module docstring); `rs.runs` in time order."""
    runs, k = rs.runs, len(rs.runs)
    pairs = list(itertools.permutations(runs, 2))
    kinds = [("1 vs 1, default profile", [Split([a], [b]) for a, b in pairs])]
    if k >= 4:
        kinds.append((f"1 vs 1, profile from {k - 2} other runs", [
            Split([a], [b], [_built([by_run[r] for r in runs if r not in (a, b)])]) for a, b in pairs
        ]))  # fmt: skip
    for profile in given:
        if profile.machine == rs.machine and not set(profile.runs) & set(runs):
            kinds.append((f"1 vs 1, profile {profile.source}", [Split([a], [b], [profile]) for a, b in pairs]))
    if k >= 3:
        kinds.append((f"{k - 1} vs 1", [Split([r for r in runs if r != c], [c]) for c in runs]))
    h = k // 2
    if h >= 2:
        laid: dict[str, list[Split]] = {"interleaved": [], "blocked": [], "nested": []}
        for b in itertools.combinations(runs, h):
            for c in itertools.combinations([r for r in runs if r not in b], h):
                laid[_layout(runs, set(b), set(c))].append(Split(list(b), list(c)))
        kinds += [(f"{h} vs {h}, {kind}", parts) for kind, parts in laid.items() if parts]
    out = []
    for name, parts in kinds:
        if len(parts) > max_splits:
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            parts = [parts[i] for i in sorted(rng.choice(len(parts), max_splits, replace=False))]
        out.append((name, parts))
    return out


def _built(frames: list[pd.DataFrame]) -> noise.NoiseProfile:
    profile = noise.build([pd.concat(frames, ignore_index=True)], f"the {len(frames)} other runs")
    if profile is None:  # two runs of one point always give one degree of freedom
        raise ValueError("a profile from repeated runs found no repeated point")
    return profile


def _layout(runs: list[str], base: set[str], cand: set[str]) -> str:
    """How a split's runs, in time order, alternate between the sides."""
    sides = "".join("b" if r in base else "c" for r in runs if r in base | cand)
    changes = sum(x != y for x, y in itertools.pairwise(sides))
    return "blocked" if changes == 1 else ("interleaved" if changes == len(sides) - 1 else "nested")


@dataclass
class Tally:
    """Outcomes over the gate runs of one split kind."""

    factors: tuple[float, ...] = FACTORS
    gate_runs: int = 0
    aa_fail: int = 0
    aa_refused: int = 0
    aa_points: int = 0
    aa_point_slower: int = 0
    drift_fail: int = 0
    drift_refused: int = 0
    aa_change: list[float] = field(default_factory=list)  # per split: median |log ratio| of the gated points
    refusal_reasons: dict[str, int] = field(default_factory=dict)  # A/A refusals, by their first words

    def __post_init__(self) -> None:
        self.one = {f: [0, 0, 0] for f in self.factors}  # caught (exit 1 naming it), blocked (exit != 0), tried
        self.all = {f: [0, 0, 0] for f in self.factors}  # caught (exit 1), blocked (exit != 0), tried


def _named(frame: pd.DataFrame, keys: list[str]) -> set[tuple]:
    return {tuple(r) for r in frame[keys].itertuples(index=False)} if len(frame) else set()


def replay(prep: Prepared, tally: Tally, decision: rule.DecisionRule, points_per_split: int, rng) -> None:
    """All scenarios on one prepared split."""
    gated = ~yardstick.is_copy(prep.described)
    keys = [GROUP, *prep.keys]
    ids = [tuple(r) for r in prep.described[keys].itertuples(index=False)]

    def run(shift: np.ndarray | None) -> GateResult:
        comp = compare_prepared(prep, decision=decision, control=prep.same_machine, cand_shift=shift, explain=False)
        return decide(comp)

    tally.gate_runs += 1
    aa = run(None)
    tally.aa_fail += aa.exit_code == EXIT_FAIL
    tally.aa_refused += aa.exit_code == EXIT_REFUSED
    if aa.exit_code == EXIT_REFUSED:
        why = (aa.refusals[0] if aa.refusals else aa.headline()).split(":")[0][:60]
        tally.refusal_reasons[why] = tally.refusal_reasons.get(why, 0) + 1
    tally.aa_points += aa.n_gated
    tally.aa_point_slower += len(aa.failures)
    judged = aa.comparison.points[~aa.comparison.points["yardstick"]]
    tally.aa_change.append(float(np.median(np.abs(np.log(judged["ratio"])))) if len(judged) else np.nan)
    drift = run(np.full(len(ids), np.log1p(DRIFT)))
    tally.drift_fail += drift.exit_code == EXIT_FAIL
    tally.drift_refused += drift.exit_code == EXIT_REFUSED
    candidates = np.flatnonzero(gated)
    chosen = (
        candidates
        if len(candidates) <= points_per_split
        else np.sort(rng.choice(candidates, points_per_split, replace=False))
    )
    for f in tally.factors:
        result = run(np.where(gated, np.log1p(f), 0.0))
        tally.all[f][0] += result.exit_code == EXIT_FAIL
        tally.all[f][1] += result.exit_code != EXIT_PASS
        tally.all[f][2] += 1
        for i in chosen:
            shift = np.zeros(len(ids))
            shift[i] = np.log1p(f)
            result = run(shift)
            tally.one[f][0] += result.exit_code == EXIT_FAIL and ids[i] in _named(result.failures, keys)
            tally.one[f][1] += result.exit_code != EXIT_PASS
            tally.one[f][2] += 1


def measure(
    df: pd.DataFrame,
    decision: rule.DecisionRule,
    *,
    given: list[noise.NoiseProfile] | None = None,
    points_per_split: int = 24,
    max_splits: int = 30,
    seed: int = 0,
    factors: tuple[float, ...] = FACTORS,
) -> list[tuple[RunSet, str, Tally]]:
    """Every set of repeats in `df`, every split kind, every scenario; [] when there is no set."""
    from bench.analysis import replicates

    df = replicates.estimate(df)
    by_run = {run_id: rows for run_id, rows in df.groupby("run_id", sort=False)}
    out = []
    for rs in run_sets(df):
        for kind, parts in splits(rs, by_run, given or [], max_splits, seed):
            tally = Tally(factors=factors)
            for i, part in enumerate(parts):
                prep = prepare(
                    pd.concat([by_run[r] for r in part.base]),
                    pd.concat([by_run[r] for r in part.cand]),
                    sources=noise_sources.Sources(None, part.profile),
                )
                replay(
                    prep, tally, decision, points_per_split, np.random.default_rng([seed, zlib.crc32(kind.encode()), i])
                )
            out.append((rs, kind, tally))
    return out
