"""The query path: ad hoc SQL, and running and streaming statements (which statements a read-only
command may run is the front door's decision, a module built on this package)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipeline.warehouse.connection import Connection


@dataclass(frozen=True)
class QueryResult:
    statement: str
    columns: list[str]
    rows: list[tuple]


class Reading(Connection):
    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Run one SQL statement; returns (column names, rows). Empty for statements without a result."""
        with self._lock:
            result = self._db.execute(sql)
            if result.description is None:
                return [], []
            return [column[0] for column in result.description], result.fetchall()

    def run_statement(self, statement: duckdb.Statement | str) -> QueryResult:
        """Run one (checked) statement and fetch its result."""
        with self._lock:
            result = self._db.execute(statement)
            query = statement if isinstance(statement, str) else statement.query
            if result.description is None:
                return QueryResult(query, [], [])
            return QueryResult(query, [column[0] for column in result.description], result.fetchall())

    def record_batches(self, statement: duckdb.Statement | str, *, rows_per_batch: int = 100_000) -> pa.RecordBatchReader:
        """Stream one (checked) statement's result as Arrow batches, for writers that do not hold it all."""
        with self._lock:
            return self._db.execute(statement).fetch_record_batch(rows_per_batch)

    def relation_names(self) -> list[str]:
        """The warehouse's tables and views, sorted."""
        _, rows = self.query(
            """
            SELECT table_name FROM duckdb_tables()
            WHERE NOT internal AND database_name = current_database() AND schema_name = 'main'
            UNION
            SELECT view_name FROM duckdb_views()
            WHERE NOT internal AND database_name = current_database() AND schema_name = 'main'
            ORDER BY 1
            """
        )
        return [name for (name,) in rows]
