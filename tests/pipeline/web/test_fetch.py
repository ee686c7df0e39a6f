"""The fetcher against the loopback news site: robots.txt, politeness, retries, limits, errors."""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import replace

import pytest

from pipeline.web.fetch import FetchError, FetchSettings, PoliteFetcher, retry_after_seconds
from tests.pipeline.web.conftest import allowing
from workbench.news_site import HUGE_ROBOTS, NewsSite, RequestLog


def fetch(settings, url, **kwargs):
    with PoliteFetcher(settings) as fetcher:
        return fetcher.get(url, **kwargs)


def failure(settings, url, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(settings, url, **kwargs)
    return caught.value


class RecordingSleep:
    """Sleeps for real, and remembers how long each wait was."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


# --- robots.txt ---


def test_a_disallowed_page_is_never_requested_and_robots_txt_is_read_once_per_host(site, fast_settings):
    with PoliteFetcher(fast_settings) as fetcher:
        assert fetcher.get(site.url("/articles/spanish_article.html")).status == 200
        with pytest.raises(FetchError) as caught:
            fetcher.get(site.url("/private/secret.html"))
        assert fetcher.get(site.url("/articles/thai_article.html")).status == 200
    assert caught.value.reason == "robots_disallowed"
    assert "robots.txt" in caught.value.detail and "/private/secret.html" in caught.value.detail
    assert "/private/secret.html" not in site.log.paths()
    assert site.log.paths().count("/robots.txt") == 1


def test_a_redirect_into_a_disallowed_path_is_not_followed(site, fast_settings):
    error = failure(fast_settings, site.url("/to-private"))
    assert error.reason == "robots_disallowed"
    assert site.log.paths() == ["/robots.txt", "/to-private"]


def test_a_site_whose_robots_txt_fails_is_left_alone(site, fast_settings):
    site.robots = "<500>"
    error = failure(replace(fast_settings, retries=0), site.url("/articles/spanish_article.html"))
    assert error.reason == "robots_unavailable"
    assert "robots.txt" in error.detail and "next poll" in error.detail
    assert site.log.paths() == ["/robots.txt"]


def test_rules_for_another_crawler_do_not_apply_to_newsflow_but_rules_for_newsflow_do(site, fast_settings):
    site.robots = "User-agent: BadBot\nDisallow: /\n\nUser-agent: newsflow\nDisallow: /articles/thai\n"
    with PoliteFetcher(fast_settings) as fetcher:
        assert fetcher.allowed_by_robots(site.url("/articles/spanish_article.html"))
        assert not fetcher.allowed_by_robots(site.url("/articles/thai_article.html"))


def test_every_request_names_newsflow_and_the_contact_url(site, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_CONTACT_URL", "https://news.example.org/about-our-crawler")
    monkeypatch.setenv("NEWSFLOW_FETCH_ALLOW", site.allow_entry)
    settings = replace(FetchSettings(), per_host_delay_s=0.0)
    fetch(settings, site.url("/articles/spanish_article.html"))
    agents = {request.headers["User-Agent"] for request in site.log.requests}
    [agent] = agents
    assert agent.startswith("newsflow/") and agent.endswith(" (+https://news.example.org/about-our-crawler)")
    assert len(site.log.requests) == 2  # robots.txt and the page, both named


# --- politeness ---


def test_one_request_at_a_time_per_host_and_many_without_politeness(site, fast_settings):
    from pipeline.web.poll import _by_host  # the scheduler poll_sources uses

    site.page_delay_s = 0.2
    urls = [site.url(f"/articles/{name}.html") for name in ("spanish_article", "thai_article", "arabic_article", "latvian_article")]
    with PoliteFetcher(fast_settings) as fetcher:
        _by_host(urls, lambda u: u, fetcher.get, fast_settings)
    assert site.log.max_in_flight_per_host() == 1

    site.log.clear()
    impolite = fast_settings.without_politeness()
    with PoliteFetcher(impolite) as fetcher:
        _by_host(urls, lambda u: u, fetcher.get, impolite)
    assert site.log.max_in_flight_per_host() > 1  # the measure above can see overlap


def test_requests_to_one_host_are_spaced_by_the_delay(site, fast_settings):
    settings = replace(fast_settings, per_host_delay_s=0.25)
    with PoliteFetcher(settings) as fetcher:
        for name in ("spanish_article", "thai_article", "arabic_article"):
            fetcher.get(site.url(f"/articles/{name}.html"))
    requests = sorted(site.log.requests, key=lambda r: r.started)
    assert len(requests) == 4  # robots.txt and three pages
    gaps = [later.started - earlier.started for earlier, later in zip(requests, requests[1:])]
    assert min(gaps) >= 0.25 - 0.01


def test_a_crawl_delay_in_robots_txt_spaces_requests_more_than_the_setting(site, fast_settings):
    site.robots = "User-agent: *\nCrawl-delay: 1\n"
    sleep = RecordingSleep()
    with PoliteFetcher(fast_settings, sleep=sleep) as fetcher:
        fetcher.get(site.url("/articles/spanish_article.html"))
        fetcher.get(site.url("/articles/thai_article.html"))
    # robots.txt, then the first page at once (the setting says no delay), then a wait before the second
    assert len(sleep.waits) == 1 and 0.5 < sleep.waits[0] <= 1.0
    assert [r.path for r in site.log.requests][1:] == ["/articles/spanish_article.html", "/articles/thai_article.html"]


def test_the_global_limit_caps_requests_in_flight_across_hosts(fast_settings):
    log = RequestLog()
    sites = [NewsSite(log, page_delay_s=0.2).start() for _ in range(6)]
    try:
        from pipeline.web.poll import _by_host

        settings = allowing(replace(fast_settings, max_concurrency=2), *sites)
        urls = [site.url("/articles/spanish_article.html") for site in sites]
        with PoliteFetcher(settings) as fetcher:
            responses = _by_host(urls, lambda u: u, fetcher.get, settings)
        assert [r.status for r in responses] == [200] * 6
        page_requests = [r for r in log.requests if r.path.startswith("/articles/")]
        assert max(r.in_flight_all for r in page_requests) == 2
    finally:
        for site in sites:
            site.stop()


# --- retries ---


def test_503_with_retry_after_is_retried_after_the_wait_the_server_asked_for(site, fast_settings):
    sleep = RecordingSleep()
    with PoliteFetcher(fast_settings, sleep=sleep) as fetcher:
        response = fetcher.get(site.url("/flaky/retry-after?fail=1&code=503&retry_after=1"))
    assert response.status == 200
    assert [r.status for r in site.log.for_path("/flaky/retry-after?fail=1&code=503&retry_after=1")] == [503, 200]
    assert sleep.waits == [1.0]


def test_429_without_retry_after_backs_off_exponentially(site, fast_settings):
    sleep = RecordingSleep()
    with PoliteFetcher(fast_settings, sleep=sleep) as fetcher:
        assert fetcher.get(site.url("/flaky/backoff?fail=2&code=429")).status == 200
    assert sleep.waits == [fast_settings.backoff_s, fast_settings.backoff_s * 2]


def test_a_server_error_that_persists_becomes_a_failure_after_the_retries(site, fast_settings):
    error = failure(fast_settings, site.url("/status/502"))
    assert error.reason == "server_error" and "after retries" in error.detail
    assert len(site.log.for_path("/status/502")) == fast_settings.retries + 1


def test_a_retry_after_longer_than_the_limit_is_not_waited_for(site, fast_settings):
    sleep = RecordingSleep()
    with PoliteFetcher(replace(fast_settings, max_retry_after_s=5), sleep=sleep) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.get(site.url("/status/429?retry_after=3600"))
    assert caught.value.reason == "rate_limited" and "3600" in caught.value.detail
    assert sleep.waits == [] and len(site.log.for_path("/status/429?retry_after=3600")) == 1


def test_retry_after_as_an_http_date():
    from datetime import datetime, timezone

    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("Sun, 29 Nov 2026 12:00:30 GMT", now=now) == 30
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("soon") is None


# --- limits and bad responses ---


def test_a_slow_server_times_out(site, fast_settings):
    error = failure(replace(fast_settings, timeout_s=0.3), site.url("/slow?s=2"))
    assert error.reason == "timeout" and "NEWSFLOW_FETCH_TIMEOUT" in error.detail


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_a_body_over_the_limit_is_refused(site, fast_settings, path):
    error = failure(fast_settings, site.url(path))
    assert error.reason == "too_large" and "NEWSFLOW_FETCH_MAX_BYTES" in error.detail


def test_redirects_are_followed_up_to_the_limit(site, fast_settings):
    response = fetch(fast_settings, site.url("/redirect/2"))
    assert response.status == 200 and response.final_url == site.url("/articles/latvian_article.html")
    # every hop as it went over the wire, for the raw store's WARC records
    assert [(hop.url, hop.status) for hop in response.exchanges] == [
        (site.url("/redirect/2"), 302), (site.url("/redirect/1"), 302), (site.url("/redirect/0"), 302), (response.final_url, 200)]
    assert dict(response.exchanges[0].headers)["Location"] == "/redirect/1" and response.exchanges[0].http_version == "HTTP/1.1"
    error = failure(fast_settings, site.url("/redirect/5"))
    assert error.reason == "too_many_redirects"
    assert len([p for p in site.log.paths() if p.startswith("/redirect/")]) == 3 + 4  # 3 hops, then 4 (limit 3 + 1)


def test_a_redirect_loop_is_caught(site, fast_settings):
    error = failure(fast_settings, site.url("/loop/a"))
    assert error.reason == "redirect_loop" and "/loop/b" in error.detail
    assert site.log.paths().count("/loop/a") == 1


@pytest.mark.parametrize("path, reason", [("/articles/missing.html", "not_found"), ("/status/410", "gone"), ("/status/403", "forbidden")])
def test_client_errors_have_their_own_reasons(site, fast_settings, path, reason):
    error = failure(fast_settings, site.url(path))
    assert error.reason == reason and site.url(path) in error.detail


def test_tls_to_a_plain_http_server_is_a_tls_error(site, fast_settings):
    error = failure(fast_settings, f"https://127.0.0.1:{site.port}/articles/spanish_article.html")
    assert error.reason == "tls_error" and "http://" in error.detail


def test_a_name_that_does_not_resolve_is_a_dns_error(fast_settings, loopback_only):
    error = failure(fast_settings, "http://news.invalid/story.html")
    assert error.reason == "dns_error" and "news.invalid could not be resolved" in error.detail
    assert loopback_only == ["news.invalid"]  # looked up (the guard answered), never connected to


def test_conditional_headers_are_sent_and_304_is_reported(site, fast_settings):
    with PoliteFetcher(fast_settings) as fetcher:
        first = fetcher.get(site.url("/feed.xml"))
        second = fetcher.get(site.url("/feed.xml"), validators=first.validators)
    assert first.status == 200 and first.validators.etag and first.validators.last_modified
    assert second.not_modified
    conditional = site.log.for_path("/feed.xml")[1].headers
    assert conditional["If-None-Match"] == first.validators.etag
    assert conditional["If-Modified-Since"] == first.validators.last_modified


# --- hostile answers ---


def test_an_oversized_robots_txt_is_read_to_500_kib_and_its_rules_there_apply(site, fast_settings):
    site.robots = HUGE_ROBOTS  # 12 MB: over the body limit; a Disallow: /articles/ lies past its first 500 KiB
    with PoliteFetcher(fast_settings) as fetcher:
        page = fetcher.get(site.url("/articles/spanish_article.html"))
        with pytest.raises(FetchError) as caught:
            fetcher.get(site.url("/private/secret.html"))
    assert page.status == 200  # not blamed for the size of robots.txt
    error = caught.value
    assert error.reason == "robots_disallowed"
    assert "robots.txt is over 500 KiB" in error.detail and "read the rules in its first 500 KiB" in error.detail
    assert site.log.paths().count("/robots.txt") == 1 and "/private/secret.html" not in site.log.paths()


@pytest.mark.parametrize("path", ["/bomb-feed.xml", "/bomb-feed-twice.xml", "/bomb-page.html"])
def test_a_body_that_unpacks_past_the_limit_is_refused_without_unpacking_it(site, fast_settings, path):
    failure(fast_settings, site.url(path))  # the site makes its bomb at the first request
    tracemalloc.start()
    try:
        error = failure(fast_settings, site.url(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == "too_large"
    assert "unpacks to more than that, sent with Content-Encoding: gzip" in error.detail and site.url(path) in error.detail
    # 64 MB once unpacked (httpx alone unpacks a 64 KiB read of it at once); here never much past the 1 MB limit
    assert peak < 4 * fast_settings.max_body_bytes, f"{peak:,} bytes at peak"


def test_a_body_in_an_encoding_that_cannot_be_unpacked_is_a_failure_that_says_so(site, fast_settings):
    damaged = failure(fast_settings, site.url("/bad-gzip.html"))
    assert damaged.reason == "bad_encoding" and "gzip body cannot be unpacked" in damaged.detail
    brotli = failure(fast_settings, site.url("/brotli.html"))
    assert brotli.reason == "bad_encoding" and "Content-Encoding: br" in brotli.detail and "did not ask for" in brotli.detail
