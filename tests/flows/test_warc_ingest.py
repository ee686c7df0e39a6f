"""`newsflow ingest some.warc.gz`, as a user runs it: a web archive's pages become the same articles
as the same pages saved as files, at the record's address and fetch time; a damaged archive keeps
what comes before the damage."""

from __future__ import annotations

import gzip
import shutil
from datetime import datetime

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT, newsflow, newsflow_env
from workbench.warc_files import ArchivedPage, write_revisit, write_warc

DEV_PAGES = PROJECT_ROOT / "workbench" / "data" / "devdata" / "extraction"
NAMES = ["cnn_article", "spanish_article", "article_with_divs"]


def rows(warehouse, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def archive(prefect_server, tmp_path):
    """The three pages as files in a folder, and in a WARC (with a request before each, an image
    and a revisit), and the environment of a project in tmp_path."""
    pages = tmp_path / "pages"
    pages.mkdir()
    archived = []
    for number, name in enumerate(NAMES):
        shutil.copy(DEV_PAGES / f"{name}.html", pages / f"{name}.html")
        archived.append(ArchivedPage(f"https://News.Example/{name}?utm_source=rss", (DEV_PAGES / f"{name}.html").read_bytes(), date=f"2026-11-0{number + 1}T08:15:00Z"))
    archived.insert(1, ArchivedPage("https://news.example/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png"))
    warc = tmp_path / "crawl.warc.gz"
    offsets = write_warc(warc, archived)
    write_revisit(warc, "https://news.example/cnn_article")
    env = newsflow_env(prefect_server.api_url, tmp_path, NEWSFLOW_HOME=str(tmp_path), NEWSFLOW_SEEDS=str(tmp_path / "seeds"))
    return pages, warc, [offset for offset, page in zip(offsets, archived) if page.content_type.startswith("text/html")], env


def test_a_warc_stores_the_same_articles_as_its_pages_as_files_at_the_records_url_and_fetch_date(archive, tmp_path):
    pages, warc, offsets, env = archive
    from_files, from_warc = tmp_path / "files.duckdb", tmp_path / "warc.duckdb"
    newsflow(["ingest", str(pages), "--warehouse", str(from_files)], env)
    output = newsflow(["ingest", str(warc), "--warehouse", str(from_warc)], env).stdout

    articles = "select title, text from articles order by title"
    assert len(rows(from_warc, articles)) == 3
    assert rows(from_warc, articles) == rows(from_files, articles)
    assert rows(from_warc, "select source_path, source_url from articles order by source_path") == sorted(
        (f"{warc}#{offset}", f"https://news.example/{name}") for offset, name in zip(offsets, NAMES)
    )
    assert rows(from_warc, "select source_url, fetched_at from article_sources join articles using (article_id) order by 2") == [
        (f"https://news.example/{name}", datetime(2026, 11, number + 1, 8, 15)) for number, name in enumerate(NAMES)
    ]
    assert rows(from_warc, "select count(*) from rejected_files") == [(0,)]  # the image, requests and revisit are skipped, not rows
    assert rows(from_warc, "select files_seen, inserted, rejected from ingest_runs") == [(3, 3, 0)]
    # warcinfo, four requests and the revisit; the image
    assert "7 WARC records skipped, not HTML pages: 1 a response that is not an HTML page; 6 not a response record" in output

    # Again: nothing changes. Into the files' warehouse: each record joins its page's article.
    newsflow(["ingest", str(warc), "--warehouse", str(from_warc)], env)
    assert rows(from_warc, "select files_seen, inserted, updated, unchanged, rejected from ingest_runs order by started_at")[-1] == (3, 0, 0, 3, 0)
    newsflow(["ingest", str(warc), "--warehouse", str(from_files)], env)
    assert rows(from_files, "select count(*), count(distinct article_id) from article_sources") == [(6, 3)]
    assert rows(from_files, "select count(*) from articles") == [(3,)]


def test_a_warc_cut_mid_record_keeps_the_records_before_the_damage_and_rejects_the_rest(archive, tmp_path):
    _, warc, offsets, env = archive
    cut = tmp_path / "cut.warc.gz"
    data = warc.read_bytes()
    cut.write_bytes(data[: offsets[2] + (len(data) - offsets[2]) // 3])  # into the third page's gzip member
    assert gzip.decompress(data[offsets[2]:])  # (the whole file is sound)
    warehouse = tmp_path / "cut.duckdb"
    newsflow(["ingest", str(cut), "--warehouse", str(warehouse)], env)

    assert sorted(path for (path,) in rows(warehouse, "select source_path from articles")) == sorted([f"{cut}#{offsets[0]}", f"{cut}#{offsets[1]}"])
    ((path, reason, detail),) = rows(warehouse, "select path, reason, detail from rejected_files")
    assert (path, reason) == (f"{cut}#{offsets[2]}", "warc_damaged")
    assert f"{cut} is damaged from byte {offsets[2]} on" in detail and "the records before it were read" in detail
