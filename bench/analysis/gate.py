"""The regression gate: may this change merge? Exit 0 (yes), 1 (no: a point got slower or cannot be
judged), 2 (refused: the inputs cannot answer the question).

**What fails (exit 1).** A gated point is a point the baseline timed (status ok), except the memcpy
yardstick (it measures the machine; `gate_yardstick` gates it too). The gate fails when a gated point
- is slower: the data show its ratio beyond 1 + threshold (widened by the machine's drift), a one-sided
  test with Benjamini-Hochberg over all gated points (see model.py): when nothing regressed beyond the
  threshold, the chance that the gate fails is at most alpha;
- cannot be judged in the candidate: no samples, NaN/inf or non-positive times, fewer samples than the
  model needs, round sizes that do not add up, measured twice in one run;
- has status failed, mismatch, skipped or built in the candidate, or was measured differently there
  (another timing method or L2 state: not comparable);
- is absent from the candidate (unless `allow_missing`, which covers only that);
and when nothing at all could be judged ("no points to judge": an empty candidate never passes).

**What refuses (exit 2).** The baseline cannot be judged against ("the baseline is unusable: ...": no
timed points, or a timed point with unusable samples or a failure in one of its runs); base and cand ran
on different GPUs (unless `cross`, which compares and reports but never gates); they share no comparable
group (another timing method, L2 state, backend); the machine drifted beyond the threshold (the memcpy
yardstick's median ratio; see yardstick.py); a side's runs are not repeats of one thing.

Ambiguous points never fail; they are listed with what would decide them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.analysis import yardstick
from bench.analysis.compare import DEFAULT_ALPHA, DEFAULT_THRESHOLD, GROUP, Comparison, compare

EXIT_PASS, EXIT_FAIL, EXIT_REFUSED = 0, 1, 2
RERUN_ADVICE = (
    "ambiguous points never fail the gate; to decide them, give each side more runs (several files or "
    "folders per side; `nox -s gate` times base and head interleaved), or quiet the machine"
)


@dataclass
class GateResult:
    """The decision and everything needed to explain it."""

    exit_code: int
    comparison: Comparison | None
    failures: pd.DataFrame  # gated points judged slower
    missing: pd.DataFrame  # gated points absent from cand (fail unless allow_missing)
    ambiguous: pd.DataFrame
    refusals: list[str] = field(default_factory=list)  # why the inputs cannot answer the question
    cross: bool = False
    allow_missing: bool = False
    unjudgeable: pd.DataFrame = field(default_factory=pd.DataFrame)  # gated points cand cannot be judged on
    notes: list[str] = field(default_factory=list)  # the machine's drift, the noise model, error control
    n_gated: int = 0  # gated points judged by the model

    def headline(self) -> str:
        """One line for a CI log: the decision and its cause."""
        if self.exit_code == EXIT_REFUSED:
            return "REFUSED: " + "; ".join(self.refusals)
        if self.cross:
            return "CROSS comparison (not gated)" + (": " + "; ".join(self.refusals) if self.refusals else "")
        if self.exit_code == EXIT_FAIL:
            parts = []
            if len(self.failures):
                parts.append(f"{len(self.failures)} point(s) slower")
            if len(self.unjudgeable):
                parts.append(f"{len(self.unjudgeable)} point(s) cannot be judged in cand")
            if len(self.missing) and not self.allow_missing:
                parts.append(f"{len(self.missing)} point(s) of base missing from cand")
            if not parts:
                parts.append("no points to judge")
            return "FAIL: " + ", ".join(parts)
        counts = self.comparison.points[~self.comparison.points["yardstick"]]["verdict"].value_counts()
        told = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("same", "faster", "ambiguous"))
        return f"PASS: {self.n_gated} points judged, none slower ({told})"


def _values(df: pd.DataFrame, column: str) -> set[str]:
    """The column's values over all rows: a run whose every point failed still says which GPU it ran on."""
    if column not in df.columns:
        return set()
    return set(df[column].astype("string").fillna("(none)").unique())


def gpu_refusal(base: pd.DataFrame, cand: pd.DataFrame) -> list[str]:
    """Why base and cand ran on different GPUs (by name); empty when alike."""
    b, c = _values(base, "gpu_name"), _values(cand, "gpu_name")
    if b != c:
        return [
            f"different GPUs: base has {sorted(b)}, cand has {sorted(c)} (pass --cross to compare anyway; it never gates)"
        ]
    return []


