import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from pipeline.front_door import QueryRefusedError, checked_queries
from pipeline.record import Document, ParagraphLanguage, TranslationFailure
from pipeline.warehouse import (
    BatchCounts,
    PruneResult,
    RunCounts,
    Warehouse,
    WarehouseBusyError,
    WarehouseError,
    WarehouseMissingError,
    schema_sql,
)
from pipeline.warehouse.documents import article_id_for

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 12, 0, 0)
T1 = datetime(2024, 5, 2, 12, 0, 0)

CONTRACT_COLUMNS = {
    "articles": [
        "article_id",
        "source_path",
        "source_url",
        "content_sha256",
        "title",
        "author",
        "published_at",
        "site_name",
        "language",
        "language_confidence",
        "text",
        "text_en",
        "translation_status",
        "translation_model",
        "ingested_at",
        "run_id",
    ],
    "ingest_runs": [
        "run_id",
        "flow_run_id",
        "started_at",
        "finished_at",
        "files_seen",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "status",
    ],
    "rejected_files": ["path", "sha256", "reason", "detail", "run_id", "rejected_at"],
}


def english_doc(path: str = "seeds/a.txt", sha: str = "sha-a", text: str | None = None) -> Document:
    # each path its own text and page URL: the same text or URL would make the same article
    text = text if text is not None else f"First para of {path}.\n\nSecond para."
    return Document(
        source_path=path,
        content_sha256=sha,
        title="A title",
        author="Ann Author",
        published_at=datetime(2024, 4, 30, 8, 0),
        site_name="Example News",
        source_url=f"https://example.com/{path}",
        text=text,
        language="en",
        language_confidence=0.99,
        paragraph_languages=tuple(ParagraphLanguage("en", 0.99) for _ in text.split("\n\n")),
        text_en=text,
        translation_status="not_needed",
    )


def indonesian_doc(path: str = "seeds/b.txt", sha: str = "sha-b", status: str = "missing_model") -> Document:
    return Document(
        source_path=path,
        content_sha256=sha,
        text=f"Presiden meresmikan jembatan baru di {path}.\n\nThe bridge cost a lot.",
        language="id",
        language_confidence=0.95,
        paragraph_languages=(ParagraphLanguage("id", 0.95), ParagraphLanguage("en", 0.9)),
        translation_status=status,
    )


def rejected_doc(path: str = "seeds/empty.txt", sha: str = "sha-empty") -> Document:
    return Document(source_path=path, content_sha256=sha).reject("empty_file", "The file is empty; add text to it.")


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "news.duckdb"


@pytest.fixture
def warehouse(warehouse_path: Path):
    with Warehouse.open(warehouse_path) as opened:
        yield opened


def rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    return warehouse.query(sql)[1]


# --- schema ---


def test_schema_sql_comes_from_the_checkout():
    assert schema_sql() == (REPO_ROOT / "warehouse" / "schema.sql").read_text(encoding="utf-8")


def test_open_creates_parent_dirs_and_applies_schema(warehouse_path: Path):
    with Warehouse.open(warehouse_path) as warehouse:
        tables = {name for (name,) in rows(warehouse, "SELECT table_name FROM information_schema.tables")}
    assert warehouse_path.is_file()
    assert {"articles", "ingest_runs", "rejected_files", "paragraphs", "translation_cache"} <= tables
    assert {"articles_by_language", "mixed_language_articles"} <= tables


def test_reapplying_the_schema_keeps_data(warehouse_path: Path):
    with Warehouse.open(warehouse_path) as warehouse:
        warehouse.write_batch([english_doc()], run_id="r1", ingested_at=T0)
        tables_before = rows(warehouse, "SELECT table_name FROM information_schema.tables ORDER BY 1")
    with Warehouse.open(warehouse_path) as warehouse:
        assert rows(warehouse, "SELECT table_name FROM information_schema.tables ORDER BY 1") == tables_before
        assert rows(warehouse, "SELECT count(*) FROM articles") == [(1,)]
        assert rows(warehouse, "SELECT count(*) FROM paragraphs") == [(2,)]


ADDED_COLUMNS = {"articles": ["title_en"]}


def test_contract_columns_are_exactly_as_designed(warehouse: Warehouse):
    for table, expected in CONTRACT_COLUMNS.items():
        columns = rows(
            warehouse,
            f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position",
        )
        # the contract's columns, in order; after them only the columns added since (issue 11: title_en)
        assert [name for (name,) in columns] == expected + ADDED_COLUMNS.get(table, []), table


