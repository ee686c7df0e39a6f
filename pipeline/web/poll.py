"""One poll: the due web sources (or URLs given once) -> new article pages, stored raw on disk.

Two phases, each run on a pool of threads grouped by host (the fetcher keeps one request at a
time per host): first the feeds, sitemaps and pages themselves, with conditional GETs; then the
article pages they list that the warehouse does not hold yet. The warehouse is not held while
fetching: `poll_sources` reads what it needs in short opens (the due sources and their
validators first, the stored URLs through `known_urls`), and `record_polls` writes what each
source's poll found afterwards, in the caller's one short open.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import duckdb

from pipeline.web.discover import (
    FeedEntry,
    MalformedFeed,
    UnpacksTooLarge,
    canonical_url,
    declared_canonical_url,
    detect_kind,
    feed_links_in_page,
    is_html,
    parse_feed,
    parse_sitemap,
)
from pipeline.web.credentials import Credentials
from pipeline.web.fetch import FetchedResponse, FetchError, FetchSettings, PoliteFetcher, Validators, origin_of
from pipeline.web.sources import (
    PollOutcome,
    WebSource,
    child_validators,
    due_sources,
    list_sources,
    record_child_validators,
    record_poll,
)
from pipeline.web.store import RawPageInfo, store_raw_page, utc_iso

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
MAX_SITEMAPS_PER_SOURCE = 50
MAX_HOST_THREADS = 64
MAX_PAGES_PER_SOURCE = 1000  # per poll: a huge sitemap is worked through over several polls
TRANSIENT_REASONS = frozenset({"timeout", "server_error", "rate_limited", "connection_failed", "robots_unavailable", "dns_error"})

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class FetchedPage:
    """One article page fetched this round."""

    url: str  # canonical URL (courlan-normalised, tracking parameters and fragment dropped, rel=canonical honoured)
    raw_path: Path  # the WARC file of the raw store holding the page (store.py)
    content_sha256: str
    title: str | None  # from the feed entry, if any
    published_at: datetime | None
    author: str | None
    site_name: str | None
    source: str | None  # the registered source URL it came from, None for a URL given directly
    charset: str | None = None  # as the server declared it (Content-Type), for decoding raw_path
    fetched_url: str | None = None  # where the bytes came from, after redirects
    language: str | None = None  # the source's language hint (`sources add --language`)
    raw_offset: int = 0  # where the page's response record lies in raw_path
    raw_length: int = 0


@dataclass(frozen=True)
class FetchFailure:
    url: str
    reason: str  # not_found, gone, server_error, timeout, tls_error, dns_error, not_html, too_large, redirect_loop, ...
    detail: str  # an actionable sentence
    source: str | None = None


@dataclass(frozen=True)
class SourcePoll:
    url: str
    status: str
    detail: str
    new_pages: int
    consecutive_failures: int
    capped: bool = False  # a limit of one poll was reached: the detail says what it left


@dataclass(frozen=True)
class SourceRecord:
    """What to write in a registered source's row after its poll (`record_polls`)."""

    url: str
    outcome: PollOutcome
    children: dict[str, tuple[str | None, str | None]]  # nested sitemaps' validators, when they are to be kept
    capped: bool = False  # a limit of one poll was reached: the detail says what it left


@dataclass
class PollResult:
    pages: list[FetchedPage] = field(default_factory=list)
    failures: list[FetchFailure] = field(default_factory=list)
    sources: list[SourcePoll] = field(default_factory=list)  # one per registered source polled, once recorded
    skipped_known: int = 0  # article URLs already in the warehouse, not fetched
    records: list[SourceRecord] = field(default_factory=list)  # what record_polls writes
    polled_at: datetime | None = None
    notes: list[str] = field(default_factory=list)  # limits reached this poll, and what they left for the next

    @property
    def failing_sources(self) -> list[SourcePoll]:
        from pipeline.web.sources import FAILING_AFTER

        return [source for source in self.sources if source.consecutive_failures >= FAILING_AFTER]