def _label(row: pd.Series) -> str:
    from bench.analysis.render import point_label

    return point_label(row)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["point_key", "backend", "reason"])


def gate(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    allow_missing: bool = False,
    cross: bool = False,
    gate_yardstick: bool = False,
    n_resamples: int | None = None,
    history: pd.DataFrame | None = None,
) -> GateResult:
    """Compare and decide; see the module docstring. `n_resamples` is accepted and unused (analytic model)."""
    del n_resamples
    if len(cand) == 0:
        return GateResult(
            EXIT_FAIL, None, _empty(), _empty(), _empty(), notes=["no points to judge: the candidate has no rows"]
        )
    if not (base["status"] == "ok").any():
        return _refused(["the baseline is unusable: it has no timed (status ok) points"], allow_missing)
    reasons = gpu_refusal(base, cand)
    if reasons and not cross:
        return _refused(reasons, allow_missing)
    comparison = compare(
        base, cand, threshold=threshold, alpha=alpha, yardstick_control=not (gate_yardstick or cross), history=history
    )
    if cross:
        return GateResult(EXIT_PASS, comparison, _empty(), _empty(), _empty(), reasons, cross=True)
    return decide(comparison, allow_missing=allow_missing, gate_yardstick=gate_yardstick)


def _refused(reasons: list[str], allow_missing: bool) -> GateResult:
    return GateResult(EXIT_REFUSED, None, _empty(), _empty(), _empty(), reasons, allow_missing=allow_missing)


