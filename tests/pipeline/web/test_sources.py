"""The web_sources table and `newsflow sources add|list|remove` against the loopback site."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import CommandError, app
from pipeline.web.sources import (
    PollOutcome,
    add_source,
    due_sources,
    format_every,
    get_source,
    list_sources,
    parse_every,
    record_poll,
    remove_source,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("2h", 7200), ("1d", 86400), ("90s", 90), ("45", 2700)])
def test_intervals(text, seconds):
    assert parse_every(text) == seconds
    assert parse_every(format_every(seconds)) == seconds


@pytest.mark.parametrize("text", ["often", "10s", "-5m"])
def test_bad_intervals_are_refused(text):
    with pytest.raises(ValueError):
        parse_every(text)


def test_a_source_is_due_when_never_polled_or_its_interval_has_passed():
    db = duckdb.connect()
    add_source(db, "http://127.0.0.1:1/feed.xml", kind="feed", every_seconds=3600, now=NOW)
    assert [s.url for s in due_sources(db, NOW)] == ["http://127.0.0.1:1/feed.xml"]
    record_poll(db, "http://127.0.0.1:1/feed.xml", PollOutcome("ok", "3 entries", failed=False, new_pages=3, etag='"x"'), now=NOW)
    assert due_sources(db, NOW + timedelta(minutes=59)) == []
    assert len(due_sources(db, NOW + timedelta(minutes=60))) == 1
    source = get_source(db, "http://127.0.0.1:1/feed.xml")
    assert (source.articles_found, source.etag, source.consecutive_failures) == (3, '"x"', 0)
    # a failure counts up and keeps the validators; a success resets the count
    record_poll(db, source.url, PollOutcome("timeout", "no answer", failed=True), now=NOW)
    record_poll(db, source.url, PollOutcome("timeout", "no answer", failed=True), now=NOW)
    assert get_source(db, source.url).consecutive_failures == 2 and get_source(db, source.url).etag == '"x"'
    record_poll(db, source.url, PollOutcome("not_modified", "", failed=False, keep_validators=True), now=NOW)
    assert get_source(db, source.url).consecutive_failures == 0 and get_source(db, source.url).etag == '"x"'
    assert remove_source(db, source.url) and list_sources(db) == []


def run(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


def test_sources_add_list_remove(site, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_FETCH_DELAY", "0")
    monkeypatch.setenv("NEWSFLOW_FETCH_ALLOW", site.allow_entry)
    warehouse = str(tmp_path / "news.duckdb")

    assert "No web sources followed yet" in run("sources", "list", "--warehouse", warehouse).output

    added = run("sources", "add", site.url("/feed.xml?utm_source=x"), "--every", "2h", "--language", "es", "--warehouse", warehouse)
    assert added.exit_code == 0, added.output
    assert f"Following {site.url('/feed.xml')} (feed, polled at most every 2h, language es)" in added.output

    page = run("sources", "add", site.url("/"), "--warehouse", warehouse)  # a page announcing feeds: its first feed
    assert "is a page announcing a feed" in page.output and f"Already following {site.url('/feed.xml')}" in page.output
    assert "nothing changed" in page.output, "a followed source keeps its settings unless they are given"

    sitemap = run("sources", "add", site.url("/sitemap_index.xml"), "--warehouse", warehouse)
    assert "(sitemap, polled at most every 30m)" in sitemap.output

    listed = run("sources", "list", "--warehouse", warehouse).output
    assert site.url("/feed.xml") in listed and site.url("/sitemap_index.xml") in listed and "not polled yet" in listed

    with duckdb.connect(warehouse) as db:
        assert [(s.url, s.kind, s.every_seconds) for s in list_sources(db)] == [
            (site.url("/feed.xml"), "feed", 7200),
            (site.url("/sitemap_index.xml"), "sitemap", 1800),
        ]

    removed = run("sources", "remove", site.url("/sitemap_index.xml"), "--warehouse", warehouse)
    assert "No longer following" in removed.output
    with duckdb.connect(warehouse) as db:
        assert [s.url for s in list_sources(db)] == [site.url("/feed.xml")]


def test_sources_add_explains_what_it_cannot_follow(site, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_FETCH_DELAY", "0")
    monkeypatch.setenv("NEWSFLOW_FETCH_ALLOW", site.allow_entry)
    warehouse = tmp_path / "news.duckdb"
    with pytest.raises(CommandError) as caught:
        run("sources", "add", site.url("/image.png"), "--warehouse", str(warehouse))
    assert "not an HTML page, feed or sitemap" in str(caught.value) and "--kind" in str(caught.value)
    with pytest.raises(CommandError) as caught:
        run("sources", "add", site.url("/feed.xml"), "--kind", "podcast", "--warehouse", str(warehouse))
    assert "unknown --kind" in str(caught.value)
    assert not warehouse.exists()


def test_a_failing_source_is_flagged_in_the_list(tmp_path):
    warehouse = tmp_path / "news.duckdb"
    with duckdb.connect(str(warehouse)) as db:
        add_source(db, "http://127.0.0.1:9/feed.xml", kind="feed", now=NOW)
        for _ in range(3):
            record_poll(db, "http://127.0.0.1:9/feed.xml", PollOutcome("not_found", "http://127.0.0.1:9/feed.xml does not exist (HTTP 404).", failed=True), now=NOW)
    listed = run("sources", "list", "--warehouse", str(warehouse)).output
    assert "FAILING: not_found" in listed
    assert "failed 3 polls in a row: http://127.0.0.1:9/feed.xml does not exist (HTTP 404)." in listed


def test_sources_list_says_what_a_capped_poll_left_for_the_next(site, tmp_path, monkeypatch):
    from contextlib import nullcontext

    from pipeline.web import FetchSettings, poll_sources, record_polls
    from tests.pipeline.web.conftest import allowing

    warehouse = tmp_path / "news.duckdb"
    index = site.url("/many-sitemaps.xml")  # 60 sitemaps: a poll reads 50
    with duckdb.connect(str(warehouse)) as db:
        add_source(db, index, kind="sitemap", now=NOW)
        settings = allowing(FetchSettings(per_host_delay_s=0.0, max_body_bytes=1024 * 1024), site)
        result = poll_sources(lambda: nullcontext(db), tmp_path / "state", known_urls=lambda urls: set(), now=NOW, settings=settings)
        record_polls(db, result)
    listed = run("sources", "list", "--warehouse", str(warehouse)).output
    assert f"{index}: 49 pages listed in 50 sitemap(s)" in " ".join(listed.split())
    assert "11 more that they list, never read yet, are left for the next poll" in " ".join(listed.split())
