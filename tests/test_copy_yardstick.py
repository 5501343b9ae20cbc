"""The copy yardstick: the copy kernel's source and launch arithmetic, the rule that picks the copy, the
row's bandwidth against the copy (bytes with bytes; a time ratio where launches set the time), and the
gate's control, which only a copy that ran the same way on both sides may give."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_fixtures import grid, make_run
from nvrtc_helpers import needs_nvrtc

from bench import copy_yardstick, what_ran
from bench.analysis import noise, noise_sources
from bench.analysis.gate import EXIT_PASS, gate
from bench.backends.memcpy_backend import DRIVER_COPY, choose, contender_label, contenders
from bench.gpu import copy_kernel as C
from bench.gpu import tuning
from bench.point import Point, WeightsSpec
from bench.report.gate_render import gate_lines

SIZES = [1, 15, 16, 17, 4095, 2**20 + 3]


# --- the copy kernel ------------------------------------------------------------------------------------


@needs_nvrtc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_every_copy_kernel_launch_compiles_with_nvrtc(arch) -> None:
    from bench.gpu.kernel_cache import compile_cubin, compile_ptx

    for config in C.CANDIDATES:
        assert compile_cubin(C.source(config), C.KERNEL_NAME, arch)[:4] == b"\x7fELF", config
    ptx = compile_ptx(C.source(C.CopyConfig(512, 4)), C.KERNEL_NAME, arch)
    assert "ld.global.nc.v4.u32" in ptx and "st.global.v4.u32" in ptx  # 16-byte loads and stores


@pytest.mark.parametrize("nbytes", SIZES)
@pytest.mark.parametrize("config", C.CANDIDATES, ids=lambda c: f"b{c.block}v{c.vpt}")
def test_the_launch_stores_every_byte_exactly_once(nbytes, config) -> None:
    lau = C.launch(nbytes, config)
    vectors, tail = C.written(lau)
    assert lau.vectors * C.VECTOR_BYTES + lau.tail == nbytes and lau.tail < C.VECTOR_BYTES
    assert (vectors == 1).all() and (tail == 1).all()
    assert lau.grid * lau.block * lau.vpt >= lau.vectors  # one pass: each thread's loop runs once


@pytest.mark.parametrize("nbytes", [4095, 2**20 + 3])
def test_a_grid_smaller_than_the_work_strides_over_all_of_it(nbytes) -> None:
    """The grid-stride loop (what a grid capped at MAX_GRID_X relies on), replayed on a grid of 3 blocks."""
    full = C.launch(nbytes, C.CopyConfig(256, 2))
    capped = C.CopyLaunch(3, full.block, full.vpt, full.vectors, full.tail)
    vectors, tail = C.written(capped)
    assert (vectors == 1).all() and (tail == 1).all()


def test_the_source_runs_the_arithmetic_the_replay_replays() -> None:
    src = C.source(C.CopyConfig(512, 2))
    for statement in (
        "const u64 step = (u64)gridDim.x * (BLOCK * VPT);",
        "for (u64 base = (u64)blockIdx.x * (BLOCK * VPT) + threadIdx.x; base < n_vec; base += step)",
        "const u64 i = base + (u64)j * BLOCK;",
        "if (blockIdx.x == 0 && threadIdx.x < tail)",
        "const u64 at = n_vec * 16 + threadIdx.x;",
    ):
        assert statement in src


def test_a_pointer_off_the_16_byte_grid_is_refused() -> None:
    lau = C.launch(64, C.CopyConfig(256, 1))
    assert C.args(lau, 256, 512)[2:] == [("u64", 4), ("u64", 0)]
    with pytest.raises(ValueError, match="not 16-byte aligned"):
        C.args(lau, 256 + 8, 512)


# --- which copy wins -------------------------------------------------------------------------------------


def _cands(medians: list[float | str]) -> list[tuning.Candidate]:
    out = []
    for config, m in zip(contenders(), medians, strict=False):
        samples = m if isinstance(m, str) else [m * f for f in (0.999, 1.0, 1.001)]
        out.append(tuning.timed_candidate({"copy": contender_label(config)}, contender_label(config), samples, 2))
    return out


def test_the_driver_copy_comes_first_and_keeps_a_tie() -> None:
    assert contenders()[0] is None and contender_label(None) == DRIVER_COPY == "cudaMemcpyAsync"
    assert contenders()[1:] == list(C.CANDIDATES)
    assert choose(_cands([100.0, 99.7, 99.8])) == 0  # kernels within the 0.5% tie: the driver's copy stays
    assert choose(_cands([100.0, 99.0, 97.0, 96.9])) == 2  # 3% faster: the earliest kernel within the tie wins
    assert choose(_cands(["CudaError: boom", 120.0, 110.0])) == 2  # the driver's copy failed: kernels compete
    with pytest.raises(ValueError, match="no candidate could be timed"):
        choose(_cands(["CudaError: a", "CudaError: b"]))


def test_what_ran_names_the_winning_copy_and_rows_before_it_read_as_the_driver_copy() -> None:
    kernel = C.CopyConfig(512, 2).label()
    assert what_ran.label({"status": "ok", "backend": "memcpy", "kernel_config": {"copy": kernel}}) == kernel
    assert what_ran.label({"status": "ok", "backend": "memcpy", "kernel_config": None}) == "cudaMemcpyAsync"
    assert kernel.startswith("copy kernel ") and kernel.endswith(" b512 v2")


# --- against the copy: bytes with bytes, time where launches rule ---------------------------------------


def _row(backend: str, mode: str, axis: int | None, median_us: float, shape=(64, 256, 64, 64), **kw) -> dict:
    point = Point(shape, mode, "fp32", axis, backend, weights=WeightsSpec(power=2.0))
    moved = 2 * point.tensor_bytes if backend == "memcpy" else point.bytes_moved
    return {
        "run_id": "r", "gpu_name": "H200", "backend": backend, "status": "ok", "shape": point.shape_str,
        "precision": "fp32", "timing_method": kw.get("method", "graph"), "l2_mode": "rotated", "unit": "us/call",
        "median_us": median_us, "bytes_moved": moved, "gbps": moved / (median_us * 1e3),
        "enqueue_bound": kw.get("enqueue_bound", False),
    }  # fmt: skip


def test_pct_of_memcpy_counts_an_elementwise_point_s_weights() -> None:
    """ELEMENTWISE on axis 0 with a power reads shift, scale and power, each as big as the input: 5 tensors'
    bytes where the copy moves 2. At 2.5 times the copy's time it moves bytes as fast as the copy."""
    copy = _row("memcpy", "uniform", None, 400.0)
    rows = copy_yardstick.add_pct_of_memcpy(
        [copy, _row("cuda", "uniform", None, 500.0), _row("cuda", "elementwise", 0, 1000.0)]
    )
    pct = [r["pct_of_memcpy"] for r in rows]
    assert pct == pytest.approx([100.0, 80.0, 100.0])
    point = Point((64, 256, 64, 64), "elementwise", "fp32", 0, "cuda", weights=WeightsSpec(power=2.0))
    assert point.bytes_moved == 5 * point.tensor_bytes
    other_way = copy_yardstick.add_pct_of_memcpy([copy, {**_row("cuda", "uniform", None, 500.0), "l2_mode": "warm"}])
    assert other_way[1]["pct_of_memcpy"] is None  # a copy timed another way is no yardstick


