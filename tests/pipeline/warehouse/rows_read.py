"""How many rows of the warehouse's tables the statements on a connection read, from DuckDB's own
profile of each statement: an index scan reads the rows it returns, a sequential scan the whole table."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa

_PROFILED = '{"OPERATOR_CARDINALITY": "true", "OPERATOR_TYPE": "true", "EXTRA_INFO": "true"}'


class _Fetched:
    """A statement's result, fetched whole so that its profile is written before the caller reads it."""

    def __init__(self, table: pa.Table):
        self._table = table
        self._rows = list(zip(*[column.to_pylist() for column in table.columns]))
        self.description = [(name,) for name in table.column_names]

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def fetch_arrow_table(self) -> pa.Table:
        return self._table


class RowsRead:
    """Stands in for a DuckDB connection (`warehouse._connection = RowsRead(...)`): every statement
    run through `execute` is profiled, and each scan of a stored table is kept in `scans` as
    (statement, table, scan type, rows it returned)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, profile: Path):
        self._connection, self._profile = connection, profile
        connection.execute("PRAGMA enable_profiling = 'json'")
        connection.execute(f"PRAGMA profiling_output = '{profile}'")
        connection.execute(f"SET custom_profiling_settings = '{_PROFILED}'")
        self.scans: list[tuple[str, str, str, int]] = []

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def execute(self, sql: str, parameters=None):
        result = self._connection.execute(sql) if parameters is None else self._connection.execute(sql, parameters)
        fetched = _Fetched(result.fetch_arrow_table()) if result.description is not None else None
        statement = " ".join(sql.split())
        self._note_scans(statement, json.loads(self._profile.read_text()))
        return fetched if fetched is not None else self

    def _note_scans(self, statement: str, node: dict) -> None:
        info = node.get("extra_info")
        if node.get("operator_type") == "TABLE_SCAN" and isinstance(info, dict) and info.get("Table"):
            self.scans.append((statement, info["Table"], info.get("Type"), int(node.get("operator_cardinality", 0))))
        for child in node.get("children", []):
            self._note_scans(statement, child)

    def rows(self, table_sizes: dict[str, int], besides: tuple[str, ...] = ()) -> int:
        """Rows read: what index scans returned, and the whole table for a sequential scan; not
        counting the statements that start with one of `besides`."""
        return sum(
            rows if kind == "Index Scan" else table_sizes.get(table, rows)
            for statement, table, kind, rows in self.scans
            if not statement.startswith(besides)
        )
