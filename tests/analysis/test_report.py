"""report(): sections that never pool unlike rows, readings whose numbers are the data's, plots for each.

The frames are synthetic runs (analysis_fixtures) with known medians: events times 5x the graph times and
20x noisier, an H200 30% faster on large tensors, so a number computed over the wrong population shows.
Every expected figure below is computed here from the rows, independently of bench.report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import SynthPoint, grid, make_run, write_run

from bench.cli.main import main
from bench.errors import UserError
from bench.planning import expand
from bench.report import bounds, frames, labels
from bench.report.markdown import report
from bench.sweepfile import load_sweep

SIZES = (1_000, 100_000, 10_000_000)
KERNELS = grid(sizes=SIZES, backends=("cuda",))
COPIES = [SynthPoint((1, 1, 1, n), "uniform", p, "default", "memcpy") for n in SIZES for p in ("fp32", "fp16")]
H100, H200 = "NVIDIA H100 80GB HBM3", "NVIDIA H200"
L2 = {H100: 50 * 2**20, H200: 60 * 2**20}


def run(run_id: str, gpu: str = H100, method: str = "graph", points=None, **kw) -> pd.DataFrame:
    """One run; events runs are 5x slower and 20x noisier than graph runs of the same points."""
    points = points if points is not None else KERNELS + COPIES
    events = method == "events"
    medians = {p: (5.0 if events else 1.0) * (5.0 + p.numel / 1e3) for p in points}
    seed = sum(map(ord, run_id))
    df = make_run(
        points, medians=medians, noise=0.2 if events else 0.01, seed=seed, run_id=run_id, gpu_name=gpu,
        timing_method=method, **kw,
    )  # fmt: skip
    df["environment"] = json.dumps({"l2_bytes": L2.get(gpu)})
    return df


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    """H100 and H200, each with a graph run (kernels and copies) and an events run (kernels only)."""
    faster = {p: 0.7 for p in KERNELS + COPIES if p.numel == 10_000_000}
    return pd.concat(
        [
            run("h100-graph"),
            run("h100-events", method="events", points=KERNELS, timestamp="2026-11-20T11:00:00+00:00"),
            run("h200-graph", H200, slowdown=faster, timestamp="2026-11-21T10:00:00+00:00"),
            run("h200-events", H200, "events", points=KERNELS, timestamp="2026-11-21T11:00:00+00:00"),
        ],
        ignore_index=True,
    )


def sections_of(text: str) -> dict[str, str]:
    """report.md cut at its '## ' headings: {heading: body}."""
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {p.split("\n", 1)[0]: p for p in parts}


def timed(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & (df["median_us"] > 0)]


@pytest.fixture(scope="module")
def one_gpu(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, str]:
    """One H100: two graph runs of every point, one events run of the kernels; a failed, a skipped and a
    zero-median point; schema v2 nested columns. Written to parquet and read back through load()."""
    from bench.results import load

    statuses = {KERNELS[0]: ("failed", "CUDA error: illegal address"), KERNELS[1]: ("skipped", "int8 needs data")}
    g1 = run("g1", statuses=statuses)
    g1.loc[g1["point_key"] == KERNELS[2].key, "median_us"] = 0.0  # ok, but nothing a log axis can draw
    g1["warnings"] = [["time cap reached before the noise target"] if i % 3 == 0 else [] for i in range(len(g1))]
    g1["started_at"] = "2026-11-20T09:59:00+00:00"
    g2 = run("g2", timestamp="2026-11-20T12:00:00+00:00")
    events = run("e", method="events", points=KERNELS, timestamp="2026-11-20T13:00:00+00:00")
    df = pd.concat([g1, g2, events], ignore_index=True)
    df["timing_settings"] = [{"method": "graph", "target_noise": 0.01, "max_time_s": 1.0, "rounds": 1}] * len(df)
    df["libraries"] = [{"numpy": "2.4.6", "cuda-python": "13.4.4"}] * len(df)
    df["clocks"] = [
        {"before": {"sm_clock_mhz": 1980.0}, "after": {"sm_clock_mhz": 1755.0 + i % 2}} for i in range(len(df))
    ]
    for column in ("timestamp", "started_at"):
        df[column] = pd.to_datetime(df[column], utc=True)
    out = tmp_path_factory.mktemp("one_gpu")
    loaded = load([write_run(df, out / "results" / "runs.parquet")])
    assert str(loaded["timestamp"].dtype).startswith("datetime64")
    return loaded, report(loaded, out / "report").read_text()


@pytest.fixture(scope="module")
def mixed_report(mixed: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The H100 and H200 graph and events runs, no --by."""
    return report(mixed, tmp_path_factory.mktemp("mixed")).read_text()


