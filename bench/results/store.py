"""Results on disk: a run's journal while it goes, one parquet file when it ends, and reading them back.

Layout of a results folder (`--out`, default `results/`):

    results/<run_id>.parquet              one finished run: one row per planned point, pinned schema
    results/.journal/<run_id>.journal     a run in progress (or killed): see bench.results.journal

The journal lives in a dot-folder, so no reader of the dataset meets it: pyarrow and pandas skip
names starting with '.' or '_', and globs such as `results/**/*.parquet` match no journal. The
parquet file is written to a hidden temporary name and renamed into place (atomic on POSIX), so a
reader never sees half a file, and it is written once: an existing results file is never replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench import copy_yardstick
from bench.errors import UserError
from bench.results import journal as jr
from bench.results.migrate import upgrade
from bench.results.schema import COLUMNS, COLUMNS_AT, SCHEMA, SCHEMA_VERSION, STATUSES
from bench.results.table import rows_to_table

JOURNAL_DIR = ".journal"
JOURNAL_SUFFIX = ".journal"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

PointId = tuple[str, str]  # (point_key, backend)


def check_run_id(run_id: str, flag: str = "--resume") -> str:
    """A run id names files in one folder: no separators, no leading dot (so it cannot escape --out)."""
    if not RUN_ID.match(run_id or ""):
        raise UserError(
            f"{flag} {run_id!r}: a run id is letters, digits, '.', '_' and '-' (e.g. 20261126T074508Z-host-3fa9c1d27b0e), "
            "not a path; give the run id and its folder with --out"
        )
    return run_id


def _converts(rows: list) -> bool:
    """Whether these rows (dicts of schema columns) convert to the pinned schema, as finalize will convert them."""
    try:
        rows_to_table([r for r in rows if isinstance(r, dict) and not set(r) - set(COLUMNS)])
    except TypeError:
        return False
    return True


def journal_path(out_dir: Path, run_id: str) -> Path:
    return Path(out_dir) / JOURNAL_DIR / f"{run_id}{JOURNAL_SUFFIX}"


def parquet_path(out_dir: Path, run_id: str) -> Path:
    return Path(out_dir) / f"{run_id}.parquet"


def pending_runs(out_dir: Path) -> list[Path]:
    """Journals of unfinished runs in ``out_dir``, oldest first."""
    folder = Path(out_dir) / JOURNAL_DIR
    found = folder.glob(f"*{JOURNAL_SUFFIX}") if folder.is_dir() else []
    unfinished = [p for p in found if not parquet_path(out_dir, p.name.removesuffix(JOURNAL_SUFFIX)).exists()]
    return sorted(unfinished, key=lambda p: p.lstat().st_mtime)  # lstat: a dangling link is listed, then refused


def point_id(row: dict) -> PointId:
    return (str(row["point_key"]), str(row["backend"]))


class RunWriter:
    """The only writer of one run: appends finished points (and finished rounds) to the journal, then
    writes the parquet file. Rows and rounds already in the journal (a resumed run) are loaded."""

    def __init__(self, out_dir: Path, run_id: str, journal: jr.Journal, contents: jr.Contents | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.run_id = run_id
        self.journal = journal
        self.parquet_path = parquet_path(out_dir, run_id)
        self.rows: dict[PointId, dict] = {}
        self.rounds: dict[PointId, dict[int, dict]] = {}
        self.duplicates: list[str] = []
        self.leftover: str | None = None  # a finished run's journal that could not be removed, in words
        self.header: dict = contents.header if contents else {}
        if contents is not None:
            # the records' values are converted together first: one by one only when something does not fit
            convert = not _converts([r.get("row") for r in contents.records])
            for number, record in zip(contents.lines, contents.records, strict=True):
                why = self.unfit(record, convert=convert)
                if why is None:
                    self._take(record)
                else:  # intact bytes, but not a record of this run: reported, and its point runs again
                    contents.damaged.append(f"line {number}: {why}")

    @classmethod
    def start(cls, out_dir: Path, run_id: str, header: dict) -> RunWriter:
        out = prepare_out_dir(out_dir)
        path = journal_path(out, run_id)
        if path.exists() or parquet_path(out, run_id).exists():
            raise UserError(f"run {run_id} already exists in {out}; start a new run or --resume it")
        try:
            journal = jr.Journal.create(path, {"run_id": run_id, "schema_version": SCHEMA_VERSION, **header})
        except OSError as exc:
            raise UserError(f"--out {out}: cannot create the run's journal ({exc.strerror or exc})") from None
        writer = cls(out, run_id, journal)
        writer.header = {"run_id": run_id, **header}
        return writer

    @classmethod
    def resume(cls, out_dir: Path, run_id: str) -> tuple[RunWriter, jr.Contents]:
        out = Path(out_dir)
        check_run_id(run_id)
        path = journal_path(out, run_id)
        if parquet_path(out, run_id).exists():
            left = ""
            if path.is_file():  # stopped between writing its results file and removing its journal: done
                with contextlib.suppress(OSError):
                    path.unlink()
                    left = "; its leftover journal was removed"
            raise UserError(f"--resume {run_id}: that run already finished ({parquet_path(out, run_id)}){left}")
        if not path.exists():
            pending = ", ".join(p.name.removesuffix(JOURNAL_SUFFIX) for p in pending_runs(out)) or "none"
            raise UserError(
                f"--resume {run_id}: no unfinished run of that id in {out} (unfinished runs there: {pending})"
            )
        journal, contents = jr.Journal.resume(path, run_id)
        if contents.header.get("run_id") != run_id:
            journal.close()
            raise UserError(f"--resume {run_id}: {path} belongs to run {contents.header.get('run_id')!r}")
        return cls(out, run_id, journal, contents), contents

    def unfit(self, record: dict, convert: bool = True) -> str | None:
        """Why a journal record cannot be one of this run's rows or rounds (None when it can): a record that
        passed its checksum may still have been written by another run, another version, or by hand, and it
        must not reach the results file (or stop the run from ever finishing there)."""
        kind, row = record.get("kind"), record.get("row")
        if kind not in ("row", "round"):
            return f"a record of unknown kind {str(kind)[:40]!r}"
        if not isinstance(row, dict):
            return "a record without a row"
        if not isinstance(row.get("point_key"), str) or not isinstance(row.get("backend"), str):
            return "a row without its point (point_key, backend)"
        if row.get("run_id") != self.run_id:
            return f"a row of another run ({str(row.get('run_id'))[:60]!r})"
        if row.get("schema_version") != SCHEMA_VERSION:
            return f"a row of schema version {str(row.get('schema_version'))[:20]}, not {SCHEMA_VERSION}"
        odd = next(
            (c for c in copy_yardstick.SAME_COPY if not isinstance(row.get(c), (str, int, float, type(None)))), None
        )
        if odd is not None:
            return f"a row whose {odd} is not a single value"
        status = row.get("status")
        if status not in STATUSES or (kind == "round" and status != "ok"):
            return f"a {kind} with status {str(status)[:40]!r}"
        if kind == "round" and (type(record.get("round")) is not int or record["round"] < 0):
            return f"a round numbered {str(record.get('round'))[:40]!r}"
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            return f"a row with columns not in the schema ({', '.join(unknown[:3])})"
        if convert:
            try:
                rows_to_table([row])
            except TypeError as exc:
                return f"a row that does not fit the schema ({str(exc)[:200]})"
        return None

    def _take(self, record: dict) -> None:
        kind = record.get("kind")
        row = record["row"]
        pid = point_id(row)
        if kind == "row":
            if pid in self.rows:
                self.duplicates.append(f"{pid[1]} {row.get('shape')} {row.get('mode')} {row.get('precision')}")
                return
            self.rows[pid] = row
        elif kind == "round" and isinstance(record.get("round"), int):
            self.rounds.setdefault(pid, {}).setdefault(record["round"], row)

    def finished(self) -> set[PointId]:
        return set(self.rows)

    def kept(self) -> int:
        """Points whose final row is in the journal on disk: after an interrupt, which may land between a
        record's write and its counting here, what a resume will find."""
        try:
            contents = jr.read(self.journal.path)
        except UserError:
            return len(self.rows)
        return len({point_id(r["row"]) for r in contents.records if r.get("kind") == "row" and not self.unfit(r)})

    def append(self, row: dict) -> None:
        """A point's final row (any status)."""
        self._write({"kind": "row", "row": row})

    def append_round(self, row: dict, round_index: int) -> None:
        """One finished round of a point timed in rounds: kept even if the run dies before the last."""
        self._write({"kind": "round", "round": round_index, "row": row})

    def _write(self, record: dict) -> None:
        why = self.unfit(record)
        if why is not None:  # this code made it: a bug, raised before it reaches the journal
            raise ValueError(f"the harness made {why}: {str(record)[:300]}")
        self.journal.append(record)
        self._take(record)

    def finalize(self, planned: Iterable[PointId]) -> Path:
        """Write the parquet file of every planned point, then drop the journal. Refuses (UserError)
        when a planned point has no row: the journal stays, and --resume completes it."""
        planned = list(planned)
        missing = [pid for pid in planned if pid not in self.rows]
        if missing:
            raise UserError(
                f"run {self.run_id} is incomplete: {len(missing)} planned point(s) have no row (e.g. "
                f"{missing[0][1]} {missing[0][0]}); the journal is kept: run the same command with --resume {self.run_id}"
            )
        rows = [self.rows[pid] for pid in planned]
        table = rows_to_table(copy_yardstick.add_pct_of_memcpy(rows))
        write_table_once(table, self.parquet_path, self.run_id)
        self.journal.close()
        try:
            self.journal.path.unlink(missing_ok=True)
        except OSError as exc:  # the run is complete in its results file; the journal is only left over
            self.leftover = f"could not remove the finished run's journal {self.journal.path} ({exc.strerror or exc})"
        return self.parquet_path

    def close(self) -> None:
        self.journal.close()