@dataclass
class _Target:
    url: str
    kind: str | None  # None: detect from the response
    source: WebSource | None  # None: a URL given directly
    validators: Validators | None = None


@dataclass
class _Listing:
    """What polling one target found: article candidates, or the page itself, or a failure."""

    target: _Target
    entries: list[FeedEntry] = field(default_factory=list)
    site_name: str | None = None
    page: FetchedPage | None = None
    failure: FetchFailure | None = None
    not_modified: bool = False
    validators: Validators | None = None
    children: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    note: str = ""
    sitemaps_left: int = 0  # nested sitemaps never read, left by MAX_SITEMAPS_PER_SOURCE
    sitemaps_unchecked: int = 0  # ... and those read in earlier polls that were not checked again
    pages_left: int = 0  # new pages listed but not fetched: MAX_PAGES_PER_SOURCE was reached
    pages_listed_new: int = 0  # ... out of this many listed that the warehouse lacks


OpenConnection = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def poll_sources(
    open_warehouse: OpenConnection,
    state_dir: Path,
    *,
    urls: Sequence[str] = (),
    due_only: bool = True,
    refresh: bool = False,
    known_urls: Callable[[list[str]], set[str]],
    settings: FetchSettings,
    now: datetime | None = None,
    credentials: dict[str, Credentials] | None = None,
    warehouse: str | None = None,
) -> PollResult:
    """Fetch what is new. `urls`: pages or feeds given once (kind detected), else the registered
    sources (only those due, unless `due_only` is False). Article URLs `known_urls` returns are not
    fetched again unless `refresh`. `open_warehouse` opens a connection to read the sources from,
    closed again before anything is fetched; `record_polls` stores the outcome. `credentials`:
    origin -> the user's credentials for it (credentials.py). `warehouse` (its path) is recorded
    with each raw page kept, so that tidying the raw store for one warehouse leaves another's
    pages alone."""
    now = now or datetime.now(timezone.utc)
    result = PollResult(polled_at=now)
    if urls:
        targets = []
        direct = [canonical_url(url) for url in urls]
        known = set() if refresh else known_urls(direct)
        for url in dict.fromkeys(direct):
            if url in known:
                result.skipped_known += 1
            else:
                targets.append(_Target(url=url, kind=None, source=None))
        sitemap_validators = {}
    else:
        with open_warehouse() as connection:
            sources = due_sources(connection, now) if due_only else list_sources(connection)
            sitemaps = [s.url for s in sources if s.kind == "sitemap"]
            sitemap_validators = {} if refresh else child_validators(connection, sitemaps)
        targets = [
            _Target(url=s.url, kind=s.kind, source=s, validators=None if refresh else Validators(s.etag, s.last_modified))
            for s in sources
        ]

    with PoliteFetcher(settings, credentials=credentials) as fetcher:
        listings = _by_host(
            targets, lambda t: t.url, lambda t: _list_target(fetcher, t, state_dir, sitemap_validators, owner=warehouse), settings
        )
        candidates = _new_candidates(listings, known_urls, refresh, result, tried=lambda urls: _tried_before(open_warehouse, urls))
        fetched = _by_host(candidates, lambda c: c[0].url, lambda c: _fetch_page(fetcher, *c, state_dir, owner=warehouse), settings)

    page_failures: dict[str, list[FetchFailure]] = defaultdict(list)
    new_pages: dict[str, int] = defaultdict(int)
    seen_pages: set[str] = set()
    for outcome in fetched:
        if isinstance(outcome, FetchedPage):
            if outcome.url in seen_pages:  # two listed URLs, one canonical article
                continue
            seen_pages.add(outcome.url)
            result.pages.append(outcome)
            if outcome.source:
                new_pages[outcome.source] += 1
        else:
            result.failures.append(outcome)
            if outcome.source:
                page_failures[outcome.source].append(outcome)
    for listing in listings:
        if listing.page is not None and listing.page.url not in {page.url for page in result.pages}:
            result.pages.append(listing.page)
            if listing.target.source:
                new_pages[listing.target.source.url] += 1
        if listing.failure is not None:
            result.failures.append(listing.failure)
        if listing.target.source is not None:
            result.records.append(_source_record(listing, new_pages, page_failures))
        elif listing.sitemaps_left or listing.sitemaps_unchecked:
            result.notes.append(f"{listing.target.url}: {_sitemap_cap_note(listing)}")
    direct_left = next((listing for listing in listings if listing.target.source is None and listing.pages_left), None)
    if direct_left is not None:
        result.notes.append(_page_cap_note(direct_left, given=True))
    result.notes += [f"Web source {record.url}: {record.outcome.detail}" for record in result.records if record.capped]
    return result


