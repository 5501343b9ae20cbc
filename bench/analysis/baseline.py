"""Committed baselines as manifests: `results/_baselines/<gpu-slug>.json` names run ids in `results/`.

A baseline is not a copy of a run (a copy would be read twice by every reader of `results/`, and the
two would drift apart); it is a list of runs already in the dataset, several of them, because the gate's
model needs repeated runs to see each point's run-to-run noise. The leading underscore keeps DuckDB,
polars, pandas and pyarrow folder reads (and bench.results.load) away from the manifests.

    {"gpu_name": "NVIDIA H100 80GB HBM3", "runs": ["20261126T074508Z-vm-d868", ...], "note": "..."}

Runs are found by file name (`<run_id>.parquet`, as the store writes them) anywhere under the results
folder that holds `_baselines/`.

Beside each manifest lies the machine's noise profile, `NAME.noise.json` (bench.analysis.noise): how much
each size class of point moves from run to run on this GPU, built from the manifest's runs. A gate against
the baseline, or any comparison of this GPU's runs, takes each point's noise from it, so that one run a
side still has an honest noise floor.

    python -m bench baseline make NAME FOLDER_OR_FILE... [--note TEXT]

writes `results/_baselines/NAME.json` naming the runs in the given results files and folders, and
`NAME.noise.json` from them;

    python -m bench baseline profile NAME

rebuilds `NAME.noise.json` from the runs the existing manifest names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.errors import UserError
from bench.results.store import RUN_ID

BASELINES = "_baselines"
DEFAULT_RESULTS = Path("results")


def slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3': the manifest's file name for a GPU."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "cpu"


def manifest_path(name_or_path: str, results: Path = DEFAULT_RESULTS) -> Path:
    """A manifest file given as a path (ending in .json), or by name under results/_baselines/: the slug
    ('nvidia-h100-80gb-hbm3') or the GPU name itself ('NVIDIA H100 80GB HBM3'), as `nox -s gate` passes it."""
    if name_or_path.endswith(".json") or "/" in name_or_path:
        return Path(name_or_path)
    return results / BASELINES / f"{slug(name_or_path)}.json"


def read(path: Path, flag: str = "--baseline") -> dict:
    """The manifest's content, checked: UserError naming the file and the fix (``flag``: how the user named it)."""
    from bench.files import read_json

    if not path.is_file():
        found = path.parent.glob("*.json") if path.parent.is_dir() else []
        known = sorted(p.stem for p in found if not p.name.endswith((".noise.json", ".launches.json")))
        hint = (
            f"; known: {', '.join(known)}"
            if known
            else "; make one with `nox -s baseline` or `python -m bench baseline make NAME RUNS...`"
        )
        raise UserError(f"{flag}: no baseline manifest {path}{hint}")
    try:
        content = read_json(path)
    except ValueError as exc:
        raise UserError(f"{flag} {path}: not a readable JSON manifest: it {exc}") from None
    runs = content.get("runs") if isinstance(content, dict) else None
    if not isinstance(runs, list) or not runs or not all(isinstance(r, str) and r for r in runs):
        raise UserError(f'{flag} {path}: needs "runs": a non-empty list of run ids (strings)')
    for run_id in runs:  # a run id names one file; '*' or '?' in one would match others as a pattern
        if not RUN_ID.match(run_id):
            raise UserError(f"{flag} {path}: {run_id!r} is not a run id (letters, digits, '.', '_', '-')")
    return content


def run_files(path: Path, flag: str = "--baseline") -> list[Path]:
    """The results files of the runs a manifest names, found under the results folder that holds it."""
    content = read(path, flag)
    root = path.resolve().parent.parent
    files = []
    for run_id in content["runs"]:
        found = [f for f in root.rglob(f"{run_id}.parquet") if not _hidden(f, root)]
        if not found:
            raise UserError(f"{flag} {path}: run {run_id} is not in {root} (no {run_id}.parquet below it)")
        if len(found) > 1:
            raise UserError(
                f"{flag} {path}: run {run_id} is in {len(found)} files under {root}: {found[0]}, {found[1]}"
            )
        files.append(found[0])
    return files


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


def make_name(name: str) -> str:
    """`baseline make NAME`: the manifest's file name, as `manifest_path` finds it again (the GPU's slug, or
    its name made one); a path or an empty name is refused, so a manifest never lands outside _baselines/."""
    if "/" in name or name.endswith(".json") or not re.search(r"[A-Za-z0-9]", name):
        raise UserError(
            f"baseline make {name!r}: NAME is a GPU's name or slug (e.g. nvidia-h100-80gb-hbm3), not a path or "
            "a file name; the manifest is written to <--results>/_baselines/NAME.json"
        )
    return slug(name)


def write(name: str, paths: list[str], note: str = "", results: Path = DEFAULT_RESULTS) -> Path:
    """Write results/_baselines/NAME.json naming the runs in `paths` (all of one GPU), and its noise profile
    beside it. The profile is made first: a manifest is never left without the profile that goes with it."""
    from bench.analysis import noise
    from bench.files import save
    from bench.results import load

    name = make_name(name)
    df = load(paths)
    gpus = sorted(df["gpu_name"].astype("string").fillna("(none)").unique())
    if len(gpus) != 1:
        raise UserError(f"a baseline is runs of one GPU; these runs are of {', '.join(gpus)}")
    root = results.resolve()
    for f in {Path(p) for p in paths}:
        resolved = f.resolve()
        if root not in resolved.parents and resolved != root:
            raise UserError(f"{f}: a baseline names runs in {results}/ (the dataset); this file is outside it")
    out = results / BASELINES / f"{name}.json"
    profile = _profile(out, df)
    content = {
        "gpu_name": None if gpus[0] == "(none)" else gpus[0],
        "runs": sorted(df["run_id"].astype(str).unique()),
        "note": note,
    }
    noise.write(profile, out.parent / f"{out.stem}{noise.SUFFIX}")
    save(out, json.dumps(content, indent=2) + "\n", str(out))
    return out


def _profile(manifest: Path, df):  # df: pandas.DataFrame of the manifest's runs
    from bench.analysis import noise

    profile = noise.build([df], f"{manifest.with_suffix('').name}{noise.SUFFIX}")
    if profile is None:
        raise UserError(f"{manifest}: no point has two runs among its runs; a noise profile needs repeated runs")
    return profile


def write_profile(manifest: Path) -> Path:
    """`NAME.noise.json` beside the manifest, from the runs it names (`baseline profile NAME`)."""
    from bench.analysis import noise
    from bench.results import load

    df = load([str(f) for f in run_files(manifest, "baseline profile")])
    return noise.write(_profile(manifest, df), manifest.parent / f"{manifest.stem}{noise.SUFFIX}")
