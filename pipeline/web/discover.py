"""What a fetched document is, and the article links it leads to.

Kinds: `feed` (RSS, RDF, Atom, JSON Feed), `sitemap` (urlset or sitemap index, XML or gzipped),
`page` (HTML). Feed links in a page come from trafilatura's `determine_feed`; sitemap links from
trafilatura's `SitemapObject`; URLs are normalised with courlan. Feed entries are read with lxml
because trafilatura's feed tools return links only, and the entries' titles, dates and authors
are wanted when a page lacks them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urldefrag, urljoin, urlsplit

from courlan import normalize_url
from lxml import etree, html as lxml_html
from trafilatura.feeds import FeedParameters, determine_feed, find_links
from trafilatura.sitemaps import SitemapObject

from pipeline.web.credentials import without_userinfo
from pipeline.web.unpack import DamagedEncoding, gunzip_within

KINDS = ("feed", "sitemap", "page")
FEED_ROOTS = frozenset({"rss", "feed", "RDF", "channel"})
SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed


class MalformedFeed(ValueError):
    """The document claims to be a feed or sitemap but cannot be read as one."""


class UnpacksTooLarge(ValueError):
    """A gzipped document (a sitemap.xml.gz, a feed.xml.gz) that unpacks to more than MAX_SITEMAP_BYTES."""

    def __init__(self, url: str | None = None, limit: int = MAX_SITEMAP_BYTES) -> None:
        self.url, self.limit = url, limit
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        return (
            f"{self.url or 'It'} is gzipped and unpacks to more than {self.limit:,} bytes ({self.limit // 1024 // 1024} MB, "
            "the most newsflow unpacks of a gzipped sitemap or feed: the most a sitemap may hold under the sitemaps.org "
            "protocol); newsflow stopped unpacking there and read none of it: ask the site to split it (a sitemap index "
            "can list many sitemaps)."
        )


@dataclass(frozen=True)
class FeedEntry:
    url: str  # canonical
    title: str | None = None
    published_at: datetime | None = None
    author: str | None = None


@dataclass(frozen=True)
class Feed:
    title: str | None  # the channel's title: the site name for its entries
    entries: tuple[FeedEntry, ...]


@dataclass(frozen=True)
class SitemapLinks:
    pages: tuple[str, ...]  # canonical article URLs
    sitemaps: tuple[str, ...]  # nested sitemaps (a sitemap index lists these)


def canonical_url(url: str, base: str | None = None) -> str:
    """The one address an article is known by: absolute, lower-case host, default port and
    fragment dropped, tracking parameters (utm_*, fbclid, ...) removed, the rest sorted, and no
    credentials (`user:password@`: they are never stored, and never sent from a feed or page)."""
    absolute = without_userinfo(urljoin(base, url.strip()) if base else url.strip())
    try:
        normalised = normalize_url(absolute)
    except (ValueError, TypeError):
        normalised = absolute
    return urldefrag(normalised)[0]


def same_host(a: str, b: str) -> bool:
    """The same site: the same host (with or without www.) and port (a port written explicitly
    counts: 127.0.0.1:8080 and 127.0.0.1:9090 are two sites)."""
    parts_a, parts_b = urlsplit(a), urlsplit(b)
    strip = lambda host: host[4:] if host.startswith("www.") else host  # noqa: E731
    if strip(parts_a.hostname or "") != strip(parts_b.hostname or ""):
        return False
    try:
        port_a, port_b = parts_a.port, parts_b.port
    except ValueError:  # not a number
        return False
    default = {"http": 80, "https": 443}
    if port_a is None and port_b is None:
        return True
    return (port_a or default.get(parts_a.scheme)) == (port_b or default.get(parts_b.scheme))


# --- kinds ---


def maybe_gunzip(body: bytes, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """Gzipped sitemaps (sitemap.xml.gz) arrive as gzip bytes, not Content-Encoding. Never unpacks
    more than `limit` + 1 bytes: past `limit` it raises UnpacksTooLarge; damaged, MalformedFeed."""
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        data = gunzip_within(body, limit)
    except DamagedEncoding as error:
        raise MalformedFeed(str(error)) from None
    if len(data) > limit:
        raise UnpacksTooLarge(limit=limit)
    return data


def detect_kind(body: bytes, content_type: str | None) -> str | None:
    """feed, sitemap, page, or None when it is none of those (an image, a PDF, plain text...).
    Raises UnpacksTooLarge for a gzipped document too large to look into."""
    try:
        body = maybe_gunzip(body)
    except MalformedFeed:
        return None
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"{"):
        return "feed" if _json_feed_items(body) is not None else None
    if content_type in HTML_TYPES or head.startswith((b"<!doctype html", b"<html")):
        return "page"
    root = _xml_root(body)
    if root is not None:
        name = etree.QName(root).localname
        if name in FEED_ROOTS:
            return "feed"
        if name in SITEMAP_ROOTS:
            return "sitemap"
        if name == "html":
            return "page"
    if b"<html" in head or b"<body" in head:
        return "page"
    return None


def is_html(content_type: str | None, body: bytes) -> bool:
    if content_type:
        return content_type in HTML_TYPES
    return detect_kind(body, None) == "page"


def _xml_root(body: bytes, *, recover: bool = True):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=recover, huge_tree=False)
    try:
        return etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


# --- pages ---


def feed_links_in_page(page_html: str, page_url: str) -> list[str]:
    """The feeds a page announces (<link rel="alternate" type="application/rss+xml">, or links that look like feeds)."""
    parts = urlsplit(page_url)
    base = f"{parts.scheme}://{parts.netloc}"
    return [canonical_url(link) for link in determine_feed(page_html, FeedParameters(base, parts.hostname or "", page_url))]


def declared_canonical_url(page_html: bytes | str, page_url: str) -> str:
    """The page's <link rel="canonical">, when it points to the same site; else the page's own URL."""
    own = canonical_url(page_url)
    try:
        tree = lxml_html.fromstring(page_html)
    except (etree.ParserError, ValueError):
        return own
    for link in tree.xpath('//link[@href][contains(concat(" ", normalize-space(translate(@rel, "CANONICAL", "canonical")), " "), " canonical ")]'):
        href = (link.get("href") or "").strip()
        if not href:
            continue
        candidate = canonical_url(href, base=page_url)
        # A canonical on another site is not trusted: a page cannot claim to be someone else's article.
        if urlsplit(candidate).scheme in ("http", "https") and same_host(candidate, page_url):
            return candidate
        break
    return own


# --- feeds ---


def parse_feed(body: bytes, feed_url: str) -> Feed:
    """Entries of an RSS, RDF, Atom or JSON feed (or of one gzipped), in feed order, one per canonical
    URL. Raises UnpacksTooLarge for a gzipped feed over MAX_SITEMAP_BYTES unpacked."""
    try:
        body = maybe_gunzip(body).lstrip(b"\xef\xbb\xbf \t\r\n")
    except UnpacksTooLarge:
        raise UnpacksTooLarge(feed_url) from None
    if body.startswith(b"{"):
        return _parse_json_feed(body, feed_url)
    root = _xml_root(body, recover=False)
    recovered = root is None
    if recovered:
        root = _xml_root(body, recover=True)  # many real feeds are slightly broken
    if root is None or etree.QName(root).localname not in FEED_ROOTS:
        links = _links_by_trafilatura(body, feed_url)
        if not links:
            raise MalformedFeed(_not_a_feed(root))
        return Feed(title=None, entries=tuple(FeedEntry(url=link) for link in links))
    name = etree.QName(root).localname
    title = _text(root.find("{*}channel/{*}title")) if name in ("rss", "RDF") else _text(root.find("{*}title"))
    if name == "feed":
        entries = [_atom_entry(entry, feed_url) for entry in root.iter("{*}entry")]
    else:
        entries = [_rss_item(item, feed_url) for item in root.iter("{*}item")]
    found = _unique(entry for entry in entries if entry is not None)
    if recovered and not found:
        raise MalformedFeed("it is not well-formed XML and no entry could be read from it")
    return Feed(title=title, entries=found)


def _not_a_feed(root) -> str:
    if root is None:
        return "it is not well-formed XML or JSON"
    return f"its root element is <{etree.QName(root).localname}>, not <rss>, <feed> or <rdf:RDF>"


def _links_by_trafilatura(body: bytes, feed_url: str) -> list[str]:
    parts = urlsplit(feed_url)
    params = FeedParameters(f"{parts.scheme}://{parts.netloc}", parts.hostname or "", feed_url)
    text = body.decode("utf-8", errors="replace").strip()
    return [canonical_url(link, base=feed_url) for link in find_links(text, params) if link]


def _rss_item(item, feed_url: str) -> FeedEntry | None:
    link = _text(item.find("{*}link"))
    if not link:
        guid = item.find("{*}guid")
        if guid is not None and (guid.get("isPermaLink") or "true").lower() == "true" and _text(guid, "").startswith("http"):
            link = _text(guid)
    if not link:
        link = item.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about")
    if not link:
        return None
    published = _rfc822(_text(item.find("{*}pubDate"))) or _iso(_text(item.find("{http://purl.org/dc/elements/1.1/}date")))
    author = _text(item.find("{http://purl.org/dc/elements/1.1/}creator")) or _rss_author(_text(item.find("{*}author")))
    return FeedEntry(url=canonical_url(link, base=feed_url), title=_text(item.find("{*}title")), published_at=published, author=author)


def _rss_author(value: str | None) -> str | None:
    """RSS <author> is 'email (Name)'; keep the name."""
    if value and "(" in value and value.endswith(")"):
        return value[value.index("(") + 1 : -1].strip() or value
    return value


def _atom_entry(entry, feed_url: str) -> FeedEntry | None:
    href = None
    for link in entry.findall("{*}link"):
        rel = link.get("rel", "alternate")
        if rel == "alternate" and link.get("href"):
            href = link.get("href")
            break
    if not href:
        return None
    base = entry.base or feed_url  # xml:base, when the feed uses it
    published = _iso(_text(entry.find("{*}published"))) or _iso(_text(entry.find("{*}updated")))
    author = _text(entry.find("{*}author/{*}name"))
    return FeedEntry(url=canonical_url(href, base=base), title=_text(entry.find("{*}title")), published_at=published, author=author)


def _json_feed_items(body: bytes) -> list | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        return None
    if "jsonfeed.org" not in str(data.get("version", "")) and not any(isinstance(i, dict) and "url" in i for i in data["items"]):
        return None
    return data["items"]


def _parse_json_feed(body: bytes, feed_url: str) -> Feed:
    items = _json_feed_items(body)
    if items is None:
        raise MalformedFeed("it is JSON but not a JSON Feed (no `items` list)")
    title = json.loads(body).get("title")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = item.get("url") or (item.get("id") if str(item.get("id", "")).startswith("http") else None)
        if not isinstance(url, str):
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        author = ", ".join(a["name"] for a in authors if isinstance(a, dict) and a.get("name")) or None
        published = _iso(item.get("date_published")) or _iso(item.get("date_modified"))
        entries.append(FeedEntry(url=canonical_url(url, base=feed_url), title=item.get("title") or None, published_at=published, author=author))
    return Feed(title=title if isinstance(title, str) else None, entries=_unique(entries))


def _unique(entries) -> tuple[FeedEntry, ...]:
    seen: dict[str, FeedEntry] = {}
    for entry in entries:
        if urlsplit(entry.url).scheme in ("http", "https"):
            seen.setdefault(entry.url, entry)
    return tuple(seen.values())


def _text(element, default: str | None = None) -> str | None:
    if element is None:
        return default
    text = "".join(element.itertext()).strip()
    return text or default


def _rfc822(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return _iso(value)
    return _as_utc(moment)


def _iso(value) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return _as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# --- sitemaps ---


class _Sitemap(SitemapObject):
    """trafilatura's sitemap reader, with courlan's domain check replaced by a same-host check
    (courlan rejects IP addresses and localhost, which intranets and tests use)."""

    def handle_link(self, link: str) -> None:
        if link == self.current_url:
            return
        link = canonical_url(link, base=self.current_url)
        if urlsplit(link).scheme not in ("http", "https") or not same_host(link, self.base_url):
            return
        if link.endswith((".xml", ".xml.gz")) or "sitemap" in urlsplit(link).path.rsplit("/", 1)[-1]:
            self.sitemap_urls.append(link)
        else:
            self.urls.append(link)


def parse_sitemap(body: bytes, sitemap_url: str) -> SitemapLinks:
    """Pages and nested sitemaps listed in an XML (or gzipped, or plain-text) sitemap. Raises
    UnpacksTooLarge for a gzipped sitemap over MAX_SITEMAP_BYTES unpacked."""
    try:
        text = maybe_gunzip(body).decode("utf-8", errors="replace")
    except UnpacksTooLarge:
        raise UnpacksTooLarge(sitemap_url) from None
    root = _xml_root(text.encode("utf-8"))
    if root is not None and etree.QName(root).localname not in SITEMAP_ROOTS:
        raise MalformedFeed(f"its root element is <{etree.QName(root).localname}>, not <urlset> or <sitemapindex>")
    parts = urlsplit(sitemap_url)
    sitemap = _Sitemap(f"{parts.scheme}://{parts.netloc}", parts.hostname or "", [])
    sitemap.current_url = sitemap_url
    sitemap.content = text
    sitemap.process()
    if root is None and not sitemap.urls and not sitemap.sitemap_urls:
        raise MalformedFeed("it is neither a sitemap XML document nor a list of URLs")
    return SitemapLinks(pages=tuple(dict.fromkeys(sitemap.urls)), sitemaps=tuple(dict.fromkeys(sitemap.sitemap_urls)))


__all__ = [
    "KINDS",
    "Feed",
    "FeedEntry",
    "MalformedFeed",
    "SitemapLinks",
    "UnpacksTooLarge",
    "canonical_url",
    "declared_canonical_url",
    "detect_kind",
    "feed_links_in_page",
    "is_html",
    "maybe_gunzip",
    "parse_feed",
    "parse_sitemap",
    "same_host",
]
