"""Credentials in URLs: kept apart, exactly as written, and sent to the origin they were given for only."""

from __future__ import annotations

import base64
import stat
from contextlib import nullcontext
from urllib.parse import quote

import duckdb

from pipeline.web import poll_sources
from pipeline.web.credentials import (
    Credentials,
    credentials_path,
    forget_credentials,
    keep_credentials,
    load_credentials,
    origin_key,
    split_credentials,
)
from pipeline.web.discover import canonical_url
from pipeline.web.fetch import PoliteFetcher
from tests.pipeline.web.conftest import allowing

USER, PASSWORD = "Reader", "Pa$$Word-MixedCase"
ARTICLE = "/articles/spanish_article.html"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_are_split_off_exactly_as_written():
    url, credentials = split_credentials("https://Reader:Pa%24%24Word-MixedCase@News.Example.com:8443/Feed.xml?a=1")
    assert url == "https://News.Example.com:8443/Feed.xml?a=1"
    assert credentials == Credentials(USER, PASSWORD)  # percent-decoded, case kept
    assert PASSWORD not in repr(credentials)
    assert split_credentials("https://news.example.com/feed.xml") == ("https://news.example.com/feed.xml", None)
    assert origin_key(url) == "https://news.example.com:8443" and origin_key("http://h/") == "http://h:80"


def test_a_canonical_url_never_carries_credentials():
    assert canonical_url("http://Reader:Secret@Example.com/a") == "http://example.com/a"
    assert canonical_url("//thief:stolen@example.com/b", base="http://example.com/feed") == "http://example.com/b"


def test_kept_credentials_are_readable_by_the_user_only(tmp_path):
    path = keep_credentials(tmp_path, "http://127.0.0.1:8080", Credentials(USER, PASSWORD))
    assert path == credentials_path(tmp_path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials(tmp_path) == {"http://127.0.0.1:8080": Credentials(USER, PASSWORD)}
    assert forget_credentials(tmp_path, "http://127.0.0.1:8080") and load_credentials(tmp_path) == {}


def test_the_users_credentials_go_to_their_origin_only_not_after_a_redirect_elsewhere(site, other_port, fast_settings):
    site.credentials = (USER, PASSWORD)
    settings = allowing(fast_settings, other_port)
    given = {origin_key(site.base): Credentials(USER, PASSWORD)}
    with PoliteFetcher(settings, credentials=given) as fetcher:
        story = fetcher.get(site.url("/auth/story.html"))
        assert story.status == 200
        moved = fetcher.get(site.url(f"/hostile/redirect?to={quote(other_port.url(ARTICLE), safe='')}"))
    assert moved.final_url == other_port.url(ARTICLE)
    [asked] = site.log.for_path("/auth/story.html")
    assert asked.headers["Authorization"] == basic(USER, PASSWORD)  # the exact case
    # what the raw store's WARC request record keeps of the request: the headers sent, never the credentials
    [sent] = [exchange.request_headers for exchange in story.exchanges]
    assert ("Accept", "*/*") in sent and not any(name.lower() == "authorization" for name, _ in sent)
    assert other_port.log.paths() == ["/robots.txt", ARTICLE]
    assert all("Authorization" not in request.headers for request in other_port.log.requests)


def test_credentials_written_in_a_feed_entry_or_a_redirect_are_never_sent(site, other_port, fast_settings, tmp_path):
    site.credentials = (USER, PASSWORD)
    stolen = f"http://thief:stolen@127.0.0.1:{other_port.port}"
    entries = [
        site.url("/auth/story.html"),  # the user's origin: their credentials
        other_port.url("/articles/arabic_article.html"),  # another host, no credentials
        site.url(f"/hostile/redirect?to={quote(stolen + '/articles/latvian_article.html', safe='')}"),  # in a Location
    ]
    # and an entry with credentials of its own, on another host (thief_port): .../articles/thai_article.html
    feed = site.url("/auth/feed.xml?" + "&".join(f"to={quote(url, safe='')}" for url in entries) + f"&thief_port={other_port.port}")
    with duckdb.connect() as connection:
        result = poll_sources(
            lambda: nullcontext(connection), tmp_path / "state", urls=[feed], known_urls=lambda _: set(),
            settings=allowing(fast_settings, other_port), credentials={origin_key(site.base): Credentials(USER, PASSWORD)},
        )
    assert result.failures == []
    assert sorted(page.url for page in result.pages) == sorted([
        site.url("/auth/story.html"), other_port.url("/articles/thai_article.html"),
        other_port.url("/articles/arabic_article.html"), other_port.url("/articles/latvian_article.html"),
    ])
    assert {request.headers.get("Authorization") for request in site.log.requests} == {basic(USER, PASSWORD)}
    assert all("Authorization" not in request.headers for request in other_port.log.requests), [r.headers for r in other_port.log.requests]
    assert all("stolen" not in str(page) for page in result.pages)
