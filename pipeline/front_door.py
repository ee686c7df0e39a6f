"""The read-only front door (`newsflow sql`, `newsflow export --query`): which statements run.

Read-only connections are opened with DuckDB's own locks (`pipeline.warehouse.connection.READ_ONLY_CONFIG`:
no file access beyond the warehouse's files, no extension installs or loads, configuration
locked). This check adds what those settings do not cover: DuckDB always lets a connection write
its own database file (`COPY ... TO '<the warehouse>'`), and logging to files is a table
function, not a setting. Only queries run, each refusal with a one-line reason; DuckDB's own
parser splits the statements and describes them (`extract_statements`, `json_serialize_sql`).

And how long a query may run: `within_deadline` stops it after NEWSFLOW_SQL_TIMEOUT_S, and at
once on Ctrl-C or SIGTERM (its memory is capped where the connection is opened:
`pipeline.warehouse.limits.reader_memory_limit`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import duckdb

from pipeline.warehouse import Warehouse, WarehouseError

T = TypeVar("T")
SQL_TIMEOUT_ENV = "NEWSFLOW_SQL_TIMEOUT_S"
# Five minutes: the reads the benchmarks measure take well under a second to seconds (a search,
# bench/results/search.txt), so a query running for minutes is almost always a runaway (a cross
# join), and it holds the file: an ingest run waits at most 60 s for it.
DEFAULT_SQL_TIMEOUT_S = 300.0


class QueryRefusedError(WarehouseError):
    """A statement the read-only front door does not run; the message says why and what to use."""


class QueryTimeoutError(WarehouseError):
    """A query ran longer than NEWSFLOW_SQL_TIMEOUT_S and was stopped."""


def sql_timeout_s() -> float:
    """How long one query (a statement of `newsflow sql`, an export, a search) may run:
    $NEWSFLOW_SQL_TIMEOUT_S seconds when set, else 300."""
    raw = os.environ.get(SQL_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_SQL_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise WarehouseError(f"{SQL_TIMEOUT_ENV}={raw!r} is not a number of seconds above 0, such as 300.")
    return seconds


class QueryDeadline:
    """The time one query may take (`timeout_s`, default NEWSFLOW_SQL_TIMEOUT_S), counted from
    its creation, for one or more steps run with `run`."""

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = sql_timeout_s() if timeout_s is None else timeout_s
        self.ends_at = time.monotonic() + self.timeout_s

    def run(self, work: Callable[[], T], *connections: duckdb.DuckDBPyConnection) -> T:
        """`work()`, stopped at the deadline with QueryTimeoutError, and at once when this
        thread is interrupted (Ctrl-C, SIGTERM): either way, every one of `connections` is
        interrupted (`connection.interrupt()`), which ends the statement running on it.

        The work runs in a thread of its own while this one waits: a Python signal handler
        runs in the main thread only between its bytecodes, and DuckDB's client lets it run
        only between the tasks of a statement, never while it converts a result. The work's
        thread is waited for either way, so that nothing still runs on a connection when it
        is closed."""
        outcome: dict[str, object] = {}
        finished = threading.Event()

        def run() -> None:
            try:
                outcome["result"] = work()
            except BaseException as error:
                outcome["error"] = error
            finally:
                finished.set()

        def interrupt() -> None:
            for connection in connections:
                connection.interrupt()

        threading.Thread(target=run, name="newsflow-query", daemon=True).start()
        try:
            while not finished.wait(min(1.0, max(0.0, self.ends_at - time.monotonic()))):
                if time.monotonic() >= self.ends_at:
                    interrupt()
                    finished.wait()
                    if isinstance(outcome.get("error"), duckdb.InterruptException):
                        raise QueryTimeoutError(_timeout_message(self.timeout_s))
        except BaseException:
            if not finished.is_set():
                interrupt()
                finished.wait()
            raise
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]


def within_deadline(store: Warehouse, work: Callable[[], T], *, timeout_s: float | None = None) -> T:
    """`work()` (reads on `store`) under a QueryDeadline of its own."""
    return QueryDeadline(timeout_s).run(work, store.connection)


def _timeout_message(timeout_s: float) -> str:
    return (
        f"the query ran for {timeout_s:g} s, the longest newsflow lets a query run ({SQL_TIMEOUT_ENV}={timeout_s:g}), "
        f"and was stopped: narrow it (a WHERE, a LIMIT), or set {SQL_TIMEOUT_ENV} higher (such as {max(600, 2 * timeout_s):g}) "
        "and run it again."
    )

_NOT_A_QUERY = (
    "{kind} is not a query, and the front door only runs queries "
    "(SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)"
)
_REFUSED_STATEMENT_REASONS = {
    "COPY": "COPY reads or writes files; write a table or a query result with `newsflow export`",
    "EXPORT": "EXPORT writes files; write a table or a query result with `newsflow export`",
    "ATTACH": "ATTACH opens another database, and the front door reads only the warehouse",
    "DETACH": "DETACH changes the open databases, and the front door reads only the warehouse",
    "LOAD": "INSTALL and LOAD fetch or load extensions, which the front door does not allow",
    "SET": "SET, RESET and USE change settings, which are locked on the front door",
    "VARIABLE_SET": "SET changes settings, which are locked on the front door",
    "PRAGMA": "this PRAGMA changes settings, which are locked on the front door",
    "CALL": "CALL and CHECKPOINT are not run; to call a table function, write SELECT * FROM function(...)",
}
# Table functions that read files by name: DuckDB refuses them outside the warehouse's own files,
# refusing them by name gives the one-line reason (and covers the warehouse file itself).
_FILE_READING_FUNCTIONS = frozenset({
    "read_blob", "read_text", "read_csv", "read_csv_auto", "read_json", "read_json_auto",
    "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto",
    "read_ndjson_objects", "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema",
    "parquet_file_metadata", "parquet_kv_metadata", "parquet_bloom_probe", "sniff_csv", "glob",
})
# Functions with effects beyond reading: logging to files, checkpoints, and running SQL from a
# string (which would hide any of these from the check).
_SIDE_EFFECT_FUNCTIONS = frozenset({
    "enable_logging", "disable_logging", "truncate_duckdb_logs", "write_log",
    "checkpoint", "force_checkpoint", "query", "json_execute_serialized_sql",
})


def split_statements(sql: str) -> list[duckdb.Statement]:
    """DuckDB's own split of `sql` into statements (comments and string literals handled by its parser)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise WarehouseError(str(error).strip()) from None
    if not statements:
        raise WarehouseError("There is no SQL statement in the input (only comments or blanks).")
    return statements


