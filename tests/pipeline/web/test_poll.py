"""poll_sources against the loopback news site: what a scheduled run gets, and what a second run does not fetch."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from pipeline.web import poll_sources, record_polls
from pipeline.web.sources import add_source, failing_sources, get_source
from pipeline.web.store import read_raw_page, stored_raw_pages
from workbench.news_site import FEED_ARTICLES, PAGES_DIR

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


class Warehouse:
    """Stands in for the lead's article store: the URLs of pages already ingested."""

    def __init__(self) -> None:
        self.urls: set[str] = set()
        self.asked: list[list[str]] = []

    def known_urls(self, candidates: list[str]) -> set[str]:
        self.asked.append(list(candidates))
        return self.urls & set(candidates)

    def keep(self, result) -> None:
        self.urls.update(page.url for page in result.pages)


@pytest.fixture
def connection():
    db = duckdb.connect()
    try:
        yield db
    finally:
        db.close()


def poll(connection, tmp_path, settings, store, **kwargs):
    kwargs.setdefault("now", NOW)
    result = poll_sources(lambda: nullcontext(connection), tmp_path / "state", known_urls=store.known_urls, settings=settings, **kwargs)
    record_polls(connection, result)
    return result


def article_paths(site) -> list[str]:
    return sorted(p for p in site.log.paths() if p.startswith(("/articles/", "/private/")))


def test_a_feed_gives_canonical_pages_with_the_feeds_titles_dates_and_authors(site, fast_settings, connection, tmp_path):
    add_source(connection, site.url("/feed.xml"), kind="feed", language="es", now=NOW)
    result = poll(connection, tmp_path, fast_settings, Warehouse())

    pages = {page.url: page for page in result.pages}
    assert sorted(pages) == sorted(site.url(f"/articles/{name}.html") for name in FEED_ARTICLES)  # no utm_*, no #top
    spanish = pages[site.url("/articles/spanish_article.html")]
    assert spanish.title == "Feed title spanish_article"
    assert spanish.published_at == datetime(2026, 11, 1, 0, 30, tzinfo=timezone.utc)  # 01:30 +0100
    assert spanish.author == "Reporter 1"
    assert spanish.site_name == "Loopback Daily"
    assert spanish.source == site.url("/feed.xml")
    assert spanish.language == "es"
    # the raw HTML is kept in a WARC record, exactly as served (packed on disk), and indexed by its sha256
    served = (PAGES_DIR / "spanish_article.html").read_bytes()
    assert read_raw_page(spanish.raw_path, spanish.raw_offset, spanish.raw_length) == served and spanish.raw_length < len(served) / 2
    assert spanish.content_sha256 == hashlib.sha256(served).hexdigest() and spanish.raw_path.name.endswith(".warc.gz")
    assert spanish.raw_path.is_relative_to(tmp_path / "state" / "web")
    [stored] = [page for page in stored_raw_pages(tmp_path / "state") if page.sha256 == spanish.content_sha256]
    assert stored.info.url == spanish.url and (stored.offset, stored.length) == (spanish.raw_offset, spanish.raw_length)

    failures = {failure.url: failure for failure in result.failures}
    assert failures[site.url("/private/secret.html")].reason == "robots_disallowed"
    assert failures[site.url("/articles/missing.html")].reason == "not_found"
    assert "/private/secret.html" not in site.log.paths()
    assert site.log.paths().count("/robots.txt") == 1

    row = get_source(connection, site.url("/feed.xml"))
    assert row.last_status == "ok" and row.articles_found == 4 and row.consecutive_failures == 0
    assert row.etag and row.last_modified
    assert "4 new page(s) fetched, 2 failed (not_found, robots_disallowed)" in row.last_detail


def test_a_second_poll_asks_conditionally_and_fetches_no_unchanged_page(site, fast_settings, connection, tmp_path):
    store = Warehouse()
    for path, kind in (("/feed.xml", "feed"), ("/atom.xml", "feed"), ("/sitemap_index.xml", "sitemap"), ("/feed.json", "feed")):
        add_source(connection, site.url(path), kind=kind, now=NOW)
    first = poll(connection, tmp_path, fast_settings, store)
    store.keep(first)
    assert len(first.pages) == 4 + 2 + 4 + 1

    site.log.clear()
    second = poll(connection, tmp_path, fast_settings, store, due_only=False)
    assert second.pages == [] and second.failures == []
    listings = [r for r in site.log.requests if r.path != "/robots.txt"]
    assert sorted(r.path for r in listings) == ["/atom.xml", "/feed.json", "/feed.xml", "/sitemap_index.xml"]
    assert all("If-None-Match" in r.headers and r.status == 304 for r in listings)
    assert {s.status for s in second.sources} == {"not_modified"}


