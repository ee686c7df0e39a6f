"""The warehouse schema (warehouse/schema.sql, or the copy packaged in the wheel) and applying it
to a writer's connection, once per version of the file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

import pipeline
from pipeline.warehouse.connection import Connection


def schema_sql() -> str:
    """The warehouse schema: the checkout's warehouse/schema.sql, else the copy packaged in the wheel."""
    package_dir = Path(pipeline.__file__).resolve().parent
    checkout_schema = package_dir.parent / "warehouse" / "schema.sql"
    if checkout_schema.is_file():
        return checkout_schema.read_text(encoding="utf-8")
    return (package_dir / "schema.sql").read_text(encoding="utf-8")


class Schema(Connection):
    """A writer's connection comes with the schema applied."""

    def _prepare(self) -> None:
        super()._prepare()
        if not self.read_only:
            self._apply_schema()

    def _apply_schema(self) -> None:
        """schema.sql, unless this very schema was applied already: its DDL rewrites the catalog,
        which costs a checkpoint at every close, and a run opens the warehouse twice per batch."""
        schema = schema_sql()
        version = hashlib.sha256(schema.encode("utf-8")).hexdigest()
        try:
            if self._db.execute("SELECT version FROM schema_version").fetchone() == (version,):
                return
        except duckdb.CatalogException:
            pass
        with self._transaction() as db:
            db.execute(schema)
            db.execute("CREATE OR REPLACE TABLE schema_version AS SELECT ? AS version", [version])
