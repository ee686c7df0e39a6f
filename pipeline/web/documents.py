"""Fetched pages and failed fetches as the Documents the stages take (pure: no network)."""

from __future__ import annotations

import re
import codecs

from pipeline.record import Document
from pipeline.sources import _BOMS, _CHARSET_ALIASES, UndecodableError, decode_bytes, sniff_declared_charset
from pipeline.web.poll import FetchedPage, FetchFailure

WEB_SCHEMES = ("http://", "https://")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]+):")
OPAQUE_SCHEMES = frozenset({"data", "javascript", "mailto", "about", "blob", "tel", "news"})  # no // after the colon
# What servers send when nobody configured a charset (Apache's old AddDefaultCharset, RFC 2616's
# default): such a label says little about the bytes, so the page's own <meta charset> or, without
# one, the bytes themselves decide (windows-1252 stays the reading unless they show another encoding).
SERVER_DEFAULT_CHARSETS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "windows-1252", "cp1252", "x-cp1252"})


def is_web_address(text: str) -> bool:
    """An input that names a page or feed on the web rather than a file."""
    return text.strip().lower().startswith(WEB_SCHEMES)


def other_scheme(text: str) -> str | None:
    """The scheme of an address that is not http(s) (file://, ftp://, gopher://, data:...), else None."""
    match = _SCHEME.match(text.strip())
    if not match or match[1].lower() in ("http", "https"):
        return None
    scheme = match[1].lower()
    return scheme if text.strip()[match.end():].startswith("//") or scheme in OPAQUE_SCHEMES else None


def page_document(page: FetchedPage) -> Document:
    """The stored raw page, decoded as a file would be, stored under its canonical URL. The feed
    entry's title, date, author and site fill in what the page itself does not say (extraction
    keeps them when it finds none), and source_url stays the canonical URL."""
    from pipeline.web.store import read_raw_page

    try:
        data = read_raw_page(page.raw_path, page.raw_offset, page.raw_length, page.content_sha256)
    except OSError as error:
        return Document(source_path=page.url, source_url=page.url).reject(
            "unreadable",
            f"The page fetched from {page.url} was stored in {page.raw_path} (offset {page.raw_offset}) but cannot be read back ({error}); "
            "check the state folder's disk and permissions, then run `newsflow ingest --refresh` on the URL.",
        )
    document = Document(source_path=page.url, content_sha256=page.content_sha256, size_bytes=len(data), source_url=page.url)
    try:
        text, encoding, origin = decode_page(data, page.charset)
    except UndecodableError as error:
        said = f"the server said charset={page.charset}" if page.charset else "the server named no charset"
        return document.reject(
            "undecodable", f"The page fetched from {page.url} could not be decoded as text ({error}; {said}); tell the site's owner."
        )
    return document.replace(
        raw_text=text,
        encoding=encoding,
        encoding_origin=origin,
        content_format="html",
        title=page.title,
        author=page.author,
        published_at=page.published_at,
        site_name=page.site_name,
    )


def decode_page(data: bytes, declared_charset: str | None) -> tuple[str, str, str]:
    """(text, codec, where the codec came from). The order is decode_bytes's (byte-order mark,
    valid UTF-8, the declared charset, the page's <meta charset>, then the bytes' own evidence),
    except that a server default such as iso-8859-1 counts as no label at all."""
    weak = bool(declared_charset) and declared_charset.strip().lower() in SERVER_DEFAULT_CHARSETS
    text, encoding = decode_bytes(data, declared_charset=None if weak else declared_charset)
    return text, encoding, _encoding_origin(data, encoding, declared_charset, weak)


def _encoding_origin(data: bytes, encoding: str, declared: str | None, weak: bool) -> str:
    server = f"the server's Content-Type said charset={declared}" if declared else "the server named no charset"
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return f"named by its byte-order mark; {server}"
    if encoding == "utf-8":
        return f"its bytes are valid UTF-8; {server}"
    if declared and not weak and _codec(declared) == encoding:
        return f"named by the server's Content-Type header, charset={declared}"
    meta = sniff_declared_charset(data)
    if meta and _codec(meta) == encoding:
        return f"named by the page's own <meta charset={meta}>; {server}"
    if weak and encoding == "cp1252":
        return f"named by the server's Content-Type header, charset={declared}, and the bytes do not contradict it"
    return f"detected from its bytes; {server}"


def _codec(label: str) -> str | None:
    label = label.strip().lower()
    try:
        return codecs.lookup(_CHARSET_ALIASES.get(label, label)).name
    except LookupError:
        return None


def failure_document(failure: FetchFailure) -> Document:
    """A fetch that failed, as a rejected input: its path is the URL."""
    return Document(source_path=failure.url).reject(failure.reason, failure.detail)


def stored_pages(state_dir, warehouse: str | None = None) -> list[FetchedPage]:
    """The raw pages kept under the state folder, the latest fetch of each URL, as pages to
    extract again (`newsflow reextract`): those `warehouse`'s runs fetched (and those stored before
    the store recorded it). What a feed entry said is not kept: the page's own title, date and
    author are what re-extraction finds."""
    from pipeline.web.store import stored_raw_pages

    latest: dict[str, tuple[str, FetchedPage]] = {}
    for stored in stored_raw_pages(state_dir):
        info = stored.info
        if info is None:  # its record was lost: the URL is unknown
            continue
        if warehouse is not None and not stored.used_by(warehouse):
            continue
        page = FetchedPage(
            url=info.url, raw_path=stored.path, content_sha256=stored.sha256, title=None, published_at=None, author=None,
            site_name=None, source=None, charset=info.charset, fetched_url=info.fetched_url, raw_offset=stored.offset,
            raw_length=stored.length,
        )
        if info.url not in latest or info.fetched_at >= latest[info.url][0]:
            latest[info.url] = (info.fetched_at, page)
    return [page for _, page in sorted(latest.values(), key=lambda item: item[1].url)]