def prepare_out_dir(out_dir: Path) -> Path:
    """``--out`` as a writable folder (made if absent), or one UserError line naming the flag."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder; give a folder for the results")
    try:
        (out / JOURNAL_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the results folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK) or not os.access(out / JOURNAL_DIR, os.W_OK):
        raise UserError(f"--out {out}: the folder is not writable; choose another with --out")
    return out


def write_table_once(table: pa.Table, path: Path, run_id: str) -> None:
    """Write through a hidden temporary file and an atomic rename; never over an existing file."""
    if path.exists():
        raise UserError(f"{path} already exists: a results file is written once and never replaced")
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # a finalize killed half-way (the run's lock is ours)
        with contextlib.suppress(OSError):
            stale.unlink()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # --out made read-only or replaced meanwhile: nothing to clean
            tmp.unlink(missing_ok=True)
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc}; the run's journal is intact: free space, then run "
            f"the same command with --resume {run_id}"
        ) from None


# -- reading -------------------------------------------------------------------------------------------


def _hidden(path: Path, root: Path) -> bool:
    """Inside a folder or file named with a leading '.' or '_' (what pyarrow and pandas skip)."""
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


def results_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files, and folders searched recursively for *.parquet (skipping '.'/'_' names, as pyarrow does)."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise UserError("no results given: name results files or folders")
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.parquet") if f.is_file() and not _hidden(f, p))
            if not found:
                raise UserError(f"{p}: no results files (*.parquet) in this folder or below it")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise UserError(f"{p}: no such results file or folder")
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def _logical(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with its physical variants folded: large and view strings, lists and binaries as the plain
    ones, dictionary encoding as its values, any unit of a UTC timestamp as microseconds (what readers and
    writers such as polars and pandas choose without changing what a value means)."""
    t = pa.types
    if t.is_dictionary(dtype):
        return _logical(dtype.value_type)
    if t.is_large_string(dtype) or t.is_string_view(dtype):
        return pa.string()
    if t.is_large_binary(dtype) or t.is_binary_view(dtype):
        return pa.binary()
    if t.is_list(dtype) or t.is_large_list(dtype) or t.is_list_view(dtype) or t.is_large_list_view(dtype):
        return pa.list_(_logical(dtype.value_type))
    if t.is_map(dtype):
        return pa.map_(_logical(dtype.key_type), _logical(dtype.item_type))
    if t.is_struct(dtype):
        return pa.struct([pa.field(f.name, _logical(f.type)) for f in dtype])
    if t.is_timestamp(dtype) and dtype.tz in ("UTC", "utc", "Etc/UTC", "+00:00", "Z"):
        return pa.timestamp("us", tz="UTC")
    return dtype


