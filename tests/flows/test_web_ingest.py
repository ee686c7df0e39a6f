"""News from the web, as a user gets it: `newsflow ingest URL`, and `newsflow sources add` followed
by the scheduled runs of `newsflow serve`, against a news site on 127.0.0.1 (workbench/news_site.py)."""

from __future__ import annotations

import base64
import re
import stat
import subprocess
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from tests.conftest import NEWSFLOW, PROJECT_ROOT, newsflow, newsflow_env
from tests.flows.processes import wait_for
from tests.flows.test_serve import flow_runs_into, prefect_api, serving
from workbench.news_site import FEED_ARTICLES, NewsSite


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
def web_env(prefect_server, tmp_path, site):
    # Polite, but with no delay worth waiting for in a test (the delay itself: tests/pipeline/web).
    # The news site's address and port are allowed; the rest of the machine is "internal".
    return newsflow_env(
        prefect_server.api_url, tmp_path, NEWSFLOW_HOME=str(tmp_path / "home"), NEWSFLOW_STATE=str(tmp_path / "state"),
        NEWSFLOW_WAREHOUSE=str(tmp_path / "news.duckdb"), NEWSFLOW_FETCH_DELAY="0", NEWSFLOW_CONTACT_URL="https://example.org/newsflow-tests",
        NEWSFLOW_FETCH_ALLOW=site.allow_entry,
    )


