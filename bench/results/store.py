"""Results on disk: a journal while a run is going, one parquet file when it ends.

While a run is going, every finished point is appended to `<run_id>.journal.jsonl` and flushed to
disk, so a killed run keeps every finished point. `--resume` reads the journal back and skips those
points. When the run ends, the rows are written to `<run_id>.parquet` through a temporary file and an
atomic rename, and the journal is removed. `load` reads many runs into one DataFrame and refuses
foreign or damaged files by name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.errors import UserError
from bench.results.schema import COLUMNS, SCHEMA, SCHEMA_VERSION

JOURNAL_SUFFIX = ".journal.jsonl"


def _jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.astype(np.float64).tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


class RunWriter:
    """Appends rows of one run to its journal; `finalize` writes the parquet file."""

    def __init__(self, out_dir: Path, run_id: str, header: dict | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.journal_path = self.out_dir / f"{run_id}{JOURNAL_SUFFIX}"
        self.parquet_path = self.out_dir / f"{run_id}.parquet"
        fresh = not self.journal_path.exists()
        self._file = self.journal_path.open("a", encoding="utf-8")
        if fresh:
            self._write({"_header": True, "run_id": run_id, "schema_version": SCHEMA_VERSION, **(header or {})})

    def _write(self, obj: dict) -> None:
        self._file.write(json.dumps({k: _jsonable(v) for k, v in obj.items()}) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def append(self, row: dict) -> None:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise KeyError(f"row has columns not in the schema: {sorted(unknown)}")
        self._write(row)

    def finished(self) -> set[tuple[str, str]]:
        """(point_key, backend) of points already in the journal (skipped ones too)."""
        return {(r["point_key"], r["backend"]) for r in read_journal(self.journal_path)}

    def finalize(self) -> Path:
        """Write the parquet file atomically and drop the journal."""
        self._file.close()
        rows = read_journal(self.journal_path)
        df = add_memcpy_ratio(rows_to_frame(rows))
        tmp = self.parquet_path.with_suffix(".parquet.tmp")
        pq.write_table(frame_to_table(df), tmp)
        os.replace(tmp, self.parquet_path)
        self.journal_path.unlink()
        return self.parquet_path

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_journal(path: Path) -> list[dict]:
    """Rows of a journal; a torn last line (the process died mid-write) is dropped."""
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not obj.get("_header"):
                rows.append(obj)
    return rows


def journal_header(path: Path) -> dict:
    with Path(path).open(encoding="utf-8") as fh:
        return json.loads(fh.readline())


def latest_journal(out_dir: Path) -> Path | None:
    journals = sorted(Path(out_dir).glob(f"*{JOURNAL_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    return journals[-1] if journals else None


def rows_to_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    return df


def frame_to_table(df: pd.DataFrame) -> pa.Table:
    arrays = []
    for name, dtype in COLUMNS.items():
        values = df[name].tolist() if name in df else [None] * len(df)
        values = [
            None if (isinstance(v, float) and np.isnan(v) and not pa.types.is_floating(dtype)) else v for v in values
        ]
        if pa.types.is_list(dtype):
            cast = float if pa.types.is_floating(dtype.value_type) else int
            values = [None if v is None else [cast(x) for x in v] for v in values]
        arrays.append(pa.array(values, type=dtype, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def add_memcpy_ratio(df: pd.DataFrame) -> pd.DataFrame:
    """pct_of_memcpy: achieved bandwidth over the bandwidth of the memcpy row that copies the same tensor
    (same run, same precision and element count, same cache mode). For every mode but ELEMENTWISE the
    weights are a few bytes, and this is the memcpy's time over the row's time."""
    df = df.copy()
    ok = (df["status"] == "ok").to_numpy()
    mem = df[ok & (df["backend"] == "memcpy").to_numpy()]
    if mem.empty:
        return df
    key = ["run_id", "numel", "precision", "l2_flush"]
    ref = mem.groupby(key, dropna=False)["gbps"].median()
    memcpy_gbps = np.array([ref.get(k, np.nan) for k in zip(*(df[c] for c in key), strict=True)], dtype=np.float64)
    pct = 100.0 * df["gbps"].astype(np.float64).to_numpy() / memcpy_gbps
    df["pct_of_memcpy"] = np.where(ok, pct, np.nan)
    return df


# -- reading -------------------------------------------------------------------------------------------


def _files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*.parquet"))
            if not found:
                raise UserError(f"{p}: no results files (*.parquet) in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise UserError(f"{p}: no such results file or folder")
    return files


def _read_one(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"{path}: not a readable parquet file ({exc}); it may be damaged or truncated") from None
    if "schema_version" not in table.column_names or "point_key" not in table.column_names:
        raise UserError(f"{path}: not a scale-bench results file (no schema_version / point_key columns)")
    versions = set(table.column("schema_version").to_pylist())
    if any(v is None for v in versions):
        raise UserError(f"{path}: damaged results file (rows without schema_version)")
    if versions and max(versions) > SCHEMA_VERSION:
        raise UserError(
            f"{path}: written by a newer scale-bench (schema {max(versions)} > {SCHEMA_VERSION}); upgrade to read it"
        )
    df = table.to_pandas()
    return migrate(df)


def migrate(df: pd.DataFrame) -> pd.DataFrame:
    """Bring an older file up to the current schema: columns added since get null values."""
    for name in COLUMNS:
        if name not in df:
            df[name] = None
    return df


def load(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One DataFrame of the runs in ``paths`` (files, or folders of *.parquet)."""
    frames = [_read_one(f) for f in _files(paths)]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    df["samples_us"] = [np.asarray(s, dtype=np.float64) if s is not None else np.array([]) for s in df["samples_us"]]
    return df
