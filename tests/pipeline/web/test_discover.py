"""Kinds, feed entries, sitemap links and canonical URLs, from literal documents."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone

import pytest

from pipeline.web.discover import (
    MalformedFeed,
    UnpacksTooLarge,
    canonical_url,
    declared_canonical_url,
    detect_kind,
    feed_links_in_page,
    parse_feed,
    parse_sitemap,
)
from workbench.news_site import NewsSite, gzip_bomb

BASE = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "url, canonical",
    [
        ("HTTP://News.Example.COM:80/a/story.html?utm_source=rss&utm_medium=feed#comments", "http://news.example.com/a/story.html"),
        ("https://example.com/story?id=7&fbclid=abc&gclid=x", "https://example.com/story?id=7"),
        ("https://example.com/story?b=2&a=1", "https://example.com/story?a=1&b=2"),
        ("http://127.0.0.1:8000/articles/x.html#top", "http://127.0.0.1:8000/articles/x.html"),
    ],
)
def test_canonical_url_drops_tracking_parameters_fragments_and_case(url, canonical):
    assert canonical_url(url) == canonical


def test_relative_links_are_made_absolute():
    assert canonical_url("../b.html?utm_term=z", base=f"{BASE}/news/a/index.html") == f"{BASE}/news/b.html"


def test_a_same_site_rel_canonical_is_honoured_and_another_sites_is_not():
    page = '<html><head><link rel="canonical" href="/articles/one.html?utm_source=x"></head><body></body></html>'
    assert declared_canonical_url(page, f"{BASE}/amp/one") == f"{BASE}/articles/one.html"
    elsewhere = '<html><head><link rel="canonical" href="https://other.example/one"></head></html>'
    assert declared_canonical_url(elsewhere, f"{BASE}/amp/one?utm_source=a") == f"{BASE}/amp/one"


def test_kinds_are_detected_from_the_documents_of_the_test_site():
    site = NewsSite()  # never started: only its documents are used
    try:
        assert detect_kind(site.rss().encode(), "application/rss+xml") == "feed"
        assert detect_kind(site.atom().encode(), "application/xml") == "feed"
        assert detect_kind(site.json_feed().encode(), "application/json") == "feed"
        assert detect_kind(site.sitemap_index().encode(), "text/xml") == "sitemap"
        assert detect_kind(gzip.compress(site.sitemap(0).encode()), "application/octet-stream") == "sitemap"
        assert detect_kind(site.page_with_feed_links().encode(), "text/html") == "page"
        assert detect_kind(b"\x89PNG\r\n\x1a\n\0\0", "image/png") is None
        assert detect_kind(b'{"data": []}', "application/json") is None
    finally:
        site.stop()


def test_feed_links_announced_by_a_page():
    html = NewsSite.page_with_feed_links(None)
    assert feed_links_in_page(html, f"{BASE}/") == [f"{BASE}/feed.xml", f"{BASE}/atom.xml"]


def test_rss_entries_carry_title_date_and_author():
    rss = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title>
    <item><title> A story </title><link>{BASE}/a.html?utm_source=rss</link>
      <pubDate>Tue, 10 Nov 2026 08:00:00 GMT</pubDate><author>desk@example.com (Ann Writer)</author></item>
    <item><title>No link, permalink guid</title><guid>{BASE}/b.html</guid></item>
    <item><title>Duplicate</title><link>{BASE}/a.html#again</link></item>
    </channel></rss>""".encode()
    feed = parse_feed(rss, f"{BASE}/feed.xml")
    assert feed.title == "Site"
    assert [(e.url, e.title, e.author) for e in feed.entries] == [
        (f"{BASE}/a.html", "A story", "Ann Writer"),
        (f"{BASE}/b.html", "No link, permalink guid", None),
    ]
    assert feed.entries[0].published_at == datetime(2026, 11, 10, 8, 0, tzinfo=timezone.utc)


def test_atom_entries_resolve_xml_base_and_prefer_published_over_updated():
    site = NewsSite()
    try:
        feed = parse_feed(site.atom().encode(), site.url("/atom.xml"))
    finally:
        site.stop()
    first = feed.entries[0]
    assert first.url == site.url("/articles/thai_article.html")
    assert first.published_at == datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
    assert first.author == "Atom Author 0" and feed.title == "Loopback Atom"


@pytest.mark.parametrize("body", [b"<html><body>Not a feed</body></html>", b"<?xml version='1.0'?><rss><channel><item><title>cut", b"{not json"])
def test_what_is_not_a_feed_is_malformed(body):
    with pytest.raises(MalformedFeed):
        parse_feed(body, f"{BASE}/feed.xml")


def test_a_sitemap_index_lists_sitemaps_and_a_urlset_lists_pages_on_the_same_site():
    index = f"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>{BASE}/sitemap-news.xml</loc></sitemap><sitemap><loc>{BASE}/sitemap-old.xml.gz</loc></sitemap>
    </sitemapindex>""".encode()
    assert parse_sitemap(index, f"{BASE}/sitemap_index.xml").sitemaps == (f"{BASE}/sitemap-news.xml", f"{BASE}/sitemap-old.xml.gz")
    urlset = f"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>{BASE}/news/one.html?utm_source=sitemap</loc></url><url><loc>https://elsewhere.example/two.html</loc></url>
    </urlset>""".encode()
    links = parse_sitemap(gzip.compress(urlset), f"{BASE}/sitemap-news.xml.gz")
    assert links.pages == (f"{BASE}/news/one.html",) and links.sitemaps == ()


def test_a_sitemap_that_is_not_one_is_malformed():
    with pytest.raises(MalformedFeed):
        parse_sitemap(b"<?xml version='1.0'?><rss><channel/></rss>", f"{BASE}/sitemap.xml")


def test_a_gzipped_feed_is_read_and_one_that_unpacks_past_the_limit_is_not():
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel><item><link>{BASE}/a.html</link></item></channel></rss>'.encode()
    assert [entry.url for entry in parse_feed(gzip.compress(rss), f"{BASE}/feed.xml.gz").entries] == [f"{BASE}/a.html"]
    with pytest.raises(UnpacksTooLarge) as caught:
        parse_feed(gzip_bomb(rss[:60]), f"{BASE}/feed.xml.gz")  # 64 MB once unpacked
    assert f"{BASE}/feed.xml.gz is gzipped and unpacks to more than 52,428,800 bytes" in str(caught.value)
