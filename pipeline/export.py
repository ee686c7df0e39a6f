"""Export a warehouse table or a query result to a file: the one place newsflow writes a file a user names.

The warehouse is read on a read-only connection with the front door's settings and checks (see
`Warehouse.checked_queries`), so an export query reads nothing but the warehouse. The rows stream
as Arrow batches into DuckDB's `COPY` on a separate in-memory connection, whose only file is the
target. The file is written beside the target and renamed into place, so a failed export leaves
no half-written file and keeps an older one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.warehouse import Warehouse, WarehouseError

FORMATS = ("parquet", "csv", "json", "jsonl")
_FORMAT_BY_SUFFIX = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_COPY_OPTIONS = {
    "parquet": "FORMAT parquet",
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",  # one JSON array of row objects
    "jsonl": "FORMAT json",  # one row object per line
}
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


class ExportError(WarehouseError):
    """An export that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    file_format: str
    rows: int


def export_format(target: Path, requested: str | None = None) -> str:
    """The file format: `requested` if given, else from the target's suffix."""
    if requested is not None:
        if requested not in FORMATS:
            raise ExportError(f"unknown --format {requested!r}: use {', '.join(FORMATS)}")
        return requested
    try:
        return _FORMAT_BY_SUFFIX[target.suffix.lower()]
    except KeyError:
        raise ExportError(
            f"cannot tell the format of {target} from its suffix: name it .parquet, .csv, .json or .jsonl, "
            f"or pass --format ({', '.join(FORMATS)})"
        ) from None


def export(
    warehouse_path: Path,
    target: Path,
    *,
    table: str | None = None,
    query: str | None = None,
    file_format: str | None = None,
) -> ExportResult:
    """Write the table `table` (or the result of the one query `query`) to `target`."""
    if (table is None) == (query is None):
        raise ExportError("name a table (e.g. `newsflow export articles --to articles.parquet`) or pass --query, not both")
    target = Path(target).expanduser()
    _check_target(target, Path(warehouse_path))
    fmt = export_format(target, file_format)
    with Warehouse.open(warehouse_path, read_only=True) as store:
        if query is not None:
            statements = store.checked_queries(query)
            if len(statements) != 1:
                raise ExportError(f"--query takes one statement, not {len(statements)}: export each result to its own file")
            statement = statements[0]
        else:
            names = store.relation_names()
            if table not in names:
                raise ExportError(f"the warehouse has no table or view {table!r}; it has: {', '.join(names)}")
            statement = "SELECT * FROM " + '"' + table.replace('"', '""') + '"'
        rows = store.record_batches(statement)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.newsflow-export")
        try:
            with duckdb.connect(
                ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
            ) as writer:
                writer.register("export_rows", rows)
                (count,) = writer.execute(
                    f"COPY export_rows TO {_sql_string(str(partial))} ({_COPY_OPTIONS[fmt]})"
                ).fetchone()
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return ExportResult(path=target, file_format=fmt, rows=int(count))


def _check_target(target: Path, warehouse_path: Path) -> None:
    resolved = target.resolve()
    warehouse = warehouse_path.resolve()
    if resolved in (warehouse, Path(str(warehouse) + ".wal")):
        raise ExportError(f"{target} is the warehouse itself: export to another file")
    if resolved.is_dir():
        raise ExportError(f"{target} is a folder: give a file name, e.g. {target / 'articles.parquet'}")
    if resolved.is_file():
        with open(resolved, "rb") as handle:
            header = handle.read(12)
        if header[8:12] == _DUCKDB_MAGIC:
            raise ExportError(f"{target} is a DuckDB database: export does not overwrite databases; choose another file")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
