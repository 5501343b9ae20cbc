"""The regression gate: may this change merge? Exit 0 (yes), 1 (no: a point got slower or cannot be
judged), 2 (refused: the inputs cannot answer the question, or cannot answer it yet). It fails closed:
it never exits 0 while a gated point's estimate lies beyond the threshold.

**What fails (exit 1).** A gated point is a point the baseline timed (status ok), except the memcpy
yardstick (it measures the machine; `gate_yardstick` gates it too). The gate fails when a gated point
- is slower: the data show its median, or its tail (p90), beyond 1 + threshold (widened by its copy's
  established drift, by at most the threshold), one-sided tests with Benjamini-Hochberg over the gated
  points (rule.py, model.py): when nothing regressed beyond the threshold, the chance that the gate fails
  is at most alpha;
- cannot be judged in the candidate: no samples, NaN/inf or non-positive times, fewer samples than the
  model needs, round sizes that do not add up, measured twice in one run;
- has status failed, mismatch, skipped or built in the candidate, or was measured differently there;
- is absent from the candidate (unless `allow_missing`, which covers only that);
and when nothing at all could be judged ("no points to judge": an empty candidate never passes).

**What refuses (exit 2)**, before anything fails:
- the baseline is unusable (no timed points, or a timed point with unusable samples or a failure);
- base and cand differ in GPU, driver, CUDA or backend version (TensorRT, CUDA runtime): that is a
  comparison, not a gate (`cross` compares and reports, never gates);
- they share no comparable group; the machine drifted beyond the threshold (the copies establish it);
- a gated group without a copy beside it moved as a whole beyond the threshold: a shift every point
  shares cannot be told from the machine, and is refused rather than absorbed;
- a gated group cannot see a change of model.POWER_MULTIPLE thresholds at its typical point (events
  timing of microsecond calls, whose run-to-run noise is 10-20%): it refuses and says how many runs would;
and, when nothing failed: undecided points (the estimate is beyond the threshold on the slow side but the
data cannot show it; with how many runs would decide them) and points whose own copy moved beyond the
threshold (named).

Every decision names what ran: a point whose launch or tactics changed between the sides is still judged
(a new kernel generator must show what its launches cost), but the gate's summary leads with how many
points changed what ran, and every listed point shows both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.analysis import model, noise_sources, rule, yardstick
from bench.analysis.compare import Comparison, compare
from bench.analysis.sides import GROUP

EXIT_PASS, EXIT_FAIL, EXIT_REFUSED = 0, 1, 2
VERSION_COLUMNS = {"gpu_name": "GPUs", "driver_version": "drivers", "cuda_version": "CUDA versions",
                   "backend_version": "backend versions"}  # fmt: skip


@dataclass
class GateResult:
    """The decision and everything needed to explain it."""

    exit_code: int
    comparison: Comparison | None
    failures: pd.DataFrame  # gated points shown slower (median or tail), column `failed_on`
    missing: pd.DataFrame  # gated points absent from cand (fail unless allow_missing)
    undecided: pd.DataFrame  # gated points beyond the threshold, not shown: never passed
    refused_points: pd.DataFrame = field(default_factory=pd.DataFrame)  # their own copy moved beyond threshold
    refusals: list[str] = field(default_factory=list)  # why the inputs cannot answer the question
    cross: bool = False
    allow_missing: bool = False
    unjudgeable: pd.DataFrame = field(default_factory=pd.DataFrame)  # gated points cand cannot be judged on
    notes: list[str] = field(default_factory=list)  # the machine's drift, the noise, error control
    n_gated: int = 0  # gated points judged by the model
    ran_changed: int = 0  # of them, points whose launch or tactics differ between the sides

    def what_ran(self) -> str:
        """The summary's lead: how many gated points changed what ran."""
        if not self.n_gated:
            return "what ran: no point judged"
        if not self.ran_changed:
            return f"what ran: the same launch/tactics on all {self.n_gated} gated points"
        return f"what ran: {self.ran_changed} of {self.n_gated} gated points changed launch/tactics"

    def headline(self) -> str:
        """One line for a CI log: the decision, what ran, and the decision's cause."""
        if self.cross:
            return "CROSS comparison (not gated)" + (": " + "; ".join(self.refusals) if self.refusals else "")
        if self.refusals:
            return "REFUSED: " + "; ".join(self.refusals)
        lead = self.what_ran()
        if self.exit_code == EXIT_FAIL:
            parts = []
            if len(self.failures):
                changed = int(self.failures["ran_changed"].sum()) if "ran_changed" in self.failures else 0
                parts.append(f"{len(self.failures)} point(s) slower ({changed} of them with launch/tactics changed)")
            if len(self.unjudgeable):
                parts.append(f"{len(self.unjudgeable)} point(s) cannot be judged in cand")
            if len(self.missing) and not self.allow_missing:
                parts.append(f"{len(self.missing)} point(s) of base missing from cand")
            return f"FAIL: {lead}; " + (", ".join(parts) or "no points to judge")
        if self.exit_code == EXIT_REFUSED:
            parts = []
            if len(self.undecided):
                parts.append(f"{len(self.undecided)} point(s) undecided beyond the threshold")
            if len(self.refused_points):
                parts.append(f"{len(self.refused_points)} point(s) whose memcpy moved beyond the threshold")
            return f"UNDECIDED: {lead}; " + ", ".join(parts)
        counts = self.comparison.points[~self.comparison.points["yardstick"]]["verdict"].value_counts()
        told = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("same", "faster", "ambiguous"))
        return f"PASS: {lead}; {self.n_gated} points judged, none slower or undecided ({told})"


