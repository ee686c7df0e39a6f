"""Fetching over HTTP, politely.

One `PoliteFetcher` serves one poll. It reads each host's robots.txt once and never requests
what it disallows; it sends one request at a time to a host, waiting `per_host_delay_s` (or the
host's Crawl-delay, if longer) between them; it keeps at most `max_concurrency` requests in
flight overall; it retries 429 and 5xx with exponential backoff, honouring Retry-After; it
follows at most `max_redirects` redirects, one hop at a time so each hop is checked against
robots.txt and politeness too; and it stops reading a body past `max_body_bytes`.
Where it connects is not the web's choice: every hop's address, robots.txt's included, must be
public or allowed (`destinations`), and each request must be done within `deadline_s`, however
slowly the server sends (`transport`). Credentials are never taken from a URL; the user's are sent
to the origin they were given for only (`credentials`).
Anything that goes wrong becomes a `FetchError` with a reason code and a sentence a person can act on.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Callable, Iterator
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from pipeline.web.credentials import Credentials, origin_key, without_userinfo
from pipeline.web.destinations import DestinationPolicy, Refusal
from pipeline.web.transport import (
    BlockedDestination,
    Deadline,
    DeadlineExceeded,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    first_allowed,
    resolve,
)
from pipeline.web.unpack import BodyDecoder, DamagedEncoding, UnsupportedEncoding


def _newsflow_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("newsflow")
    except PackageNotFoundError:
        return "0.1.0"


NEWSFLOW_VERSION = _newsflow_version()
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309 §2.5: a crawler may stop parsing a robots.txt after 500 KiB; newsflow stops reading there
LOCATION_ASIDE = "newsflow_location"  # a redirect's Location, kept where httpx does not parse it
LOCATION_ASIDE_RAW = "newsflow_location_raw"  # ... and as the server sent it (name and value bytes), for the raw store


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class FetchSettings:
    """How newsflow behaves on other people's servers; NEWSFLOW_* variables override the defaults."""

    # Where a site's owner can learn who is fetching and reach them: set it when you poll other people's sites.
    contact_url: str = field(default_factory=lambda: _env("NEWSFLOW_CONTACT_URL", ""))
    per_host_delay_s: float = field(default_factory=lambda: float(_env("NEWSFLOW_FETCH_DELAY", "1.0")))
    one_request_per_host: bool = True
    max_concurrency: int = field(default_factory=lambda: int(_env("NEWSFLOW_FETCH_CONCURRENCY", "8")))
    timeout_s: float = field(default_factory=lambda: float(_env("NEWSFLOW_FETCH_TIMEOUT", "20")))  # each connect, read, write
    # One request (a page, a redirect hop, robots.txt), connect to last byte, however slowly the server sends.
    deadline_s: float = field(default_factory=lambda: float(_env("NEWSFLOW_FETCH_DEADLINE", "60")))
    # A host that misses the time limits this many requests in a row is left for the next poll.
    max_timeouts_per_host: int = 3
    # Where newsflow may connect: public addresses, and what NEWSFLOW_FETCH_ALLOW(_PRIVATE) allows.
    destinations: DestinationPolicy = field(default_factory=DestinationPolicy.from_env)
    retries: int = field(default_factory=lambda: int(_env("NEWSFLOW_FETCH_RETRIES", "3")))
    backoff_s: float = 1.0  # first retry waits this long, then twice as long each time
    max_retry_after_s: float = 120.0  # a server asking for a longer wait is given up on for this run
    max_crawl_delay_s: float = 30.0  # a robots.txt Crawl-delay above this is capped
    max_body_bytes: int = field(default_factory=lambda: int(_env("NEWSFLOW_FETCH_MAX_BYTES", str(10 * 1024 * 1024))))
    max_redirects: int = 5

    @property
    def user_agent(self) -> str:
        return f"newsflow/{NEWSFLOW_VERSION} (+{self.contact_url})" if self.contact_url else f"newsflow/{NEWSFLOW_VERSION}"

    @property
    def robots_agent(self) -> str:
        return "newsflow"

    def without_politeness(self) -> "FetchSettings":
        """Several requests at once to a host and no delay: for benchmarks against your own server."""
        return replace(self, one_request_per_host=False, per_host_delay_s=0.0)


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends back: the ETag and Last-Modified of the copy we have."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class HttpExchange:
    """One request and its answer as they went over the wire (one hop of a redirect chain), for the
    WARC records the raw store keeps: the response's status line and headers as received, and the
    request's headers as sent (without credentials)."""

    url: str
    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...]


