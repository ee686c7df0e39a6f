"""The warehouse's errors: each message says what a person can do about it."""

from __future__ import annotations


class WarehouseError(Exception):
    """A warehouse problem a person can act on; the message says how."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the DuckDB file's write lock."""


class WarehouseMissingError(WarehouseError):
    """A read-only open of a warehouse file that does not exist yet."""


class WarehouseDiskFullError(WarehouseError):
    """The disk holding the warehouse is full; what was committed before stays readable."""


class WarehouseMemoryError(WarehouseError):
    """A writer needed more memory than NEWSFLOW_WAREHOUSE_MEMORY_LIMIT allows it."""


class WarehouseRunLockTimeout(WarehouseError):
    """Another ingest run has held the warehouse's run lock (`exclusive_run`) longer than a run waits."""