def _values(df: pd.DataFrame, column: str) -> set[str]:
    """The column's values over all rows: a run whose every point failed still says which GPU it ran on."""
    if column not in df.columns:
        return set()
    return set(df[column].astype("string").fillna("(none)").unique())


def machine_refusal(base: pd.DataFrame, cand: pd.DataFrame) -> list[str]:
    """Why base and cand are not one machine: another GPU, driver, CUDA or backend version; empty when alike."""
    out = []
    for column, what in VERSION_COLUMNS.items():
        b, c = _values(base, column), _values(cand, column)
        if b and c and b != c:
            out.append(f"different {what}: base has {sorted(b)}, cand has {sorted(c)}")
    if out:
        out[-1] += " (a comparison, not a gate: `bench compare`, or --cross to report without gating)"
    return out


def _label(row: pd.Series) -> str:
    return f"{row.get('mode', '?')} {row.get('precision', '?')} {row.get('shape', '?')} axis={row.get('channel_axis', '?')} [{row.get('backend', '?')}]"


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["point_key", "backend", "reason"])


def gate(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    decision: rule.DecisionRule | None = None,
    allow_missing: bool = False,
    cross: bool = False,
    gate_yardstick: bool = False,
    sources: noise_sources.Sources | None = None,
) -> GateResult:
    """Compare and decide; see the module docstring."""
    if len(cand) == 0:
        return GateResult(
            EXIT_FAIL, None, _empty(), _empty(), _empty(), notes=["no points to judge: the candidate has no rows"]
        )
    if not (base["status"] == "ok").any():
        return _refused(["the baseline is unusable: it has no timed (status ok) points"], allow_missing)
    reasons = machine_refusal(base, cand)
    if reasons and not cross:
        return _refused(reasons, allow_missing)
    comparison = compare(
        base, cand, decision=decision, control=not (gate_yardstick or cross or reasons), sources=sources
    )
    if cross:
        return GateResult(EXIT_PASS, comparison, _empty(), _empty(), _empty(), refusals=reasons, cross=True)
    return decide(comparison, allow_missing=allow_missing, gate_yardstick=gate_yardstick)


def _refused(reasons: list[str], allow_missing: bool) -> GateResult:
    return GateResult(EXIT_REFUSED, None, _empty(), _empty(), _empty(), refusals=reasons, allow_missing=allow_missing)