SECRET_REQUEST_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})  # never written to an archive


@dataclass(frozen=True)
class FetchedResponse:
    url: str  # as requested
    final_url: str  # after redirects
    status: int  # 200 (or another 2xx), or 304 when a conditional GET found nothing new
    body: bytes
    content_type: str | None  # media type, lower case, without parameters
    charset: str | None
    validators: Validators
    exchanges: tuple[HttpExchange, ...] = ()  # every hop, redirects first, this response last

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    def __init__(self, url: str, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.url = url
        self.reason = reason
        self.detail = detail


@dataclass
class _Host:
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_request_at: float = 0.0
    robots: RobotFileParser | None = None
    robots_problem: FetchError | None = None  # robots.txt unreachable: the whole host is off limits
    robots_loaded: bool = False
    robots_truncated: bool = False  # robots.txt was over MAX_ROBOTS_BYTES: only its start was read
    robots_lock: threading.Lock = field(default_factory=threading.Lock)
    timeouts_in_row: int = 0  # requests in a row that missed the timeout or the deadline


@dataclass
class _Raw:
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool = False  # cut at the caller's `truncate_at`
    exchange: HttpExchange | None = None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class PoliteFetcher:
    """An HTTP client for one poll; thread-safe, so a pool of threads may share it."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        credentials: dict[str, Credentials] | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        """`credentials`: origin (credentials.origin_key) -> what to send to that origin only."""
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._credentials = dict(credentials or {})
        self._resolver = resolver
        self._deadline = Deadline()
        limits = httpx.Limits(max_connections=max(1, settings.max_concurrency) * 2)
        self._client = httpx.Client(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,
            transport=GuardedTransport(GuardedBackend(settings.destinations, self._deadline, resolver), limits=limits),
            trust_env=False,  # no proxy from the environment: it would connect where newsflow cannot check
            event_hooks={"response": [_set_location_aside]},
        )
        self._in_flight = threading.BoundedSemaphore(max(1, settings.max_concurrency))
        self._hosts: dict[str, _Host] = {}
        self._hosts_lock = threading.Lock()
        self._destinations: dict[tuple[str, int], Refusal | OSError | None] = {}  # (host, port) -> why not, this poll

    def __enter__(self) -> "PoliteFetcher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, *, validators: Validators | None = None, accept: str = "*/*") -> FetchedResponse:
        """GET `url`, following redirects hop by hop. Raises FetchError for anything but 2xx/304."""
        headers = {"Accept": accept, **(validators.headers() if validators else {})}
        url = without_userinfo(url)  # credentials in a URL are never sent: the user's are kept by origin
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchError(url, "bad_url", f"{url} is not an http:// or https:// address; newsflow fetches web pages only.")
        visited = [url]
        current = url
        hops: list[HttpExchange] = []
        for _ in range(self.settings.max_redirects + 1):
            self._check_destination(current, requested=url)
            self._check_robots(current, requested=url)
            raw = self._request_with_retries(current, headers)
            if raw.exchange is not None:
                hops.append(raw.exchange)
            if raw.status in REDIRECT_STATUSES and raw.headers.get("location"):
                target = without_userinfo(urljoin(current, raw.headers["location"]))
                if urlsplit(target).scheme not in ("http", "https"):
                    raise FetchError(url, "bad_redirect", f"{current} redirects to {target}, which is not a web address.")
                if target in visited:
                    chain = " -> ".join(visited + [target])
                    raise FetchError(
                        url, "redirect_loop", f"The server redirects in a circle ({chain}); tell the site's owner or remove the URL."
                    )
                visited.append(target)
                current = target
                continue
            if raw.status == 304 or 200 <= raw.status < 300:
                return replace(_response(url, current, raw), exchanges=tuple(hops))
            raise _status_error(url, current, raw)
        raise FetchError(
            url,
            "too_many_redirects",
            f"More than {self.settings.max_redirects} redirects ({' -> '.join(visited)}); use the final address instead.",
        )

    # --- robots.txt ---

    def allowed_by_robots(self, url: str) -> bool:
        try:
            self._check_robots(url, requested=url)
        except FetchError:
            return False
        return True

    def _check_robots(self, url: str, *, requested: str) -> None:
        host = self._host(origin_of(url))
        self._load_robots(origin_of(url), host)
        if host.robots_problem is not None:
            raise FetchError(requested, host.robots_problem.reason, host.robots_problem.detail)
        if host.robots is not None and not host.robots.can_fetch(self.settings.robots_agent, url):
            read = (
                f" (its robots.txt is over {MAX_ROBOTS_BYTES // 1024} KiB: newsflow read the rules in its first "
                f"{MAX_ROBOTS_BYTES // 1024} KiB and ignored the rest, as RFC 9309 allows)"
                if host.robots_truncated else ""
            )
            raise FetchError(
                requested,
                "robots_disallowed",
                f"{origin_of(url)}/robots.txt does not allow crawlers to fetch {url}{read}; newsflow respects it "
                "(ask the site for a feed or permission, or remove the URL).",
            )

    def _load_robots(self, origin: str, host: _Host) -> None:
        with host.robots_lock:
            if host.robots_loaded:
                return
            robots_url = f"{origin}/robots.txt"
            parser = RobotFileParser(robots_url)
            try:
                raw = self._robots_response(robots_url)
            except FetchError as error:
                # The host cannot be reached at all (DNS, TLS, timeout...): every URL on it fails the
                # same way this poll, without asking again. The detail says it was robots.txt that failed.
                host.robots_problem = FetchError(
                    error.url, error.reason, f"Reading {robots_url}, which newsflow reads before any page of {origin}, failed: {error.detail}"
                )
            else:
                if raw.status >= 500:  # RFC 9309: robots.txt unreachable means the whole site is disallowed
                    host.robots_problem = FetchError(
                        robots_url,
                        "robots_unavailable",
                        f"{robots_url} answered HTTP {raw.status}; newsflow fetches nothing from {origin} "
                        "until it can read the site's rules. It tries again next poll.",
                    )
                elif 200 <= raw.status < 300:
                    lines = raw.body.decode("utf-8", errors="replace").splitlines()
                    parser.parse(lines[:-1] if raw.truncated else lines)  # a cut last line is no rule
                    host.robots = parser
                    host.robots_truncated = raw.truncated
                else:  # 4xx: no rules, everything allowed (RFC 9309)
                    parser.parse([])
                    host.robots = parser
            host.robots_loaded = True

    def _robots_response(self, robots_url: str) -> _Raw:
        current = robots_url
        for _ in range(self.settings.max_redirects + 1):
            if current != robots_url:
                if urlsplit(current).scheme not in ("http", "https"):
                    raise FetchError(robots_url, "bad_redirect", f"{robots_url} redirects to {current}, which is not a web address.")
                self._check_destination(current, requested=robots_url)
            raw = self._request_with_retries(current, {"Accept": "text/plain"}, truncate_at=MAX_ROBOTS_BYTES)
            if raw.status in REDIRECT_STATUSES and raw.headers.get("location"):
                current = without_userinfo(urljoin(current, raw.headers["location"]))
                continue
            return raw
        raise FetchError(robots_url, "too_many_redirects", "robots.txt redirects too many times")

    def _crawl_delay(self, host: _Host) -> float:
        if host.robots is None:
            return 0.0
        delay = host.robots.crawl_delay(self.settings.robots_agent)
        return min(float(delay), self.settings.max_crawl_delay_s) if delay else 0.0

    # --- destinations ---

    def _check_destination(self, url: str, *, requested: str) -> None:
        """Refuse `url` before anything is asked of its host (robots.txt included) when none of its
        addresses may be connected to. The connection itself is checked again (transport.py)."""
        invalid = None
        try:
            parsed = httpx.URL(url)
            host, port = parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)
        except httpx.InvalidURL as error:
            # httpx cannot connect there (e.g. the octal form 0177.0.0.1); say where it points all the same
            invalid = FetchError(requested, "bad_url", f"{url} is not a valid web address ({error}); check it for typos.")
            parts = urlsplit(url)
            try:
                host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                raise invalid from None
        verdict = self._destination_verdict(host, port)
        if verdict is None:
            if invalid is not None:
                raise invalid
            return
        if isinstance(verdict, OSError):
            problem = FetchError(url, "dns_error", f"The name {host} could not be resolved ({verdict}); check the address for typos, or your DNS.")
        else:
            problem = _blocked(url, host, verdict)
        detail = problem.detail if url == requested else f"{requested} redirects to {url}. {problem.detail}"
        raise FetchError(requested, problem.reason, detail)

    def _destination_verdict(self, host: str, port: int) -> Refusal | OSError | None:
        """Why none of `host`'s addresses may be connected to (or it has none), once per poll."""
        with self._hosts_lock:
            if (host, port) in self._destinations:
                return self._destinations[(host, port)]
        try:
            allowed, refused = first_allowed(host, port, self.settings.destinations, self._resolver)
            verdict = refused if not allowed else None
        except OSError as error:
            verdict = error
        with self._hosts_lock:
            self._destinations[(host, port)] = verdict
        return verdict

    # --- politeness ---

    def _host(self, origin: str) -> _Host:
        with self._hosts_lock:
            return self._hosts.setdefault(origin, _Host())

    @contextmanager
    def _turn(self, origin: str) -> Iterator[None]:
        """This thread's turn to send one request to `origin`: the host's lock, its delay, a global slot."""
        host = self._host(origin)
        polite = self.settings.one_request_per_host
        with host.lock if polite else nullcontext():
            wait = host.next_request_at - self._clock()
            if wait > 0:
                self._sleep(wait)
            try:
                with self._in_flight:
                    yield
            finally:
                if polite:
                    delay = max(self.settings.per_host_delay_s, self._crawl_delay(host))
                    host.next_request_at = max(host.next_request_at, self._clock() + delay)

    def _request_with_retries(self, url: str, headers: dict[str, str], *, truncate_at: int | None = None) -> _Raw:
        origin = origin_of(url)
        host = self._host(origin)
        if host.timeouts_in_row >= self.settings.max_timeouts_per_host:
            raise FetchError(
                url,
                "timeout",
                f"{url} was not requested: {origin} missed the time limits {host.timeouts_in_row} times in a row in this poll, "
                "so the rest of its pages wait for the next poll.",
            )
        for attempt in range(self.settings.retries + 1):
            with self._turn(origin):
                raw = self._send(url, headers, truncate_at=truncate_at)
            if raw.status not in RETRY_STATUSES or attempt == self.settings.retries:
                return raw
            asked = retry_after_seconds(raw.headers.get("retry-after"))
            wait = asked if asked is not None else self.settings.backoff_s * 2**attempt
            if wait > self.settings.max_retry_after_s:
                return raw  # reported by the caller as rate_limited/server_error, with the wait asked for
            host = self._host(origin)
            host.next_request_at = max(host.next_request_at, self._clock() + wait)  # nobody else hits the host meanwhile
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _send(self, url: str, headers: dict[str, str], *, truncate_at: int | None = None) -> _Raw:
        """One GET. The body is read up to `max_body_bytes` (a FetchError past it), or, with
        `truncate_at`, up to that many bytes and no further (the rest is never downloaded)."""
        host = self._host(origin_of(url))
        try:
            raw = self._send_within_deadline(url, headers, truncate_at=truncate_at)
        except FetchError as error:
            if error.reason == "timeout":
                host.timeouts_in_row += 1
            raise
        host.timeouts_in_row = 0
        return raw

    def _auth_for(self, url: str) -> httpx.BasicAuth | None:
        """The user's credentials for exactly this origin (scheme, host, port), if any."""
        credentials = self._credentials.get(origin_key(url)) if self._credentials else None
        return httpx.BasicAuth(credentials.username, credentials.password) if credentials else None

    def _send_within_deadline(self, url: str, headers: dict[str, str], *, truncate_at: int | None = None) -> _Raw:
        limit = truncate_at or self.settings.max_body_bytes
        self._deadline.at = time.monotonic() + self.settings.deadline_s
        try:
            with self._client.stream("GET", url, headers=headers, auth=self._auth_for(url)) as response:
                if not (200 <= response.status_code < 300):
                    answered = response.headers.copy()
                    if LOCATION_ASIDE in response.extensions:
                        answered["location"] = response.extensions[LOCATION_ASIDE]
                    aside = response.extensions.get(LOCATION_ASIDE_RAW, [])
                    return _Raw(response.status_code, answered, b"", exchange=_exchange(url, response, [*response.headers.raw, *aside]))
                declared = response.headers.get("content-length")
                if not truncate_at and declared and declared.isdigit() and int(declared) > limit:
                    raise _too_large(url, limit, f"it declares {int(declared):,} bytes")
                body, truncated = _read_body(url, response, limit, truncate=bool(truncate_at))
                return _Raw(response.status_code, response.headers, body, truncated, exchange=_exchange(url, response, response.headers.raw))
        except httpx.TimeoutException as error:
            raise FetchError(
                url,
                "timeout",
                f"No answer within {self.settings.timeout_s:g} s ({type(error).__name__}); the site may be slow or down: "
                "it is tried again next poll (NEWSFLOW_FETCH_TIMEOUT sets the limit).",
            ) from None
        except DeadlineExceeded:
            raise FetchError(
                url,
                "timeout",
                f"{url} was not received in full within {self.settings.deadline_s:g} s (the server sends too slowly); "
                "it is tried again next poll (NEWSFLOW_FETCH_DEADLINE sets the limit).",
            ) from None
        except BlockedDestination as error:  # the name resolved elsewhere when connecting than when checked
            raise _blocked(url, error.host, error.refusal) from None
        except httpx.InvalidURL as error:
            raise FetchError(url, "bad_url", f"{url} is not a valid web address ({error}); check it for typos.") from None
        except httpx.TransportError as error:
            raise _transport_error(url, error) from None
        finally:
            self._deadline.at = None


def _exchange(url: str, response: httpx.Response, headers: list[tuple[bytes, bytes]]) -> HttpExchange:
    def text(pairs) -> tuple[tuple[str, str], ...]:
        return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in pairs)

    sent = [(name, value) for name, value in response.request.headers.raw if name.decode("latin-1").lower() not in SECRET_REQUEST_HEADERS]
    return HttpExchange(
        url=url,
        status=response.status_code,
        reason=response.reason_phrase,
        http_version=response.http_version,
        headers=text(headers),
        request_headers=text(sent),
    )