def _kind_name(statement: duckdb.Statement) -> str:
    return statement.type.name.replace("_", " ")


def _excerpt(query: str, limit: int = 60) -> str:
    flat = " ".join(_strip_leading_comments(query).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _strip_leading_comments(query: str) -> str:
    tokens = duckdb.tokenize(query)
    return query[tokens[0][0]:] if tokens else query


def _explained_query(query: str) -> str | None:
    """The statement an EXPLAIN [ANALYZE] [(options)] statement explains, or None."""
    tokens = duckdb.tokenize(query)
    words = [(position, query[position:].split(None, 1)[0].lower()) for position, _ in tokens[:2]] if tokens else []
    if not words or not words[0][1].startswith("explain"):
        return None
    index = 1
    if len(words) > 1 and words[1][1].startswith("analyze"):
        index = 2
    if index >= len(tokens):
        return None
    position = tokens[index][0]
    if query[position] == "(":  # EXPLAIN (FORMAT json) ...
        depth = 0
        for token_position, _ in tokens[index:]:
            char = query[token_position]
            depth += (char == "(") - (char == ")")
            if depth == 0:
                following = [p for p, _ in tokens if p > token_position]
                return query[following[0]:] if following else None
        return None
    return query[position:]


def _table_names(tree) -> set[str]:
    """Every table a serialized (json_serialize_sql) statement reads by name."""
    return {
        node["table_name"]
        for node in _tree_nodes(tree)
        if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str)
    }


def _function_names(tree) -> set[str]:
    """Every function a serialized (json_serialize_sql) statement calls, lower-cased."""
    return {node["function_name"].lower() for node in _tree_nodes(tree) if isinstance(node.get("function_name"), str)}


def _tree_nodes(tree) -> Iterator[dict]:
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            yield node
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def checked_queries(store: Warehouse, sql: str) -> list[duckdb.Statement]:
    """The statements of `sql`, in order, once every one of them is a query the front door runs;
    QueryRefusedError names the first that is not. Run them with `store.run_statement` or
    `store.record_batches`."""
    statements = split_statements(sql)
    with store.lock:
        for number, statement in enumerate(statements, 1):
            reason = refusal(store.connection, statement)
            if reason:
                excerpt = _excerpt(statement.query) or _kind_name(statement)
                where = f"statement {number} ({excerpt})" if len(statements) > 1 else excerpt
                raise QueryRefusedError(f"refused {where}: {reason}.")
    return statements


def refusal(db: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    """Why the front door does not run `statement`, or None when it does."""
    kind = statement.type
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _explained_query(statement.query)
        if inner is None:
            return "only EXPLAIN of a query is run"
        statements = split_statements(inner)
        return "only EXPLAIN of a query is run" if len(statements) != 1 else refusal(db, statements[0])
    if not statement.query.strip():  # what DuckDB generates for PIVOT without an IN list
        return "PIVOT without an explicit IN (...) list creates a type; list the values: PIVOT t ON c IN ('a', 'b') USING ..."
    if kind != duckdb.StatementType.SELECT:
        return _REFUSED_STATEMENT_REASONS.get(kind.name, _NOT_A_QUERY.format(kind=kind.name))
    (serialized,) = db.execute("SELECT json_serialize_sql(?)", [statement.query]).fetchone()
    tree = json.loads(serialized)
    if tree.get("error"):
        return f"it could not be checked ({tree.get('error_message')}); write it as a plain SELECT"
    for table in sorted(_table_names(tree)):
        if any(mark in table for mark in "/\\.:"):  # DuckDB reads a file named as a table
            return f"the table name {table!r} is a file name, and the front door reads only the warehouse"
    for name in sorted(_function_names(tree)):
        if name in _FILE_READING_FUNCTIONS:
            return f"{name}() reads files, and the front door reads only the warehouse"
        if name in _SIDE_EFFECT_FUNCTIONS:
            return f"{name}() changes the database or writes outside it"
    return None
