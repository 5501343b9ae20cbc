"""The versions report: one markdown page from a versions folder (its runs and _versions.json).

Every figure on the page is computed here from the rows of the runs the manifest names; nothing is typed
in. Sections: what was compared and how, one line per version (what ran here, its selfcheck, the packages
its SPEC brought), a summary per version against the first, one table per version against the first
(per point: build time with its spread, engine size, tactics, and run times with verdicts where the
engines ran), the points not built alike, and what the page cannot know.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pandas as pd

from bench.mdtable import table as md_table
from bench.versions import builds as B
from bench.versions import verdicts as V

DEFAULT_BUILD_THRESHOLD = 0.10


def _fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def _range(values: tuple[float, ...]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return _fmt_s(values[0])
    return f"{_fmt_s(statistics.median(values))} ({_fmt_s(min(values))}–{_fmt_s(max(values))})"


def _bytes(values: tuple[int, ...]) -> str:
    if not values:
        return "—"
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def _axis(value: object) -> str:
    return str(value)


def short_name(versions: list[dict], v: dict) -> str:
    """The version number for column heads; the SPEC where two SPECs install one version (an A/A check)."""
    numbers = [x["version"] for x in versions]
    return v["version"] if numbers.count(v["version"]) == 1 else v["spec"]


def rows_of(df: pd.DataFrame, version: dict) -> pd.DataFrame:
    ids = {r["run_id"] for r in version["runs"]}
    return df[df["run_id"].isin(ids)]


def _sweep_seconds(rows: pd.DataFrame, points: set[str]) -> tuple[float, ...]:
    """Per run: the sum of the build times of ``points`` (those every version built: a version that fails
    some points must not look faster for building fewer)."""
    built = rows[rows["build_s"].notna() & rows["point_key"].isin(points)]
    return tuple(float(x) for x in built.groupby("run_id")["build_s"].sum())


def built_by_all(per: list[dict[str, B.PointBuilds]]) -> set[str]:
    keys = set.intersection(*(set(p) for p in per)) if per else set()
    return {k for k in keys if all(p[k].built for p in per)}


def _geomean(ratios: list[float]) -> float:
    good = [r for r in ratios if r > 0 and math.isfinite(r)]
    return math.exp(sum(map(math.log, good)) / len(good)) if good else float("nan")


def _machine(df: pd.DataFrame) -> str:
    gpus = sorted({str(g) for g in df["gpu_name"].dropna()}) if "gpu_name" in df else []
    hosts = sorted({str(h) for h in df["host"].dropna()}) if "host" in df else []
    where = f"GPU {', '.join(gpus)}" if gpus else "no GPU"
    return f"host {', '.join(hosts) or '?'}, {where}"


def versions_table(manifest: dict) -> str:
    body = []
    for v in manifest["versions"]:
        ran = "timed" if not v["build_only"] else f"built only: {v['why_built_only']}"
        packages = ", ".join(f"{n} {ver}" for n, ver in sorted(v["distributions"].items()))
        body.append([f"`{v['spec']}`", f"{v['module']} {v['version']}", ran, v.get("selfcheck") or "—", packages,
                     f"{v['installed_s']:.0f} s", str(len(v["runs"]))])  # fmt: skip
    head = ["SPEC", "imports", "what ran here", "selfcheck in its environment", "what the SPEC installed",
            "install", "runs"]  # fmt: skip
    return md_table(head, body)


def summary(manifest: dict, df: pd.DataFrame, threshold: float) -> tuple[str, list[str]]:
    """The per-version summary table, and sentences about noise (each computed from the rows)."""
    versions = manifest["versions"]
    per = [B.collect(rows_of(df, v)) for v in versions]
    base = per[0]
    common = built_by_all(per)
    body, notes = [], []
    for v, points in zip(versions, per, strict=True):
        rows = rows_of(df, v)
        statuses = rows.drop_duplicates(["point_key", "status"])["status"].value_counts().to_dict()
        built = [p for p in points.values() if p.built]
        spreads = [B.spread(p.build_s) for p in built if len(p.build_s) > 1]
        same = differ = unequal = reformat = recipes = 0
        ratios = []
        for key, p in points.items():
            b = base.get(key)
            if b is None or not (b.built and p.built):
                continue
            ratios.append(p.median_s / b.median_s)
            t = B.tactics(b, p)
            same += t == "same tactics"
            differ += t == "tactics differ"
            unequal += t == "builds differ"
            reformat += p.reformats != b.reformats
            recipes += p.recipe != b.recipe
        sweep = _sweep_seconds(rows, common)
        is_base = v is versions[0]
        body.append([
            f"`{v['spec']}`",
            ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
            _range(sweep) + " s",
            f"{statistics.median(spreads):.1%}" if spreads else "—",
            "—" if is_base else f"{_geomean(ratios):.3f}",
            f"{same} / {differ} / {unequal}" if not is_base else f"{sum(not p.builds_agree for p in built)} builds differ",
            "—" if is_base else str(reformat),
            "—" if is_base else str(recipes),
        ])  # fmt: skip
        fired, judged, side = B.self_check(points, threshold)
        if judged and side >= 2:  # one build a side says nothing about a rule that takes the whole range
            notes.append(f"`{v['spec']}` against itself (the first {side} of its builds against the next {side}, by "
                         f"the rule above): {fired} of {judged} points got a build-time verdict, all of them false. "
                         f"Between versions each side has {len(v['runs'])} builds, which makes a verdict harder: "
                         "this is an upper bound of the false verdicts per version.")  # fmt: skip
    head = ["SPEC", "points (per run)", f"build time of the {len(common)} points all built, median (range) over runs",
            "median spread of a point's builds",
            "build time vs first (geomean of per-point ratios)", "same tactics / tactics differ / builds differ",
            "points whose reformat layers differ", "points whose network differs (precision recipe)"]  # fmt: skip
    return md_table(head, body), notes


def point_table(manifest: dict, df: pd.DataFrame, index: int, threshold: float) -> tuple[str, dict[str, int]]:
    """Version ``index`` against the first, one row per point either built; and the build-verdict counts."""
    versions = manifest["versions"]
    base_v, other_v = versions[0], versions[index]
    base_rows, other_rows = rows_of(df, base_v), rows_of(df, other_v)
    base, other = B.collect(base_rows), B.collect(other_rows)
    times = V.against(base_rows, other_rows, base_v["spec"], other_v["spec"])
    describe = B.describe(pd.concat([base_rows, other_rows]))
    timed = not times.points.empty
    body, counts = [], {}
    for key, d in describe.iterrows():
        a, b = base.get(key), other.get(key)
        if a is None or b is None or not (a.built and b.built):
            continue
        verdict = B.build_verdict(a, b, threshold)
        counts[verdict] = counts.get(verdict, 0) + 1
        t = B.tactics(a, b)
        if a.recipe != b.recipe:  # not the same network: the version and the harness's recipe both changed
            t += f"; network differs: {a.recipe} → {b.recipe}"
        ran = "" if t == "same tactics" else f"{a.what_ran()} → {b.what_ran()}"
        delta = b.reformats - a.reformats
        row = [d["shape"], d["mode"], d["precision"], _axis(d["channel_axis"]), _range(a.build_s), _range(b.build_s),
               f"{b.median_s / a.median_s:.2f}", verdict, _bytes(a.engine_bytes), _bytes(b.engine_bytes), t,
               f"{delta:+d}" if delta else "0", ran]  # fmt: skip
        if timed:
            if key in times.points.index:
                p = times.points.loc[key]
                row += [f"{p['base_median_us']:.2f}", f"{p['cand_median_us']:.2f}",
                        f"{p['ratio']:.3f} [{p['ci_low']:.3f}, {p['ci_high']:.3f}]", str(p["verdict"])]  # fmt: skip
            else:
                row += ["—"] * 4
        body.append(row)
    a_name, b_name = short_name(versions, base_v), short_name(versions, other_v)
    head = ["shape", "mode", "prec", "axis", f"build s {a_name}", f"build s {b_name}", "ratio", "build time",
            f"engine bytes {a_name}", f"engine bytes {b_name}", "tactics", "reformat layers added",
            "what ran (first → other), where it differs"]  # fmt: skip
    if timed:
        head += [f"µs {a_name}", f"µs {b_name}", "time ratio [95% CI]", "verdict"]
    text = md_table(head, body) if body else "No point was built by both versions."
    if times.note:
        text = f"Run times: {times.note}.\n\n{text}"
    elif timed:
        verdicts = ", ".join(f"{n} {k}" for k, n in sorted(times.counts.items()))
        text = (f"Run times (`bench compare`'s verdicts, {other_v['spec']} against {base_v['spec']}): {verdicts}.\n\n"
                + text)  # fmt: skip
    return text, counts


def engine_shapes(manifest: dict, df: pd.DataFrame) -> str:
    """Per version, how many points' engines have each sequence of layer types (e.g. 'kgen'), and how many
    distinct tactics they use: the engines' structure at a glance (reformat layers show up here)."""
    versions = manifest["versions"]
    per = [B.collect(rows_of(df, v)) for v in versions]
    shapes = sorted({" + ".join(x.type for x in p.layers.layers) for points in per for p in points.values()
                     if p.built and p.layers})  # fmt: skip
    body = []
    for shape in shapes:
        row = [shape or "?"]
        for points in per:
            match = [
                p
                for p in points.values()
                if p.built and p.layers and " + ".join(x.type for x in p.layers.layers) == shape
            ]
            tactics = {x.tactic for p in match for x in p.layers.layers}
            row.append(f"{len(match)} points, {len(tactics)} distinct tactics" if match else "—")
        body.append(row)
    head = ["layers of the engine (types, in order)", *(f"`{v['spec']}`" for v in versions)]
    return md_table(head, body) if body else "No layer information was recorded."


