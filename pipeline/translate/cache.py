"""A translation cache keyed by (model label, source sentence), so no sentence is paid for twice.

The stage only sees the `TranslationCache` protocol. `MemoryTranslationCache` lives in a
process; `WarehouseTranslationCache` keeps the pairs in the warehouse's `translation_cache`
table, opening the warehouse only for each read and write (DuckDB allows one writer per file,
and translating a batch takes long enough that holding it open would block other writers).
`PrefetchedTranslationCache` is for a worker process that must not open the warehouse at all:
the process that owns the warehouse reads what a batch needs into it (`prefetch`), sends it
with the batch, and stores what the worker added once it comes back (`store_new`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

logger = logging.getLogger(__name__)


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


class PrefetchedTranslationCache:
    """A cache read beforehand: answers from `hits` (model label -> source -> translation) and
    keeps every pair put into it apart, for `new_pairs`. Plain data, so it pickles: it travels
    to a worker with a batch and back with the results."""

    def __init__(self, hits: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.hits: dict[str, dict[str, str]] = {label: dict(pairs) for label, pairs in (hits or {}).items()}
        self._new: dict[str, dict[str, str]] = {}

    def get(self, model_label: str, sentences: Sequence[str]) -> dict[str, str]:
        known = self.hits.get(model_label, {})
        new = self._new.get(model_label, {})
        found = {}
        for sentence in sentences:
            translation = known.get(sentence, new.get(sentence))
            if translation is not None:
                found[sentence] = translation
        return found

    def put(self, model_label: str, pairs: Sequence[tuple[str, str]]) -> None:
        known = self.hits.get(model_label, {})
        new = self._new.setdefault(model_label, {})
        for source, translation in pairs:
            if source not in known:
                new.setdefault(source, translation)

    def new_pairs(self) -> dict[str, list[tuple[str, str]]]:
        """model label -> the (source, translation) pairs put since it was built, in order."""
        return {label: list(pairs.items()) for label, pairs in self._new.items() if pairs}


def prefetch(cache: TranslationCache, needed: Mapping[str, Sequence[str]]) -> PrefetchedTranslationCache:
    """Read from `cache` the translations of `needed` (model label -> sentences, as
    `pipeline.translate.stage.sentences_to_translate` gives them). A label whose read fails is
    logged and left empty: its sentences are translated again, nothing else is lost."""
    hits: dict[str, dict[str, str]] = {}
    for label, sentences in needed.items():
        if not sentences:
            continue
        try:
            hits[label] = cache.get(label, sentences)
        except Exception:
            logger.exception("could not read the translation cache for %s; its sentences will be translated", label)
    return PrefetchedTranslationCache(hits)


def store_new(cache: TranslationCache, prefetched: PrefetchedTranslationCache) -> int:
    """Write the pairs added to `prefetched` (by a worker) into `cache`; return how many were
    written. A failed write is logged, not raised: it costs a later run time, not data."""
    stored = 0
    for label, pairs in prefetched.new_pairs().items():
        try:
            cache.put(label, pairs)
        except Exception:
            logger.exception("could not store %d translations by %s in the cache", len(pairs), label)
            continue
        stored += len(pairs)
    return stored
