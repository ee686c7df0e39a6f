"""News from the web, as a user gets it: `newsflow ingest URL`, and `newsflow sources add` followed
by the scheduled runs of `newsflow serve`, against a news site on 127.0.0.1 (tests/pipeline/web/webserver.py)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from tests.conftest import newsflow_env, run_newsflow
from tests.flows.processes import wait_for
from tests.flows.test_serve import flow_runs_into, prefect_api, serving
from tests.pipeline.web.webserver import FEED_ARTICLES, NewsSite


def rows(warehouse, sql: str) -> list[tuple]:
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()
    except duckdb.Error:  # not there yet, or a run holds the writer lock
        return []


@pytest.fixture
def site():
    with NewsSite() as running:
        yield running


@pytest.fixture
def web_env(prefect_server, tmp_path):
    # Polite, but with no delay worth waiting for in a test (the delay itself: tests/pipeline/web).
    return newsflow_env(
        prefect_server.api_url, tmp_path, NEWSFLOW_HOME=str(tmp_path / "home"), NEWSFLOW_STATE=str(tmp_path / "state"),
        NEWSFLOW_WAREHOUSE=str(tmp_path / "news.duckdb"), NEWSFLOW_FETCH_DELAY="0", NEWSFLOW_CONTACT_URL="https://example.org/newsflow-tests",
    )


def test_ingesting_a_feed_and_a_page_by_address_stores_canonical_articles_and_accounts_for_failures(site, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    page = site.url("/articles/cnn_article.html?utm_source=newsletter#comments")
    output = run_newsflow(["ingest", site.url("/feed.xml"), page], web_env).stdout
    urls = {url for (url,) in rows(warehouse, "select source_url from articles")}
    assert urls == {site.url(f"/articles/{name}.html") for name in (*FEED_ARTICLES, "cnn_article")}  # no utm_*, no #fragment
    assert rows(warehouse, "select count(*) from articles where source_path <> source_url") == [(0,)]
    rejected = dict(rows(warehouse, "select path, reason from rejected_files"))
    assert rejected == {site.url("/private/secret.html"): "robots_disallowed", site.url("/articles/missing.html"): "not_found"}
    assert "/private/secret.html" not in site.log.paths()
    assert "robots_disallowed" in output and "not_found" in output
    # Raw pages are kept, so they can be extracted again without fetching.
    assert len(list((tmp_path / "state" / "web").rglob("*.html.gz"))) == 5

    site.log.clear()
    run_newsflow(["ingest", page], web_env)  # stored already: nothing fetched
    assert "/articles/cnn_article.html" not in site.log.paths()
    run_newsflow(["ingest", "--refresh", page], web_env)
    assert "/articles/cnn_article.html" in site.log.paths()
    assert rows(warehouse, "select count(*) from articles") == [(5,)]

    # The kept pages are extracted again without fetching: a damaged text comes back.
    canonical = site.url("/articles/cnn_article.html")
    (good,) = rows(warehouse, f"select text from articles where source_url = '{canonical}'")[0]
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update articles set text = 'damaged' where source_url = ?", [canonical])
    site.log.clear()
    output = run_newsflow(["reextract"], web_env).stdout
    assert site.log.paths() == []
    assert rows(warehouse, f"select text from articles where source_url = '{canonical}'") == [(good,)]
    assert rows(warehouse, "select count(*) from articles") == [(5,)]
    assert "files seen" in output


@pytest.mark.server
def test_a_followed_feed_is_fetched_by_the_scheduled_runs_and_an_unchanged_feed_fetches_nothing(
    prefect_server, web_env, site, tmp_path
):
    warehouse = tmp_path / "news.duckdb"
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    feed = site.url("/feed.xml")
    assert "feed" in run_newsflow(["sources", "add", feed, "--every", "1m"], web_env).stdout

    def completed_scheduled(count: int):
        runs = [r for r in flow_runs_into(api, warehouse) if r["auto_scheduled"] and r["state_type"] == "COMPLETED"]
        return runs if len(runs) >= count else []

    log = tmp_path / "serve.log"
    with serving(prefect_server, web_env, seeds, warehouse, ["--every", "5s"], log), prefect_api(prefect_server) as api:
        assert wait_for(lambda: completed_scheduled(1), 90, interval=1), log.read_text()
        stored = {url: (date, author) for url, date, author in rows(warehouse, "select source_url, published_at, author from articles")}
        assert set(stored) == {site.url(f"/articles/{name}.html") for name in FEED_ARTICLES}, log.read_text()
        # The page's own date and author win; the feed's fill in where the page has none (the
        # Arabic page, second in the feed: 2 Nov 2026 02:30 +0100, "Reporter 2").
        assert stored[site.url("/articles/spanish_article.html")] == (datetime(2014, 1, 9, 10, 21), "Alcalino")
        assert stored[site.url("/articles/arabic_article.html")] == (datetime(2026, 11, 2, 1, 30), "Reporter 2")
        fetched_pages = [path for path in site.log.paths() if path.startswith("/articles/")]

        site.log.clear()
        assert wait_for(lambda: completed_scheduled(2), 90, interval=1), log.read_text()
    # The next run fetches no page again: the feed is not due for a minute, and when it is asked for
    # again it is asked conditionally (tests/pipeline/web/test_poll.py checks the 304 round).
    later = [r for r in site.log.requests if r.path != "/robots.txt"]
    assert all(r.path == "/feed.xml" and "If-None-Match" in r.headers for r in later), [r.path for r in later]
    assert len(fetched_pages) == len(set(fetched_pages))  # each page fetched once
    assert rows(warehouse, "select count(*) from articles") == [(len(FEED_ARTICLES),)]
    assert rows(warehouse, f"select last_status, articles_found from web_sources where url = '{feed}'") == [("ok", len(FEED_ARTICLES))]