def not_alike(manifest: dict, df: pd.DataFrame) -> str:
    """Points some version did not build (skipped or failed), grouped by what each version recorded: one
    row per distinct outcome, TensorRT's message in full, and which points it covers."""
    versions = manifest["versions"]
    per = [B.collect(rows_of(df, v)) for v in versions]
    describe = B.describe(df[df["run_id"].isin({r["run_id"] for v in versions for r in v["runs"]})])
    groups: dict[tuple[str, ...], list[pd.Series]] = {}
    skipped_everywhere = 0
    for key, d in describe.iterrows():
        states = [p.get(key) for p in per]
        if all(s is not None and s.built for s in states):
            continue
        if all(s is not None and not s.built and set(s.statuses) == {"skipped"} for s in states):
            skipped_everywhere += 1
            continue
        cells = tuple(
            "absent" if s is None else "built" if s.built else f"{'/'.join(sorted(set(s.statuses)))}: {s.error or ''}"
            for s in states
        )
        groups.setdefault(cells, []).append(d)
    body = []
    for cells, points in groups.items():
        frame = pd.DataFrame(points)
        what = "; ".join(f"{c}: {', '.join(map(str, sorted(set(frame[c]), key=str)))}"
                         for c in ("precision", "mode", "shape") if c in frame)  # fmt: skip
        body.append([len(points), what, *cells])
    head = ["points", "which", *(f"`{v['spec']}`" for v in versions)]
    lines = []
    if skipped_everywhere:
        lines.append(f"{skipped_everywhere} points were skipped by every version (the planner's reasons, e.g. "
                     "UNIFORM is measured once, as channel_axis 'default'); they are not listed.")  # fmt: skip
    lines.append(md_table(head, body) if body else "Every other point was built by every version.")
    return "\n\n".join(lines)


