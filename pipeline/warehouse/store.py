"""The Warehouse: one open DuckDB file, with every part of the warehouse over one connection."""

from __future__ import annotations

from pipeline.warehouse.prune import Prune
from pipeline.warehouse.reading import Reading
from pipeline.warehouse.runs import Runs
from pipeline.warehouse.schema import Schema
from pipeline.warehouse.translations import Translations
from pipeline.warehouse.writes import Writes


class Warehouse(Schema, Runs, Writes, Prune, Translations, Reading):
    """One open DuckDB warehouse file. Use `Warehouse.open(...)`, ideally as a context manager.

    Calls are serialised with a lock, so Prefect tasks in threads may share one instance. Each
    base owns one part: `Connection` (opening, locks, transactions), `Schema`, `Runs`, `Writes`
    (batch writes and article identity), `Prune`, `Translations` (queue and cache), `Reading`
    (the query path).
    """
