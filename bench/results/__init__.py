"""Results store: one parquet file per run with raw samples kept, a journal while a run goes (see store,
journal and schema)."""

from bench.results.schema import COLUMNS, SCHEMA, SCHEMA_VERSION, STATUSES
from bench.results.store import RunWriter, load, results_files

__all__ = ["COLUMNS", "SCHEMA", "SCHEMA_VERSION", "STATUSES", "RunWriter", "load", "results_files"]