def decide(comp: Comparison, *, allow_missing: bool = False, gate_yardstick: bool = False) -> GateResult:
    """The gate's decision on a comparison (made with the yardstick as control unless gate_yardstick)."""
    gated_group = _gated_groups(comp, gate_yardstick)
    points = comp.points
    gated = points[[gated_group(g) for g in points[GROUP]]] if len(points) else points
    if not gate_yardstick and len(gated):
        gated = gated[~gated["yardstick"].astype(bool)]
    refusals = [*_baseline_refusals(comp), *_group_refusals(comp, gated_group)]
    refusals += [*_drift_refusals(comp), *_shared_shift_refusals(comp, gated), *_power_refusals(comp, gated)]
    refused_points = gated[gated["copy_moved"].astype(bool)] if len(gated) else gated
    judged = gated[~gated["copy_moved"].astype(bool)] if len(gated) else gated
    failures, undecided = _failures(judged), _undecided(judged)
    unjudgeable, absent = comp.cache.get(("unjudgeable", gate_yardstick)) or _unjudgeable(comp, gated_group)
    comp.cache[("unjudgeable", gate_yardstick)] = unjudgeable, absent
    if refusals:
        code = EXIT_REFUSED
    elif len(failures) or len(unjudgeable) or (len(absent) and not allow_missing) or len(gated) == 0:
        code = EXIT_FAIL
    elif len(undecided) or len(refused_points):
        code = EXIT_REFUSED
    else:
        code = EXIT_PASS
    return GateResult(
        code,
        comp,
        failures,
        absent,
        undecided,
        refused_points=refused_points,
        refusals=refusals,
        allow_missing=allow_missing,
        unjudgeable=unjudgeable,
        notes=_notes(comp, gated_group, gated),
        n_gated=len(gated),
        ran_changed=int(gated["ran_changed"].sum()) if len(gated) else 0,
    )


def _failures(points: pd.DataFrame) -> pd.DataFrame:
    """Gated points shown slower, on the median, the tail or both."""
    if not len(points):
        return points.assign(failed_on=pd.Series(dtype=object))
    median = (points["verdict"] == "slower").to_numpy()
    tail = (points["tail_verdict"] == "slower").to_numpy()
    on = np.where(median & tail, "median and p90", np.where(median, "median", "p90"))
    return points.assign(failed_on=on)[median | tail]


def _undecided(points: pd.DataFrame) -> pd.DataFrame:
    """Gated points not shown slower whose median or tail estimate lies beyond the threshold on the slow side."""
    if not len(points):
        return points
    slow = (points["verdict"] == "undecided") & (points["ratio"] > 1)
    tail = (points["tail_verdict"] == "undecided") & (points["tail_ratio"] > 1)
    shown = (points["verdict"] == "slower") | (points["tail_verdict"] == "slower")
    return points[(slow | tail) & ~shown]


def _baseline_refusals(comp: Comparison) -> list[str]:
    problems = comp.problems if len(comp.problems) else pd.DataFrame(columns=["side", GROUP, "reason"])
    bad = problems[problems["side"] == "base"]
    if not len(bad):
        return []
    examples = "; ".join(f"{_label(r)}: {r['reason']}" for _, r in bad.head(3).iterrows())
    more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
    return [f"the baseline is unusable: {len(bad)} point(s) cannot be judged: {examples}{more}"]