def test_a_changed_feed_brings_only_its_new_article(site, fast_settings, connection, tmp_path):
    store = Warehouse()
    add_source(connection, site.url("/feed.xml"), kind="feed", now=NOW)
    store.keep(poll(connection, tmp_path, fast_settings, store))

    site.feed_version = 2
    site.log.clear()
    result = poll(connection, tmp_path, fast_settings, store, due_only=False)
    assert [page.url for page in result.pages] == [site.url("/articles/burmese_article.html")]
    assert result.pages[0].title == "Late news"
    assert result.skipped_known == 4
    # the two that failed last time are asked for again; the four stored ones are not
    assert article_paths(site) == ["/articles/burmese_article.html", "/articles/missing.html"]


def test_refresh_fetches_stored_pages_again_without_validators(site, fast_settings, connection, tmp_path):
    store = Warehouse()
    add_source(connection, site.url("/feed.xml"), kind="feed", now=NOW)
    store.keep(poll(connection, tmp_path, fast_settings, store))
    site.log.clear()
    result = poll(connection, tmp_path, fast_settings, store, due_only=False, refresh=True)
    assert len(result.pages) == 4
    assert "If-None-Match" not in site.log.for_path("/feed.xml")[0].headers


def test_a_sitemap_index_is_walked_and_unchanged_nested_sitemaps_are_not_read_again(site, fast_settings, connection, tmp_path):
    store = Warehouse()
    add_source(connection, site.url("/sitemap_index.xml"), kind="sitemap", now=NOW)
    first = poll(connection, tmp_path, fast_settings, store)
    store.keep(first)
    assert sorted(page.url.rsplit("/", 1)[-1] for page in first.pages) == [
        "cnn_article.html", "fox13now_001.html", "time_001.html", "wired_001.html"
    ]
    site.index_stamp = "2026-11-28"  # the index changes, the sitemaps it lists do not
    site.log.clear()
    second = poll(connection, tmp_path, fast_settings, store, due_only=False)
    assert second.pages == []
    assert [r.status for r in site.log.for_path("/sitemap_index.xml")] == [200]
    nested = [r for r in site.log.requests if r.path.startswith("/sitemap-")]
    assert len(nested) == 2 and all(r.status == 304 and "If-None-Match" in r.headers for r in nested)
    assert article_paths(site) == []


def test_only_due_sources_are_polled(site, fast_settings, connection, tmp_path):
    add_source(connection, site.url("/feed.xml"), kind="feed", every_seconds=3600, now=NOW)
    store = Warehouse()
    poll(connection, tmp_path, fast_settings, store)
    site.log.clear()
    assert poll(connection, tmp_path, fast_settings, store, now=NOW + timedelta(minutes=30)).sources == []
    assert site.log.paths() == []
    assert len(poll(connection, tmp_path, fast_settings, store, now=NOW + timedelta(minutes=61)).sources) == 1


def test_a_source_that_keeps_failing_is_visible(site, fast_settings, connection, tmp_path):
    add_source(connection, site.url("/status/500"), kind="feed", now=NOW)
    settings = replace(fast_settings, retries=0)
    for _ in range(3):
        result = poll(connection, tmp_path, settings, Warehouse(), due_only=False)
    row = get_source(connection, site.url("/status/500"))
    assert row.consecutive_failures == 3 and row.last_status == "server_error" and "HTTP 500" in row.last_detail
    assert [source.url for source in failing_sources(connection)] == [site.url("/status/500")]
    assert [source.url for source in result.failing_sources] == [site.url("/status/500")]
    assert [(f.url, f.reason) for f in result.failures] == [(site.url("/status/500"), "server_error")]


def test_a_malformed_feed_is_a_failure_with_a_sentence(site, fast_settings, connection, tmp_path):
    add_source(connection, site.url("/malformed.xml"), kind="feed", now=NOW)
    result = poll(connection, tmp_path, fast_settings, Warehouse())
    [failure] = result.failures
    assert failure.reason == "malformed_feed" and "not well-formed" in failure.detail
    assert get_source(connection, site.url("/malformed.xml")).consecutive_failures == 1


def test_urls_given_directly_are_detected_and_fetched_once(site, fast_settings, connection, tmp_path):
    store = Warehouse()
    result = poll(connection, tmp_path, fast_settings, store, urls=[
        site.url("/atom.xml"), site.url("/articles/latvian_article.html?utm_campaign=x"), site.url("/image.png"),
    ])
    urls = sorted(page.url for page in result.pages)
    assert urls == sorted(site.url(f"/articles/{n}.html") for n in ("thai_article", "chinese_article", "latvian_article"))
    assert all(page.source is None for page in result.pages)
    assert [(f.url, f.reason) for f in result.failures] == [(site.url("/image.png"), "not_html")]
    assert result.sources == []  # nothing registered, nothing recorded
    store.keep(result)

    site.log.clear()
    again = poll(connection, tmp_path, fast_settings, store, urls=[site.url("/articles/latvian_article.html")])
    assert again.pages == [] and again.skipped_known == 1 and site.log.paths() == []


