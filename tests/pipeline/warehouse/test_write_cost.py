"""A batch's writes and lookups cost a few passes over the archive's key columns, never one per
document: the rows they read (DuckDB's profile of each statement) with 20,000 articles are those
with 2,000 plus a whole number of table passes, at most MAX_PASSES; lookups by path (a primary
key) read only the batch's own rows. (Secondary ART indexes would make every lookup read only its
keys, but each inserted key dirties a 256 KiB index buffer held until the next checkpoint, so a
batch needs more memory the larger the archive: warehouse/schema.sql.)"""

from pathlib import Path

import pytest

from pipeline.warehouse import Warehouse
from tests.pipeline.warehouse.conftest import T0, T1, english_doc, rejected_doc
from tests.pipeline.warehouse.rows_read import RowsRead

SMALL, LARGE = 2_000, 20_000
BATCH = 50
MAX_PASSES = 6
GROWING_TABLES = ("articles", "article_sources", "paragraphs", "translation_cache", "rejected_files")


def archive(path: Path, articles: int) -> Path:
    """A warehouse of `articles` articles as english_doc(f"seeds/old/{i}.txt") writes them, each with
    its place, three paragraphs and three cached translations, loaded with plain SQL (fast)."""
    with Warehouse.open(path) as warehouse, warehouse.lock:
        db = warehouse.connection
        db.execute(
            """
            INSERT INTO articles (article_id, source_path, source_url, content_sha256, title, language, language_confidence,
                                  text, text_en, translation_status, ingested_at, run_id)
            SELECT sha256('seeds/old/' || i || '.txt')[:16], 'seeds/old/' || i || '.txt', 'https://example.com/seeds/old/' || i || '.txt',
                   'sha-' || i, 'A title', 'en', 0.99, 'Old text ' || i, 'Old text ' || i, 'not_needed', ?, 'old'
            FROM range(?) t(i)
            """,
            [T0, articles],
        )
        db.execute(
            """
            INSERT INTO article_sources (source_path, article_id, content_sha256, text_fingerprint, first_seen, last_seen, present)
            SELECT source_path, article_id, content_sha256, text_fingerprint(text), ingested_at, ingested_at, true FROM articles
            """
        )
        db.execute(
            """
            INSERT INTO paragraphs (article_id, position, text, language, language_confidence)
            SELECT article_id, p, text, 'en', 0.99 FROM articles, range(3) t(p)
            """
        )
        db.execute(
            "INSERT INTO translation_cache (model, source, translation) SELECT 'model-1', text || ' sentence ' || k, 'done' FROM articles, range(3) t(k)"
        )
        db.execute(
            "INSERT INTO rejected_files (path, sha256, reason, detail, run_id, rejected_at) "
            "SELECT 'seeds/bad/' || i || '.bin', 'bad-' || i, 'empty_file', 'The file is empty; add text to it.', 'old', ? FROM range(?) t(i)",
            [T0, articles],
        )
    return path


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("archives")
    return {size: archive(folder / f"{size}.duckdb", size) for size in (SMALL, LARGE)}


def rows_read(path: Path, operation) -> int:
    """Rows of the growing tables `operation(warehouse)` reads, in a copy of the archive at `path`."""
    copy = path.with_name(f"{path.stem}-{operation.__name__}.duckdb")
    copy.write_bytes(path.read_bytes())
    with Warehouse.open(copy) as warehouse:
        if hasattr(operation, "prepare"):
            operation.prepare(warehouse)
        sizes = {table: warehouse.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in GROWING_TABLES}
        counted = warehouse._connection = RowsRead(warehouse._connection, copy.with_suffix(".profile.json"))
        operation(warehouse)
        return counted.rows(sizes, besides=getattr(operation, "besides", ()))


def new_files(warehouse):
    counts = warehouse.write_batch([english_doc(f"seeds/new/{i}.txt", sha=f"new-{i}") for i in range(BATCH)], run_id="r", ingested_at=T1)
    assert counts.inserted == BATCH


