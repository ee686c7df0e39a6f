"""Batch writes: documents to rows, unchanged content writing nothing, rejections, the writer's memory limit."""

from datetime import datetime, timedelta, timezone

from pipeline.record import Document, TranslationFailure
from pipeline.warehouse import BatchCounts, Warehouse
from pipeline.warehouse.documents import article_id_for
from tests.pipeline.warehouse.conftest import T0, T1, english_doc, indonesian_doc, rejected_doc, rows


def test_insert_maps_document_fields_to_columns(warehouse: Warehouse):
    counts = warehouse.write_batch([english_doc(), indonesian_doc()], run_id="r1", ingested_at=T0)
    assert counts == BatchCounts(inserted=2, updated=0, unchanged=0, rejected=0)
    columns, result = warehouse.query("SELECT * FROM articles WHERE source_path = 'seeds/a.txt'")
    stored = dict(zip(columns, result[0]))
    assert stored == {
        "article_id": article_id_for("seeds/a.txt"),
        "source_path": "seeds/a.txt",
        "source_url": "https://example.com/seeds/a.txt",
        "content_sha256": "sha-a",
        "title": "A title",
        "author": "Ann Author",
        "published_at": datetime(2024, 4, 30, 8, 0),
        "site_name": "Example News",
        "language": "en",
        "language_confidence": 0.99,
        "text": "First para of seeds/a.txt.\n\nSecond para.",
        "text_en": "First para of seeds/a.txt.\n\nSecond para.",
        "translation_status": "not_needed",
        "translation_model": None,
        "ingested_at": T0,
        "run_id": "r1",
        "title_en": "A title",  # English: the title itself
    }
    assert rows(warehouse, "SELECT text_en, translation_status FROM articles WHERE source_path = 'seeds/b.txt'") == [
        (None, "missing_model")
    ]


def test_rewriting_same_documents_is_unchanged_and_writes_nothing(warehouse: Warehouse):
    docs = [english_doc(), indonesian_doc()]
    warehouse.write_batch(docs, run_id="r1", ingested_at=T0)
    counts = warehouse.write_batch(docs, run_id="r2", ingested_at=T1)
    assert counts == BatchCounts(inserted=0, updated=0, unchanged=2, rejected=0)
    assert rows(warehouse, "SELECT DISTINCT run_id, ingested_at FROM articles") == [("r1", T0)]
    assert rows(warehouse, "SELECT count(*) FROM articles") == [(2,)]
    assert rows(warehouse, "SELECT count(*) FROM paragraphs") == [(4,)]


def test_changed_content_updates_the_same_row(warehouse: Warehouse):
    warehouse.write_batch([english_doc(text="One.\n\nTwo.\n\nThree.")], run_id="r1", ingested_at=T0)
    changed = english_doc(sha="sha-a2", text="Only one now.")
    counts = warehouse.write_batch([changed], run_id="r2", ingested_at=T1)
    assert counts == BatchCounts(inserted=0, updated=1, unchanged=0, rejected=0)
    assert rows(warehouse, "SELECT article_id, content_sha256, text, run_id, ingested_at FROM articles") == [
        (article_id_for("seeds/a.txt"), "sha-a2", "Only one now.", "r2", T1)
    ]
    assert rows(warehouse, "SELECT position, text FROM paragraphs ORDER BY position") == [(0, "Only one now.")]


def test_new_translation_of_same_content_counts_as_update(warehouse: Warehouse):
    warehouse.write_batch([indonesian_doc()], run_id="r1", ingested_at=T0)
    translated = indonesian_doc().replace(
        text_en="The president opened a new bridge.\n\nThe bridge cost a lot.",
        translation_status="translated",
        translation_model="translate-id_en 1.9",
    )
    counts = warehouse.write_batch([translated], run_id="r2", ingested_at=T1)
    assert counts == BatchCounts(updated=1)
    assert rows(warehouse, "SELECT translation_status, translation_model FROM articles") == [
        ("translated", "translate-id_en 1.9")
    ]


def test_last_document_for_a_path_wins_within_a_batch(warehouse: Warehouse):
    counts = warehouse.write_batch(
        [english_doc(sha="old", text="Old."), english_doc(sha="new", text="New.")], run_id="r1", ingested_at=T0
    )
    assert counts == BatchCounts(inserted=1)
    assert rows(warehouse, "SELECT content_sha256, text FROM articles") == [("new", "New.")]