def _group_refusals(comp: Comparison, gated_group) -> list[str]:
    """Base and cand share no comparable group of gated points (cand timed something else)."""
    shared = [g for g, info in comp.groups.items() if gated_group(g) and info.base_runs and info.cand_runs]
    if shared or not any(info.cand_runs for info in comp.groups.values()) or len(comp.problems):
        return []

    def runs_of(i, side: str):
        return i.base_runs if side == "base" else i.cand_runs

    held = [
        f"{side} has " + (", ".join(sorted({i.group.describe() for i in comp.groups.values() if runs_of(i, side)}))
                          or "nothing timed")
        for side in ("base", "cand")
    ]  # fmt: skip
    both = [i for i in comp.groups.values() if i.base_runs and i.cand_runs]
    hint = "; only the memcpy yardstick is in both (--gate-yardstick gates it)" if both else ""
    modes = [
        {i.group.as_dict().get("l2_mode") for i in comp.groups.values() if runs_of(i, s)} for s in ("base", "cand")
    ]
    if not hint and modes[0] and modes[1] and modes[0].isdisjoint(modes[1]):
        hint = (
            "; they differ in the L2 state: time both sides the same way (rotated buffers are the default "
            "since schema 3; --warm-l2 times one set), or record the baseline again (nox -s baseline)"
        )
    return [f"base and cand share no comparable group of gated points: {'; '.join(held)}{hint}"]


def _drift_refusals(comp: Comparison) -> list[str]:
    out = []
    for which, drifts in (("medians", comp.drift), ("p90s", comp.tail_drift)):
        for drift in drifts:
            if not (abs(np.log(drift.median)) > comp.rule.half and drift.established):
                continue
            out.append(
                f"{drift.sentence()} ({which}): beyond the ±{comp.threshold:.0%} threshold, so a change cannot be "
                "told from the machine (or the change touched the memcpy yardstick); time base and cand on the same "
                "machine, interleaved (`nox -s gate`)"
            )
    return out


def _shared_shift_refusals(comp: Comparison, gated: pd.DataFrame) -> list[str]:
    """A gated group no copy controls that moved as a whole beyond the threshold: refused, never absorbed."""
    out = []
    for gid, rows in gated.groupby(GROUP, sort=True) if len(gated) else []:
        if np.isfinite(rows["drift"].to_numpy(dtype=np.float64)).any():
            continue
        for stat, column in (("median", "ratio"), ("p90", "tail_ratio")):
            shared = float(np.median(np.log(rows[column].to_numpy(dtype=np.float64))))
            if abs(shared) > comp.rule.half:
                out.append(
                    f"every point of {comp.groups[gid].group.describe()} moved: {stat} ratio {np.exp(shared):.3f} "
                    f"(median over {len(rows)} points) and no memcpy of their shapes was timed beside them, so a shift "
                    "all points share cannot be told from the machine (another clock, a busy host); time memcpy "
                    "beside them (--backend memcpy), or base and cand interleaved on one machine"
                )
                break
    return out


def _power_refusals(comp: Comparison, gated: pd.DataFrame) -> list[str]:
    """Gated groups whose typical point could not be named slower at POWER_MULTIPLE thresholds."""
    out = []
    target = float(np.log1p(model.POWER_MULTIPLE * comp.threshold))
    for gid, rows in gated.groupby(GROUP, sort=True) if len(gated) else []:
        resolution = float(np.median(rows["resolution"].to_numpy(dtype=np.float64)))
        if np.log(resolution) <= target:
            continue
        sigma_b = float(np.median(rows["noise_base"])), float(np.median(rows["noise_cand"]))
        runs = model.runs_needed(
            np.array([sigma_b[0]]), np.array([sigma_b[1]]), np.array([float(np.median(rows["df"]))]),
            np.array([target - comp.rule.half]), comp.rule.family_alpha, len(gated),
        )[0]  # fmt: skip
        more = (
            f"about {runs} runs a side would"
            if runs <= model.MAX_RUNS
            else f"not even {model.MAX_RUNS} runs a side would"
        )
        group = comp.groups[gid].group
        advice = (
            "give each side more runs, or a noise profile of this GPU (--noise-from, or a baseline of several runs)"
            if group.as_dict().get("timing_method") == "graph"
            else "gate graph timing where it can run (--method graph), or give more runs"
        )
        out.append(
            f"{group.describe()}: too noisy to gate: at its typical point the gate names a slowdown only beyond "
            f"{_change(resolution)} (run-to-run noise {sigma_b[0]:.1%} a run; {int(rows['runs_base'].median())} "
            f"vs {int(rows['runs_cand'].median())} runs), not the +{model.POWER_MULTIPLE * comp.threshold:.0%} it must "
            f"catch; {more}: {advice}"
        )
    return out