@pytest.fixture(scope="module")
def by_gpu(mixed: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The H100 and H200 graph and events runs, --by gpu_name."""
    return report(mixed, tmp_path_factory.mktemp("by_gpu"), sides_by="gpu_name")


def test_graph_and_events_rows_get_a_section_each_and_no_pooled_number(one_gpu) -> None:
    df, text = one_gpu
    secs = sections_of(text)
    assert "1. graph timing, warm L2" in secs and "2. events timing, warm L2" in secs
    graph, events = secs["1. graph timing, warm L2"], secs["2. events timing, warm L2"]
    ok = timed(df)
    for body, method in ((graph, "graph"), (events, "events")):
        cuda = ok[(ok["timing_method"] == method) & (ok["backend"] == "cuda")]
        noise = cuda["noise"].to_numpy()
        assert f"cuda ({len(cuda)} rows): median {np.median(noise):.2%}, 90th percentile " in body
        assert f"{np.percentile(noise, 90):.2%}, max {noise.max():.2%}" in body
        largest = cuda[cuda["numel"] == cuda["numel"].max()].groupby(["mode", "precision"])["median_us"].median()
        assert f"run from {largest.min():,.0f} µs" in body and f"to {largest.max():,.0f} µs" in body
    pooled = ok[ok["backend"] == "cuda"]["noise"]
    assert f"median {np.median(pooled):.2%}" not in text  # no noise figure over graph and events together


def test_points_timed_in_several_runs_of_a_side_are_said_to_be(one_gpu) -> None:
    df, text = one_gpu
    graph = timed(df[df["timing_method"] == "graph"])
    per_point = graph.groupby(["point_key", "backend"])["run_id"].nunique()
    twice = int((per_point == 2).sum())
    assert f"{twice} points of {len(per_point)} were timed in 2 runs" in text
    assert "repeated runs of one point" in text


def test_bandwidth_reading_quotes_every_row_against_the_copy(one_gpu) -> None:
    df, text = one_gpu
    body = sections_of(text)["1. graph timing, warm L2"]
    ok = timed(df[df["timing_method"] == "graph"])
    copy = ok[ok["backend"] == "memcpy"].groupby(["precision", "numel"])["gbps"].median()
    cuda = ok[(ok["backend"] == "cuda") & (ok["numel"] == ok["numel"].max())]
    pct = cuda["gbps"] / [copy[(p, n)] for p, n in zip(cuda["precision"], cuda["numel"], strict=True)] * 100
    assert (
        f"the {len(pct)} rows there reach a median {np.median(pct):.1f}% of the copy's bandwidth, from {pct.min():.1f}% ("
        in body
    )
    assert f"to {pct.max():.1f}% (" in body


def test_schema_v2_rows_render_with_their_timestamps_settings_and_warnings(one_gpu) -> None:
    df, text = one_gpu
    warned = int(df["warnings"].dropna().map(len).sum())
    assert f"| time cap reached before the noise target | {warned} | R1 |" in text
    assert "| R1 | g1 | 2026-11-20 09:59:00 UTC | 2026-11-20 10:00:00 UTC |" in text
    assert "graph (noise target 1.0%, cap 1 s)" in text and "cuda-python 13.4.4, numpy 2.4.6" in text
    assert "| 1755–1980 |" in text  # the SM clock range NVML saw around the measurements


def test_points_not_timed_are_listed_with_their_reasons(one_gpu) -> None:
    _, text = one_gpu
    not_timed = sections_of(text)["Points not timed"]
    assert "CUDA error: illegal address" in not_timed and "int8 needs data" in not_timed
    assert "ok, but no finite positive median" in not_timed


def test_mixed_gpus_are_split_by_gpu_without_by(mixed_report: str) -> None:
    secs = sections_of(mixed_report)
    assert "H100: R1; H200: R3" in mixed_report  # the graph section's sides: one per GPU, not one pooled side
    assert "time ratio H200/H100" in secs["1. graph timing, warm L2"]
    assert "time ratio H200/H100" in secs["2. events timing, warm L2"]


def test_a_section_without_copies_claims_no_roofline(mixed_report: str) -> None:
    events = sections_of(mixed_report)["2. events timing, warm L2"]
    assert "### Achieved bandwidth\n" in events and "against the copy" not in events
    assert "no roofline" in events and "the wide pale line" not in events


def test_by_gpu_compares_graph_with_graph_and_events_with_events(mixed: pd.DataFrame, by_gpu: Path) -> None:
    secs = sections_of(by_gpu.read_text())
    graph, events = secs["1. graph timing, warm L2"], secs["2. events timing, warm L2"]
    for body, method in ((graph, "graph"), (events, "events")):
        geo, n = _geomean_ratio(mixed, method, "cuda")
        assert f"Over the {n} points of cuda timed on both sides, the geometric mean of the time ratio " in body
        assert f"H200/H100 is {geo:.3f}" in body
    geo_copy, _ = _geomean_ratio(mixed, "graph", "memcpy")
    assert f"H200/H100 is {geo_copy:.3f}" in graph and "### memcpy: time ratio" not in events
    pooled, _ = _geomean_ratio(mixed.assign(timing_method="all"), "all", "cuda")
    assert f"is {pooled:.3f}" not in graph + events


def test_every_png_exists_and_is_linked(by_gpu: Path) -> None:
    text, folder = by_gpu.read_text(), by_gpu.parent
    links = re.findall(r"!\[[^\]]+\]\(([^)]+\.png)\)", text)
    assert len(links) == len(set(links)) == len(list(folder.glob("*.png")))
    for section in ("s1-graph-timing-warm-l2", "s2-events-timing-warm-l2"):
        assert {f"{section}-time.png", f"{section}-bandwidth.png", f"{section}-samples.png"} <= set(links)
        assert f"{section}-cuda-ratio.png" in links
    for link in links:
        assert (folder / link).stat().st_size > 10_000
    for md in re.findall(r"\]\(([^)]+\.md)\)", text):
        assert (folder / md).exists()


def _geomean_ratio(df: pd.DataFrame, method: str, backend: str) -> tuple[float, int]:
    """Per point: median of the H200 samples over median of the H100 samples; their geometric mean."""
    ok = df[(df["status"] == "ok") & (df["timing_method"] == method) & (df["backend"] == backend)]
    med = ok.groupby(["gpu_name", "point_key"])["samples_us"].agg(lambda s: np.median(np.concatenate(list(s))))
    ratio = (med[H200] / med[H100]).dropna()
    return float(np.exp(np.log(ratio).mean())), len(ratio)


def test_by_refuses_a_side_that_mixes_gpus(mixed: pd.DataFrame, tmp_path: Path, capsys) -> None:
    df = mixed[mixed["timing_method"] == "graph"].copy()
    df["backend_version"] = np.where(df["run_id"] == "h100-graph", "12.6", "12.8")
    df = pd.concat([df, run("h100-new", backend_version="12.8", timestamp="2026-11-22T10:00:00+00:00")])
    with pytest.raises(UserError, match=rf"--by backend_version: side '12.8' mixes gpu_name: {H100}, {H200}"):
        report(df, tmp_path, sides_by="backend_version")
    path = write_run(df.reset_index(drop=True), tmp_path / "runs" / "all.parquet")
    assert main(["report", str(path), "--out", str(tmp_path / "r"), "--by", "backend_version"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mixes gpu_name" in err


def test_by_refuses_sides_that_were_never_measured_the_same_way(mixed: pd.DataFrame, tmp_path: Path) -> None:
    h100_graph = mixed[(mixed["gpu_name"] == H100) & (mixed["timing_method"] == "graph")]
    h200_events = mixed[(mixed["gpu_name"] == H200) & (mixed["timing_method"] == "events")]
    with pytest.raises(UserError, match=r"--by gpu_name: no two sides .*timing_method: events, graph"):
        report(pd.concat([h100_graph, h200_events]), tmp_path, sides_by="gpu_name")


def test_unknown_by_column_is_refused_naming_the_choices(mixed: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"--by gpu: no such column; choose one of: .*gpu_name"):
        report(mixed, tmp_path, sides_by="gpu")


def test_heatmap_cells_are_geometric_means_and_say_how_many_points_they_hold() -> None:
    rng = np.random.default_rng(0)
    points = pd.DataFrame(
        {
            "mode": rng.choice(["channel", "uniform"], 60),
            "precision": rng.choice(["fp32", "fp16"], 60),
            "numel": rng.choice([27, 4096, 2**20], 60),
            "ratio": rng.uniform(0.5, 1.5, 60),
        }
    )
    ratio, n = frames.ratio_matrix(points)
    assert int(n.to_numpy().sum()) == len(points)
    for (mode_prec, column), value in ratio.stack().items():
        mode, prec = mode_prec.split(" ")
        cell = points[(points["mode"] == mode) & (points["precision"] == prec)]
        cell = cell[cell["numel"].map({27: "27", 4096: "4.1K", 2**20: "1.05M"}) == column]["ratio"]
        assert value == pytest.approx(np.exp(np.log(cell).mean()))
        assert n.loc[mode_prec, column] == len(cell)
    assert list(ratio.index) == ["channel fp32", "channel fp16", "uniform fp32", "uniform fp16"]


def test_bound_text_words_the_roofline_with_the_numbers() -> None:
    """One bound model (bench.analysis.roofline), fed by the copies beside the point: the fastest is the
    floor, the largest gives the memory's slope (here 4 GiB in 1,400 µs above a 2 µs floor)."""
    copies = pd.DataFrame({"median_us": [2.0, 3.0, 1402.0], "bytes_moved": [216, 2**20, 4 * 2**30]})
    launch = pd.Series({"median_us": 3.5, "bytes_moved": 1000, "gbps": 0.3, "copy_gbps": 0.5, "dims": [1, 1, 1, 125],
                        "mode": "channel", "precision": "fp32", "channel_axis_arg": -1})  # fmt: skip
    text = bounds.bound_text(launch, copies, 50 * 2**20)
    assert text.startswith("launch: 3.50 µs per call; a call's floor is 2.00 µs (the fastest copy)")
    channel = {"mode": "channel", "precision": "fp32", "channel_axis_arg": 1}
    l2 = pd.Series({"median_us": 20.0, "bytes_moved": 32 * 2**20 + 32, "gbps": 1677.7, "copy_gbps": 4900.0,
                    "dims": [1, 4, 1024, 1024], **channel})  # fmt: skip
    assert bounds.bound_text(l2, copies, 64 * 2**20) == (
        "L2: moves 32 MiB, within the 64 MiB L2 (one buffer set: it can run from the L2, beyond the model); "
        "this point 1,678 GB/s, the copy 4,900 GB/s"
    )
    assert bounds.bound_text(l2, copies, 64 * 2**20, rotated=True).startswith("HBM: moves 32 MiB, streamed from memory")
    hbm = pd.Series({"median_us": 200.0, "bytes_moved": 512 * 2**20 + 128, "gbps": 2684.4, "copy_gbps": 2980.0,
                     "dims": [16, 4, 1024, 1024], **channel})  # fmt: skip
    model = bounds.model(hbm, copies, 50 * 2**20)
    assert model is not None and model.bound == "hbm"
    assert bounds.bound_text(hbm, copies, 50 * 2**20) == (
        f"HBM: moves 512 MiB, more than the 50 MiB L2; the model allows {model.predicted_us:.2f} µs "
        f"({model.copy_time_pct:.0f}% of a copy's time); this point 2,684 GB/s, the copy 2,980 GB/s"
    )
    assert "L2 size not recorded" in bounds.bound_text(hbm, copies, None)
    assert bounds.bound_text(hbm.drop(["dims"]), copies, None).startswith("not modelled")  # no shape


def test_l2_size_comes_from_each_sides_environment(mixed: pd.DataFrame) -> None:
    rows = mixed.assign(side_label=mixed["gpu_name"].map({H100: "H100", H200: "H200"}))
    assert frames.l2_bytes(rows) == {"H100": 50 * 2**20, "H200": 60 * 2**20}
    assert frames.l2_bytes(rows.assign(environment="{}")) == {}


def test_labels_are_short_and_runs_never_label_axes() -> None:
    assert labels.shortest_unique([H100, H200], labels.VENDOR_WORDS) == {H100: "H100", H200: "H200"}
    pcie = "NVIDIA H100 PCIe"
    assert labels.side_labels([H100, pcie], "gpu_name", {}) == {H100: "H100 80GB", pcie: "H100 PCIe"}
    runs = {"20261126T074450Z-vm-cd5b": "R1", "20261126T075022Z-vm-c15e": "R2"}
    assert labels.side_labels(list(runs), "run_id", runs) == runs


def test_a_report_with_nothing_timed_says_so(tmp_path: Path) -> None:
    df = run("a", points=KERNELS[:2], statuses={p: ("failed", "no GPU") for p in KERNELS[:2]})
    text = report(df, tmp_path).read_text()
    assert "No row carries a time" in text and "no GPU" in text


def test_the_shipped_bandwidth_sweep_is_dense_enough_for_a_curve() -> None:
    points = expand(load_sweep("bandwidth"))
    assert {p.backend for p in points} == {"cuda", "memcpy"}
    assert len({p.mode for p in points if p.backend == "cuda"}) == 1
    for precision in ("fp32", "fp16"):
        sizes = sorted(p.tensor_bytes for p in points if p.precision == precision and p.backend == "cuda")
        assert sizes == [4096 * 2**k for k in range(19)]  # 4 KiB, 8 KiB, ..., 1 GiB


def test_the_summary_repeats_each_sections_headline_word_for_word(by_gpu: Path) -> None:
    secs = sections_of(by_gpu.read_text())
    items = [line[2:] for line in secs["Summary"].splitlines() if line.startswith("- ")]
    body = secs["1. graph timing, warm L2"] + secs["2. events timing, warm L2"]
    assert len(items) == 5  # cuda and memcpy ratios and two GPUs' % of the copy in graph; cuda ratio in events
    for item in items:
        assert item.rstrip(".") in body


def test_broken_rows_draw_nothing_and_are_named(tmp_path: Path) -> None:
    df = run("x", points=KERNELS + COPIES)
    df.loc[df.index[0], "noise"] = np.nan
    df.loc[df.index[1], "samples_us"] = None
    df.loc[df.index[2], "gbps"] = np.inf
    df.loc[df.index[3], "median_us"] = np.inf
    df.loc[df.index[4], "environment"] = "not json"
    text = report(df, tmp_path).read_text()
    ok = timed(df[np.isfinite(df["median_us"])])
    assert f"{len(ok)} rows carry a time" in text
    assert "ok, but no finite positive median" in sections_of(text)["Points not timed"]
    assert f"cuda ({ok['noise'][ok['backend'] == 'cuda'].notna().sum()} rows): median" in text