def render(manifest: dict, df: pd.DataFrame, threshold: float = DEFAULT_BUILD_THRESHOLD) -> str:
    versions = manifest["versions"]
    builds = manifest["builds"]
    first = versions[0]
    harness = manifest["harness"]
    any_timed = any(not v["build_only"] for v in versions)
    names = " vs ".join(f"{v['module']} {v['version']}" for v in versions)
    out = [
        f"# TensorRT versions: {names}",
        "",
        f"Made by `{manifest['command']}` ({_machine(df)}; Python {manifest['python']}). Sweep "
        f"`{manifest['sweep']}`, each version's engines built {builds} times (one run of the sweep per build, "
        "the versions' runs interleaved), timing cache off, a fresh engine cache per run, every version on the "
        f"same harness code (digest {harness['code_digest']}) and the same packages (digest "
        f"{harness['packages_digest']}); each environment holds its SPEC and what the SPEC installed, nothing "
        "else.",
        "",
        "## Versions",
        "",
        versions_table(manifest),
        "",
        f"## Each version against `{first['spec']}`",
        "",
    ]
    table, notes = summary(manifest, df, threshold)
    out += [table, ""]
    out += [
        f"Build time is the wall time of `build_serialized_network`, summed over the points every version built; "
        f"the spread of a point's builds is (max − min) / median over its {builds} builds. A point's build time "
        f"is called slower (faster) when every build of the version took more (less) than every build of "
        f"`{first['spec']}`, by more than {threshold:.0%}; otherwise within noise.",
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    out += ["## The engines' layers", "", engine_shapes(manifest, df), ""]
    for i in range(1, len(versions)):
        table, counts = point_table(manifest, df, i, threshold)
        verdicts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        out += [f"## `{versions[i]['spec']}` against `{first['spec']}`, per point", "",
                f"Build time: {verdicts}.", "", table, ""]  # fmt: skip
    out += ["## Points not built alike", "", not_alike(manifest, df), ""]
    out += ["## What this page cannot know", ""]
    cannot = [
        "Why a tactic was chosen: the engine digest says which kernels run, not how fast each candidate was. "
        "Full TensorRT times candidates on the GPU while it builds, so two builds of one version may choose "
        "differently (the 'builds differ' count); TensorRT-RTX builds ahead of time and times nothing.",
        "Build time on another machine: it was measured here, with the other engineers' work on the same cores.",
    ]
    if not any_timed:
        cannot.insert(0, "How fast any engine runs: no version's engines could run here (see 'what ran here'); "
                         "run the same command on a GPU whose runtime accepts them for times and verdicts.")  # fmt: skip
    else:
        cannot.insert(0, "Run times beyond this GPU, driver and CUDA: verdicts hold for the machine above.")
    if any(v["backend"] == "tensorrt-rtx" for v in versions):
        cannot.append("What TensorRT-RTX finally runs on a GPU: its engines are compiled further for the GPU at "
                      "load time, so the tactics an ahead-of-time build lists are what it planned, not "
                      "necessarily the kernels a GPU executes.")  # fmt: skip
    out += [f"- {c}" for c in cannot]
    out.append("")
    return "\n".join(out)


def write(out: Path, manifest: dict, path: Path, threshold: float = DEFAULT_BUILD_THRESHOLD) -> Path:
    from bench.files import save
    from bench.results import load

    df = load(out)
    return save(path, render(manifest, df, threshold), str(path))