def changed_files(warehouse):
    docs = [english_doc(f"seeds/old/{i}.txt", sha=f"changed-{i}", text=f"Changed text {i}.\n\nMore.") for i in range(0, 1000, 1000 // BATCH)]
    counts = warehouse.write_batch(docs, run_id="r", ingested_at=T1)
    assert counts.updated == BATCH


def unchanged_files(warehouse):
    paths = [f"seeds/old/{i}.txt" for i in range(0, 1000, 1000 // BATCH)]
    assert len(warehouse.known_fingerprints(paths)) == BATCH
    warehouse.write_batch([], run_id="r", ingested_at=T1, seen_paths=paths)


def copied_files(warehouse):
    """Files at new paths with the text (and so the fingerprint) of a stored article: they join it."""
    docs = [english_doc(f"seeds/copies/{i}.txt", sha=f"sha-{i}", text=f"Old text {i}") for i in range(BATCH)]
    docs = [doc.replace(source_url=None) for doc in docs]
    counts = warehouse.write_batch(docs, run_id="r", ingested_at=T1)
    assert counts.joined == BATCH


def cached_sentences(warehouse):
    sentences = [f"Old text {i} sentence 1" for i in range(BATCH)]
    assert len(warehouse.cached_translations("model-1", sentences)) == BATCH


def fetched_urls(warehouse):
    assert len(warehouse.stored_urls([f"https://example.com/seeds/old/{i}.txt" for i in range(BATCH)])) == BATCH


def rejected_files(warehouse):
    """Rejections again (stored once) and new ones."""
    docs = [rejected_doc(f"seeds/bad/{i}.bin", sha=f"bad-{i}") for i in range(BATCH)]
    docs += [rejected_doc(f"seeds/bad/new-{i}.bin", sha=f"new-{i}") for i in range(BATCH)]
    assert warehouse.write_batch(docs, run_id="r", ingested_at=T1).rejected == 2 * BATCH
    (stored,) = warehouse.connection._connection.execute("SELECT count(*) FROM rejected_files WHERE run_id = 'r'").fetchone()
    assert stored == BATCH  # (counted outside the profile)


def gone_files(warehouse):
    """Files gone from a scanned folder: their articles show their other place."""
    gone = warehouse.mark_missing(["seeds/gone"], seen_since=T1)
    assert len(gone) == BATCH


def _two_places_each(warehouse):
    """BATCH articles seen at seeds/keep/ and then (their face) at seeds/gone/."""
    for folder in ("keep", "gone"):
        docs = [english_doc(f"seeds/{folder}/{i}.txt", sha=f"two-{i}", text=f"Two places {i}") for i in range(BATCH)]
        warehouse.write_batch([doc.replace(source_url=None) for doc in docs], run_id="two", ingested_at=T0)


gone_files.prepare = _two_places_each
# finding the places not seen since the run began reads the scanned folder's places (as scanning it lists its files)
gone_files.besides = ("UPDATE article_sources SET present = false",)


@pytest.mark.parametrize(
    "operation", [new_files, changed_files, unchanged_files, copied_files, cached_sentences, fetched_urls, rejected_files, gone_files]
)
def test_a_batch_reads_its_own_rows_and_a_few_passes_over_the_archive(archives, operation):
    small, large = rows_read(archives[SMALL], operation), rows_read(archives[LARGE], operation)
    passes, rest = divmod(large - small, LARGE - SMALL)
    assert rest == 0, f"{operation.__name__} read {small} rows of {SMALL} articles and {large} of {LARGE}: not whole passes"
    assert passes <= MAX_PASSES, f"{operation.__name__} read the archive's tables {passes} times"
    assert small - passes * SMALL <= 20 * BATCH  # besides the passes, a few rows per document and table


def test_lookups_by_path_read_only_the_batch_rows(archives):
    assert rows_read(archives[SMALL], unchanged_files) == rows_read(archives[LARGE], unchanged_files) <= 2 * BATCH


FORMER_LOOKUP_INDEXES = {
    "articles_by_source_url",
    "article_sources_by_text_fingerprint",
    "paragraphs_by_article",
    "translation_cache_by_source",
    "rejected_files_by_path",
    "article_sources_by_article",
}


def test_a_warehouse_made_with_the_former_lookup_indexes_loses_them_when_opened(tmp_path):
    path = archive(tmp_path / "old.duckdb", 100)
    with Warehouse.open(path) as warehouse, warehouse.lock:  # as the newsflow that had these indexes left it
        db = warehouse.connection
        db.execute("CREATE INDEX articles_by_source_url ON articles (source_url)")
        db.execute("CREATE INDEX article_sources_by_text_fingerprint ON article_sources (text_fingerprint)")
        db.execute("CREATE INDEX article_sources_by_article ON article_sources (article_id)")
        db.execute("CREATE INDEX paragraphs_by_article ON paragraphs (article_id)")
        db.execute("CREATE INDEX translation_cache_by_source ON translation_cache (source)")
        db.execute("CREATE INDEX rejected_files_by_path ON rejected_files (path)")
        db.execute("DROP TABLE schema_version")
    with Warehouse.open(path) as warehouse:
        indexes = {name for (name,) in warehouse.connection.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
        assert not FORMER_LOOKUP_INDEXES & indexes
        copy = english_doc("seeds/copy.txt", sha="sha-7", text="Old text 7").replace(source_url=None)
        assert warehouse.write_batch([copy], run_id="r", ingested_at=T1).joined == 1
        assert warehouse.known_fingerprints(["seeds/old/7.txt", "seeds/copy.txt"]) == {"seeds/old/7.txt": "sha-7", "seeds/copy.txt": "sha-7"}