def _unjudgeable(comp: Comparison, gated_group) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(gated points cand cannot be judged on, gated points absent from cand)."""
    problems = comp.problems if len(comp.problems) else pd.DataFrame(columns=["side", GROUP, "reason"])
    cand_bad = problems[(problems["side"] == "cand") & problems[GROUP].map(gated_group).astype(bool)]
    only_base = (
        comp.only_base[comp.only_base[GROUP].map(gated_group).astype(bool)] if len(comp.only_base) else comp.only_base
    )
    absent = only_base[only_base["other_status"] == "absent"] if len(only_base) else only_base
    status_bad = only_base[only_base["other_status"] != "absent"] if len(only_base) else only_base
    reasons = [
        f"{status} in cand" + (f": {error}" if isinstance(error, str) and error else "")
        for status, error in zip(status_bad.get("other_status", []), status_bad.get("other_error", []), strict=True)
    ]
    unjudgeable = pd.concat(
        [
            cand_bad.drop(columns=["side"]),
            status_bad.assign(reason=reasons).drop(columns=["other_status", "other_error"]),
        ],
        ignore_index=True,
    )
    return unjudgeable, absent


def _notes(comp: Comparison, gated_group, gated: pd.DataFrame) -> list[str]:
    notes = [d.sentence() for d in comp.drift]
    unlike = gated["copy_unlike"].astype(str) if "copy_unlike" in gated else pd.Series([], dtype=str)
    if (unlike != "").any():
        example = unlike[unlike != ""].iloc[0]
        notes.append(
            f"{int((unlike != '').sum())} gated point(s) are not controlled: their copy ran a different copy on the "
            f"two sides (e.g. {example}), so its move says nothing about the machine; judged with the plain band"
        )
    for gid, info in comp.groups.items():
        if gated_group(gid) and info.noise:
            notes.append(f"noise, {info.group.describe()}: {info.noise}")
    for gid, rows in gated.groupby(GROUP, sort=True) if len(gated) else []:
        if not np.isfinite(rows["drift"].to_numpy(dtype=np.float64)).any():
            shared = float(np.median(rows["ratio"]))
            notes.append(
                f"no memcpy controls {comp.groups[gid].group.describe()}: its points moved by a median of "
                f"{shared - 1:+.2%}, judged as they are (a shared shift is never absorbed)"
            )
    unmatched = [i for g, i in comp.groups.items() if gated_group(g) and i.cand_runs and not i.base_runs]
    if unmatched and any(gated_group(g) and i.base_runs and i.cand_runs for g, i in comp.groups.items()):
        notes.append(
            "not judged: cand also holds runs timed another way than any base run ("
            + "; ".join(f"{i.group.describe()}: {len(i.cand_runs)} run(s)" for i in unmatched)
            + "); only the comparable runs were gated"
        )
    notes.append(
        f"error control: {comp.rule.describe()} Over the {len(gated)} gated points: when no point regressed beyond "
        f"the threshold, the gate fails with probability at most {comp.alpha:g}"
    )
    return notes


def _gated_groups(comp: Comparison, gate_yardstick: bool):
    """Predicate on group ids: gated unless it is the yardstick's (memcpy) group and that is not gated."""
    copies = {g for g, info in comp.groups.items() if info.group.as_dict().get("backend") == yardstick.YARDSTICK}

    def gated(group_id: str) -> bool:
        return gate_yardstick or group_id not in copies

    return gated


def _change(ratio: float) -> str:
    """'+12.6%', or '3,078x' for a ratio past 2 (a percentage of thousands reads as a typo)."""
    if ratio < 2:
        return f"{ratio - 1:+.1%}"
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"
