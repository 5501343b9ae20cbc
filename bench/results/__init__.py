"""Results store: one parquet file per run, raw samples kept (see store and schema)."""

from bench.results.schema import COLUMNS, SCHEMA_VERSION, STATUSES
from bench.results.store import RunWriter, load

__all__ = ["COLUMNS", "SCHEMA_VERSION", "STATUSES", "RunWriter", "load"]