def test_closed_warehouse_says_so(warehouse_path: Path):
    warehouse = Warehouse.open(warehouse_path)
    warehouse.close()
    warehouse.close()  # closing twice is harmless
    with pytest.raises(Exception, match="already closed"):
        warehouse.query("SELECT 1")


# --- opening: lock and missing file ---


def test_second_writer_process_makes_open_raise_busy_with_pid(warehouse_path: Path):
    Warehouse.open(warehouse_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb\n"
            "connection = duckdb.connect(sys.argv[1])\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseBusyError) as caught:
            Warehouse.open(warehouse_path, lock_timeout_s=0.3)
        message = str(caught.value)
        assert f"PID {holder.pid}" in message
        assert str(warehouse_path) in message
        assert "--warehouse" in message
    finally:
        holder.kill()
        holder.wait()
    # once the other process is gone the file opens again
    with Warehouse.open(warehouse_path, lock_timeout_s=5) as warehouse:
        assert rows(warehouse, "SELECT count(*) FROM articles") == [(0,)]


def test_open_waits_for_the_other_writer_to_let_go(warehouse_path: Path):
    Warehouse.open(warehouse_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb\n"
            "connection = duckdb.connect(sys.argv[1])\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "connection.close()\n",
            str(warehouse_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with ThreadPoolExecutor(max_workers=1) as pool:
            opening = pool.submit(Warehouse.open, warehouse_path, lock_timeout_s=120)
            # the open is blocked on the lock until the holder lets go
            with pytest.raises(FuturesTimeout):
                opening.result(timeout=0.5)
            holder.stdin.write("release\n")
            holder.stdin.flush()
            with opening.result(timeout=120) as warehouse:
                assert rows(warehouse, "SELECT count(*) FROM articles") == [(0,)]
    finally:
        holder.kill()
        holder.wait()


def test_read_only_open_of_missing_file_says_to_ingest_first(tmp_path: Path):
    missing = tmp_path / "nowhere" / "news.duckdb"
    with pytest.raises(WarehouseMissingError, match="newsflow ingest"):
        Warehouse.open(missing, read_only=True)
    assert not missing.parent.exists()


def _cached_mib_after_scanning_38_mib(warehouse_path: Path) -> float:
    """Opens the warehouse as a writer, reads every block of a table that is ~38 MiB on disk, and
    returns what DuckDB's buffer manager holds afterwards."""
    with Warehouse.open(warehouse_path) as warehouse:
        warehouse.connection.execute(
            "CREATE TABLE IF NOT EXISTS big AS SELECT i, (SELECT string_agg(md5((i * 31 + j)::VARCHAR), '') "
            "FROM range(40) r(j)) AS text FROM range(60000) t(i)"
        )
    with Warehouse.open(warehouse_path) as warehouse:
        assert warehouse.connection.execute("SELECT count(*), count(hash(text)) FROM big").fetchone() == (60000, 60000)
        (used,) = warehouse.connection.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
    return used / 2**20


def test_a_writer_keeps_no_more_of_the_warehouse_in_memory_than_its_limit(warehouse_path: Path, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "1GB")
    assert _cached_mib_after_scanning_38_mib(warehouse_path) > 32  # uncapped, what it reads stays cached
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "16MB")
    assert _cached_mib_after_scanning_38_mib(warehouse_path) <= 16


def test_the_writer_memory_limit_defaults_to_128_mb_and_a_bad_one_is_named(warehouse_path: Path, monkeypatch):
    monkeypatch.delenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", raising=False)
    with Warehouse.open(warehouse_path) as warehouse:
        assert warehouse.connection.execute("SELECT current_setting('memory_limit')").fetchone() == ("122.0 MiB",)
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "lots")
    with pytest.raises(WarehouseError, match="NEWSFLOW_WAREHOUSE_MEMORY_LIMIT='lots' is not a size"):
        Warehouse.open(warehouse_path)


def test_read_only_open_queries_but_cannot_write(warehouse_path: Path):
    with Warehouse.open(warehouse_path) as warehouse:
        warehouse.write_batch([english_doc()], run_id="r1", ingested_at=T0)
    with Warehouse.open(warehouse_path, read_only=True) as reader:
        columns, result = reader.query("SELECT source_path, language FROM articles")
        assert columns == ["source_path", "language"]
        assert result == [("seeds/a.txt", "en")]
        with pytest.raises(duckdb.Error):
            reader.query("DELETE FROM articles")


def test_a_reader_holding_the_lock_is_named_while_waiting_and_when_giving_up(warehouse_path: Path, caplog, monkeypatch):
    Warehouse.open(warehouse_path).close()
    # a long `newsflow sql`-like reader: a read-only connection in another process
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, duckdb\nc = duckdb.connect(sys.argv[1], read_only=True)\nprint('open', flush=True)\ntime.sleep(60)\n", str(warehouse_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setenv("NEWSFLOW_LOCK_TIMEOUT_S", "0.5")  # the configurable patience
        with caplog.at_level("WARNING", logger="pipeline.warehouse"), pytest.raises(WarehouseBusyError) as caught:
            Warehouse.open(warehouse_path)
    finally:
        holder.kill()
        holder.wait()
    waiting = [record.getMessage() for record in caplog.records]
    assert len(waiting) == 1 and f"PID {holder.pid}" in waiting[0] and "duckdb.connect" in waiting[0], waiting
    message = str(caught.value)
    assert f"PID {holder.pid}" in message and "duckdb.connect" in message, "names the holder and its command"
    assert "NEWSFLOW_LOCK_TIMEOUT_S" in message and "--warehouse" in message
    assert "\n" not in message


def test_read_only_connections_refuse_files_extensions_and_settings_by_duckdbs_own_settings(warehouse_path: Path, tmp_path: Path):
    """The DuckDB layer alone (Warehouse.query does not check statements): nothing escapes it."""
    Warehouse.open(warehouse_path).close()
    (tmp_path / "notes.csv").write_text("a\n1\n", encoding="utf-8")
    with Warehouse.open(warehouse_path, read_only=True) as reader:
        for sql in [
            f"COPY articles TO '{tmp_path}/x.csv'",
            "select * from read_text('/etc/passwd')",
            f"select * from read_csv('{tmp_path}/notes.csv')",
            f"ATTACH '{tmp_path}/other.duckdb'",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET allowed_directories = ['/']",
            "SET lock_configuration = false",
        ]:
            with pytest.raises(duckdb.Error):
                reader.query(sql)
        assert reader.query("select current_setting('enable_external_access')")[1] == [(False,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested", "notes.csv"]


def test_the_front_door_splits_comments_and_statements_and_runs_only_queries(warehouse_path: Path):
    with Warehouse.open(warehouse_path) as writer:
        writer.write_batch([english_doc(), indonesian_doc()], run_id="r1", ingested_at=T0)
    with Warehouse.open(warehouse_path, read_only=True) as reader:
        statements = checked_queries(
            reader,
            "-- a comment first\nselect count(*) from articles; /* one; more */ select 'a;b' as s;\n"
            "DESCRIBE articles; SHOW TABLES; SUMMARIZE paragraphs; EXPLAIN select 1; PRAGMA show_tables; FROM rejected_files"
        )
        results = [reader.run_statement(statement) for statement in statements]
        assert len(results) == 8
        assert results[0].rows == [(2,)] and results[1].rows == [("a;b",)]
        for refused in [
            f"COPY articles TO '{warehouse_path}' (FORMAT csv, USE_TMP_FILE false)",  # DuckDB allows its own file
            f"EXPLAIN ANALYZE COPY articles TO '{warehouse_path}.wal' (FORMAT csv)",
            f"select * from read_blob('{warehouse_path}')",
            "select * from enable_logging()",
            "select count(*) from articles; CHECKPOINT",
            "CALL pragma_version()",
            "USE memory",
            "SET VARIABLE x = 1",
            "DELETE FROM articles",
            "DROP TABLE articles",
        ]:
            with pytest.raises(QueryRefusedError):
                checked_queries(reader, refused)
    with Warehouse.open(warehouse_path, read_only=True) as reader:
        assert rows(reader, "select count(*) from articles") == [(2,)]


# --- articles ---


def test_article_id_is_stable_and_distinct():
    assert article_id_for("seeds/a.txt") == article_id_for("seeds/a.txt")
    assert article_id_for("seeds/a.txt") != article_id_for("seeds/b.txt")
    assert len(article_id_for("seeds/a.txt")) == 16


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


# --- rejections ---


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


# --- runs ---


def test_runs_are_started_and_finished(warehouse: Warehouse):
    warehouse.start_run("r1", flow_run_id="flow-1", started_at=T0)
    assert rows(warehouse, "SELECT run_id, flow_run_id, started_at, finished_at, status FROM ingest_runs") == [
        ("r1", "flow-1", T0, None, "running")
    ]
    counts = RunCounts(files_seen=7, inserted=3, updated=1, unchanged=2, rejected=1)
    warehouse.finish_run("r1", counts=counts, status="completed", finished_at=T1)
    assert rows(warehouse, "SELECT * EXCLUDE (run_id, flow_run_id, started_at) FROM ingest_runs") == [
        (T1, 7, 3, 1, 2, 1, "completed")
    ]


def test_finish_run_rejects_unknown_run_and_status(warehouse: Warehouse):
    with pytest.raises(ValueError, match="start_run"):
        warehouse.finish_run("nope", counts=RunCounts(), status="completed", finished_at=T1)
    warehouse.start_run("r1", flow_run_id=None, started_at=T0)
    with pytest.raises(ValueError, match="completed"):
        warehouse.finish_run("r1", counts=RunCounts(), status="done", finished_at=T1)


def test_a_run_that_never_finished_is_marked_interrupted_with_the_counts_its_rows_show(warehouse: Warehouse):
    warehouse.start_run("killed", flow_run_id="flow-1", started_at=T0)
    warehouse.write_batch([english_doc("seeds/a.txt"), english_doc("seeds/b.txt"), rejected_doc()], run_id="killed", ingested_at=T0)
    warehouse.start_run("done", flow_run_id=None, started_at=T0)
    warehouse.finish_run("done", counts=RunCounts(files_seen=1, unchanged=1), status="completed", finished_at=T1)

    interrupted = warehouse.close_interrupted_runs(finished_at=T1)

    assert [(run.run_id, run.articles_written, run.rejected) for run in interrupted] == [("killed", 2, 1)]
    assert rows(warehouse, "SELECT run_id, status, files_seen, inserted, rejected, finished_at FROM ingest_runs ORDER BY run_id") == [
        ("done", "completed", 1, 0, 0, T1),
        ("killed", "interrupted", 3, 2, 1, T1),
    ]
    assert warehouse.close_interrupted_runs(finished_at=T1) == []


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


# --- translations ---


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


# --- identity: one article, however many places ---


def test_copies_in_one_batch_and_later_batches_are_one_article_with_every_place(warehouse: Warehouse):
    text = "Same wire story.\n\nSecond paragraph."
    first = english_doc("seeds/a.txt", "sha-1", text)
    copy = english_doc("/elsewhere/a copy.txt", "sha-1", text).replace(source_url=None)
    respaced = english_doc("seeds/b.txt", "sha-2", "Same   wire story.\n\n\nSECOND paragraph.").replace(source_url=None)
    counts = warehouse.write_batch([first, copy], run_id="r1", ingested_at=T0)
    assert counts == BatchCounts(inserted=1, unchanged=1, joined=1)
    counts = warehouse.write_batch([respaced], run_id="r2", ingested_at=T0)
    assert counts == BatchCounts(updated=1, joined=1)  # other bytes, same text: the newest copy's content
    assert rows(warehouse, "SELECT count(*), min(source_path) FROM articles") == [(1, "seeds/b.txt")]
    assert rows(warehouse, "SELECT source_path FROM article_sources ORDER BY 1") == [("/elsewhere/a copy.txt",), ("seeds/a.txt",), ("seeds/b.txt",)]


def test_the_same_page_address_is_one_article_but_a_site_home_page_is_not(warehouse: Warehouse):
    old = english_doc("seeds/v1.html", "sha-1", "The first version.").replace(source_url="https://news.example/2025/10/story")
    new = english_doc("seeds/v2.html", "sha-2", "The corrected version.").replace(source_url="https://news.example/2025/10/story")
    warehouse.write_batch([old], run_id="r1", ingested_at=T0)
    assert warehouse.write_batch([new], run_id="r2", ingested_at=T0) == BatchCounts(updated=1, joined=1)
    assert rows(warehouse, "SELECT text FROM articles") == [("The corrected version.",)]
    home = [english_doc(f"seeds/h{i}.html", f"sha-h{i}", f"Story {i}.").replace(source_url="https://news.example/") for i in range(2)]
    assert warehouse.write_batch(home, run_id="r3", ingested_at=T0).inserted == 2


def test_places_not_seen_since_a_run_began_are_marked_gone_only_under_the_scanned_folders(warehouse: Warehouse):
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a"), english_doc("/other/b.txt", "sha-b")], run_id="r1", ingested_at=T0)
    later = T0.replace(year=T0.year + 1)
    warehouse.write_batch([], run_id="r2", ingested_at=later, seen_paths=[])
    assert warehouse.mark_missing(["seeds"], seen_since=later) == ["seeds/a.txt"]
    assert rows(warehouse, "SELECT source_path, present FROM article_sources ORDER BY 1") == [("/other/b.txt", True), ("seeds/a.txt", False)]
    assert warehouse.known_fingerprints(["seeds/a.txt", "/other/b.txt"]) == {"/other/b.txt": "sha-b"}  # a gone file is read again
    assert warehouse.prune(dry_run=True).articles == 1 and rows(warehouse, "SELECT count(*) FROM articles") == [(2,)]
    assert warehouse.prune().articles == 1
    assert rows(warehouse, "SELECT source_path FROM articles") == [("/other/b.txt",)]


FACE = "SELECT source_path, title, content_sha256, text FROM articles"


def test_when_the_face_s_file_is_gone_the_article_shows_its_latest_place_still_present(warehouse: Warehouse):
    text = "Same wire story.\n\nSecond paragraph."
    first = english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="The first headline")
    older_copy = english_doc("seeds/b.txt", "sha-b", text).replace(source_url=None, title="An older copy's headline")
    newest = english_doc("seeds/c.txt", "sha-c", "SAME wire  story.\n\nSecond paragraph.").replace(source_url=None, title="The newest headline")
    warehouse.write_batch([first, older_copy], run_id="r1", ingested_at=T0)  # a copy within one batch
    warehouse.write_batch([newest], run_id="r2", ingested_at=T1)  # a copy in a later batch takes the face
    assert rows(warehouse, FACE) == [("seeds/c.txt", "The newest headline", "sha-c", "SAME wire  story.\n\nSecond paragraph.")]
    assert rows(warehouse, "SELECT source_path FROM source_contents ORDER BY 1") == [("seeds/a.txt",), ("seeds/b.txt",)]

    later = T1 + timedelta(days=1)
    warehouse.write_batch([], run_id="r3", ingested_at=later, seen_paths=["seeds/a.txt"])
    assert warehouse.mark_missing(["seeds"], seen_since=later) == ["seeds/b.txt", "seeds/c.txt"]
    assert rows(warehouse, FACE) == [("seeds/a.txt", "The first headline", "sha-a", text)]  # the one still present
    assert rows(warehouse, "SELECT position, text, language FROM paragraphs ORDER BY 1") == [
        (0, "Same wire story.", "en"),
        (1, "Second paragraph.", "en"),
    ]
    assert rows(warehouse, "SELECT run_id FROM articles") == [("r1",)]  # when that content was stored
    # the gone face's content is not kept: a file that comes back is read again
    assert rows(warehouse, "SELECT source_path FROM source_contents ORDER BY 1") == [("seeds/b.txt",)]
    assert warehouse.prune() == PruneResult(articles=0, places=2, dry_run=False, faces=0)
    assert rows(warehouse, "SELECT count(*) FROM source_contents") == [(0,)]
    assert rows(warehouse, FACE) == [("seeds/a.txt", "The first headline", "sha-a", text)]


def test_a_face_moved_by_a_later_write_keeps_the_content_it_leaves_behind(warehouse: Warehouse):
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", "Story.").replace(source_url=None, title="A")], run_id="r1", ingested_at=T0)
    warehouse.write_batch([english_doc("seeds/b.txt", "sha-b", "story.").replace(source_url=None, title="B")], run_id="r2", ingested_at=T1)
    assert rows(warehouse, FACE) == [("seeds/b.txt", "B", "sha-b", "story.")]
    # a.txt changes in place: its new content becomes the face, and b.txt's is kept for it
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a2", "Story!").replace(source_url=None, title="A2")], run_id="r3", ingested_at=T1)
    assert rows(warehouse, FACE) == [("seeds/a.txt", "A2", "sha-a2", "Story!")]
    assert rows(warehouse, "SELECT source_path, title FROM source_contents") == [("seeds/b.txt", "B")]


def test_prune_gives_an_article_whose_face_is_gone_the_content_of_a_place_still_present(warehouse: Warehouse):
    text = "Same wire story."
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="A")], run_id="r1", ingested_at=T0)
    warehouse.write_batch([english_doc("seeds/b.txt", "sha-b", text).replace(source_url=None, title="B")], run_id="r2", ingested_at=T1)
    warehouse.query("UPDATE article_sources SET present = false WHERE source_path = 'seeds/b.txt'")  # as an older run marked it
    assert warehouse.prune(dry_run=True) == PruneResult(articles=0, places=1, dry_run=True, faces=0)
    assert rows(warehouse, FACE)[0][:2] == ("seeds/b.txt", "B")
    assert warehouse.prune() == PruneResult(articles=0, places=1, dry_run=False, faces=1)
    assert rows(warehouse, FACE) == [("seeds/a.txt", "A", "sha-a", text)]


