"""The fetcher and a poll against a hostile site (workbench/news_site_hostile.py): a redirect, a robots.txt, a feed or a
sitemap decides nothing about where newsflow connects, and a server that drips its answer holds a
request no longer than the deadline. Internal hosts are 127.0.0.2 and another port on 127.0.0.1;
only the news site's own address and port are allowed (conftest.fast_settings)."""

from __future__ import annotations

import socket
from contextlib import nullcontext
from dataclasses import replace
from urllib.parse import quote

import duckdb
import pytest

from pipeline.web import poll_sources
from pipeline.web.fetch import FetchError, PoliteFetcher
from tests.flows.processes import wait_for
from tests.pipeline.web.conftest import allowing
from workbench.news_site import NewsSite

ARTICLE = "/articles/spanish_article.html"


def fetch(settings, url, **kwargs):
    with PoliteFetcher(settings, **kwargs) as fetcher:
        return fetcher.get(url)


def failure(settings, url, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(settings, url, **kwargs)
    return caught.value


def inside(form: str, site, internal, other_port) -> str:
    """An address on the machine that is not the allowed news site, written in one of many ways."""
    return {
        "127.0.0.2": f"http://127.0.0.2:{internal.port}{ARTICLE}",
        "another port": f"http://127.0.0.1:{other_port.port}{ARTICLE}",
        "localhost, another port": f"http://localhost:{other_port.port}{ARTICLE}",
        "decimal": f"http://2130706434:{internal.port}{ARTICLE}",  # 127.0.0.2
        "hex": f"http://0x7f.0.0.2:{internal.port}{ARTICLE}",
        "octal": f"http://0177.0.0.2:{internal.port}{ARTICLE}",
        "IPv4-mapped IPv6": f"http://[::ffff:127.0.0.2]:{internal.port}{ARTICLE}",
        "0.0.0.0, the allowed port": f"http://0.0.0.0:{site.port}{ARTICLE}",  # this host: reaches the site itself
    }[form]


FORMS = ["127.0.0.2", "another port", "localhost, another port", "decimal", "hex", "octal", "IPv4-mapped IPv6",
         "0.0.0.0, the allowed port"]


def poll_once(settings, tmp_path, urls):
    with duckdb.connect() as connection:
        return poll_sources(lambda: nullcontext(connection), tmp_path / "state", urls=urls, known_urls=lambda _: set(), settings=settings)


# --- where newsflow connects ---


@pytest.mark.parametrize("form", FORMS)
def test_a_redirect_to_an_internal_address_is_refused_before_connecting(site, internal, other_port, fast_settings, form):
    target = inside(form, site, internal, other_port)
    redirect = f"/hostile/redirect?to={quote(target, safe='')}"
    error = failure(fast_settings, site.url(redirect))
    assert error.reason == "blocked_destination", error.detail
    assert f"redirects to {target}" in error.detail and "NEWSFLOW_FETCH_ALLOW=" in error.detail
    assert internal.log.paths() == [] and other_port.log.paths() == []
    assert site.log.paths() == ["/robots.txt", redirect]  # 0.0.0.0 would have reached the site itself


@pytest.mark.parametrize("form", FORMS)
def test_an_internal_address_given_directly_is_refused_and_nothing_is_asked_of_it(site, internal, other_port, fast_settings, form):
    error = failure(fast_settings, inside(form, site, internal, other_port))
    assert error.reason == "blocked_destination", error.detail
    assert internal.log.paths() == [] and other_port.log.paths() == [] and site.log.paths() == []


def test_a_refusal_does_not_tell_whether_anything_listens_there(internal, fast_settings):
    with socket.socket() as unused:
        unused.bind(("127.0.0.2", 0))
        closed_port = unused.getsockname()[1]  # nothing listens on it
    listening = failure(fast_settings, f"http://127.0.0.2:{internal.port}{ARTICLE}")
    closed = failure(fast_settings, f"http://127.0.0.2:{closed_port}{ARTICLE}")
    assert (listening.reason, listening.detail.replace(str(internal.port), "PORT")) == (closed.reason, closed.detail.replace(str(closed_port), "PORT"))
    assert "127.0.0.2 is a loopback address" in listening.detail
    assert "NEWSFLOW_FETCH_ALLOW=127.0.0.2:" in listening.detail and "NEWSFLOW_FETCH_ALLOW_PRIVATE=1" in listening.detail


def test_the_cloud_metadata_address_is_refused_without_connecting(fast_settings, loopback_only):
    error = failure(fast_settings, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    assert error.reason == "blocked_destination" and "169.254.169.254 is a link-local address" in error.detail
    assert "NEWSFLOW_FETCH_ALLOW=169.254.169.254:80" in error.detail and "ALLOW_PRIVATE" not in error.detail
    assert loopback_only == []  # no connection was even tried


def test_robots_txt_redirecting_inside_is_not_followed(site, internal, fast_settings):
    site.robots = f"<redirect http://127.0.0.2:{internal.port}/robots.txt>"
    error = failure(fast_settings, site.url(ARTICLE))
    assert error.reason == "blocked_destination" and "/robots.txt redirects to http://127.0.0.2" in error.detail
    assert internal.log.paths() == []
    assert site.log.paths() == ["/robots.txt"]  # the page is not asked for while its rules cannot be read


def test_a_name_that_resolves_elsewhere_when_connecting_is_refused_then(site, fast_settings):
    """DNS rebinding: the name is public (here: allowed) when checked, internal when connected to."""
    internal_same_port = NewsSite(host="127.0.0.2", port=site.port).start()
    try:
        lookups = []

        def rebinding(host: str, port: int) -> list[str]:
            lookups.append(host)
            return ["127.0.0.1"] if len(lookups) == 1 else ["127.0.0.2"]

        error = failure(fast_settings, f"http://news.rebind.test:{site.port}{ARTICLE}", resolver=rebinding)
        assert error.reason == "blocked_destination" and "news.rebind.test resolves to 127.0.0.2" in error.detail
        assert lookups == ["news.rebind.test", "news.rebind.test"]  # the check, then the connection (robots.txt)
        assert internal_same_port.log.paths() == [] and site.log.paths() == []
    finally:
        internal_same_port.stop()


@pytest.mark.parametrize("feed", ["rss", "json", "atom with xml:base"])
def test_feed_entries_pointing_inside_are_refused_and_the_others_fetched(site, internal, other_port, fast_settings, tmp_path, feed):
    targets = [inside(form, site, internal, other_port) for form in ("127.0.0.2", "another port", "decimal", "IPv4-mapped IPv6")]
    query = "&".join(f"to={quote(url, safe='')}" for url in [*targets, site.url(ARTICLE)])
    url = {
        "rss": site.url(f"/hostile/feed.xml?{query}"),
        "json": site.url(f"/hostile/feed.json?{query}"),
        "atom with xml:base": site.url(f"/hostile/atom.xml?base={quote(f'http://127.0.0.2:{internal.port}/')}&href=/articles/thai_article.html"),
    }[feed]
    result = poll_once(fast_settings, tmp_path, [url])
    reasons = {failure.url: failure.reason for failure in result.failures}
    if feed == "atom with xml:base":
        assert reasons == {f"http://127.0.0.2:{internal.port}/articles/thai_article.html": "blocked_destination"}
        assert result.pages == []
    else:
        assert set(reasons.values()) == {"blocked_destination"} and len(reasons) == len(targets)
        assert [page.url for page in result.pages] == [site.url(ARTICLE)]
    assert internal.log.paths() == [] and other_port.log.paths() == []


def test_a_sitemap_lists_pages_of_its_own_site_only(site, other_port, fast_settings, tmp_path):
    pages = [site.url(ARTICLE), other_port.url("/articles/thai_article.html")]
    sitemap = site.url("/hostile/sitemap.xml?" + "&".join(f"to={quote(url, safe='')}" for url in pages))
    result = poll_once(allowing(fast_settings, other_port), tmp_path, [sitemap])  # even an allowed other port
    assert [page.url for page in result.pages] == [site.url(ARTICLE)] and result.failures == []
    assert other_port.log.paths() == []


def test_a_canonical_link_to_another_port_does_not_name_the_article(site, other_port, fast_settings, tmp_path):
    page = site.url(f"/hostile/canonical.html?to={quote(other_port.url(ARTICLE), safe='')}")
    result = poll_once(fast_settings, tmp_path, [page])
    assert [p.url for p in result.pages] == [page]
    assert other_port.log.paths() == []


# --- how long newsflow waits ---


def _slow(settings):
    return replace(settings, timeout_s=5.0, deadline_s=1.0, retries=0)  # each read may wait 5 s; the whole request 1 s


@pytest.mark.parametrize("path", ["/hostile/slow-body?every=0.05&bytes=400", "/hostile/slow-headers?every=0.05&lines=400"])
def test_an_answer_dripped_a_byte_at_a_time_is_cut_off_at_the_deadline(site, fast_settings, path):
    error = failure(_slow(fast_settings), site.url(path))
    assert error.reason == "timeout" and "within 1 s" in error.detail and "NEWSFLOW_FETCH_DEADLINE" in error.detail
    [request] = site.log.for_path(path)
    assert wait_for(lambda: request.client_left, 30)  # newsflow hung up; the server had 19 s left to drip


def test_a_slow_robots_txt_holds_its_host_no_longer_than_the_deadline(site, fast_settings):
    site.robots = "<slow 0.05 400>"
    with PoliteFetcher(_slow(fast_settings)) as fetcher:
        errors = []
        for name in ("spanish_article", "thai_article"):
            with pytest.raises(FetchError) as caught:
                fetcher.get(site.url(f"/articles/{name}.html"))
            errors.append(caught.value)
    assert [e.reason for e in errors] == ["timeout", "timeout"] and all("robots.txt" in e.detail for e in errors)
    [robots] = site.log.for_path("/robots.txt")
    assert site.log.paths() == ["/robots.txt"]
    assert wait_for(lambda: robots.client_left, 30)


def test_a_host_that_keeps_missing_the_deadline_is_left_for_the_next_poll(site, fast_settings):
    settings = _slow(fast_settings)
    urls = [site.url(f"/hostile/slow-body?every=0.05&bytes=400&n={n}") for n in range(6)]
    with PoliteFetcher(settings) as fetcher:
        errors = []
        for url in urls:
            with pytest.raises(FetchError) as caught:
                fetcher.get(url)
            errors.append(caught.value)
    assert [e.reason for e in errors] == ["timeout"] * 6
    asked = [path for path in site.log.paths() if path.startswith("/hostile/slow-body")]
    assert len(asked) == settings.max_timeouts_per_host == 3
    assert all("was not requested" in e.detail and "next poll" in e.detail for e in errors[3:])