def test_a_launch_bound_point_is_shown_as_a_time_ratio_not_a_bandwidth() -> None:
    small = (1, 3, 3, 3)
    copy = _row("memcpy", "uniform", None, 1.1, shape=small)
    point = _row("cuda", "elementwise", 0, 1.3, shape=small)
    pct = copy_yardstick.add_pct_of_memcpy([copy, point])[1]["pct_of_memcpy"]
    assert pct > 200  # bytes over a time launches set: the figure the report must not print
    bound = copy_yardstick.launch_bound(1.1, "graph", False)
    assert bound and copy_yardstick.versus_copy(pct, 1.3 / 1.1, bound) == "x1.18"
    assert copy_yardstick.launch_bound(5.7, "events", True)  # events timing, enqueue-bound: launch-bound
    assert not copy_yardstick.launch_bound(5.7, "graph", True)  # graph replay: device time, bytes count
    assert not copy_yardstick.launch_bound(400.0, "graph", False)
    assert copy_yardstick.versus_copy(80.04, 1.25, False) == "80%"
    assert copy_yardstick.versus_copy(None, None, False) == "n/a"


# --- the gate's control: like with like ------------------------------------------------------------------

WITH_COPY = grid(backends=("cuda", "memcpy"))
BIG = [p for p in WITH_COPY if p.numel == 10_000_000]
SOURCES = noise_sources.Sources(
    None,
    [noise.build([pd.concat([make_run(WITH_COPY, seed=500 + i, run_id=f"p{i}", run_noise=0.002) for i in range(5)])], "p")],
)  # fmt: skip
KERNEL_COPY = C.CopyConfig(1024, 4).label()


def _side(first: int, slowdown=None, copy: str | None = None) -> pd.DataFrame:
    df = pd.concat(
        [
            make_run(WITH_COPY, seed=first + i, run_id=f"r{first + i}", run_noise=0.002, slowdown=slowdown)
            for i in range(3)
        ],
        ignore_index=True,
    )
    if copy is not None:
        df["kernel_config"] = [{"copy": copy} if b == "memcpy" else None for b in df["backend"]]
    return df


