"""The schema: where it is read from, applied once, and the contract's tables and columns."""

from pathlib import Path

from pipeline.warehouse import Warehouse, schema_sql
from tests.conftest import PROJECT_ROOT
from tests.pipeline.warehouse.conftest import T0, english_doc, rows


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


ADDED_COLUMNS = {"articles": ["title_en"]}


def test_schema_sql_comes_from_the_checkout():
    assert schema_sql() == (PROJECT_ROOT / "warehouse" / "schema.sql").read_text(encoding="utf-8")


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


def test_contract_columns_are_exactly_as_designed(warehouse: Warehouse):
    for table, expected in CONTRACT_COLUMNS.items():
        columns = rows(
            warehouse,
            f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position",
        )
        # the contract's columns, in order; after them only the columns added since (issue 11: title_en)
        assert [name for (name,) in columns] == expected + ADDED_COLUMNS.get(table, []), table
