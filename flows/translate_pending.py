"""The `translate-pending` flow: translate stored articles once their model is installed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.record import Document
from pipeline.translate import WarehouseTranslationCache, translate_documents
from pipeline.warehouse import Warehouse


@dataclass
class PendingResult:
    pending: int = 0
    translated: int = 0
    still_missing: dict[str, int] = field(default_factory=dict)


@task(name="read pending", retries=3, retry_delay_seconds=2, cache_policy=NO_CACHE)
def read_pending(warehouse_path: Path) -> list[Document]:
    with Warehouse.open(warehouse_path) as warehouse:
        return warehouse.pending_translations()


@task(name="translate", retries=1, cache_policy=NO_CACHE)
def translate_batch(docs: list[Document], warehouse_path: Path) -> list[Document]:
    cache = WarehouseTranslationCache(lambda: Warehouse.open(warehouse_path))
    return translate_documents(docs, target="en", cache=cache)


@task(name="store translations", retries=3, retry_delay_seconds=2, cache_policy=NO_CACHE)
def store_translations(docs: list[Document], warehouse_path: Path) -> int:
    with Warehouse.open(warehouse_path) as warehouse:
        return warehouse.update_translations(docs)


@task(name="refresh duplicates and search index", retries=3, retry_delay_seconds=2, cache_policy=NO_CACHE)
def refresh_derived(warehouse_path: Path) -> list[str]:
    from flows.ingest_warehouse import refresh_derived_tables

    with Warehouse.open(warehouse_path) as warehouse:
        return refresh_derived_tables(warehouse)


@flow(name="translate-pending", validate_parameters=False)
def translate_pending(warehouse: str, batch_size: int = 256) -> PendingResult:
    warehouse_path = Path(warehouse)
    pending = read_pending(warehouse_path)
    result = PendingResult(pending=len(pending))
    for start in range(0, len(pending), batch_size):
        docs = translate_batch(pending[start : start + batch_size], warehouse_path)
        translated = [doc for doc in docs if doc.translation_status == "translated"]
        store_translations(translated, warehouse_path)
        result.translated += len(translated)
        for doc in docs:
            if doc.translation_status == "missing_model":
                result.still_missing[doc.language] = result.still_missing.get(doc.language, 0) + 1
    if result.translated:  # new English texts: new comparisons and new words to find
        refresh_derived(warehouse_path)
    return result