def test_a_copy_whose_winner_differs_between_the_sides_controls_nothing_and_says_so() -> None:
    """The machine 2% slower at one size, copies and kernels alike. A copy that ran the same copy on both
    sides widens its points' band; one that ran cudaMemcpyAsync in base and the copy kernel in cand
    measured two different copies: its move widens nothing, and the points' reasons and the notes say why."""
    machine = dict.fromkeys(BIG, 1.02)
    like = gate(_side(1, copy=KERNEL_COPY), _side(10, machine, copy=KERNEL_COPY), sources=SOURCES)
    assert like.exit_code == EXIT_PASS, "\n".join(gate_lines(like, limit=None))
    lp = like.comparison.points.query("backend == 'cuda' and numel == 10000000")
    assert (lp["band_high"] > 1.045).all() and lp["drift_established"].all() and (lp["copy_unlike"] == "").all()

    unlike = gate(_side(1), _side(10, machine, copy=KERNEL_COPY), sources=SOURCES)
    up = unlike.comparison.points.query("backend == 'cuda'")
    assert up["drift"].isna().all() and not up["drift_established"].any()
    assert (up["band_high"] <= 1.03 + 1e-9).all()  # the plain band: nothing excused
    assert up["copy_unlike"].str.contains(f"ran cudaMemcpyAsync in base and {KERNEL_COPY} in cand").all()
    assert up["reason"].str.contains("not a control").all()
    assert not unlike.comparison.drift  # no machine drift is read off unlike copies
    assert any("not controlled" in n for n in unlike.notes)

    mixed = _side(10, machine, copy=KERNEL_COPY)
    mixed.loc[mixed["run_id"] == "r10", "kernel_config"] = None  # one cand run kept the driver's copy
    points = gate(_side(1, copy=KERNEL_COPY), mixed, sources=SOURCES).comparison.points.query("backend == 'cuda'")
    assert points["drift"].isna().all()  # a side that ran two copies is like nothing


def test_the_comparison_shows_a_launch_bound_point_as_time_over_the_copy_and_others_as_bandwidth() -> None:
    """A copy of 1,000 elements that takes 1.1 µs (under LAUNCH_BOUND_US): its points read 'x...' in the
    comparison's markdown; the 10,000,000-element points read as a percentage of the copy's bandwidth."""
    from bench.analysis.compare import compare
    from bench.report.render import VS_COPY_NOTE, comparison_markdown, versus_copy

    fast_copy = {p: 1.1 for p in WITH_COPY if p.backend == "memcpy" and p.numel == 1_000}
    base = make_run(WITH_COPY, seed=1, run_id="b", medians=fast_copy)
    cand = make_run(WITH_COPY, seed=2, run_id="c", medians=fast_copy)
    points = compare(base, cand).points
    kernels = points[points["backend"] == "cuda"]
    small, big = kernels[kernels["numel"] == 1_000], kernels[kernels["numel"] == 10_000_000]
    assert small["launch_bound_base"].all() and not big["launch_bound_base"].any()
    assert all(versus_copy(r, "base").startswith("x") for _, r in small.iterrows())
    assert all(versus_copy(r, "cand").endswith("%") for _, r in big.iterrows())
    expected = small.iloc[0]["time_copy_base"]
    assert expected == pytest.approx(small.iloc[0]["base_median_us"] / 1.1, rel=0.05)
    md = comparison_markdown(compare(base, cand))
    assert VS_COPY_NOTE in md and f"x{expected:.2f}" in md


def test_the_report_reads_launch_bound_rows_as_time_over_the_copy() -> None:
    """frames.pct_of_copy marks a row launch-bound where its copy takes under LAUNCH_BOUND_US (graph) or
    its events time was enqueue-bound, with its time over the copy's beside its bandwidth percentage."""
    from bench.report import frames

    def r(backend, numel, us, method="graph", enqueue=False):
        moved = 2 * numel * 4 if backend == "memcpy" else 5 * numel * 4
        return {"backend": backend, "precision": "fp32", "side_label": "all", "numel": numel, "median_us": us,
                "gbps": moved / (us * 1e3), "timing_method": method, "enqueue_bound": enqueue, "run_id": "r",
                "mode": "elementwise", "series": backend}  # fmt: skip

    rows = pd.DataFrame([r("memcpy", 27, 1.1), r("cuda", 27, 1.3), r("memcpy", 2**26, 400.0), r("cuda", 2**26, 1000.0)])
    pct = frames.pct_of_copy(rows).set_index("numel")
    assert bool(pct.loc[27, "launch_bound"]) and pct.loc[27, "time_ratio"] == pytest.approx(1.3 / 1.1)
    assert not bool(pct.loc[2**26, "launch_bound"]) and pct.loc[2**26, "pct"] == pytest.approx(100.0)
    events = pd.DataFrame([r("memcpy", 27, 5.7, "events", True), r("cuda", 27, 6.0, "events", True)])
    assert frames.pct_of_copy(events)["launch_bound"].all()
