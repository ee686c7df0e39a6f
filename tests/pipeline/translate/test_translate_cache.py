from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipeline.translate.translate_samples import SEED_004_SENTENCES, WRITTEN_SENTENCES

from pipeline.record import Document
from pipeline.translate.cache import MemoryTranslationCache, WarehouseTranslationCache
from pipeline.translate.engine import engine_for
from pipeline.translate.packages import install_package_file
from pipeline.translate.stage import translate_documents
from pipeline.warehouse import Warehouse


def article(path: str, *paragraphs: str) -> Document:
    return Document(source_path=path, text="\n\n".join(paragraphs), language="id", language_confidence=0.99)


DOCS = [
    article("a.txt", SEED_004_SENTENCES[0] + " " + SEED_004_SENTENCES[1], WRITTEN_SENTENCES[0]),
    article("b.txt", WRITTEN_SENTENCES[1], SEED_004_SENTENCES[2]),
]


@pytest.fixture(params=["memory", "warehouse"])
def cache(request, tmp_path: Path):
    if request.param == "memory":
        return MemoryTranslationCache()
    return WarehouseTranslationCache(lambda: Warehouse.open(tmp_path / "news.duckdb"))


def test_a_second_run_translates_nothing(cache, dictionary_packages: dict[str, Path]):
    model = install_package_file(dictionary_packages["id_en"])
    engine = engine_for(model)

    first = translate_documents(DOCS, cache=cache)
    after_first = engine.sentences_translated
    second = translate_documents(DOCS, cache=cache)

    assert after_first > 0
    assert engine.sentences_translated == after_first  # every sentence came from the cache
    assert second == first
    assert [d.translation_status for d in second] == ["translated", "translated"]
    assert cache.get(model.label, [SEED_004_SENTENCES[2]]) == {SEED_004_SENTENCES[2]: "28 Oct 2025, 21:45 WIB"}


def test_only_new_sentences_are_translated(cache, dictionary_packages: dict[str, Path]):
    engine = engine_for(install_package_file(dictionary_packages["id_en"]))
    translate_documents(DOCS[:1], cache=cache)
    before = engine.sentences_translated

    (result,) = translate_documents([article("c.txt", SEED_004_SENTENCES[0], "Harga tiket naik.")], cache=cache)

    assert engine.sentences_translated - before == 1
    assert result.text_en.split("\n\n")[1] == "Price ticket rose."


def test_the_cache_is_per_model(dictionary_packages: dict[str, Path]):
    cache = MemoryTranslationCache()
    cache.put("translate-id_en 1.0", [(SEED_004_SENTENCES[2], "stale translation")])
    install_package_file(dictionary_packages["id_en"])  # version 1.9

    (result,) = translate_documents([article("b.txt", SEED_004_SENTENCES[2])], cache=cache)

    assert result.text_en == "28 Oct 2025, 21:45 WIB"
    assert cache.get("translate-id_en 1.9", [SEED_004_SENTENCES[2]]) == {SEED_004_SENTENCES[2]: "28 Oct 2025, 21:45 WIB"}


class BrokenCache:
    def get(self, model_label, sentences):
        raise OSError("warehouse locked")

    def put(self, model_label, pairs):
        raise OSError("warehouse locked")


def test_a_cache_that_fails_costs_time_not_the_translation(dictionary_packages: dict[str, Path]):
    install_package_file(dictionary_packages["id_en"])
    assert translate_documents(DOCS, cache=BrokenCache()) == translate_documents(DOCS)


def test_the_warehouse_cache_keeps_the_first_translation(tmp_path: Path):
    cache = WarehouseTranslationCache(lambda: Warehouse.open(tmp_path / "news.duckdb"))
    cache.put("m 1", [("Halo.", "Hello."), ("Halo.", "Hi.")])
    cache.put("m 1", [("Halo.", "Hey.")])
    assert cache.get("m 1", ["Halo.", "Apa?"]) == {"Halo.": "Hello."}
    assert cache.get("m 2", ["Halo."]) == {}
    assert cache.get("m 1", []) == {}
