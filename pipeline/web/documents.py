"""Fetched pages and failed fetches as the Documents the stages take (pure: no network)."""

from __future__ import annotations

from pipeline.record import Document
from pipeline.sources import decode_bytes
from pipeline.web.poll import FetchedPage, FetchFailure

WEB_SCHEMES = ("http://", "https://")


def is_web_address(text: str) -> bool:
    """An input that names a page or feed on the web rather than a file."""
    return text.strip().lower().startswith(WEB_SCHEMES)


def page_document(page: FetchedPage) -> Document:
    """The stored raw page, decoded as a file would be, stored under its canonical URL. The feed
    entry's title, date, author and site fill in what the page itself does not say (extraction
    keeps them when it finds none), and source_url stays the canonical URL."""
    from pipeline.web.store import read_raw_page

    try:
        data = read_raw_page(page.raw_path)
    except OSError as error:
        return Document(source_path=page.url, source_url=page.url).reject(
            "unreadable",
            f"The page fetched from {page.url} was stored at {page.raw_path} but cannot be read back ({error}); "
            "check the state folder's disk and permissions, then run `newsflow ingest --refresh` on the URL.",
        )
    text, encoding = decode_bytes(data, declared_charset=page.charset)
    return Document(
        source_path=page.url,
        content_sha256=page.content_sha256,
        size_bytes=len(data),
        raw_text=text,
        encoding=encoding,
        content_format="html",
        title=page.title,
        author=page.author,
        published_at=page.published_at,
        site_name=page.site_name,
        source_url=page.url,
    )


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
            site_name=None, source=None, charset=info.charset, fetched_url=info.fetched_url,
        )
        if info.url not in latest or info.fetched_at >= latest[info.url][0]:
            latest[info.url] = (info.fetched_at, page)
    return [page for _, page in sorted(latest.values(), key=lambda item: item[1].url)]
