"""`python -m bench selfcheck`: the page's outputs it checks against, its verdicts, and the command itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bench import reference
from bench.cli.main import main
from bench.problem import make_problem
from bench.selfcheck.cookbook import PAGE_OUTPUT, seed_points
from bench.selfcheck.report import FAILED, PASSED, Outcome, Report, markdown, summary_line


def test_the_seed_sweep_holds_the_pages_four_networks_and_two_invalid_points() -> None:
    seeds = seed_points()
    assert [s.label for s in seeds if s.valid] == [
        "uniform", "channel", "elementwise", "add_scale_nd axis 0", "add_scale_nd axis 1"]  # fmt: skip
    assert [s.label for s in seeds if not s.valid] == ["invalid-weight-count", "invalid-axis axis 5"]
    assert {(s.case, s.point.channel_axis) for s in seeds if s.valid} == set(PAGE_OUTPUT)


@pytest.mark.parametrize("seed", [s for s in seed_points() if s.valid], ids=lambda s: s.label)
def test_the_reference_reproduces_the_pages_printed_output_exactly(seed) -> None:
    """The page's values (typed as printed) and bench.reference agree bit for bit in fp32, so a backend
    that matches one matches the other."""
    problem = make_problem(seed.point)
    ref = reference.scale(problem.real_input(), seed.point.mode, problem.shift, problem.scale, None,
                          seed.point.channel_axis, out_dtype=np.float32)  # fmt: skip
    assert ref.dtype == np.float32 and np.array_equal(ref, seed.expected)


def test_the_page_values_are_the_ones_printed() -> None:
    assert PAGE_OUTPUT[("uniform", None)].ravel()[[0, 13, 26]].tolist() == [-6.5, 0.0, 6.5]
    assert PAGE_OUTPUT[("channel", None)][0, 2].tolist() == [[-2.0, -1.5, -1.0], [-0.5, 0.0, 0.5], [1.0, 1.5, 2.0]]
    nd0, nd1 = PAGE_OUTPUT[("add_scale_nd", 0)], PAGE_OUTPUT[("add_scale_nd", 1)]
    assert set(nd0[0].ravel()) == {2.0} and set(nd0[1].ravel()) == {3.0}
    assert set(nd1[:, 0].ravel()) == {2.0} and set(nd1[:, 1].ravel()) == {3.0}


def test_exit_code_and_markdown_follow_the_outcomes() -> None:
    report = Report(facts={"GPU": "none: no driver"})
    report.add(Outcome("S", "a", PASSED, "fine"))
    report.not_run("S", ["b", "c"], "no GPU | none")
    assert report.exit_code == 0 and summary_line(report) == "1 passed, 0 failed, 2 not run"
    text = markdown(report, "python -m bench selfcheck")
    assert "no GPU \\| none" in text and "| c | not run | 0.00 | as above |" in text and "(exit 0)" in text
    report.add(Outcome("S", "d", FAILED, "TensorRT said: Error Code 4"))
    assert report.exit_code == 1
    text = markdown(report, "python -m bench selfcheck")
    assert "**FAILED**" in text and "- **S: d**: TensorRT said: Error Code 4" in text and "(exit 1)" in text


def test_an_unwritable_out_is_refused_before_any_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "a-file").write_text("")
    assert main(["selfcheck", "--out", str(tmp_path / "a-file" / "selfcheck.md")]) == 2
    err = capsys.readouterr()
    assert err.err.startswith("error: --out") and "probing" not in err.out


@pytest.mark.skipif(importlib.util.find_spec("tensorrt_rtx") is None, reason="needs tensorrt-rtx-cu13 (.[rtx])")
def test_selfcheck_runs_what_this_machine_can_and_says_what_it_could_not(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report" / "selfcheck.md"
    code = main(["selfcheck", "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    printed = capsys.readouterr().out
    text = out.read_text()
    assert code == (1 if "**FAILED**" in text else 0), text
    assert code == 0, text
    assert "## TensorRT-RTX (tensorrt_rtx)" in text and "## GPU timing core: cuda and memcpy" in text
    for name in ("build uniform", "build add_scale_nd axis 1", "engine cache: a second backend loads every engine"):
        assert f"| {name} | passed |" in text
    assert "TensorRT refuses invalid-weight-count | passed |" in text and "shift weights has count 4" in text
    assert "channel axis 5 must be in range" in text
    assert any(line.endswith(f"summary: {out}") for line in printed.splitlines())
    from bench.gpu.cuda import gpu_available

    if not gpu_available()[0]:
        assert "| cuda: uniform as the page prints it | not run |" in text
        assert "python -m bench run refuses with exit 2 and one line | passed | " in text
        assert list((tmp_path / "cache" / "engines").rglob("*.engine")), "engines go to --cache-dir"
