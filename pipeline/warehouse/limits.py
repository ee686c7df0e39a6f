"""How long opening the warehouse waits for a lock, and how much memory a connection may use:
the NEWSFLOW_* settings, read from the environment, with their defaults."""

from __future__ import annotations

import os
import re

from pipeline.warehouse.errors import WarehouseError

# A writer waits longer than a reader: a long analyst query must not make an ingest run fail.
_DEFAULT_LOCK_TIMEOUT_S = {"reader": 10.0, "writer": 60.0}
LOCK_TIMEOUT_ENV = "NEWSFLOW_LOCK_TIMEOUT_S"
# DuckDB keeps every block it reads cached up to its memory limit (80% of RAM by default), so a
# writer that scans the articles (search index refresh, duplicate clustering) grew with the
# warehouse. Capped, it evicts and spills to <warehouse>.tmp instead (bench.writer_memory_bench
# measures what one long article needs: bench/results/writer_memory.json).
WRITER_MEMORY_LIMIT_ENV = "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT"
DEFAULT_WRITER_MEMORY_LIMIT = "128MB"
# A read-only connection (`newsflow sql`, export, search, report, status) may use this much memory
# before DuckDB's own default of 80% of the machine: a query that needs more fails with a message
# naming the setting (sorts and joins spill to disk before that).
READER_MEMORY_LIMIT_ENV = "NEWSFLOW_SQL_MEMORY_LIMIT"
DEFAULT_READER_MEMORY_LIMIT = "2GB"

_SIZE_UNITS = {"B": 1, "KB": 10**3, "KIB": 2**10, "MB": 10**6, "MIB": 2**20, "GB": 10**9, "GIB": 2**30, "TB": 10**12, "TIB": 2**40}


def size_in_bytes(size: str) -> int:
    """A DuckDB size (such as 128MB, 1GiB: KB, MB, GB are powers of 1000, KiB, MiB, GiB of 1024) in bytes."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", size.strip()).groups()
    return int(float(number) * _SIZE_UNITS[unit.upper()])


def default_lock_timeout_s(*, read_only: bool) -> float:
    """How long opening the warehouse waits for another process's DuckDB lock.

    $NEWSFLOW_LOCK_TIMEOUT_S when set, else 10 s for a reader and 60 s for a writer.
    """
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "")
    try:
        return max(0.0, float(raw)) if raw.strip() else _DEFAULT_LOCK_TIMEOUT_S["reader" if read_only else "writer"]
    except ValueError:
        raise WarehouseError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds.") from None


def writer_memory_limit() -> str:
    """DuckDB's memory limit for a connection that writes: $NEWSFLOW_WAREHOUSE_MEMORY_LIMIT
    (a DuckDB size, such as 512MB or 2GB) when set, else 128MB."""
    return _memory_limit_setting(WRITER_MEMORY_LIMIT_ENV, DEFAULT_WRITER_MEMORY_LIMIT)


def reader_memory_limit() -> str:
    """DuckDB's memory limit for a read-only connection: $NEWSFLOW_SQL_MEMORY_LIMIT when set, else 2GB."""
    return _memory_limit_setting(READER_MEMORY_LIMIT_ENV, DEFAULT_READER_MEMORY_LIMIT)


def _memory_limit_setting(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)", raw, flags=re.IGNORECASE):
        raise WarehouseError(f"{name}={raw!r} is not a size DuckDB reads, such as 512MB or 2GB.")
    return raw