def test_rel_canonical_on_the_same_site_names_the_article(site, fast_settings, connection, tmp_path):
    result = poll(connection, tmp_path, fast_settings, Warehouse(), urls=[site.url("/amp/spanish.html"), site.url("/articles/arabic_article.html")])
    urls = sorted(page.url for page in result.pages)
    # /amp/spanish.html declares /articles/spanish_article.html; arabic_article.html declares a page on
    # arabic.cnn.com, which is another site's address and is not taken
    assert urls == [site.url("/articles/arabic_article.html"), site.url("/articles/spanish_article.html")]
    amp = next(page for page in result.pages if page.url.endswith("spanish_article.html"))
    assert amp.fetched_url == site.url("/amp/spanish.html")


def test_every_bad_response_is_a_failure_and_the_run_goes_on(site, fast_settings, connection, tmp_path):
    settings = replace(fast_settings, retries=0, timeout_s=0.5)
    urls = {
        "/articles/missing.html": "not_found",
        "/status/410": "gone",
        "/status/503": "server_error",
        "/slow?s=2": "timeout",
        "/image.png": "not_html",
        "/big": "too_large",
        "/loop/a": "redirect_loop",
        "/private/secret.html": "robots_disallowed",
    }
    result = poll(connection, tmp_path, settings, Warehouse(), urls=[site.url(p) for p in urls] + [site.url("/articles/thai_article.html")])
    assert [page.url for page in result.pages] == [site.url("/articles/thai_article.html")]
    assert {f.url: f.reason for f in result.failures} == {site.url(p): reason for p, reason in urls.items()}
    assert all(f.detail.endswith(".") and len(f.detail) > 40 for f in result.failures)


# --- hostile listings and the limits of one poll ---


def test_a_gzip_bomb_sitemap_is_too_large_and_is_not_unpacked_past_the_sitemap_limit(site, fast_settings, connection, tmp_path):
    bomb = site.url("/bomb-sitemap.xml.gz")  # 64 MB once unpacked; a sitemap may hold 50 MB
    add_source(connection, bomb, kind="sitemap", now=NOW)
    followed = poll(connection, tmp_path, fast_settings, Warehouse())
    given = poll(connection, tmp_path, fast_settings, Warehouse(), urls=[bomb])
    for result in (followed, given):
        [failure] = result.failures
        assert failure.reason == "too_large"
        assert f"{bomb} is gzipped" in failure.detail and "unpacks to more than 52,428,800 bytes" in failure.detail
        assert "sitemap" in failure.detail and "read none of it" in failure.detail
    assert get_source(connection, bomb).last_status == "too_large"


def test_an_index_of_60_sitemaps_is_read_50_a_poll_and_the_next_poll_reads_the_rest(site, fast_settings, connection, tmp_path):
    index = site.url("/many-sitemaps.xml")
    add_source(connection, index, kind="sitemap", every_seconds=3600, now=NOW)
    store = Warehouse()
    first = poll(connection, tmp_path, fast_settings, store)
    store.keep(first)
    read_first = {r.path for r in site.log.requests if r.path.startswith("/many/") and r.status == 200}
    assert len(read_first) == 49 and len(first.pages) == 49  # and the index: 50 sitemaps
    detail = get_source(connection, index).last_detail
    assert "read 50 sitemaps, the most newsflow reads from one source in a poll" in detail
    assert "11 more that they list, never read yet, are left for the next poll" in detail
    assert first.notes == [f"Web source {index}: {detail}"]

    site.log.clear()
    second = poll(connection, tmp_path, fast_settings, store, now=NOW + timedelta(hours=1))
    assert "If-None-Match" not in site.log.for_path("/many-sitemaps.xml")[0].headers  # asked for in full again
    read_second = {r.path for r in site.log.requests if r.path.startswith("/many/") and r.status == 200}
    assert len(read_second) == 11 and read_first | read_second == {f"/many/sitemap-{i}.xml" for i in range(60)}
    assert len(second.pages) == 11
    detail = get_source(connection, index).last_detail
    assert "never read yet" not in detail and "11 read in earlier polls were not checked for changes" in detail


def test_a_sitemap_of_1200_new_pages_is_fetched_1000_a_poll_and_the_next_poll_fetches_the_rest(site, fast_settings, connection, tmp_path):
    sitemap = site.url("/many-pages.xml")
    add_source(connection, sitemap, kind="sitemap", every_seconds=3600, now=NOW)
    store = Warehouse()
    first = poll(connection, tmp_path, fast_settings, store)
    assert len(first.pages) == 1000
    detail = get_source(connection, sitemap).last_detail
    assert "listed 1,200 pages not stored yet: fetched the first 1,000, the most newsflow fetches from one source in a poll" in detail
    assert "the other 200 are left for the next poll" in detail
    assert first.notes == [f"Web source {sitemap}: {detail}"]
    store.keep(first)

    site.log.clear()
    second = poll(connection, tmp_path, fast_settings, store, now=NOW + timedelta(hours=1))
    assert "If-None-Match" not in site.log.for_path("/many-pages.xml")[0].headers  # listed in full again
    assert len(second.pages) == 200 and not {page.url for page in second.pages} & store.urls
    assert "left" not in get_source(connection, sitemap).last_detail and second.notes == []
