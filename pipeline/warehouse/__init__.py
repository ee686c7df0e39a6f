"""The warehouse stage: one DuckDB file, one writer, bulk and idempotent writes.

Times are stored as naive UTC `TIMESTAMP`s: aware datetimes are converted to UTC first.

One module per concern (`Warehouse`, in `store`, puts them together over one connection):
errors, limits (lock and memory settings), connection (opening, locks, read-only lockdown),
run_lock (one ingest run at a time), schema, runs, documents and tables (what a batch writes),
storable (what the writer can store), identity (which article a document is), faces, writes,
prune, translations (queue and cache), reading (the query path). The search index, duplicates and
the read-only front door are built on this package; it imports none of them.
"""

from pipeline.warehouse.errors import (
    WarehouseBusyError,
    WarehouseDiskFullError,
    WarehouseError,
    WarehouseMemoryError,
    WarehouseMissingError,
    WarehouseRunLockTimeout,
)
from pipeline.warehouse.prune import PruneResult
from pipeline.warehouse.reading import QueryResult
from pipeline.warehouse.run_lock import exclusive_run
from pipeline.warehouse.runs import InterruptedRun, RunCounts
from pipeline.warehouse.schema import schema_sql
from pipeline.warehouse.storable import reject_if_oversized
from pipeline.warehouse.store import Warehouse
from pipeline.warehouse.writes import BatchCounts

__all__ = [
    "BatchCounts",
    "InterruptedRun",
    "PruneResult",
    "QueryResult",
    "RunCounts",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseDiskFullError",
    "WarehouseError",
    "WarehouseMemoryError",
    "WarehouseMissingError",
    "WarehouseRunLockTimeout",
    "exclusive_run",
    "reject_if_oversized",
    "schema_sql",
]