def record_polls(connection: duckdb.DuckDBPyConnection, result: PollResult) -> None:
    """Write each registered source's poll into its row; fills `result.sources`."""
    now = result.polled_at or datetime.now(timezone.utc)
    for record in result.records:
        record_poll(connection, record.url, record.outcome, now=now)
        if record.children:
            record_child_validators(connection, record.url, record.children, now=now)
        row = connection.execute("SELECT consecutive_failures FROM web_sources WHERE url = ?", [record.url]).fetchone()
        result.sources.append(SourcePoll(record.url, record.outcome.status, record.outcome.detail, record.outcome.new_pages,
                                         int(row[0]) if row else 0, capped=record.capped))


def _new_candidates(listings: list[_Listing], known_urls, refresh: bool, result: PollResult, tried=lambda urls: set()):
    """(entry, source URL, site name, language) for each listed article the warehouse lacks, at
    most MAX_PAGES_PER_SOURCE per source (the URLs given directly count as one source), those never
    tried before first, so that what a cap leaves is what the next poll fetches."""
    candidates: dict[str, tuple] = {}
    for listing in listings:
        source = listing.target.source
        for entry in listing.entries:
            if entry.url in candidates:
                continue
            candidates[entry.url] = (entry, source.url if source else None, listing.site_name, source.language if source else None)
    if not candidates:
        return []
    known = set() if refresh else known_urls(list(candidates))
    result.skipped_known += len(known & candidates.keys())
    fresh = [value for url, value in candidates.items() if url not in known]
    per_source: dict[str | None, int] = defaultdict(int)
    for candidate in fresh:
        per_source[candidate[1]] += 1
    if any(n > MAX_PAGES_PER_SOURCE for n in per_source.values()):
        failed_before = tried([candidate[0].url for candidate in fresh])
        fresh.sort(key=lambda candidate: candidate[0].url in failed_before)  # stable: listing order otherwise
        for listing in listings:
            key = listing.target.source.url if listing.target.source else None
            if per_source[key] > MAX_PAGES_PER_SOURCE:
                listing.pages_listed_new, listing.pages_left = per_source[key], per_source[key] - MAX_PAGES_PER_SOURCE
    taken: dict[str | None, int] = defaultdict(int)
    kept = []
    for candidate in fresh:
        taken[candidate[1]] += 1
        if taken[candidate[1]] <= MAX_PAGES_PER_SOURCE:
            kept.append(candidate)
    return kept


def _tried_before(open_warehouse: OpenConnection, urls: list[str]) -> set[str]:
    """The `urls` that were fetched before and rejected (rejected_files), when the warehouse has that table."""
    try:
        with open_warehouse() as connection:
            rows = connection.execute("SELECT DISTINCT path FROM rejected_files WHERE list_contains(?, path)", [urls]).fetchall()
    except duckdb.CatalogException:
        return set()
    return {path for (path,) in rows}


