"""The results folder is one dataset: the readers users have read it with no options and agree, even with
a run in progress (or killed) in the folder. (Before schema 2, files differed in schema and a
journal in the folder broke every folder read; when schema 3 came, results/ mixed two versions until the
older files moved to archive/.)"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from cli_helpers import start, stop, wait_for_records

from bench.cli.main import main
from bench.results import COLUMNS, SCHEMA_VERSION, load
from bench.results.store import pending_runs, results_files

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
    killed = start("run", *TINY, "--max-time", "0.2", "--min-time", "0.1", "--target-noise", "1e-9", "--out",
                   str(root / "cpu-b"))  # fmt: skip
    assert wait_for_records(killed, root / "cpu-b", 1) is not None, stop(killed)
    stop(killed, signal.SIGKILL)
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
    assert set(rows["rounds"]) == {1, 3} and (rows["t"] > 0).all()
    # one entry of round_sizes per round taken (the time cap may end a point's rounds early, on a busy machine)
    assert (rows["n"] >= 1).all() and (rows["n"] <= rows["rounds"]).all() and (rows["n"] == 3).any()
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


ROOT = Path(__file__).resolve().parent.parent


def _versions(folder: Path) -> dict[int, list[Path]]:
    by: dict[int, list[Path]] = {}
    for f in results_files(folder):
        for version in set(pq.read_table(f, columns=["schema_version"]).column(0).to_pylist()):
            by.setdefault(version, []).append(f)
    return by


def test_the_committed_results_folder_holds_one_schema_and_reads_the_same_in_every_reader():
    """The committed `results/` is one dataset: files of the current schema only (older ones are archived), so
    DuckDB, polars, pandas and pyarrow read the folder with no options and agree on every row and sample."""
    committed = ROOT / "results"
    assert set(_versions(committed)) == {SCHEMA_VERSION}
    expected = _summary(load(committed))
    glob = str(committed / "**" / "*.parquet")
    readers = {
        "duckdb": duckdb.sql(f"select * from read_parquet('{glob}')").df(),
        "polars": pl.scan_parquet(glob).collect().to_pandas(),
        "pandas": pd.read_parquet(committed),
        "pyarrow": ds.dataset(committed, format="parquet").to_table().to_pandas(),
    }
    assert expected[0] > 0 and expected[1] == sorted(COLUMNS)
    for name, df in readers.items():
        assert _summary(df) == expected, name


def test_archived_results_keep_their_schema_and_load_migrates_them():
    """archive/results-v1 and -v2 hold the files of the older schemas as they were written; bench.results.load
    reads them in the current columns (a schema 2 row as one buffer set)."""
    assert set(_versions(ROOT / "archive" / "results-v2")) == {2}
    assert set(_versions(ROOT / "archive" / "results-v1")) == {1}
    df = load(ROOT / "archive" / "results-v2")
    assert list(df.columns) == list(COLUMNS) and (df["schema_version"] == SCHEMA_VERSION).all()
    timed = df["l2_flush"].notna()
    assert set(df.loc[timed, "l2_mode"]) <= {"warm", "flushed"} and (df.loc[timed, "buffer_sets"] == 1).all()


@pytest.mark.parametrize("writer", ["polars", "pandas (pyarrow types)"])
def test_a_results_file_rewritten_with_the_same_logical_types_is_read_as_written(tmp_path, writer):
    """polars writes large_string and large_list; pandas with pyarrow types keeps them: the same values."""
    original = sorted((ROOT / "results").rglob("*.parquet"))[0]
    copy = tmp_path / "copy.parquet"
    if writer == "polars":
        pl.read_parquet(original).write_parquet(copy)
        assert pa.types.is_large_string(pq.read_schema(copy).field("run_id").type)  # what makes it a test
    else:
        pd.read_parquet(original, dtype_backend="pyarrow").to_parquet(copy)
    pd.testing.assert_frame_equal(load(copy), load(original))


def test_the_readme_query_runs_on_the_committed_results_with_no_options(monkeypatch, capsys):
    """The README's DuckDB and polars example, as written, over `results/`."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The results") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "union_by_name" not in code
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})
    assert "NVIDIA H100" in capsys.readouterr().out