def test_ingesting_a_feed_and_a_page_by_address_stores_canonical_articles_and_accounts_for_failures(site, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    page = site.url("/articles/cnn_article.html?utm_source=newsletter#comments")
    output = newsflow(["ingest", site.url("/feed.xml"), page], web_env).stdout
    urls = {url for (url,) in rows(warehouse, "select source_url from articles")}
    assert urls == {site.url(f"/articles/{name}.html") for name in (*FEED_ARTICLES, "cnn_article")}  # no utm_*, no #fragment
    assert rows(warehouse, "select count(*) from articles where source_path <> source_url") == [(0,)]
    rejected = dict(rows(warehouse, "select path, reason from rejected_files"))
    assert rejected == {site.url("/private/secret.html"): "robots_disallowed", site.url("/articles/missing.html"): "not_found"}
    assert "/private/secret.html" not in site.log.paths()
    assert "robots_disallowed" in output and "not_found" in output
    # Raw pages are kept, so they can be extracted again without fetching.
    assert sum(len(index.read_text().splitlines()) for index in (tmp_path / "state" / "web").glob("newsflow-*.cdxj")) == 5

    site.log.clear()
    newsflow(["ingest", page], web_env)  # stored already: nothing fetched
    assert "/articles/cnn_article.html" not in site.log.paths()
    newsflow(["ingest", "--refresh", page], web_env)
    assert "/articles/cnn_article.html" in site.log.paths()
    assert rows(warehouse, "select count(*) from articles") == [(5,)]

    # The kept pages are extracted again without fetching: a damaged text comes back.
    canonical = site.url("/articles/cnn_article.html")
    (good,) = rows(warehouse, f"select text from articles where source_url = '{canonical}'")[0]
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update articles set text = 'damaged' where source_url = ?", [canonical])
    site.log.clear()
    output = newsflow(["reextract"], web_env).stdout
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
    assert "feed" in newsflow(["sources", "add", feed, "--every", "1m"], web_env).stdout

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


# --- a hostile web (workbench/news_site_hostile.py) ---


@pytest.fixture
def internal():
    """An "internal" host: nothing newsflow fetches may reach it."""
    with NewsSite(host="127.0.0.2") as running:
        yield running


def feed_of(site, urls: list[str], path: str = "/hostile/feed.xml") -> str:
    return site.url(path + "?" + "&".join(f"to={quote(url, safe='')}" for url in urls))


def test_a_feed_cannot_make_newsflow_fetch_inside_and_each_refusal_names_the_setting(site, internal, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    article = "/articles/spanish_article.html"
    inside = [
        f"http://127.0.0.2:{internal.port}{article}",
        f"http://2130706434:{internal.port}/articles/thai_article.html",  # 127.0.0.2
        f"http://[::ffff:127.0.0.2]:{internal.port}/articles/arabic_article.html",
        site.url(f"/hostile/redirect?to={quote(f'http://127.0.0.2:{internal.port}/articles/latvian_article.html', safe='')}"),
    ]
    output = newsflow(["ingest", feed_of(site, [*inside, site.url(article)])], web_env).stdout
    assert internal.log.paths() == []
    assert rows(warehouse, "select source_url from articles") == [(site.url(article),)]
    rejected = rows(warehouse, "select path, reason, detail from rejected_files")
    assert sorted(path for path, _, _ in rejected) == sorted(inside)
    assert all(reason == "blocked_destination" and "NEWSFLOW_FETCH_ALLOW=127.0.0.2:" in detail for _, reason, detail in rejected)
    assert output.count("blocked_destination") == len(inside)


def test_only_web_addresses_are_followed_or_fetched_and_internal_ones_are_refused(site, internal, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    for url in ("file:///etc/passwd", "ftp://example.org/feed.xml", "gopher://example.org/1/news", "data:text/html,<h1>x</h1>"):
        added = newsflow(["sources", "add", url, "--kind", "feed"], web_env, check=False)
        assert added.returncode == 1 and added.stdout == ""
        [line] = added.stderr.strip().splitlines()
        assert f"{url} is not a web address: newsflow follows http:// and https:// addresses only" in line
    for url in ("file:///etc/passwd", "data:text/html,<h1>x</h1>"):
        ingested = newsflow(["ingest", url], web_env, check=False)
        assert ingested.returncode == 1 and "is not a web address: newsflow fetches http:// and https:// addresses only" in ingested.stderr
    refused = newsflow(["sources", "add", internal.url("/feed.xml")], web_env, check=False)
    assert refused.returncode == 1 and "127.0.0.2 is a loopback address" in refused.stderr
    assert "NEWSFLOW_FETCH_ALLOW" in refused.stderr and "--kind" not in refused.stderr
    assert internal.log.paths() == []
    assert rows(warehouse, "select count(*) from web_sources") in ([], [(0,)])


def test_credentials_in_a_url_go_to_their_site_only_exactly_as_written_and_are_kept_nowhere_else(
    prefect_server, site, web_env, tmp_path
):
    from flows.ingest_web import fetch_from_web

    user, secret = "Reader", "Se(ret-Pa$$word-XyZ"
    site.credentials = (user, secret)
    authorization = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    with NewsSite() as other:
        env = {**web_env, "NEWSFLOW_FETCH_ALLOW": f"{site.allow_entry},{other.allow_entry}"}
        entries = [site.url("/auth/story.html"), other.url("/articles/arabic_article.html")]
        # ... and one the feed writes with credentials of its own: http://thief:stolen@127.0.0.1:{other.port}/...
        feed = feed_of(site, entries, "/auth/feed.xml") + f"&thief_port={other.port}"
        with_credentials = feed.replace("http://", f"http://{user}:{quote(secret, safe='')}@", 1)
        outputs = [newsflow(["ingest", with_credentials], env)]

        assert {r.headers.get("Authorization") for r in site.log.requests} == {authorization}  # every request, exact case
        assert other.log.paths() and all("Authorization" not in r.headers for r in other.log.requests)
        warehouse = tmp_path / "news.duckdb"
        assert rows(warehouse, "select count(*) from articles") == [(3,)]
        assert rows(warehouse, "select count(*) from rejected_files") == [(0,)]

        # A followed source: its credentials are kept, 0600, for the scheduled runs.
        followed = site.url("/auth/feed.xml").replace("http://", f"http://{user}:{quote(secret, safe='')}@", 1)
        outputs.append(newsflow(["sources", "add", followed], env))
        kept = tmp_path / "state" / "web-credentials.json"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and secret in kept.read_text()
        assert rows(warehouse, "select url from web_sources") == [(site.url("/auth/feed.xml"),)]
        site.log.clear()
        with pytest.MonkeyPatch.context() as patch:  # a scheduled run's fetch, in this process
            for name in ("NEWSFLOW_FETCH_ALLOW", "NEWSFLOW_FETCH_DELAY"):
                patch.setenv(name, env[name])
            polled = fetch_from_web.fn(warehouse, tmp_path / "state", [], False, "poll")
        assert polled.rejected == [] and [r.headers.get("Authorization") for r in site.log.for_path("/auth/feed.xml")] == [authorization]
        outputs.append(newsflow(["sources", "list"], env))
        outputs.append(newsflow(["sql", "select * from rejected_files"], env))

    def holds_secret(data: bytes) -> bool:
        lowered = data.lower()
        return secret.lower().encode() in lowered or b"stolen" in lowered or quote(secret, safe="").lower().encode() in lowered

    assert not any(holds_secret((o.stdout + o.stderr).encode()) for o in outputs)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        for schema, table in tables:
            assert not holds_secret(repr(con.execute(f'select * from "{schema}"."{table}"').fetchall()).encode()), table
    leaking = [p for p in (tmp_path / "state").rglob("*") if p.is_file() and p != kept and holds_secret(p.read_bytes())]
    assert leaking == []
    prefect_files = [p for p in Path(prefect_server.home).rglob("*") if p.is_file()]
    assert prefect_files and [p for p in prefect_files if holds_secret(p.read_bytes())] == []  # flow parameters, logs


def test_newsflow_sql_answers_while_a_fetch_waits_and_the_wait_is_booked_as_fetch(site, web_env, tmp_path):
    command = [*NEWSFLOW, "ingest", site.url("/hostile/held")]
    with subprocess.Popen(command, env=web_env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        try:
            assert wait_for(lambda: site.log.for_path("/hostile/held"), 120), run.stderr
            held_at = time.monotonic()
            query = newsflow(["sql", "select 42 as answer", "--format", "csv"], web_env, check=False)
        finally:
            site.release.set()
        held_for = time.monotonic() - held_at
        output, errors = run.communicate(timeout=300)
    assert query.returncode == 0 and query.stdout.splitlines() == ["answer", "42"], query.stderr
    assert run.returncode == 0, errors
    fetch = float(re.search(r"fetch (\d+\.\d+)s", output)[1])
    total, startup = (float(re.search(pattern, output)[1]) for pattern in (r"time: (\d+\.\d+)s in all", r"Prefect start-up (\d+\.\d+)s"))
    assert fetch >= held_for  # the whole wait, as its own stage ...
    assert startup + fetch <= total + 0.01  # ... and not also as Prefect's start-up
    assert rows(tmp_path / "news.duckdb", "select source_url from articles") == [(site.url("/hostile/held"),)]