def decide(comp: Comparison, *, allow_missing: bool = False, gate_yardstick: bool = False) -> GateResult:
    """The gate's decision on a comparison made with the yardstick as control (unless gate_yardstick)."""
    gated_group = _gated_groups(comp, gate_yardstick)
    problems = comp.problems if len(comp.problems) else pd.DataFrame(columns=["side", GROUP, "reason"])
    base_bad = problems[(problems["side"] == "base")]
    refusals = []
    if len(base_bad):
        examples = "; ".join(f"{_label(r)}: {r['reason']}" for _, r in base_bad.head(3).iterrows())
        more = f" (and {len(base_bad) - 3} more)" if len(base_bad) > 3 else ""
        refusals.append(f"the baseline is unusable: {len(base_bad)} point(s) cannot be judged: {examples}{more}")
    shared = [g for g, info in comp.groups.items() if gated_group(g) and info.base_runs and info.cand_runs]
    cand_timed = any(info.cand_runs for info in comp.groups.values())
    if not shared and cand_timed and not refusals:  # cand timed something else; nothing timed at all fails below
        held = [
            f"{side} has "
            + (", ".join(sorted({i.group.describe() for i in comp.groups.values() if runs(i)})) or "nothing timed")
            for side, runs in (("base", lambda i: i.base_runs), ("cand", lambda i: i.cand_runs))
        ]
        both = [i for i in comp.groups.values() if i.base_runs and i.cand_runs]
        hint = "; only the memcpy yardstick is in both (--gate-yardstick gates it)" if both else ""
        modes = [{i.group.as_dict().get("l2_mode") for i in comp.groups.values() if runs(i)} for runs in
                 (lambda i: i.base_runs, lambda i: i.cand_runs)]  # fmt: skip
        if not hint and modes[0] and modes[1] and modes[0].isdisjoint(modes[1]):
            hint = (
                "; they differ in the L2 state: time both sides the same way (rotated buffers are the default "
                "since schema 3; --warm-l2 times one set), or record the baseline again (nox -s baseline)"
            )
        refusals.append(f"base and cand share no comparable group of gated points: {'; '.join(held)}{hint}")
    half = np.log1p(comp.threshold)
    for drift in comp.drift:
        if abs(np.log(drift.median)) > half and drift.established:
            refusals.append(
                f"{drift.sentence()}: beyond the ±{comp.threshold:.0%} threshold, so a change cannot be told from "
                "the machine (or the change touched the memcpy yardstick); time base and cand on the same machine, "
                "interleaved (`nox -s gate`)"
            )
    notes = [
        d.sentence()
        + (
            ": beyond the threshold, but too few copies show it for it to be the machine's (they are too noisy "
            "to tell a move from noise); not refused on it, each point's band widened by its own copy's move"
            if abs(np.log(d.median)) > half and not d.established
            else ""
        )
        for d in comp.drift
    ]
    points = comp.points
    gated_points = points[[gated_group(g) for g in points[GROUP]]] if len(points) else points
    if gate_yardstick is False and len(gated_points):
        gated_points = gated_points[~gated_points["yardstick"].astype(bool)]
    blind = [
        g for g, info in comp.groups.items() if gated_group(g) and info.prior is not None and not info.prior.replicated
    ]
    if blind and not comp.history_runs:
        notes.append(
            "one run a side and no noise history: each point's own run-to-run noise is unknown, so the scatter "
            "across points stands in for it; a point that moves between runs more than the others (on the H100 with "
            "one buffer set, L2-resident fp32 points of 8x128x56x56: reports/gate/README.md) can fail without a "
            "change. Give the baseline "
            "several runs (--baseline NAME), or earlier runs of its machine with --noise-from"
        )
    unmatched = [i for g, i in comp.groups.items() if gated_group(g) and i.cand_runs and not i.base_runs]
    if unmatched and shared:
        notes.append(
            "not judged: cand also holds runs timed another way than any base run ("
            + "; ".join(f"{i.group.describe()}: {len(i.cand_runs)} run(s)" for i in unmatched)
            + "); only the comparable runs were gated"
        )
    if comp.history_runs:
        notes.append(
            f"noise history: {len(comp.history_runs)} other run(s) of the base's machine gave each point its own run-to-run noise "
            "(used for nothing else)"
            + (
                f"; {len(comp.history_unusable)} point(s) judged without it, their history rows cannot be judged "
                f"(first: {comp.history_unusable[0]})"
                if comp.history_unusable
                else ""
            )
        )
    notes.append(
        f"error control: slower means the data show a ratio above the band (one-sided t test on the runs' log "
        f"medians), Benjamini-Hochberg over the {len(gated_points)} gated points at alpha {comp.alpha:g}: when no "
        f"point regressed beyond the threshold, the gate fails with probability at most {comp.alpha:g}"
    )
    cand_bad = problems[(problems["side"] == "cand") & problems[GROUP].map(gated_group).astype(bool)]
    only_base = (
        comp.only_base[comp.only_base[GROUP].map(gated_group).astype(bool)] if len(comp.only_base) else comp.only_base
    )
    absent = only_base[only_base["other_status"] == "absent"] if len(only_base) else only_base
    status_bad = only_base[only_base["other_status"] != "absent"] if len(only_base) else only_base
    unjudgeable = pd.concat(
        [
            cand_bad.drop(columns=["side"]),
            status_bad.assign(reason=_status_reasons(status_bad)).drop(columns=["other_status", "other_error"]),
        ],
        ignore_index=True,
    )
    failures = gated_points[gated_points["verdict"] == "slower"] if len(gated_points) else gated_points
    ambiguous = gated_points[gated_points["verdict"] == "ambiguous"] if len(gated_points) else gated_points
    if refusals:
        code = EXIT_REFUSED
    elif len(failures) or len(unjudgeable) or (len(absent) and not allow_missing) or len(gated_points) == 0:
        code = EXIT_FAIL
    else:
        code = EXIT_PASS
    return GateResult(
        code,
        comp,
        failures,
        absent,
        ambiguous,
        refusals,
        allow_missing=allow_missing,
        unjudgeable=unjudgeable,
        notes=notes,
        n_gated=len(gated_points),
    )


def _gated_groups(comp: Comparison, gate_yardstick: bool):
    """Predicate on group ids: gated unless it is the yardstick's (memcpy) group and that is not gated."""
    copies = {g for g, info in comp.groups.items() if info.group.as_dict().get("backend") == yardstick.YARDSTICK}

    def gated(group_id: str) -> bool:
        return gate_yardstick or group_id not in copies

    return gated


def _status_reasons(rows: pd.DataFrame) -> list[str]:
    out = []
    for status, error in zip(rows["other_status"], rows["other_error"], strict=True):
        detail = f": {error}" if isinstance(error, str) and error else ""
        out.append(f"{status} in cand{detail}")
    return out
