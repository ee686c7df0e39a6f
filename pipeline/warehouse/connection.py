"""Opening the warehouse file: waiting for another process's DuckDB lock, the memory a
connection may use, the read-only lockdown (with the search extension loaded first), and what
DuckDB's errors (disk full, out of memory, an interrupt) mean for the person who ran the command.

`Connection` is the base of `Warehouse`: one open DuckDB connection, calls serialised with a
lock, transactions and Arrow tables registered for set-based SQL.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import duckdb
import pyarrow as pa

from pipeline.warehouse.errors import (
    WarehouseBusyError,
    WarehouseDiskFullError,
    WarehouseError,
    WarehouseMemoryError,
    WarehouseMissingError,
)
from pipeline.warehouse.limits import (
    LOCK_TIMEOUT_ENV,
    READER_MEMORY_LIMIT_ENV,
    WRITER_MEMORY_LIMIT_ENV,
    default_lock_timeout_s,
    reader_memory_limit,
    writer_memory_limit,
)

_LOCK_RETRY_INTERVAL_S = 0.1
_LOCK_MESSAGE = "Could not set lock on file"
_LOCK_HOLDER_PID = re.compile(r"\(PID (\d+)\)")

logger = logging.getLogger("pipeline.warehouse")  # one name for every waiting message (`newsflow` shows them)

_DISK_FULL = "No space left on device"

# A commit that runs out of memory is a TransactionException ("Failed to commit: could not allocate block ...").
_COMMIT_OUT_OF_MEMORY = re.compile(r"could not allocate|failed to (?:pin|allocate)")


def _duckdb_says(error: duckdb.Error) -> str:
    return str(error).split("\n", 1)[0].removeprefix("Out of Memory Error: ")


def _out_of_memory_message(error: duckdb.Error) -> str:
    duckdb_says = _duckdb_says(error)
    return (
        f"the warehouse ran out of the memory newsflow lets a writer use ({WRITER_MEMORY_LIMIT_ENV}={writer_memory_limit()}; "
        f"DuckDB: {duckdb_says}): what was stored before is intact; set {WRITER_MEMORY_LIMIT_ENV} higher "
        "(such as 1GB) and run again."
    )


def _query_out_of_memory_message(error: duckdb.OutOfMemoryException) -> str:
    duckdb_says = _duckdb_says(error)
    return (
        f"the query needed more memory than newsflow lets a query use ({READER_MEMORY_LIMIT_ENV}={reader_memory_limit()}; "
        f"DuckDB: {duckdb_says}): narrow it (a WHERE, fewer columns, a LIMIT), or set {READER_MEMORY_LIMIT_ENV} higher "
        "(such as 4GB) and run it again."
    )


def interrupt_behind(error: BaseException | None) -> BaseException | None:
    """What interrupted a DuckDB statement, when `error` is the interruption: a signal handler that
    raised (KeyboardInterrupt, SIGTERM's exception) while DuckDB's client polled for signals
    becomes RuntimeError('Query interrupted'), with what it raised only as its cause."""
    if isinstance(error, RuntimeError) and str(error) == "Query interrupted":
        cause = error.__cause__ or error.__context__
        if cause is not None and not isinstance(cause, (Exception, SystemExit, GeneratorExit)):
            return cause
    return None


def _disk_full_message(path: Path) -> str:
    return (
        f"the disk holding {path} is full (No space left on device): the batch being written was rolled back "
        "and everything stored before it is intact; free space there (or pass --warehouse to use another disk) "
        "and run again to load the rest."
    )


# Every read-only connection (`newsflow sql`, `newsflow export`): no file access beyond the
# warehouse's own files, no extension installs or loads, and no SQL can switch that back.
READ_ONLY_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}
# A writer's statements join a batch's keys (paths, ids, URLs, text fingerprints) to tables of the
# whole archive. DuckDB turns such a join into an ART index scan of the big side only when it
# pushes the batch's keys into that scan as a list, which by default it does for at most 50 keys:
# a batch of 100 read every row of articles and article_sources (10x the rows, 10x the time from
# 10k to 100k articles). Up to index_scan_max_count (2048) keys, the lookups read the batch's rows.
LOOKUP_KEYS_AT_ONCE = 2048
WRITER_LOOKUP_CONFIG = {"dynamic_or_filter_threshold": LOOKUP_KEYS_AT_ONCE}
# DuckDB's own value: for statements that read whole texts of a slice of articles (the search
# index's tokenising), an index scan of 1,000 keys ran a 128 MB writer out of memory at 100,000
# articles, where the scan it replaces tokenised all 100,000 in 29 s (`keys_looked_up_by_scan`).
SCAN_KEYS_AT_ONCE = 50


@contextmanager
def registered(connection: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[None]:
    """Arrow tables visible to the connection's SQL under the given names for the duration of the block."""
    for name, table in tables.items():
        connection.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            connection.unregister(name)


@contextmanager
def keys_looked_up_by_scan(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The statements within go back to DuckDB's default: a join reads its big side by a scan,
    not through an ART index, for more than SCAN_KEYS_AT_ONCE keys."""
    (before,) = connection.execute("SELECT current_setting('dynamic_or_filter_threshold')").fetchone()
    connection.execute(f"SET dynamic_or_filter_threshold = {SCAN_KEYS_AT_ONCE}")
    try:
        yield
    finally:
        connection.execute(f"SET dynamic_or_filter_threshold = {int(before)}")


def in_lookup_chunks(keys: list) -> Iterator[list]:
    """`keys` in pieces small enough for an index lookup each (LOOKUP_KEYS_AT_ONCE)."""
    for start in range(0, len(keys), LOOKUP_KEYS_AT_ONCE):
        yield keys[start : start + LOOKUP_KEYS_AT_ONCE]
# A read-only connection opens with extensions off but not yet locked: `_lock_read_only` loads the
# search extension from its wheel (its functions back the `search_articles` macro), then applies
# READ_ONLY_CONFIG, so nothing else can be loaded or changed afterwards.
_READ_ONLY_OPEN_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class ExtensionMissingError(WarehouseError):
    """The fts extension file for this DuckDB version is not installed."""


def fts_extension_path() -> Path:
    """The fts extension the duckdb-extension-fts wheel installs for this DuckDB version."""
    import duckdb_extension_fts

    path = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    if not path.is_file():
        raise ExtensionMissingError(
            f"the fts extension for DuckDB {duckdb.__version__} is not at {path}: install duckdb-extension-fts=={duckdb.__version__} "
            "(it is in requirements.lock)"
        )
    return path


def load_search_extension(connection: duckdb.DuckDBPyConnection) -> None:
    """Load fts from the wheel's file. Read-only connections must do this before their configuration is locked."""
    connection.execute("LOAD '" + str(fts_extension_path()).replace("'", "''") + "'")


def _lock_read_only(connection: duckdb.DuckDBPyConnection) -> None:
    load_search_extension(connection)
    for name, value in READ_ONLY_CONFIG.items():  # lock_configuration last
        # Connections to one file in one process share its settings: another may have locked them already.
        if connection.execute("SELECT current_setting(?)", [name]).fetchone()[0] != value:
            connection.execute(f"SET {name} = {str(value).lower()}")


def describe_process(pid: int | None, fallback: str = "") -> str:
    """'PID 123 (newsflow sql ...)': the command line from /proc when it can be read."""
    if pid is None:
        return "another process"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        command = fallback
    command = " ".join(command.split())
    if len(command) > 120:
        command = command[:119] + "…"
    return f"PID {pid} ({command})" if command else f"PID {pid}"


def _lock_holder(error_text: str) -> str:
    """The process named in DuckDB's lock error ("... is held in /usr/bin/python3 (PID 123) ...")."""
    match = _LOCK_HOLDER_PID.search(error_text)
    held_in = re.search(r"held in (.+?) \(PID", error_text)
    return describe_process(int(match.group(1)) if match else None, held_in.group(1) if held_in else "")


def _busy_message(path: Path, holder: str, waited_s: float) -> str:
    # A read-only query (newsflow sql, the duckdb shell) holds the lock as firmly as a writer does.
    return (
        f"The warehouse {path} is still in use by {holder} after waiting {waited_s:.0f} s: "
        f"let that query or run finish (or stop it) and run again, raise {LOCK_TIMEOUT_ENV} to wait longer, "
        f"or pass --warehouse to use another file."
    )


def _rollback_quietly(db: duckdb.DuckDBPyConnection) -> None:
    try:
        db.rollback()
    except duckdb.Error:  # a failed commit has already ended the transaction
        pass


def _connect_waiting_for_lock(
    path: Path, *, read_only: bool, lock_timeout_s: float, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Connect, retrying while another process holds the file's lock, up to `lock_timeout_s`.

    Logs one warning (logger `pipeline.warehouse`) when it starts to wait, naming the holder.
    """
    started = time.monotonic()
    waiting = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as error:
            if _DISK_FULL in str(error):
                raise WarehouseDiskFullError(_disk_full_message(path)) from None
            if _LOCK_MESSAGE not in str(error):
                raise
            holder = _lock_holder(str(error))
            if time.monotonic() - started >= lock_timeout_s:
                raise WarehouseBusyError(_busy_message(path, holder, time.monotonic() - started)) from None
            if not waiting:
                waiting = True
                logger.warning("Waiting up to %g s for %s to release the warehouse %s", lock_timeout_s, holder, path)
            time.sleep(_LOCK_RETRY_INTERVAL_S)


class Connection:
    """One open DuckDB warehouse file: the base of `Warehouse` (use `Warehouse.open(...)`, ideally
    as a context manager). Calls are serialised with a lock, so Prefect tasks in threads may share
    one instance.
    """

    def __init__(self, path: Path, connection: duckdb.DuckDBPyConnection, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._connection: duckdb.DuckDBPyConnection | None = connection
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls, path: Path, *, read_only: bool = False, lock_timeout_s: float | None = None, threads: int | None = None,
        memory_limit: str | None = None,
    ) -> Self:
        """`threads`: DuckDB's threads for this connection (default: one per core); `memory_limit`:
        DuckDB's memory (default: reader_memory_limit() or writer_memory_limit())."""
        path = Path(path)
        if lock_timeout_s is None:
            lock_timeout_s = default_lock_timeout_s(read_only=read_only)
        if read_only and not path.exists():
            raise WarehouseMissingError(
                f"There is no warehouse at {path} yet: run `newsflow ingest` first, "
                f"or pass --warehouse to point at an existing file."
            )
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        config = {**_READ_ONLY_OPEN_CONFIG, "memory_limit": reader_memory_limit()} if read_only else {"memory_limit": writer_memory_limit(), **WRITER_LOOKUP_CONFIG}
        if threads is not None:
            config = {**config, "threads": threads}
        if memory_limit is not None:
            config = {**config, "memory_limit": memory_limit}
        connection = _connect_waiting_for_lock(path, read_only=read_only, lock_timeout_s=lock_timeout_s, config=config)
        # From here to the return, anything raised (a Ctrl-C too) closes the connection: one left
        # open in a frame of the traceback keeps the database instance alive in this process, and
        # the next open of the file (the run's own last row) fails or waits for it.
        try:
            warehouse = cls(path, connection, read_only=read_only)
            warehouse._prepare()
        except duckdb.OutOfMemoryException as error:
            connection.close()
            raise WarehouseMemoryError(_out_of_memory_message(error)) from None
        except BaseException:
            connection.close()
            raise
        return warehouse

    def _prepare(self) -> None:
        """Make a connection just opened ready for use: a read-only one is locked down (`Schema`
        adds the schema for a writer)."""
        if self.read_only:
            _lock_read_only(self._db)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc is not None:
                self._interrupt_quietly()
        finally:
            self.close()
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise WarehouseMemoryError(_query_out_of_memory_message(exc) if self.read_only else _out_of_memory_message(exc)) from None
        interrupted_by = interrupt_behind(exc)
        if interrupted_by is not None:  # the Ctrl-C or SIGTERM itself, not an error to retry
            raise interrupted_by

    def _interrupt_quietly(self) -> None:
        """Stop the statement running, if one is: a statement cut short by a signal handler in
        the middle of DuckDB's call can keep running, and on a connection with locked settings
        (the front door's) `close` then waits until it ends (seen: minutes)."""
        connection = self._connection
        if connection is not None:
            try:
                connection.interrupt()
            except duckdb.Error:
                pass

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open DuckDB connection, for stages that run their own SQL (search, duplicates)."""
        return self._db

    @property
    def lock(self) -> threading.RLock:
        """Held around every call on the connection: hold it to run SQL of your own between them."""
        return self._lock

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            raise WarehouseError(f"The warehouse {self.path} is already closed.")
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            db = self._db
            db.begin()
            try:
                yield db
                db.commit()
            except duckdb.Error as error:
                _rollback_quietly(db)
                if _DISK_FULL in str(error):
                    raise WarehouseDiskFullError(_disk_full_message(self.path)) from None
                if isinstance(error, duckdb.TransactionException) and _COMMIT_OUT_OF_MEMORY.search(str(error)):
                    raise WarehouseMemoryError(_out_of_memory_message(error)) from None
                raise
            except BaseException:
                _rollback_quietly(db)
                raise

    @contextmanager
    def _registered(self, **tables: pa.Table) -> Iterator[None]:
        """Make Arrow tables visible to SQL under the given names for the duration of the block."""
        with self._lock, registered(self._db, **tables):
            yield
