"""`newsflow export` of the articles: every format, the paragraph languages, `--where` and its limits.

The warehouse holds the five seeds through the real stages (tests/pipeline/test_search.py's
helpers); the table and `--query` forms are covered in tests/flows/test_sql_front_door.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import duckdb
import pytest

from pipeline.export import ExportError, export
from pipeline.front_door import QueryRefusedError
from tests.conftest import NEWSFLOW, PROJECT_ROOT
from tests.pipeline.test_search import INDONESIAN_SEED, seed_documents, store_documents


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
    assert result.rows == len(objects) == len({o["article_id"] for o in objects}) == 5
    assert {o["source_path"]: o["paragraph_languages"] for o in objects} == paragraph_languages(warehouse)
    only_id = export(warehouse, tmp_path / "id.jsonl", where="language = 'id'")
    assert only_id.rows == 1
    as_csv = export(warehouse, tmp_path / "paged.csv")
    assert as_csv.rows == 5


def test_the_articles_export_holds_a_page_whatever_the_archive_size(tmp_path, monkeypatch):
    """N and 5N articles: every statement reads at most a page of articles, on a connection whose
    DuckDB memory is capped below the 2GB a reader gets (its block cache grew with the archive),
    and every article comes out once with its paragraph languages."""
    from datetime import date

    import pyarrow as pa

    import pipeline.export
    from pipeline.warehouse import Warehouse
    from tests.pipeline.test_report import generated_archive

    page = 256
    monkeypatch.setattr(pipeline.export, "ARTICLES_PER_PAGE", page)
    with duckdb.connect(config={"memory_limit": pipeline.export.ARTICLES_READER_MEMORY_LIMIT}) as con:
        (capped,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    record_batches = Warehouse.record_batches
    for n in (600, 3000):
        warehouse = generated_archive(tmp_path / f"news-{n}.duckdb", [date(2025, 1, 1)] * n, languages=("en", "id", "fr"))
        rows_per_statement, memory = [], set()

        def counting(self, statement, **options):
            memory.add(self.connection.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0])
            reader = record_batches(self, statement, **options)
            rows_per_statement.append(0)

            def counted(number=len(rows_per_statement) - 1):
                for batch in reader:
                    rows_per_statement[number] += batch.num_rows
                    yield batch

            return pa.RecordBatchReader.from_batches(reader.schema, counted())

        monkeypatch.setattr(Warehouse, "record_batches", counting)
        result = export(warehouse, tmp_path / f"articles-{n}.jsonl")
        monkeypatch.setattr(Warehouse, "record_batches", record_batches)
        assert memory == {capped}
        assert len(rows_per_statement) == 2 * (n // page + 1)  # a page's paragraph languages, then its articles
        assert max(rows_per_statement) <= page
        objects = [json.loads(line) for line in (tmp_path / f"articles-{n}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert result.rows == len(objects) == len({o["article_id"] for o in objects}) == n
        assert {o["source_path"]: o["paragraph_languages"] for o in objects} == paragraph_languages(warehouse)
        assert export(warehouse, tmp_path / f"id-{n}.jsonl", where="language = 'id'").rows == n // 3


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


# --- where an export may write (issue 22, item 7) and what a spreadsheet sees (item 9) ---------


def run_export(args: list[str], warehouse, cwd, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, NEWSFLOW_WAREHOUSE=str(warehouse), PYTHONPATH=str(PROJECT_ROOT))
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run(NEWSFLOW + ["export"] + args, env=env, cwd=cwd, timeout=120, **kwargs)


def special_file(kind: str, tmp_path):
    """A node that is not a regular file, made in tmp_path, and how to tell it is still as it was."""
    import socket
    import stat

    target = tmp_path / f"{kind}.csv"
    if kind == "fifo":
        os.mkfifo(target)
        return target, lambda: stat.S_ISFIFO(os.lstat(target).st_mode)
    if kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node takes root")
        os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # the numbers of /dev/null, made here
        return target, lambda: stat.S_ISCHR(os.lstat(target).st_mode) and os.lstat(target).st_rdev == os.makedev(1, 3)
    if kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        return target, lambda: stat.S_ISSOCK(os.lstat(target).st_mode)
    if kind == "folder":
        (tmp_path / "a folder").mkdir()
        os.symlink(tmp_path / "a folder", target)
        return target, lambda: os.readlink(target) == str(tmp_path / "a folder") and list((tmp_path / "a folder").iterdir()) == []
    pointed = {"link-to-dev-null": "/dev/null", "link-to-stdout": "/proc/self/fd/1"}[kind]
    os.symlink(pointed, target)  # the link is made here; /dev/null itself is never written to
    return target, lambda: target.is_symlink() and os.readlink(target) == pointed


SPECIAL_FILES = ["fifo", "device", "socket", "folder", "link-to-dev-null", "link-to-stdout"]


@pytest.mark.parametrize("kind", SPECIAL_FILES)
def test_export_refuses_to_replace_anything_but_a_regular_file(warehouse, tmp_path, kind):
    target, unchanged = special_file(kind, tmp_path)
    before = set(tmp_path.iterdir())
    result = run_export(["--output", str(target), "--format", "csv"], warehouse, tmp_path, text=True)  # stdout: a pipe
    assert result.returncode == 1, result.stdout
    (line,) = result.stderr.strip().splitlines()  # one line, no traceback
    if kind == "folder":  # refused before any of this, as a folder to name a file in
        assert line.startswith(f"error: {target} is a folder: give a file name")
    else:
        assert line.startswith(f"error: {target} is ") and "only regular files" in line and "`-` to write to stdout" in line
    assert unchanged()
    assert set(tmp_path.iterdir()) == before  # and nothing left beside it


def test_export_replaces_a_regular_file_and_a_link_to_one_replaces_only_the_link(warehouse, tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("an older export\n")
    run_export(["--output", str(old)], warehouse, tmp_path, check=True)
    assert old.read_text().startswith("article_id,")
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("not this one\n")
    link = tmp_path / "link.csv"
    os.symlink(elsewhere, link)
    run_export(["--output", str(link)], warehouse, tmp_path, check=True)
    assert not link.is_symlink() and link.read_text().startswith("article_id,")
    assert elsewhere.read_text() == "not this one\n"  # export never writes through a link
    assert sorted(path.name for path in tmp_path.iterdir()) == ["elsewhere.csv", "link.csv", "old.csv"]


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "json", "parquet"])
def test_output_dash_streams_to_stdout(warehouse, tmp_path, file_format):
    import csv
    import io

    result = run_export(["--output", "-", "--format", file_format], warehouse, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"exported 5 rows to stdout ({file_format})" in result.stderr.decode()
    data = result.stdout
    if file_format == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
        assert sorted(row["source_path"] for row in rows) == sorted(paragraph_languages(warehouse))
    elif file_format == "jsonl":
        assert len([json.loads(line) for line in data.decode().splitlines()]) == 5
    elif file_format == "json":
        assert len(json.loads(data)) == 5
    else:
        (tmp_path / "streamed.parquet").write_bytes(data)
        with duckdb.connect() as con:
            assert con.execute(f"SELECT count(*) FROM '{tmp_path / 'streamed.parquet'}'").fetchall() == [(5,)]
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "streamed.parquet"])  # no file named "-"


def test_output_dash_appends_where_stdout_appends_and_defaults_to_jsonl(warehouse, tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"kept": true}\n')
    with open(log, "ab") as appending:
        result = run_export(["--output", "-", "--query", "SELECT title FROM articles ORDER BY article_id"], warehouse, tmp_path, stdout=appending, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == '{"kept": true}' and len(lines) == 6 and all(set(json.loads(line)) == {"title"} for line in lines[1:])


def test_a_reader_that_stops_early_ends_the_export_quietly(tmp_path):
    """`newsflow export -o - | head`: exit 141 (as for SIGPIPE), no traceback, no abort."""
    from datetime import datetime, timezone

    from pipeline.warehouse import Warehouse
    from tests.pipeline.warehouse.conftest import english_doc

    big = tmp_path / "big.duckdb"
    docs = [english_doc(f"seeds/{i}.txt", f"sha-{i}", f"Story number {i}. " * 40) for i in range(2000)]
    with Warehouse.open(big) as store:
        store.write_batch(docs, run_id="r", ingested_at=datetime.now(timezone.utc))
    for args in (["--format", "csv"], ["--format", "parquet", "--query", "SELECT * FROM articles"]):
        env = dict(os.environ, NEWSFLOW_WAREHOUSE=str(big), PYTHONPATH=str(PROJECT_ROOT))
        export = subprocess.Popen(NEWSFLOW + ["export", "--output", "-"] + args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert len(export.stdout.read(100)) == 100
        export.stdout.close()  # the reader goes away, as `head` does
        assert export.wait(timeout=120) == 141
        assert export.stderr.read() == b""


HOSTILE_CELLS = {
    "=HYPERLINK(\"http://127.0.0.2/x\",\"click\")": True,
    "+1+1": True,
    "-2+3": True,
    "@SUM(A1:A2)": True,
    "\t=1+1": True,  # a tab first: a formula once the spreadsheet strips it
    "\r=1+1": True,
    "  =1+1": True,  # spaces first: some spreadsheets trim them
    "A title = a headline": False,
    "Plain headline": False,
}


@pytest.fixture(scope="module")
def hostile_warehouse(tmp_path_factory):
    from datetime import datetime, timezone

    from pipeline.warehouse import Warehouse
    from tests.pipeline.warehouse.conftest import english_doc

    path = tmp_path_factory.mktemp("hostile") / "news.duckdb"
    docs = [
        english_doc(f"seeds/{i}.txt", f"sha-{i}").replace(title=cell, author="=cmd|' /C calc'!A0" if i == 0 else "@author")
        for i, cell in enumerate(HOSTILE_CELLS)
    ]
    with Warehouse.open(path) as store:
        store.write_batch(docs, run_id="r", ingested_at=datetime.now(timezone.utc))
    return path


def read_csv_cells(path) -> dict[str, dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return {row["source_path"]: row for row in csv.DictReader(handle)}


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_by_default(hostile_warehouse, tmp_path):
    run_export(["--output", str(tmp_path / "out.csv")], hostile_warehouse, tmp_path, check=True)
    rows = read_csv_cells(tmp_path / "out.csv")
    for i, (cell, formula) in enumerate(HOSTILE_CELLS.items()):
        assert rows[f"seeds/{i}.txt"]["title"] == ("'" + cell if formula else cell)
        assert rows[f"seeds/{i}.txt"]["author"] == ("'=cmd|' /C calc'!A0" if i == 0 else "'@author")
        assert rows[f"seeds/{i}.txt"]["language_confidence"] == "0.99"  # numbers are left as they are
    assert rows["seeds/0.txt"]["text"].startswith("First para")


def test_csv_formulas_keep_writes_the_cells_raw(hostile_warehouse, tmp_path):
    with open(tmp_path / "raw.csv", "wb") as raw:
        run_export(["--output", "-", "--format", "csv", "--csv-formulas", "keep"], hostile_warehouse, tmp_path, stdout=raw, check=True)
    rows = read_csv_cells(tmp_path / "raw.csv")
    assert [rows[f"seeds/{i}.txt"]["title"] for i in range(len(HOSTILE_CELLS))] == list(HOSTILE_CELLS)
    assert rows["seeds/0.txt"]["author"] == "=cmd|' /C calc'!A0"
    # the other formats carry the values as they are, whatever the option
    run_export(["--output", str(tmp_path / "out.jsonl")], hostile_warehouse, tmp_path, check=True)
    titles = {json.loads(line)["title"] for line in (tmp_path / "out.jsonl").read_text().splitlines()}
    assert titles == set(HOSTILE_CELLS)


def test_parquet_is_not_streamed_to_a_terminal(warehouse, tmp_path):
    import pty

    controller, terminal = pty.openpty()
    try:
        result = run_export(["--output", "-", "--format", "parquet"], warehouse, tmp_path, stdout=terminal, stderr=subprocess.PIPE)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 1
    assert "Parquet is binary and stdout is a terminal" in result.stderr.decode()
