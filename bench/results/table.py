"""Rows (plain dicts, as the runner and the journal hold them) to an Arrow table of the pinned schema.

Every value is converted to its column's exact type here and nowhere else: ISO timestamps to UTC
timestamps, dicts to structs (projected onto the struct's fields) or maps (values as text), NaN in a
non-float column to null. A value that cannot take its column's type is a harness bug and raises
TypeError naming the column.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from bench.results.schema import COLUMNS, SCHEMA


def _is_missing(v: Any) -> bool:
    """None, NaN, or pandas' NaT (a missing timestamp of a migrated file)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return True
    return type(v).__name__ == "NaTType"


def to_datetime(v: Any) -> datetime | None:
    """ISO 8601 text (with or without offset, taken as UTC), a datetime, or None."""
    if _is_missing(v):
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if hasattr(v, "to_pydatetime"):  # pandas Timestamp
        return to_datetime(v.to_pydatetime())
    d = datetime.fromisoformat(str(v))
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _plain(v: Any) -> Any:
    """NumPy scalars and arrays as Python values (the journal's JSON and Arrow both want those)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    return v


def _convert(value: Any, dtype: pa.DataType) -> Any:
    value = _plain(value)
    if _is_missing(value) and not pa.types.is_floating(dtype):
        return None
    if pa.types.is_timestamp(dtype):
        return to_datetime(value)
    if pa.types.is_map(dtype):
        if not isinstance(value, dict):
            raise TypeError(f"expected a dict, got {type(value).__name__}")
        return [(str(k), None if _is_missing(v) else str(_plain(v))) for k, v in sorted(value.items())]
    if pa.types.is_struct(dtype):
        if not isinstance(value, dict):
            raise TypeError(f"expected a dict, got {type(value).__name__}")
        return {f.name: _convert(value.get(f.name), f.type) for f in dtype}
    if pa.types.is_list(dtype):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [_convert(x, dtype.value_type) for x in value]
    if pa.types.is_floating(dtype):
        return None if value is None else float(value)
    if pa.types.is_integer(dtype):
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"expected an integer, got {value!r}")
        return int(value)
    if pa.types.is_boolean(dtype):
        return bool(value)
    if pa.types.is_string(dtype):
        return str(value)
    return value


def rows_to_table(rows: list[dict], columns: dict[str, pa.DataType] | None = None) -> pa.Table:
    """The rows as one table of the pinned schema (every column, in order; absent values null), or of
    ``columns`` (an earlier version's, for migration)."""
    columns = COLUMNS if columns is None else columns
    arrays = []
    for name, dtype in columns.items():
        try:
            values = [_convert(r.get(name), dtype) for r in rows]
            arrays.append(pa.array(values, type=dtype))
        except (TypeError, ValueError, OverflowError, pa.ArrowInvalid) as exc:  # e.g. an int past int64
            raise TypeError(f"column {name!r} ({dtype}): {exc}") from exc
    if columns is COLUMNS:
        return pa.Table.from_arrays(arrays, schema=SCHEMA)
    return pa.Table.from_arrays(arrays, schema=pa.schema(list(columns.items())))