def test_a_place_stored_without_its_content_is_read_again_when_the_face_is_gone(warehouse: Warehouse):
    """A warehouse written before source_contents: the next run reads the surviving file again."""
    text = "Same wire story."
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="A")], run_id="r1", ingested_at=T0)
    warehouse.write_batch([english_doc("seeds/b.txt", "sha-b", text).replace(source_url=None, title="B")], run_id="r2", ingested_at=T1)
    warehouse.query("DELETE FROM source_contents")
    later = T1 + timedelta(days=1)
    warehouse.write_batch([], run_id="r3", ingested_at=later, seen_paths=["seeds/a.txt"])
    warehouse.mark_missing(["seeds"], seen_since=later)
    assert warehouse.known_fingerprints(["seeds/a.txt"]) != {"seeds/a.txt": "sha-a"}  # so the run reads it again
    warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", text).replace(source_url=None, title="A")], run_id="r4", ingested_at=later)
    assert rows(warehouse, FACE) == [("seeds/a.txt", "A", "sha-a", text)]


def test_a_long_copy_is_not_kept_twice_and_is_read_again_when_it_must_show_the_article(tmp_path, monkeypatch):
    """A copy of a long text kept in source_contents would need as much writer memory again (a
    7 MB copy beside its article ran a 48 MB writer out of memory): it is not kept, and becomes the
    article's face by being read again."""
    from pipeline.warehouse import faces

    monkeypatch.setattr(faces, "SOURCE_CONTENT_MAX_CHARS", 40)
    with Warehouse.open(tmp_path / "news.duckdb") as warehouse:
        long_text, short_text = "A wire story long enough not to be kept twice.", "Short."
        warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", long_text).replace(source_url=None, title="A"),
                               english_doc("seeds/b.txt", "sha-b", long_text).replace(source_url=None, title="B")], run_id="r1", ingested_at=T0)
        warehouse.write_batch([english_doc("seeds/c.txt", "sha-c", short_text).replace(source_url=None, title="C"),
                               english_doc("seeds/d.txt", "sha-d", short_text).replace(source_url=None, title="D")], run_id="r1", ingested_at=T0)
        assert rows(warehouse, "SELECT source_path FROM source_contents") == [("seeds/c.txt",)]  # only the short copy is kept
        later = T1 + timedelta(days=1)
        warehouse.write_batch([], run_id="r2", ingested_at=later, seen_paths=["seeds/a.txt", "seeds/c.txt"])
        warehouse.mark_missing(["seeds"], seen_since=later)
        assert rows(warehouse, "SELECT source_path, title FROM articles ORDER BY 1") == [("seeds/b.txt", "B"), ("seeds/c.txt", "C")]
        assert warehouse.known_fingerprints(["seeds/a.txt"]) != {"seeds/a.txt": "sha-a"}  # so the next run reads it again
        warehouse.write_batch([english_doc("seeds/a.txt", "sha-a", long_text).replace(source_url=None, title="A")], run_id="r3", ingested_at=later)
        assert rows(warehouse, "SELECT source_path, title FROM articles ORDER BY 1") == [("seeds/a.txt", "A"), ("seeds/c.txt", "C")]


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
