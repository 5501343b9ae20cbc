"""`bench versions` for real: TensorRT-RTX 1.4.0.76 against 1.7.1.116, installed from the package index into
environments cached under .cache/bench/versions, a small sweep built ahead of time twice per version.

CI runs this on a clean clone (cold cache: the shared harness folder and both environments are installed,
about a minute on 2 cores); a second run of the suite reuses them. It needs the package index, as
`nox -s tests` does. On a GPU host whose runtime accepts TensorRT-RTX engines the runs are timed instead,
and the report carries verdicts; the assertions hold either way.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.results import load
from bench.versions import session

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / ".cache" / "bench" / "versions"
SPECS = ["tensorrt-rtx-cu13==1.4.0.76", "tensorrt-rtx-cu13==1.7.1.116"]
# fp16 and bf16 (1.4 binds builder precision flags its own builder refuses), int8 (Q/DQ layers), the default
# axis and an explicit one, CHANNEL and ELEMENTWISE, rank 4: 16 points, each built twice per version
SWEEP = """
name = "versions-ci"
[axes]
shape = ["2x16x8x8"]
mode = ["channel", "elementwise"]
precision = ["fp32", "fp16", "bf16", "int8"]
channel_axis = ["default", -1]
backend = ["numpy"]
"""

pytestmark = [pytest.mark.versions, pytest.mark.rtx]


def _versions(tmp_path: Path, out: str, *extra: str) -> int:
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP)
    args = [
        "versions",
        *SPECS,
        "--sweep",
        str(sweep),
        "--builds",
        "2",
        "--envs",
        str(ENVS),
        "--out",
        str(tmp_path / out),
    ]
    return main([*args, *extra])


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One invocation (installs what is not cached yet), its printed lines and its seconds."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("versions")
    printed = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        code = _versions(tmp, "first")
    return {"tmp": tmp, "code": code, "printed": printed.getvalue(), "seconds": time.perf_counter() - t0}


def test_two_versions_are_built_alike_and_reported(first: dict) -> None:
    assert first["code"] == 0, first["printed"]
    out = first["tmp"] / "first"
    manifest = json.loads((out / session.MANIFEST).read_text())
    assert [v["version"] for v in manifest["versions"]] == ["1.4.0.76", "1.7.1.116"]
    lines = [x for x in first["printed"].splitlines() if x.startswith(tuple(SPECS)) and ": tensorrt_rtx " in x]
    assert len(lines) == 2  # one line per version: what it can run here and its selfcheck
    for line, v in zip(lines, manifest["versions"], strict=True):
        assert ("built only (" in line) == v["build_only"] and "selfcheck " in line and " 0 failed" in line
    rows = load(out)
    assert len(rows) == 2 * 2 * 16  # two versions, two builds each, 16 points
    assert {r["run_id"] for v in manifest["versions"] for r in v["runs"]} == set(rows["run_id"])
    ran = rows["status"].isin(["built", "ok"])
    assert ran[rows["backend_version"] == "1.7.1.116"].all()
    # 1.4 binds FP16/BF16 builder flags its own builder refuses: strongly typed, it builds them too
    assert ran[rows["precision"] != "int8"].all()
    # 1.4 refuses a network that ends in a Quantize layer (1.7 builds it): a failed row with TensorRT's words
    failed = rows[~ran]
    assert set(failed["precision"]) <= {"int8"} and set(failed["backend_version"]) <= {"1.4.0.76"}
    assert failed["error"].str.startswith("TensorRTError: ").all()
    settings = [json.loads(s) for s in rows[ran]["builder_settings"]]
    assert all(s["engine_digest"] and s["timing_cache_digest"] is None for s in settings)
    report = (out / session.SUMMARY).read_text()
    assert "## `tensorrt-rtx-cu13==1.7.1.116` against `tensorrt-rtx-cu13==1.4.0.76`, per point" in report
    per_point, not_alike = report.split("## Points not built alike")
    table = [x for x in per_point.splitlines() if x.startswith("| 2x16x8x8 |")]
    both = rows[ran].groupby("point_key")["backend_version"].nunique().eq(2).sum()
    assert len(table) == both > 0
    assert all(("same tactics" in x) != ("tactics differ" in x) or "builds differ" in x for x in table)
    # grouped by outcome: one row per distinct message, with how many points it covers
    listed = [x for x in not_alike.splitlines() if "failed: TensorRTError" in x]
    assert sum(int(x.split("|")[1]) for x in listed) == failed["point_key"].nunique()


def test_a_second_invocation_installs_nothing(first: dict) -> None:
    """What a second invocation does before its runs: the harness folder and both environments are found
    complete and reused (a full second invocation takes the sweep's time: README, `bench versions`)."""
    from bench.versions import envs, harness
    from bench.versions.spec import parse

    assert first["code"] == 0
    assert first["printed"].count("installed in") + first["printed"].count("reused") == 3
    t0 = time.perf_counter()
    h = harness.prepare(ENVS)
    again = [envs.prepare(parse(s), h, ENVS) for s in SPECS]
    took = time.perf_counter() - t0
    assert h.installed_s is None and all(e.installed_s is None for e in again)
    assert took < 5, took
    manifest = json.loads((first["tmp"] / "first" / session.MANIFEST).read_text())
    assert [e.path.as_posix() for e in again] == [v["environment"] for v in manifest["versions"]]


def test_a_spec_that_does_not_install_is_one_line(first: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP)
    args = ["--sweep", str(sweep), "--builds", "2", "--envs", str(ENVS), "--out", str(tmp_path / "o")]
    assert main(["versions", "tensorrt-rtx-cu13==0.0.1", SPECS[1], *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: SPEC tensorrt-rtx-cu13==0.0.1 does not install: ") and "\n" not in err
    assert not (tmp_path / "o").exists()  # refused before any run


def test_a_spec_without_a_tensorrt_flavour_is_one_line(first: dict, tmp_path: Path, capsys) -> None:
    import importlib.metadata

    rich = f"rich=={importlib.metadata.version('rich')}"  # the harness's own version: nothing to download
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP)
    args = ["--sweep", str(sweep), "--builds", "2", "--envs", str(ENVS), "--out", str(tmp_path / "o")]
    assert main(["versions", SPECS[0], rich, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: SPEC {rich} installs no TensorRT flavour the harness builds with (no TensorRT module); "
                   "give a tensorrt-cuXX or tensorrt-rtx-cuXX version")  # fmt: skip