def _page_cap_note(listing: _Listing, *, given: bool = False) -> str:
    fetched = f"fetched the first {MAX_PAGES_PER_SOURCE:,}, the most newsflow fetches from one source in a poll"
    if given:
        return (
            f"The addresses given list {listing.pages_listed_new:,} pages not stored yet: {fetched}; the other "
            f"{listing.pages_left:,} are left: run the same `newsflow ingest` again to fetch them."
        )
    return f"listed {listing.pages_listed_new:,} pages not stored yet: {fetched}; the other {listing.pages_left:,} are left for the next poll."


def _sitemap_cap_note(listing: _Listing) -> str:
    read = f"read {MAX_SITEMAPS_PER_SOURCE} sitemaps, the most newsflow reads from one source in a poll"
    if listing.target.source is not None:
        parts = [read]
        if listing.sitemaps_left:
            parts.append(f"{listing.sitemaps_left:,} more that they list, never read yet, are left for the next poll")
        if listing.sitemaps_unchecked:
            when = "next poll" if listing.sitemaps_left else "the next time the index changes"
            parts.append(f"{listing.sitemaps_unchecked:,} read in earlier polls were not checked for changes (those checked longest ago come first {when})")
        return "; ".join(parts) + "."
    return (
        f"{read}; {listing.sitemaps_left:,} more that they list were not read, and a run given the address starts from the "
        f"first again: follow it with `newsflow sources add {listing.target.url} --kind sitemap`, whose polls work through them."
    )


def _list_target(fetcher: PoliteFetcher, target: _Target, state_dir: Path, sitemap_validators, *, owner: str | None = None) -> _Listing:
    listing = _Listing(target=target)
    source_url = target.source.url if target.source else None
    accept = HTML_ACCEPT if target.kind == "page" else FEED_ACCEPT
    try:
        response = fetcher.get(target.url, validators=target.validators, accept=accept)
    except FetchError as error:
        listing.failure = FetchFailure(target.url, error.reason, error.detail, source=source_url)
        return listing
    listing.validators = response.validators
    if response.not_modified:
        listing.not_modified = True
        listing.validators = target.validators
        return listing
    try:
        kind = target.kind or detect_kind(response.body, response.content_type)
        if kind == "feed":
            feed = parse_feed(response.body, response.final_url)
            listing.entries = list(feed.entries)
            listing.site_name = feed.title
            listing.note = f"{len(feed.entries)} entries;"
        elif kind == "sitemap":
            _walk_sitemaps(fetcher, listing, response, sitemap_validators)
        elif kind == "page":
            if not is_html(response.content_type, response.body):
                raise FetchError(target.url, "not_html", _not_html_detail(target.url, response))
            listing.page = _stored_page(response, state_dir, entry=None, source_url=source_url, site_name=None,
                                        language=target.source.language if target.source else None, owner=owner)
            listing.note = "page changed;"
        else:
            raise FetchError(target.url, "not_html", _not_html_detail(target.url, response))
    except MalformedFeed as error:
        listing.failure = FetchFailure(
            target.url,
            "malformed_feed",
            f"{target.url} cannot be read as a {kind}: {error}. Check the address in a browser; the site may have moved its feed.",
            source=source_url,
        )
    except UnpacksTooLarge as error:
        listing.failure = FetchFailure(target.url, "too_large", UnpacksTooLarge(target.url, error.limit).detail, source=source_url)
    except FetchError as error:
        listing.failure = FetchFailure(target.url, error.reason, error.detail, source=source_url)
    return listing


