"""The results folder is one dataset: the readers users have read it with no options and agree, even with
a run in progress (or killed) in the folder. (Issue 12: before schema 2, files differed in schema and a
journal in the folder broke every folder read.)"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pytest

from bench.cli.main import main
from bench.results import COLUMNS, load
from bench.results.store import pending_runs

TINY = ["--shape", "1x3x3x3", "--shape", "2x3x4x5", "--backend", "numpy", "--precision", "fp32", "--precision",
        "int8", "--max-time", "0.02", "--min-time", "0.002", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """results/ with two finished runs in subfolders, one at the top, and a killed run's journal."""
    root = tmp_path_factory.mktemp("data") / "results"
    for out in (root / "cpu-a", root / "cpu-b", root):
        assert main(["run", *TINY, "--out", str(out)]) == 0
    assert main(["run", *TINY, "--mode", "channel", "--rounds", "3", "--out", str(root / "cpu-a")]) == 0
    # a killed run: its journal stays in results/cpu-b/.journal/
    from bench.results.store import RunWriter

    w = RunWriter.start(root / "cpu-b", "killed-run", {"identity": {}})
    w.append({"run_id": "killed-run", "point_key": "k", "backend": "numpy", "status": "ok"})
    w.close()
    assert pending_runs(root / "cpu-b")
    return root


def _summary(df: pd.DataFrame) -> tuple:
    return (
        len(df),
        sorted(df.columns),
        sorted(zip(df["run_id"], df["point_key"], df["backend"], strict=True)),
        int(sum(len(s) for s in df["samples_us"] if hasattr(s, "__len__") and not isinstance(s, str))),
    )


def test_four_readers_read_the_folder_with_no_options_and_agree(results):
    glob = str(results / "**" / "*.parquet")
    by_duckdb = duckdb.sql(f"select * from read_parquet('{glob}')").df()
    by_polars = pl.scan_parquet(glob).collect().to_pandas()
    by_pandas = pd.read_parquet(results)
    by_pyarrow = ds.dataset(results, format="parquet").to_table().to_pandas()
    by_bench = load(results)
    expected = _summary(by_bench)
    assert expected[0] == 3 * 12 + 4 and sorted(COLUMNS) == expected[1]  # 4 runs; the CHANNEL-only one has 4 points
    for name, df in (("duckdb", by_duckdb), ("polars", by_polars), ("pandas", by_pandas), ("pyarrow", by_pyarrow)):
        assert _summary(df) == expected, name


def test_readers_can_query_into_nested_columns(results):
    glob = str(results / "**" / "*.parquet")
    con = duckdb.connect()
    rows = con.sql(
        f"select timing_settings.rounds as rounds, len(round_sizes) as n, phase_s.timing as t, timestamp "
        f"from read_parquet('{glob}') where status = 'ok'"
    ).df()
    assert set(rows["rounds"]) == {1, 3} and (rows["n"] == rows["rounds"]).all() and (rows["t"] > 0).all()
    assert str(rows["timestamp"].dtype).startswith("datetime64")
    lib = pl.scan_parquet(glob).select(pl.col("libraries")).collect()
    assert lib.height == 40
    axes = (
        pl.scan_parquet(glob)
        .filter(pl.col("mode") == "channel")
        .select("channel_axis", "channel_axis_arg", "resolved_axis")
        .collect()
    )
    assert (
        axes.filter(pl.col("channel_axis") == "default")["resolved_axis"].to_list()
        == [1] * axes.filter(pl.col("channel_axis") == "default").height
    )


def test_timestamp_is_when_the_point_finished(results):
    df = load(results)
    assert (df["timestamp"] >= df["started_at"]).all()
    assert np.issubdtype(df["numel"].dtype, np.integer)


def test_the_committed_results_folder_reads_the_same_in_every_reader():
    """The committed `results/`: the files of one schema version are one dataset to every reader with no
    options; across versions (schema 3 added columns) readers that union by name agree on every row and
    sample, and `bench.results.load` brings the older files up to the current columns."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from bench.results.schema import COLUMNS_AT, SCHEMA_VERSION
    from bench.results.store import results_files

    committed = Path(__file__).resolve().parent.parent / "results"
    by_version: dict[int, list[str]] = {}
    for f in results_files(committed):
        (version,) = set(pq.read_table(f, columns=["schema_version"]).column(0).to_pylist())
        by_version.setdefault(version, []).append(str(f))
    assert set(by_version) <= set(COLUMNS_AT) and SCHEMA_VERSION in COLUMNS_AT
    for version, files in by_version.items():
        expected = _summary(load(files))
        assert expected[0] > 0 and sorted(COLUMNS) == expected[1]
        readers = {
            "duckdb": duckdb.sql(f"select * from read_parquet({files!r})").df(),
            "polars": pl.scan_parquet(files).collect().to_pandas(),
            "pandas": pd.read_parquet(files),
            "pyarrow": ds.dataset(files, format="parquet").to_table().to_pandas(),
        }
        for name, df in readers.items():
            assert _summary(df)[0::2] == expected[0::2] and _summary(df)[3] == expected[3], (version, name)
            assert sorted(df.columns) == sorted(COLUMNS_AT[version]), (version, name)
    everything = _summary(load(committed))
    glob = str(committed / "**" / "*.parquet")
    unioned = duckdb.sql(f"select * from read_parquet('{glob}', union_by_name = true)").df()
    assert _summary(unioned)[0::2] == everything[0::2] and _summary(unioned)[3] == everything[3]
