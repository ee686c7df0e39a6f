"""The translation queue and the sentence cache."""

from pipeline.warehouse import Warehouse
from tests.pipeline.warehouse.conftest import T0, english_doc, indonesian_doc, rows


def test_pending_translations_round_trip_and_update(warehouse: Warehouse):
    failed = indonesian_doc(path="seeds/c.txt", sha="sha-c", status="failed")
    warehouse.write_batch([english_doc(), indonesian_doc(), failed], run_id="r1", ingested_at=T0)

    pending = warehouse.pending_translations()
    assert [doc.source_path for doc in pending] == ["seeds/b.txt", "seeds/c.txt"]
    first = pending[0]
    assert first.content_sha256 == "sha-b"
    assert first.text == indonesian_doc().text
    assert first.language == "id"
    assert first.paragraph_languages == indonesian_doc().paragraph_languages
    assert first.translation_status == "missing_model"
    assert [doc.source_path for doc in warehouse.pending_translations(limit=1)] == ["seeds/b.txt"]

    translated = [
        doc.replace(text_en=f"English of {doc.source_path}", translation_status="translated", translation_model="m 1.0")
        for doc in pending
    ]
    assert warehouse.update_translations(translated) == 2
    assert warehouse.pending_translations() == []
    assert rows(warehouse, "SELECT source_path, text_en, translation_status, translation_model FROM articles ORDER BY 1") == [
        ("seeds/a.txt", "First para of seeds/a.txt.\n\nSecond para.", "not_needed", None),
        ("seeds/b.txt", "English of seeds/b.txt", "translated", "m 1.0"),
        ("seeds/c.txt", "English of seeds/c.txt", "translated", "m 1.0"),
    ]
    assert rows(warehouse, "SELECT language, articles, with_english, translated FROM articles_by_language ORDER BY 1") == [
        ("en", 1, 1, 0),
        ("id", 2, 2, 2),
    ]


def test_pending_translations_without_paragraph_languages(warehouse: Warehouse):
    warehouse.write_batch([indonesian_doc().replace(paragraph_languages=())], run_id="r1", ingested_at=T0)
    (pending,) = warehouse.pending_translations()
    assert pending.paragraph_languages == ()


def test_update_translations_ignores_unknown_paths(warehouse: Warehouse):
    unknown = indonesian_doc(path="seeds/unknown.txt").replace(translation_status="translated", text_en="x")
    assert warehouse.update_translations([unknown]) == 0
    assert warehouse.update_translations([]) == 0


def test_translation_cache_round_trip(warehouse: Warehouse):
    assert warehouse.cached_translations("m 1.0", []) == {}
    warehouse.store_translations("m 1.0", [("Halo.", "Hello."), ("Terima kasih.", "Thank you."), ("Halo.", "Hi.")])
    warehouse.store_translations("m 1.0", [("Halo.", "Greetings.")])  # already cached: kept as it was
    assert warehouse.cached_translations("m 1.0", ["Halo.", "Terima kasih.", "Belum ada."]) == {
        "Halo.": "Hello.",
        "Terima kasih.": "Thank you.",
    }
    assert warehouse.cached_translations("m 2.0", ["Halo."]) == {}
    assert rows(warehouse, "SELECT count(*) FROM translation_cache") == [(2,)]
