"""A translation cache keyed by (model label, source sentence), so no sentence is paid for twice.

The stage only sees the `TranslationCache` protocol. `MemoryTranslationCache` lives in a
process; `WarehouseTranslationCache` keeps the pairs in the warehouse's `translation_cache`
table, opening the warehouse only for each read and write (DuckDB allows one writer per file,
and translating a batch takes long enough that holding it open would block other writers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol


class TranslationCache(Protocol):
    def get(self, model_label: str, sentences: Sequence[str]) -> dict[str, str]:
        """source sentence -> cached translation, for the sentences the cache holds."""
        ...

    def put(self, model_label: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Remember (source sentence, translation) pairs made by `model_label`."""
        ...


class MemoryTranslationCache:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get(self, model_label: str, sentences: Sequence[str]) -> dict[str, str]:
        found = {}
        for sentence in sentences:
            translation = self.entries.get((model_label, sentence))
            if translation is not None:
                found[sentence] = translation
        return found

    def put(self, model_label: str, pairs: Sequence[tuple[str, str]]) -> None:
        for source, translation in pairs:
            self.entries.setdefault((model_label, source), translation)


class _TranslationStore(Protocol):
    """What `pipeline.warehouse.Warehouse` offers for the cache."""

    def cached_translations(self, model: str, sentences: Sequence[str]) -> dict[str, str]: ...

    def store_translations(self, model: str, pairs: Sequence[tuple[str, str]]) -> None: ...


class WarehouseTranslationCache:
    """The cache in the warehouse: `WarehouseTranslationCache(lambda: Warehouse.open(path))`."""

    def __init__(self, open_store: Callable[[], AbstractContextManager[_TranslationStore]]):
        self._open_store = open_store

    def get(self, model_label: str, sentences: Sequence[str]) -> dict[str, str]:
        if not sentences:
            return {}
        with self._open_store() as store:
            return store.cached_translations(model_label, sentences)

    def put(self, model_label: str, pairs: Sequence[tuple[str, str]]) -> None:
        if not pairs:
            return
        with self._open_store() as store:
            store.store_translations(model_label, pairs)
