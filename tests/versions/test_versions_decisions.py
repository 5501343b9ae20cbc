"""`bench versions`' decisions, without installing anything: which SPECs it takes, which environments it
refuses (from what a probe reports), and how two versions' builds of a point are judged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.errors import UserError
from bench.versions import builds as B
from bench.versions import envs, harness, installer, session
from bench.versions.spec import parse, parse_all

# ---- SPECs ------------------------------------------------------------------------------------------


def test_a_requirement_is_named_as_pip_names_it() -> None:
    a, b = parse("tensorrt_rtx_cu13==1.4.0.76"), parse("tensorrt-rtx-cu13==1.4.0.76")
    assert a.requirement == b.requirement == "tensorrt-rtx-cu13==1.4.0.76"
    assert a.label == "tensorrt_rtx_cu13-1.4.0.76"
    with pytest.raises(UserError, match="repeats"):
        parse_all(["tensorrt-rtx-cu13==1.4.0.76", "tensorrt_rtx_cu13==1.4.0.76"])


def test_a_wheel_is_keyed_by_its_content(tmp_path: Path) -> None:
    wheel = tmp_path / "tensorrt_rtx_cu13-1.7.1.116-py3-none-any.whl"
    wheel.write_bytes(b"one")
    first = parse(str(wheel))
    wheel.write_bytes(b"two")
    second = parse(str(wheel))
    assert first.requirement == str(wheel) and first.label == "tensorrt_rtx_cu13-1.7.1.116-py3-none-any"
    assert first.key() != second.key()  # a rebuilt wheel of one name gets an environment of its own
    # the same version as a requirement and as its wheel are two SPECs: the A/A check
    assert len(parse_all(["tensorrt-rtx-cu13==1.7.1.116", str(wheel)])) == 2


@pytest.mark.parametrize(
    ("specs", "says"),
    [
        (["tensorrt-rtx-cu13==1.7.1.116"], "two or more SPECs"),
        (["tensorrt==", "x==1"], "not a requirement pip reads"),
        (["/no/such/tensorrt.whl", "x==1"], "no such wheel file"),
        (["https://example.com/t.whl", "x==1"], "a URL; download the wheel"),
        (["tensorrt @ https://example.com/t.whl", "x==1"], "a URL; download the wheel"),
    ],
)
def test_bad_specs_are_one_line_before_anything_installs(specs: list[str], says: str) -> None:
    with pytest.raises(UserError, match=says) as info:
        parse_all(specs)
    assert "\n" not in str(info.value)


def test_pips_reason_is_its_last_error_line() -> None:
    stderr = (
        "WARNING: Location 'file:///opt/pypi/simple/x/' is ignored: it is neither a file nor a directory.\n"
        "ERROR: Could not find a version that satisfies the requirement tensorrt-rtx-cu13==0.0.1 (from versions: "
        "1.4.0.76, 1.5.0.114)\n"
        "ERROR: No matching distribution found for tensorrt-rtx-cu13==0.0.1\n"
    )
    assert installer.reason(stderr) == "No matching distribution found for tensorrt-rtx-cu13==0.0.1"
    assert installer.reason("") == "pip failed without saying why"


# ---- environments, from what the probe found -----------------------------------------------------------


def _harness(tmp_path: Path) -> harness.Harness:
    return harness.Harness(tmp_path / "code" / "c0de", "c0de", tmp_path / "packages", "9a4", tmp_path / "c.txt", None)


def _env(tmp_path: Path, text: str = "tensorrt-rtx-cu13==1.4.0.76") -> envs.Environment:
    return envs.Environment(parse(text), tmp_path / "env", None, 3.0, {"tensorrt-rtx-cu13": "1.4.0.76"})


def _found(tmp_path: Path, **changes: object) -> dict:
    found = {
        "python": "3.11.7",
        "python_tag": harness.python_tag(),
        "bench": str(tmp_path / "code" / "c0de" / "bench"),
        "code_digest": "c0de",
        "runtimes": [],
        "flavours": [{"backend": "tensorrt-rtx", "module": "tensorrt_rtx", "version": "1.4.0.76",
                      "file": str(tmp_path / "env" / "tensorrt_rtx" / "__init__.py"), "in_environment": True,
                      "runs": {"execute": False, "build": True, "reason": "no GPU answers here"}}],
    }  # fmt: skip
    found.update(changes)
    return found


def test_a_version_that_builds_here_is_built_only_with_its_reason(tmp_path: Path) -> None:
    v = session.check(_env(tmp_path), _found(tmp_path), _harness(tmp_path), force_build_only=False)
    assert v.backend == "tensorrt-rtx" and v.build_only and v.why_built_only == "no GPU answers here"
    v.selfcheck = "10 passed, 0 failed, 27 not run"
    line = v.line()
    assert "\n" not in line
    assert line == (
        "tensorrt-rtx-cu13==1.4.0.76: tensorrt_rtx 1.4.0.76: built only (no GPU answers here); "
        "selfcheck 10 passed, 0 failed, 27 not run"
    )


def test_a_version_whose_engines_run_here_is_timed_unless_told_otherwise(tmp_path: Path) -> None:
    found = _found(tmp_path)
    found["flavours"][0]["runs"] = {"execute": True, "build": True, "reason": None}
    assert not session.check(_env(tmp_path), found, _harness(tmp_path), force_build_only=False).build_only
    forced = session.check(_env(tmp_path), found, _harness(tmp_path), force_build_only=True)
    assert forced.build_only and forced.why_built_only == "--build-only"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"flavours": []}, "installs no TensorRT flavour the harness builds with (no TensorRT module)"),
        ({"flavours": [], "runtimes": ["tensorrt_lean_bindings"]}, "only tensorrt_lean_bindings, a runtime"),
        ({"code_digest": "0ther"}, "imports other harness code"),
        ({"python_tag": "cp312-linux-x86_64"}, "would differ in Python"),
    ],
)
def test_environments_that_cannot_be_compared_are_refused(tmp_path: Path, changes: dict, says: str) -> None:
    with pytest.raises(UserError, match=re.escape(says)) as info:
        session.check(_env(tmp_path), _found(tmp_path, **changes), _harness(tmp_path), force_build_only=False)
    assert "SPEC tensorrt-rtx-cu13==1.4.0.76" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("flavour", "says"),
    [
        ({"error": "UserError: libnvinfer.so.10: cannot open shared object file"}, "does not import"),
        ({"in_environment": False, "file": "/usr/lib/python3/tensorrt_rtx/__init__.py"}, "outside its environment"),
        ({"runs": {"execute": False, "build": False, "reason": "builds engines on the GPU they run on"}},
         "cannot build here: builds engines on the GPU"),
    ],
)  # fmt: skip
def test_a_flavour_that_cannot_serve_is_refused(tmp_path: Path, flavour: dict, says: str) -> None:
    found = _found(tmp_path)
    found["flavours"][0].update(flavour)
    with pytest.raises(UserError, match=says):
        session.check(_env(tmp_path), found, _harness(tmp_path), force_build_only=False)
    two = _found(tmp_path)
    two["flavours"] = [two["flavours"][0], {**two["flavours"][0], "module": "tensorrt", "backend": "tensorrt"}]
    with pytest.raises(UserError, match="installs 2 TensorRT flavours"):
        session.check(_env(tmp_path), two, _harness(tmp_path), force_build_only=False)


def test_the_out_folder_must_be_new(tmp_path: Path) -> None:
    session.check_out(tmp_path / "new")
    session.check_out(tmp_path)  # empty: fine
    (tmp_path / "old.parquet").write_bytes(b"")
    with pytest.raises(UserError, match="not an empty folder"):
        session.check_out(tmp_path)


def test_the_shared_folder_never_takes_a_tensorrt_package() -> None:
    assert harness.is_tensorrt("tensorrt_rtx_cu13_libs") and harness.is_tensorrt("TensorRT-cu12")
    assert not harness.is_tensorrt("numpy")
    assert not any(harness.is_tensorrt(pin.split("==")[0]) for pin in harness.constraints())
    reqs = harness.requirements()
    assert any(r.startswith("numpy") for r in reqs) and any(r.startswith("cuda-python") for r in reqs)


# ---- two versions' builds of one point ---------------------------------------------------------------


def _p(build_s: tuple[float, ...], digests: tuple[str | None, ...] = ("d1",)) -> B.PointBuilds:
    return B.PointBuilds(("built",) * len(build_s), build_s, (100,) * len(build_s), digests * len(build_s), None, None)


def test_build_time_is_called_only_past_every_build_and_the_threshold() -> None:
    base = _p((1.0, 1.1, 1.2))
    assert B.build_verdict(base, _p((1.4, 1.5, 1.6)), 0.10) == "slower"  # 1.4 > 1.2 * 1.1
    assert B.build_verdict(base, _p((1.3, 1.5, 1.6)), 0.10) == "within noise"  # 1.3 < 1.32
    assert B.build_verdict(base, _p((0.8, 0.85, 0.9)), 0.10) == "faster"  # 0.9 * 1.1 < 1.0
    assert B.build_verdict(base, _p((0.5, 0.6, 1.3)), 0.10) == "within noise"  # the ranges overlap
    assert B.build_verdict(base, _p(()), 0.10) == "—"


def test_tactics_same_differ_or_unsettled() -> None:
    assert B.tactics(_p((1.0, 1.0), ("a",)), _p((1.0, 1.0), ("a",))) == "same tactics"
    assert B.tactics(_p((1.0, 1.0), ("a",)), _p((1.0, 1.0), ("b",))) == "tactics differ"
    unsettled = B.PointBuilds(("built", "built"), (1.0, 1.0), (1, 1), ("a", "b"), None, None)
    assert B.tactics(_p((1.0,), ("a",)), unsettled) == "builds differ"
    assert B.tactics(_p((1.0,), (None,)), _p((1.0,), (None,))) == "unknown (no layer information)"


def test_the_self_check_judges_halves_of_one_versions_builds() -> None:
    steady = {"k": _p((1.0, 1.01, 0.99, 1.0))}
    assert B.self_check(steady, 0.10) == (0, 1, 2)
    drifting = {"k": _p((1.0, 1.0, 2.0, 2.0))}  # the machine got busy halfway: a false verdict
    assert B.self_check(drifting, 0.10) == (1, 1, 2)


def test_the_network_recipe_is_named_so_a_changed_network_is_seen() -> None:
    """10.x gets a weakly typed network (FP16 flag, FLOAT weights), 11.x a strongly typed one (HALF weights):
    the same point is another network, which the report says beside the tactics."""
    weak = {"precision": {"typing": "weak", "io_dtype": "HALF", "weight_dtype": "FLOAT", "builder_flags": ["FP16"],
                          "int8": None}}  # fmt: skip
    strong = {"precision": {"typing": "strong", "io_dtype": "INT8", "weight_dtype": "FLOAT", "builder_flags": [],
                            "int8": "qdq"}}  # fmt: skip
    assert B.recipe(weak) == "weak HALF/FLOAT +FP16"
    assert B.recipe(strong) == "strong INT8/FLOAT qdq"
    assert B.recipe({}) is None


@pytest.mark.parametrize(
    ("manifest", "says"),
    [
        ("[1]", "the manifest must be a JSON object"),
        ('{"versions": null}', "command is missing or not a str"),
        ('{"command": "c", "sweep": "s", "builds": 2, "harness": {}, "python": "3", "versions": [1]}',
         "versions[0] must be a JSON object"),
        ('{"command": "c", "sweep": "s", "builds": 2, "harness": {}, "python": "3", "versions": []}',
         "names no version"),
        ('{"command": "c", "sweep": "s", "builds": NaN}', "NaN is not a JSON number"),
    ],
)  # fmt: skip
def test_report_from_a_damaged_manifest_is_one_line_naming_the_field(tmp_path: Path, capsys, manifest, says) -> None:
    from bench.cli.main import main

    (tmp_path / session.MANIFEST).write_text(manifest)
    assert main(["versions", "--report-from", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --report-from {tmp_path}") and says in err and "\n" not in err, err


def test_report_from_a_committed_folder_whose_version_lacks_a_field_names_it(tmp_path: Path, capsys) -> None:
    import json
    import shutil

    from bench.cli.main import main

    committed = Path(__file__).parents[2] / "results" / "versions-rtx-1.7.1.116-aa-cpu-2026-12-04"
    folder = shutil.copytree(committed, tmp_path / "v")
    content = json.loads((folder / session.MANIFEST).read_text())
    del content["versions"][1]["distributions"]
    (folder / session.MANIFEST).write_text(json.dumps(content))
    assert main(["versions", "--report-from", str(folder), "--report", str(tmp_path / "copy.md")]) == 2
    assert "versions[1].distributions is missing or not a dict" in capsys.readouterr().err
    content["versions"][1]["distributions"] = {}
    (folder / session.MANIFEST).write_text(json.dumps(content))
    (folder / session.SUMMARY).unlink()
    (folder / session.SUMMARY).mkdir()  # the report's own file is a folder: one line, not a traceback
    assert main(["versions", "--report-from", str(folder)]) == 2
    assert "_versions.md: cannot write it (Is a directory)" in capsys.readouterr().err