def test_paragraphs_keep_their_languages_and_default_to_und(warehouse: Warehouse):
    no_languages = english_doc(path="seeds/c.txt", sha="sha-c").replace(paragraph_languages=())
    warehouse.write_batch([indonesian_doc(), no_languages], run_id="r1", ingested_at=T0)
    assert rows(
        warehouse,
        f"SELECT position, text, language, language_confidence FROM paragraphs "
        f"WHERE article_id = '{article_id_for('seeds/b.txt')}' ORDER BY position",
    ) == [
        (0, "Presiden meresmikan jembatan baru di seeds/b.txt.", "id", 0.95),
        (1, "The bridge cost a lot.", "en", 0.9),
    ]
    assert rows(
        warehouse,
        f"SELECT position, language, language_confidence FROM paragraphs "
        f"WHERE article_id = '{article_id_for('seeds/c.txt')}' ORDER BY position",
    ) == [(0, "und", None), (1, "und", None)]
    assert rows(warehouse, "SELECT source_path, paragraph_languages FROM mixed_language_articles") == [
        ("seeds/b.txt", ["en", "id"])
    ]


def test_missing_language_and_untranslated_english_get_contract_values(warehouse: Warehouse):
    bare = Document(source_path="seeds/bare.txt", content_sha256="sha-bare", text="Just text.")
    english = Document(source_path="seeds/en.txt", content_sha256="sha-en", text="Hello.", language="en")
    warehouse.write_batch([bare, english], run_id="r1", ingested_at=T0)
    assert rows(warehouse, "SELECT source_path, language, text_en, translation_status FROM articles ORDER BY 1") == [
        ("seeds/bare.txt", "und", None, "missing_model"),
        ("seeds/en.txt", "en", "Hello.", "not_needed"),
    ]


def test_aware_times_are_stored_as_utc(warehouse: Warehouse):
    jakarta = timezone(timedelta(hours=7))
    warehouse.write_batch([english_doc()], run_id="r1", ingested_at=datetime(2024, 5, 1, 19, 0, tzinfo=jakarta))
    assert rows(warehouse, "SELECT ingested_at FROM articles") == [(datetime(2024, 5, 1, 12, 0),)]


def test_empty_batch_writes_nothing(warehouse: Warehouse):
    assert warehouse.write_batch([], run_id="r1", ingested_at=T0) == BatchCounts()
    assert rows(warehouse, "SELECT count(*) FROM articles") == [(0,)]


def test_known_fingerprints_returns_only_stored_paths(warehouse: Warehouse):
    assert warehouse.known_fingerprints([]) == {}
    warehouse.write_batch([english_doc(), rejected_doc()], run_id="r1", ingested_at=T0)
    assert warehouse.known_fingerprints(["seeds/a.txt", "seeds/empty.txt", "seeds/new.txt", "seeds/a.txt"]) == {
        "seeds/a.txt": "sha-a"
    }


def test_two_thousand_documents_in_one_batch(warehouse: Warehouse):
    docs = [english_doc(path=f"seeds/{i:04d}.txt", sha=f"sha-{i}", text=f"Para {i}.\n\nMore {i}.") for i in range(2000)]
    assert warehouse.write_batch(docs, run_id="r1", ingested_at=T0) == BatchCounts(inserted=2000)
    assert rows(warehouse, "SELECT count(*), count(DISTINCT article_id) FROM articles") == [(2000, 2000)]
    assert rows(warehouse, "SELECT count(*) FROM paragraphs") == [(4000,)]
    changed = [doc.replace(content_sha256=doc.content_sha256 + "-v2") for doc in docs[:500]]
    counts = warehouse.write_batch(changed + docs[500:], run_id="r2", ingested_at=T1)
    assert counts == BatchCounts(updated=500, unchanged=1500)
    assert rows(warehouse, "SELECT run_id, count(*) FROM articles GROUP BY 1 ORDER BY 1") == [("r1", 1500), ("r2", 500)]


def test_rejected_documents_are_recorded_once(warehouse: Warehouse):
    docs = [rejected_doc(), rejected_doc(path="seeds/blob.bin", sha="sha-bin"), english_doc()]
    assert warehouse.write_batch(docs, run_id="r1", ingested_at=T0) == BatchCounts(inserted=1, rejected=2)
    assert warehouse.write_batch(docs, run_id="r2", ingested_at=T1) == BatchCounts(unchanged=1, rejected=2)
    assert rows(warehouse, "SELECT path, sha256, reason, detail, run_id, rejected_at FROM rejected_files ORDER BY 1") == [
        ("seeds/blob.bin", "sha-bin", "empty_file", "The file is empty; add text to it.", "r1", T0),
        ("seeds/empty.txt", "sha-empty", "empty_file", "The file is empty; add text to it.", "r1", T0),
    ]
    assert rows(warehouse, "SELECT count(*) FROM articles") == [(1,)]


