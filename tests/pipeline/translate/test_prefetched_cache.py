"""The cache a worker gets: read by the warehouse's process before the translate task, written
by it afterwards; the worker only sees a `PrefetchedTranslationCache` that travels pickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from tests.pipeline.translate.translate_samples import MS_SENTENCE, SEED_004_SENTENCES, WRITTEN_SENTENCES

from pipeline.record import Document
from pipeline.translate.cache import (
    MemoryTranslationCache,
    PrefetchedTranslationCache,
    WarehouseTranslationCache,
    prefetch,
    store_new,
)
from pipeline.translate.engine import engine_for
from pipeline.translate.installed_model import InstalledModel
from pipeline.translate.packages import install_package_file
from pipeline.translate.stage import sentences_to_translate, translate_documents
from pipeline.warehouse import Warehouse

ID_LABEL = "translate-id_en 1.9"
MS_LABEL = "translate-ms_id 1.0 + translate-id_en 1.9"


def article(path: str, language: str, *paragraphs: str) -> Document:
    return Document(source_path=path, text="\n\n".join(paragraphs), language=language, language_confidence=0.99)


DOCS = [
    article("a.txt", "id", SEED_004_SENTENCES[0] + " " + SEED_004_SENTENCES[1], WRITTEN_SENTENCES[0]),
    article("b.txt", "ms", MS_SENTENCE),
    article("c.txt", "en", "The president met reporters."),
    article("d.txt", "fr", "Le président a rencontré les journalistes."),
    article("e.txt", "id", WRITTEN_SENTENCES[0], SEED_004_SENTENCES[2]),  # one sentence repeats a.txt's
]


@pytest.fixture
def id_and_pivot(dictionary_packages: dict[str, Path]) -> list[InstalledModel]:
    return [install_package_file(dictionary_packages[name]) for name in ("id_en", "ms_id")]


@pytest.fixture(params=["memory", "warehouse"])
def store(request, tmp_path: Path):
    if request.param == "memory":
        return MemoryTranslationCache()
    return WarehouseTranslationCache(lambda: Warehouse.open(tmp_path / "news.duckdb"))


def on_a_worker(docs: list[Document], prefetched: PrefetchedTranslationCache):
    """What the translate task does, with the pickling a Dask worker puts the cache through."""
    worker_cache = pickle.loads(pickle.dumps(prefetched))
    translated = translate_documents(docs, cache=worker_cache)
    return translated, pickle.loads(pickle.dumps(worker_cache))


def test_a_second_run_through_a_prefetched_cache_translates_nothing(store, id_and_pivot):
    engines = [engine_for(model) for model in id_and_pivot]

    first, returned = on_a_worker(DOCS, prefetch(store, sentences_to_translate(DOCS)))
    stored = store_new(store, returned)
    work_after_first = [(e.calls, e.sentences_translated) for e in engines]

    second, returned_again = on_a_worker(DOCS, prefetch(store, sentences_to_translate(DOCS)))

    assert stored == sum(len(pairs) for pairs in returned.new_pairs().values()) > 0
    assert set(returned.new_pairs()) == {ID_LABEL, MS_LABEL}
    assert all(sentences_translated > 0 for _, sentences_translated in work_after_first)
    assert [(e.calls, e.sentences_translated) for e in engines] == work_after_first  # the engines did nothing
    assert returned_again.new_pairs() == {}
    assert store_new(store, returned_again) == 0
    assert second == first
    assert [d.text_en for d in second] == [d.text_en for d in translate_documents(DOCS)]  # same as without a cache
    assert [d.translation_status for d in second] == ["translated", "translated", "not_needed", "missing_model", "translated"]
    assert second[1].text_en == "Government Russia met with President Korea North yesterday."


def test_only_sentences_the_store_lacks_come_back_as_new(id_and_pivot):
    store = MemoryTranslationCache()
    _, returned = on_a_worker(DOCS[:1], prefetch(store, sentences_to_translate(DOCS[:1])))
    store_new(store, returned)

    _, returned = on_a_worker(DOCS[4:], prefetch(store, sentences_to_translate(DOCS[4:])))

    assert returned.new_pairs() == {ID_LABEL: [(SEED_004_SENTENCES[2], "28 Oct 2025, 21:45 WIB")]}


def test_a_prefetched_cache_survives_pickling_with_its_new_pairs():
    cache = PrefetchedTranslationCache({"m 1": {"Halo.": "Hello."}})
    cache.put("m 1", [("Halo.", "Hi."), ("Apa?", "What?")])  # a sentence it already had is not new
    cache.put("m 2", [("Halo.", "Hey."), ("Halo.", "Hiya.")])

    copy = pickle.loads(pickle.dumps(cache))

    assert copy.new_pairs() == cache.new_pairs() == {"m 1": [("Apa?", "What?")], "m 2": [("Halo.", "Hey.")]}
    assert copy.get("m 1", ["Halo.", "Apa?", "Nah."]) == {"Halo.": "Hello.", "Apa?": "What?"}
    assert copy.get("m 2", ["Halo."]) == {"Halo.": "Hey."}
    assert copy.get("m 3", ["Halo."]) == {}


class RecordingCache(MemoryTranslationCache):
    def __init__(self) -> None:
        super().__init__()
        self.lookups: dict[str, list[str]] = {}

    def get(self, model_label, sentences):
        assert model_label not in self.lookups  # one lookup per route when nothing fails
        self.lookups[model_label] = list(sentences)
        return super().get(model_label, sentences)


def test_sentences_to_translate_are_what_the_stage_looks_up(id_and_pivot):
    cache = RecordingCache()
    results = translate_documents(DOCS, cache=cache)

    needed = sentences_to_translate(DOCS)

    assert needed == cache.lookups
    assert set(needed) == {ID_LABEL, MS_LABEL} == {d.translation_model for d in results} - {None}
    assert needed[MS_LABEL] == [MS_SENTENCE]
    assert needed[ID_LABEL].count(WRITTEN_SENTENCES[0]) == 1  # repeated across documents, looked up once
    assert sentences_to_translate(DOCS, models=[]) == {}
    assert sentences_to_translate(DOCS[2:4]) == {}  # English needs nothing; French has no model


def test_sentences_to_translate_loads_no_model(tmp_path: Path):
    nowhere = InstalledModel("id", "en", "translate-id_en", "1.9", tmp_path / "not-installed")
    needed = sentences_to_translate([article("e.txt", "id", "Harga tiket naik. Baca selengkapnya.")], models=[nowhere])
    assert needed == {ID_LABEL: ["Harga tiket naik.", "Baca selengkapnya."]}


class BrokenCache:
    def get(self, model_label, sentences):
        raise OSError("warehouse locked")

    def put(self, model_label, pairs):
        raise OSError("warehouse locked")


def test_a_store_that_fails_costs_time_not_the_translation(id_and_pivot):
    translated, returned = on_a_worker(DOCS, prefetch(BrokenCache(), sentences_to_translate(DOCS)))
    assert translated == translate_documents(DOCS)
    assert returned.new_pairs() and store_new(BrokenCache(), returned) == 0