def _walk_sitemaps(fetcher: PoliteFetcher, listing: _Listing, first: FetchedResponse, stored: dict) -> None:
    """The sitemap and the sitemaps it lists, depth first, each nested one asked for conditionally."""
    links = parse_sitemap(first.body, first.final_url)
    pending = _never_read_first(list(links.sitemaps), stored)
    pages = list(links.pages)
    seen = {listing.target.url, first.final_url}
    unchanged = 0
    while pending and len(seen) < MAX_SITEMAPS_PER_SOURCE:
        url = pending.pop(0)
        if url in seen:
            continue
        seen.add(url)
        etag, modified = stored.get(url, (None, None))
        try:
            response = fetcher.get(url, validators=Validators(etag, modified), accept=FEED_ACCEPT)
        except FetchError as error:
            listing.note += f" nested sitemap {url} failed ({error.reason});"
            continue
        if response.not_modified:
            unchanged += 1
            listing.children[url] = (etag, modified)
            continue
        try:
            nested = parse_sitemap(response.body, response.final_url)
        except MalformedFeed as error:
            listing.note += f" nested sitemap {url} unreadable ({error});"
            continue
        except UnpacksTooLarge as error:
            listing.note += f" nested sitemap {url} not read: it unpacks to more than {error.limit:,} bytes;"
            continue
        listing.children[url] = (response.validators.etag, response.validators.last_modified)
        pending = _never_read_first(pending + list(nested.sitemaps), stored)
        pages.extend(nested.pages)
    left = {url for url in pending if url not in seen}
    listing.sitemaps_left = len(left - stored.keys())
    listing.sitemaps_unchecked = len(left & stored.keys())
    listing.entries = [FeedEntry(url=url) for url in dict.fromkeys(pages)]
    listing.note = f"{len(listing.entries)} pages listed in {len(seen)} sitemap(s), {unchanged} unchanged;" + listing.note


def _never_read_first(sitemaps: list[str], stored: dict) -> list[str]:
    """Sitemaps no poll has read yet (no validators stored) first, then those checked longest ago
    (`stored` is in that order), so that polls work through an index longer than
    MAX_SITEMAPS_PER_SOURCE rather than reading its start again."""
    rank = {url: position for position, url in enumerate(stored)}
    return sorted(sitemaps, key=lambda url: (url in rank, rank.get(url, 0)))


def _fetch_page(fetcher: PoliteFetcher, entry: FeedEntry, source_url: str | None, site_name: str | None,
                language: str | None, state_dir: Path, *, owner: str | None = None) -> FetchedPage | FetchFailure:
    try:
        response = fetcher.get(entry.url, accept=HTML_ACCEPT)
        if not is_html(response.content_type, response.body):
            raise FetchError(entry.url, "not_html", _not_html_detail(entry.url, response))
    except FetchError as error:
        return FetchFailure(entry.url, error.reason, error.detail, source=source_url)
    return _stored_page(response, state_dir, entry=entry, source_url=source_url, site_name=site_name, language=language, owner=owner)


def _stored_page(response: FetchedResponse, state_dir: Path, *, entry: FeedEntry | None, source_url: str | None,
                 site_name: str | None, language: str | None, owner: str | None = None) -> FetchedPage:
    url = declared_canonical_url(response.body, response.final_url)
    stored, sha = store_raw_page(
        state_dir,
        response.body,
        RawPageInfo(url=url, fetched_url=response.final_url, content_type=response.content_type, charset=response.charset,
                    fetched_at=utc_iso(datetime.now(timezone.utc)), warehouses=(owner,) if owner else ()),
        exchanges=response.exchanges,
    )
    return FetchedPage(
        url=url,
        raw_path=stored.path,
        raw_offset=stored.offset,
        raw_length=stored.length,
        content_sha256=sha,
        title=entry.title if entry else None,
        published_at=entry.published_at if entry else None,
        author=entry.author if entry else None,
        site_name=site_name,
        source=source_url,
        charset=response.charset,
        fetched_url=response.final_url,
        language=language,
    )


def _not_html_detail(url: str, response: FetchedResponse) -> str:
    return (
        f"{url} is {response.content_type or 'of no declared type'}, not an HTML page, feed or sitemap; "
        "newsflow reads web pages only: link to the article's page instead."
    )