def test_rejection_of_new_content_or_without_sha_is_recorded(warehouse: Warehouse):
    no_sha = Document(source_path="seeds/unreadable.txt").reject("unreadable", "The file could not be read.")
    warehouse.write_batch([rejected_doc(), no_sha], run_id="r1", ingested_at=T0)
    warehouse.write_batch([rejected_doc(sha="sha-empty-2"), no_sha], run_id="r2", ingested_at=T1)
    assert rows(warehouse, "SELECT path, sha256, run_id FROM rejected_files ORDER BY path, run_id") == [
        ("seeds/empty.txt", "sha-empty", "r1"),
        ("seeds/empty.txt", "sha-empty-2", "r2"),
        ("seeds/unreadable.txt", None, "r1"),
    ]


def test_document_without_text_is_rejected_not_lost(warehouse: Warehouse):
    textless = Document(source_path="seeds/odd.txt", content_sha256="sha-odd")
    assert warehouse.write_batch([textless], run_id="r1", ingested_at=T0) == BatchCounts(rejected=1)
    assert rows(warehouse, "SELECT path, reason FROM rejected_files") == [("seeds/odd.txt", "missing_text")]
    assert rows(warehouse, "SELECT count(*) FROM articles") == [(0,)]


def test_a_failed_translation_is_stored_with_its_reason(warehouse: Warehouse):
    failure = TranslationFailure(model="translate-id_en 1.9", reason="translate-id_en 1.9 failed: RuntimeError: boom")
    failed = indonesian_doc(status="failed").replace(translation_failure=failure)
    warehouse.write_batch([failed, english_doc()], run_id="r1", ingested_at=T0)

    assert rows(warehouse, "SELECT a.source_path, f.model, f.reason, f.run_id, f.failed_at FROM translation_failures f JOIN articles a USING (article_id)") == [
        ("seeds/b.txt", "translate-id_en 1.9", "translate-id_en 1.9 failed: RuntimeError: boom", "r1", T0)
    ]
    warehouse.write_batch([failed], run_id="r2", ingested_at=T1)  # unchanged: not recorded twice
    assert rows(warehouse, "SELECT count(*) FROM translation_failures") == [(1,)]


def test_batch_counts_add_up():
    assert BatchCounts(1, 2, 3, 4) + BatchCounts(10, 20, 30, 40) == BatchCounts(11, 22, 33, 44)


def _long_english_article(source_path: str, megabytes: float, sha: str, ending: str = "") -> Document:
    """A text of short lines as the extract stage makes it (paragraphs of 100 characters and more), in English."""
    from bench.large_file_bench import short_lines_text
    from pipeline.extract import clean_text_dump

    text = clean_text_dump(short_lines_text(int(megabytes * 1024 * 1024))).text + ending
    return Document(source_path=source_path, content_sha256=sha, text=text, title="Short lines", language="en", language_confidence=1.0)


def test_a_changed_long_article_is_replaced_within_the_writers_memory_limit(tmp_path, monkeypatch):
    """DuckDB's UPDATE holds the old text beside the new one: a changed 20 MB file could not be
    stored under the default 128 MB, run after run. Its article is replaced instead."""
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "48MB")  # 7 MB of text, as 20 MB under 128 MB
    path = tmp_path / "news.duckdb"
    first = _long_english_article("seeds/long.txt", 7, "v1")
    changed = first.replace(content_sha256="v2", text=first.text + "\n\nThe minister said the talks would end.")
    with Warehouse.open(path, threads=1) as store:
        assert store.write_batch([first], run_id="r1", ingested_at=T0).inserted == 1
    with Warehouse.open(path, threads=1) as store:
        assert store.write_batch([changed], run_id="r2", ingested_at=T1).updated == 1
        stored = store.connection.execute("SELECT article_id, content_sha256, run_id, right(text, 38), text = text_en FROM articles").fetchall()
        (paragraphs,) = store.connection.execute("SELECT count(*) FROM paragraphs").fetchone()
    assert stored == [(article_id_for("seeds/long.txt"), "v2", "r2", "The minister said the talks would end.", True)]
    assert paragraphs == len(changed.paragraphs)


def test_a_text_too_long_for_the_writer_is_rejected_with_the_setting_to_raise(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "16MB")
    too_long = _long_english_article("seeds/long.txt", 4, "long")  # 8.4 MB with its English version
    story = Document(source_path="seeds/story.txt", content_sha256="story", text="A short story about the talks.", language="en")
    with Warehouse.open(tmp_path / "news.duckdb") as store:
        counts = store.write_batch([too_long, story], run_id="r1", ingested_at=T0)
        rejected = store.connection.execute("SELECT path, reason, detail FROM rejected_files").fetchall()
        articles = store.connection.execute("SELECT source_path FROM articles").fetchall()
    assert (counts.inserted, counts.rejected) == (1, 1) and articles == [("seeds/story.txt",)]
    [(path, reason, detail)] = rejected
    assert (path, reason) == ("seeds/long.txt", "too_large_for_warehouse")
    assert "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT=16MB" in detail and "set NEWSFLOW_WAREHOUSE_MEMORY_LIMIT=64MB or more" in detail, detail