def _set_location_aside(response: httpx.Response) -> None:
    """newsflow follows redirects itself, each hop checked (`PoliteFetcher.get`), but httpx reads a
    redirect's Location all the same and fails on one it cannot parse (0177.0.0.1): it is set aside
    before httpx sees it."""
    if "location" in response.headers:
        response.extensions[LOCATION_ASIDE] = response.headers["location"]
        response.extensions[LOCATION_ASIDE_RAW] = [(name, value) for name, value in response.headers.raw if name.lower() == b"location"]
        del response.headers["location"]


def _blocked(url: str, host: str, refusal: Refusal) -> FetchError:
    return FetchError(
        url,
        "blocked_destination",
        f"{url} was not fetched: {refusal.describe(host)}, and newsflow connects only to public addresses "
        f"unless told otherwise ({refusal.setting}).",
    )


def _read_body(url: str, response: httpx.Response, limit: int, *, truncate: bool) -> tuple[bytes, bool]:
    """The body, decoded from its Content-Encoding within `limit` decoded bytes (and as many sent
    bytes): (body, whether it was cut at the limit)."""
    try:
        decoder = BodyDecoder(response.headers.get("content-encoding"), limit)
    except UnsupportedEncoding as error:
        raise FetchError(
            url, "bad_encoding", f"{url} came packed as {error}, which newsflow did not ask for (it asks for gzip or deflate) "
            "and cannot unpack; tell the site's owner."
        ) from None
    body = bytearray()
    sent = 0
    packed = f", sent with Content-Encoding: {decoder.encodings}" if decoder.encodings else ""
    for chunk in response.iter_raw():
        sent += len(chunk)
        try:
            body += decoder.feed(chunk)
        except DamagedEncoding as error:
            raise FetchError(url, "bad_encoding", f"{url} sent a body that cannot be read: {error}; tell the site's owner.") from None
        if decoder.over_limit or len(body) > limit or sent > limit:
            if truncate:
                return bytes(body[:limit]), True
            why = f"it unpacks to more than that{packed}" if decoder.over_limit else "it sent more than that"
            raise _too_large(url, limit, why)
    return bytes(body), False