def _source_record(listing: _Listing, new_pages, page_failures) -> SourceRecord:
    source = listing.target.source
    assert source is not None
    failures = page_failures.get(source.url, [])
    # Cut short by a cap: what was left is listed again next poll (the listing is asked for in full).
    capped = bool(listing.sitemaps_left or listing.pages_left) and listing.failure is None and not listing.not_modified
    if listing.failure is not None:
        outcome = PollOutcome(status=listing.failure.reason, detail=listing.failure.detail, failed=True)
    elif listing.not_modified:
        outcome = PollOutcome(status="not_modified", detail="unchanged since the last poll (HTTP 304)", failed=False, keep_validators=True)
    else:
        detail = f"{listing.note.strip()} {new_pages.get(source.url, 0)} new page(s) fetched"
        if failures:
            reasons = ", ".join(sorted({f.reason for f in failures}))
            detail += f", {len(failures)} failed ({reasons})"
        if listing.sitemaps_left or listing.sitemaps_unchecked:
            detail += f"; {_sitemap_cap_note(listing)}"
        if listing.pages_left:
            detail += f"; {_page_cap_note(listing)}"
        transient = any(f.reason in TRANSIENT_REASONS for f in failures)
        validators = Validators() if capped else listing.validators or Validators()
        outcome = PollOutcome(
            status="ok",
            detail=detail,
            failed=False,
            new_pages=new_pages.get(source.url, 0),
            etag=validators.etag,
            last_modified=validators.last_modified,
            # Pages that failed for a passing reason are tried again next poll: ask for the whole listing again.
            keep_validators=transient and not capped,
        )
    # Nested sitemaps whose pages were not all fetched (a passing failure, the page cap) are read again next poll.
    keep_children = listing.children and not listing.pages_left and not any(f.reason in TRANSIENT_REASONS for f in failures)
    reached = capped or bool(listing.sitemaps_unchecked and listing.failure is None and not listing.not_modified)
    return SourceRecord(source.url, outcome, dict(listing.children) if keep_children else {}, capped=reached)


def _by_host(items: Iterable[T], url_of: Callable[[T], str], work: Callable[[T], R], settings: FetchSettings) -> list[R]:
    """Run `work` over `items` on threads: one queue per host when polite, else one shared pool."""
    items = list(items)
    if not items:
        return []
    threads = max(1, settings.max_concurrency)
    if not settings.one_request_per_host:
        with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="newsflow-fetch") as pool:
            return list(pool.map(work, items))
    queues: dict[str, list[T]] = defaultdict(list)
    for item in items:
        queues[origin_of(url_of(item))].append(item)

    def drain(queue: list[T]) -> list[R]:
        return [work(item) for item in queue]

    # A thread per host (up to MAX_HOST_THREADS): a thread waiting out its host's delay holds no
    # request slot; the fetcher's global limit still caps the requests in flight at max_concurrency.
    with ThreadPoolExecutor(max_workers=min(max(threads, MAX_HOST_THREADS), len(queues)), thread_name_prefix="newsflow-fetch") as pool:
        return [outcome for outcomes in pool.map(drain, queues.values()) for outcome in outcomes]


def detect_source(url: str, settings: FetchSettings, credentials: dict[str, Credentials] | None = None) -> tuple[str, list[str]]:
    """What `newsflow sources add URL` follows: (kind, feed URLs the page announces, if it is a page).
    Raises FetchError when the URL cannot be fetched or is none of feed, sitemap or page."""
    url = canonical_url(url)
    with PoliteFetcher(settings, credentials=credentials) as fetcher:
        response = fetcher.get(url, accept=FEED_ACCEPT)
    try:
        kind = detect_kind(response.body, response.content_type)
    except UnpacksTooLarge as error:
        raise FetchError(url, "too_large", UnpacksTooLarge(url, error.limit).detail) from None
    if kind is None:
        raise FetchError(url, "not_html", _not_html_detail(url, response))
    if kind == "page":
        return kind, feed_links_in_page(response.body.decode(response.charset or "utf-8", errors="replace"), response.final_url)
    return kind, []