def same_logical_type(got: pa.DataType, expected: pa.DataType) -> bool:
    """Whether a column of type ``got`` holds the values of ``expected`` as written (a column of nulls only,
    which a writer may store as type null, holds any)."""
    return pa.types.is_null(got) or _logical(got).equals(_logical(expected))


def read_table(path: Path) -> pa.Table:
    """One results file as a table of the current schema: checked, migrated from older versions."""
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged or foreign file
        raise UserError(f"{path}: not a readable parquet file ({exc}); it may be damaged or truncated") from None
    names = set(table.column_names)
    if "schema_version" not in names or "point_key" not in names:
        raise UserError(f"{path}: not a scale-bench results file (no schema_version / point_key columns)")
    versions = set(table.column("schema_version").to_pylist())
    if None in versions or len(versions) != 1:
        raise UserError(f"{path}: damaged results file (schema_version is {sorted(map(str, versions))})")
    (version,) = versions
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{path}: written by a newer scale-bench (schema {version} > {SCHEMA_VERSION}); upgrade to read it"
        )
    columns = COLUMNS_AT.get(version)
    if columns is not None:  # a version whose columns are pinned: every one present, with its type
        for name, dtype in columns.items():
            if name not in names:
                raise UserError(f"{path}: damaged results file: column {name!r} is missing (schema {version})")
            got = table.schema.field(name).type
            if not same_logical_type(got, dtype):
                raise UserError(
                    f"{path}: column {name!r} has type {got}, expected {dtype} (schema {version}); the file is damaged, "
                    "foreign, or was rewritten with other types (pandas does, unless it read and wrote with "
                    "dtype_backend='pyarrow'): read the file as the harness wrote it"
                )
        try:  # large_string as string, a unit of time as another: what polars or pandas may write back
            table = table.select(list(columns)).cast(pa.schema(list(columns.items())))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UserError(f"{path}: a column does not convert to its schema {version} type ({exc})") from None
    if version < SCHEMA_VERSION:
        try:
            return upgrade(table, version)
        except (TypeError, ValueError, KeyError, pa.ArrowInvalid) as exc:
            raise UserError(f"{path}: schema {version} file that cannot be migrated: {exc}") from None
    return table.cast(SCHEMA)


def load(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One DataFrame of the runs in ``paths`` (files, or folders searched recursively).

    Each run may appear once: the same run id in two files (a copy) is refused, since it would count
    every point twice. Maps become dicts; samples_us and round_sizes NumPy arrays."""
    files = results_files(paths)
    tables, seen = [], {}
    for f in files:
        table = read_table(f)
        for run_id in set(table.column("run_id").to_pylist()):
            if run_id in seen:
                raise UserError(
                    f"run {run_id} is in two files, {seen[run_id]} and {f}: each run must be read once "
                    "(remove the copy, or name only one of them)"
                )
            seen[run_id] = f
        tables.append(table)
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    df = table.to_pandas(maps_as_pydicts="strict")
    for name in ("samples_us", "round_sizes"):
        dtype = np.float64 if name == "samples_us" else np.int64
        df[name] = [np.asarray(v, dtype=dtype) if v is not None else np.array([], dtype=dtype) for v in df[name]]
    return df