def _too_large(url: str, limit: int, why: str) -> FetchError:
    return FetchError(
        url,
        "too_large",
        f"{url} is over the {limit:,}-byte limit ({why}); newsflow stopped reading there. Raise NEWSFLOW_FETCH_MAX_BYTES "
        "if it really is a page, feed or sitemap that large.",
    )


def _transport_error(url: str, error: httpx.TransportError) -> FetchError:
    text = f"{error} {error.__cause__ or ''} {error.__context__ or ''}"
    host = urlsplit(url).hostname or url
    lowered = text.lower()
    if any(marker in lowered for marker in ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo", "no address associated")):
        return FetchError(url, "dns_error", f"The name {host} could not be resolved ({error}); check the address for typos, or your DNS.")
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return FetchError(
            url,
            "tls_error",
            f"The secure connection to {host} failed ({error}); the site's certificate or TLS setup is broken, "
            "or the address should start with http:// instead.",
        )
    if isinstance(error, httpx.ConnectError):
        return FetchError(url, "connection_failed", f"Could not connect to {host} ({error}); the site may be down: it is tried again next poll.")
    return FetchError(url, "connection_failed", f"The connection to {host} broke off ({type(error).__name__}: {error}); it is tried again next poll.")


def _response(url: str, final_url: str, raw: _Raw) -> FetchedResponse:
    media_type, charset = parse_content_type(raw.headers.get("content-type"))
    return FetchedResponse(
        url=url,
        final_url=final_url,
        status=raw.status,
        body=raw.body,
        content_type=media_type,
        charset=charset,
        validators=Validators(etag=raw.headers.get("etag"), last_modified=raw.headers.get("last-modified")),
    )


def _status_error(url: str, final_url: str, raw: _Raw) -> FetchError:
    status = raw.status
    where = url if final_url == url else f"{url} (redirected to {final_url})"
    if status == 404:
        return FetchError(url, "not_found", f"{where} does not exist (HTTP 404); the article was moved or removed: remove or correct the URL.")
    if status == 410:
        return FetchError(url, "gone", f"{where} was removed for good (HTTP 410); remove it from your sources.")
    if status in (401, 403):
        return FetchError(url, "forbidden", f"{where} refuses access (HTTP {status}); it needs a login or blocks crawlers, so newsflow cannot read it.")
    if status == 429:
        asked = raw.headers.get("retry-after")
        extra = f" and asked to wait {asked}" if asked else ""
        return FetchError(url, "rate_limited", f"{where} kept answering 'too many requests' (HTTP 429){extra}; it is tried again next poll (or raise NEWSFLOW_FETCH_DELAY).")
    if status >= 500:
        return FetchError(url, "server_error", f"{where} answered HTTP {status} after retries; the site has a problem: it is tried again next poll.")
    return FetchError(url, "http_error", f"{where} answered HTTP {status}; check the address.")


def parse_content_type(content_type: str | None) -> tuple[str | None, str | None]:
    """(media type, charset) of a Content-Type header: ('text/html', 'UTF-8') from 'text/html; charset="UTF-8"'."""
    media_type, charset = None, None
    if content_type:
        parts = [part.strip() for part in content_type.split(";")]
        media_type = parts[0].lower() or None
        for part in parts[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value:
                charset = value.strip().strip("\"'") or None
    return media_type, charset
