"""`newsflow export` of the articles: every format, the paragraph languages, `--where` and its limits.

The warehouse holds the five seeds through the real stages (tests/pipeline/test_search.py's
helpers); the table and `--query` forms are covered in tests/flows/test_sql_front_door.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import duckdb
import pytest

from pipeline.export import ExportError, export
from pipeline.warehouse import QueryRefusedError
from tests.conftest import PROJECT_ROOT
from tests.pipeline.test_search import INDONESIAN_SEED, seed_documents, store_documents

NEWSFLOW = [sys.executable, "-m", "flows.cli"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "news.duckdb"
    store_documents(path, seed_documents())
    return path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def paragraph_languages(warehouse) -> dict[str, list[str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT a.source_path, list(p.language ORDER BY p.position) FROM articles a JOIN paragraphs p USING (article_id) GROUP BY 1"
        ).fetchall()
    return dict(rows)


def test_parquet_has_every_article_column_and_the_paragraph_languages_as_a_list(warehouse, tmp_path):
    result = export(warehouse, tmp_path / "articles.parquet")
    assert (result.rows, result.file_format) == (5, "parquet")
    with duckdb.connect() as con:
        columns = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM '{tmp_path / 'articles.parquet'}'").fetchall()}
        rows = dict(con.execute(f"SELECT source_path, paragraph_languages FROM '{tmp_path / 'articles.parquet'}'").fetchall())
    assert columns["paragraph_languages"] == "VARCHAR[]"
    assert {"article_id", "source_path", "title", "language", "text", "text_en", "published_at"} <= set(columns)
    assert rows == paragraph_languages(warehouse)
    assert "id" in rows[INDONESIAN_SEED]


@pytest.mark.parametrize("page", [1, 2, 5])
def test_articles_are_read_a_page_at_a_time_and_none_is_lost_or_repeated(warehouse, tmp_path, monkeypatch, page):
    import pipeline.export

    monkeypatch.setattr(pipeline.export, "ARTICLES_PER_PAGE", page)  # a page size the five seeds span
    result = export(warehouse, tmp_path / "paged.jsonl")
    objects = [json.loads(line) for line in (tmp_path / "paged.jsonl").read_text(encoding="utf-8").splitlines()]
    assert result.rows == len(objects) == 5
    assert {o["source_path"]: o["paragraph_languages"] for o in objects} == paragraph_languages(warehouse)
    assert [o["article_id"] for o in objects] == sorted(o["article_id"] for o in objects)
    only_id = export(warehouse, tmp_path / "id.jsonl", where="language = 'id'")
    assert only_id.rows == 1


def test_jsonl_has_one_object_per_line_with_the_list(warehouse, tmp_path):
    target = tmp_path / "out.jsonl"
    export(warehouse, target)
    objects = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(objects) == 5
    by_path = {o["source_path"]: o for o in objects}
    assert by_path[INDONESIAN_SEED]["paragraph_languages"] == paragraph_languages(warehouse)[INDONESIAN_SEED]


def test_csv_gets_the_paragraph_languages_as_words(warehouse, tmp_path):
    target = tmp_path / "articles.csv"
    export(warehouse, target)
    with duckdb.connect() as con:
        (languages,) = con.execute(
            f"SELECT paragraph_languages FROM read_csv('{target}', header = true) WHERE source_path = ?", [INDONESIAN_SEED]
        ).fetchone()
    assert languages == " ".join(paragraph_languages(warehouse)[INDONESIAN_SEED])


def test_where_keeps_the_matching_articles(warehouse, tmp_path):
    target = tmp_path / "indonesian.jsonl"
    assert export(warehouse, target, where="language = 'id'").rows == 1
    assert json.loads(target.read_text(encoding="utf-8"))["source_path"] == INDONESIAN_SEED
    # A trailing comment ends with its line: it cannot swallow the rest of the export's query.
    assert export(warehouse, tmp_path / "commented.jsonl", where="language = 'en' -- English only").rows == 4
    assert export(warehouse, tmp_path / "none.parquet", where="language = 'xx'").rows == 0


@pytest.mark.parametrize(
    "condition, says",
    [
        ("true; DROP TABLE articles", "not a condition"),
        ("true); DROP TABLE articles; SELECT (1", "one condition"),
        ("true) UNION ALL SELECT *, [] FROM read_csv('/etc/passwd'", "reads files"),
        ("text IN (SELECT content FROM read_text('/etc/hostname'))", "reads files"),
        ("", "empty"),
        ("language = ", "not a condition"),
    ],
)
def test_where_cannot_do_more_than_read_the_warehouse(warehouse, tmp_path, condition, says):
    before = digest(warehouse)
    with pytest.raises((ExportError, QueryRefusedError), match=says):
        export(warehouse, tmp_path / "x.csv", where=condition)
    assert list(tmp_path.iterdir()) == []
    assert digest(warehouse) == before


def test_where_is_for_articles_only(warehouse, tmp_path):
    with pytest.raises(ExportError, match="condition on articles"):
        export(warehouse, tmp_path / "x.csv", table="rejected_files", where="true")


def test_the_command_writes_articles_parquet_in_the_current_folder_by_default(warehouse, tmp_path):
    env = dict(os.environ, NEWSFLOW_WAREHOUSE=str(warehouse), PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run(NEWSFLOW + ["export", "--where", "language = 'id'"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "exported 1 row to articles.parquet (parquet)" in result.stdout
    with duckdb.connect() as con:
        assert con.execute(f"SELECT source_path FROM '{tmp_path / 'articles.parquet'}'").fetchall() == [(INDONESIAN_SEED,)]
    as_csv = subprocess.run(
        NEWSFLOW + ["export", "--format", "csv", "--output", str(tmp_path / "a" / "all.csv")], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )
    assert "exported 5 rows" in as_csv.stdout, as_csv.stderr
