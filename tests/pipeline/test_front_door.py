"""The read-only front door: which statements `newsflow sql` and `newsflow export --query` run."""

from pathlib import Path

import pytest

from pipeline.front_door import QueryRefusedError, checked_queries
from pipeline.warehouse import Warehouse
from tests.pipeline.warehouse.conftest import T0, english_doc, indonesian_doc, rows


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "news.duckdb"


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
