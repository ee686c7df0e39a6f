"""A small news site on 127.0.0.1 for the web tests and the web benches (bench/web_bench.py, bench/web_deadline_bench.py).

It serves real pages from workbench/data/devdata/extraction, an RSS feed, an Atom feed, a JSON
feed, a sitemap index with two sitemaps, robots.txt rules, slow responses, errors, redirects and
oversized bodies; news_site_hostile.py adds what a hostile site tries (internal redirects and entries,
dripping answers, pages behind a password). `NewsSite(host="127.0.0.2")` is an "internal" host. Feeds and sitemaps carry ETag and Last-Modified and answer conditional
requests with 304. Every request is logged (path, headers, time, in-flight counts), so tests can
prove what was and was not asked for.

Hostile answers too: a robots.txt of megabytes (`robots=HUGE_ROBOTS`), gzip bombs (a sitemap.xml.gz,
a feed and a page sent with `Content-Encoding: gzip` and `gzip, gzip`), an index of 60 sitemaps, a
sitemap of 1,200 pages, Shift-JIS pages labelled iso-8859-1, and a page whose text changes
(`live_version`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from workbench import DATA_DIR
from workbench import news_site_hostile as hostile

PAGES_DIR = DATA_DIR / "devdata" / "extraction"
FEED_ARTICLES = ("spanish_article", "arabic_article", "japanese_article", "latvian_article")
ATOM_ARTICLES = ("thai_article", "chinese_article")
SITEMAP_ARTICLES = (("cnn_article", "time_001"), ("wired_001", "fox13now_001"))
LAST_MODIFIED = format_datetime(datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc), usegmt=True)
HUGE_ROBOTS = "<huge>"  # NewsSite(robots=HUGE_ROBOTS): 12 MB; rules at its start, and one past 500 KiB
HUGE_ROBOTS_BYTES = 12 * 1024 * 1024  # over NEWSFLOW_FETCH_MAX_BYTES's default
BOMB_BYTES = 64 * 1024 * 1024  # what each gzip bomb unpacks to: over the 50 MB a sitemap may hold
MANY_SITEMAPS = 60
MANY_PAGES = 1200


def huge_robots_txt() -> bytes:
    head = b"User-agent: *\nDisallow: /private/\n"
    tail = b"User-agent: *\nDisallow: /articles/\n"  # past 500 KiB: a crawler may ignore it (RFC 9309)
    filler = b"# " + b"x" * 97 + b"\n"
    return head + filler * ((HUGE_ROBOTS_BYTES - len(head) - len(tail)) // len(filler)) + tail


_bombs: dict[tuple[str, int], bytes] = {}
_bombs_lock = threading.Lock()


def gzip_bomb(start: bytes, layers: int = 1) -> bytes:
    """`start`, then spaces up to BOMB_BYTES, gzipped `layers` times (made once, in 1 MB pieces)."""
    with _bombs_lock:
        key = (start.decode(), layers)
        if key not in _bombs:
            packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            parts = [packer.compress(start)]
            piece = b" " * (1024 * 1024)
            parts += [packer.compress(piece) for _ in range((BOMB_BYTES - len(start)) // len(piece))]
            data = b"".join(parts) + packer.flush()
            for _ in range(layers - 1):
                data = zlib.compress(data, 9, wbits=16 + zlib.MAX_WBITS)
            _bombs[key] = data
        return _bombs[key]


def shift_jis_page(name: str, *, meta: bool) -> bytes:
    """A development page in Shift-JIS: its own <meta> says so (or it has none)."""
    page = (PAGES_DIR / name).read_text(encoding="utf-8")
    page = page.replace("charset=UTF-8", "charset=Shift_JIS" if meta else "").replace("charset=utf-8", "charset=Shift_JIS" if meta else "")
    return page.encode("cp932", errors="xmlcharrefreplace")


SHIFT_JIS_MENU = (
    "<html><head><title>ニュース</title></head><body><nav><ul>"
    + "".join(f"<li><a href='/section/{i}'>ニュース一覧 {i}</a></li>" for i in range(12))
    + "</ul></nav></body></html>"
).encode("cp932")


@dataclass
class LoggedRequest:
    port: int
    path: str
    headers: dict[str, str]
    started: float  # time.monotonic() when the request arrived
    at: float | None  # ... and when it was answered (None while it is being answered)
    status: int | None
    in_flight_host: int  # requests this server was answering at the time, this one included
    in_flight_all: int  # the same over every server sharing the log
    client_left: bool = False  # a dripping answer (news_site_hostile.py) saw the client hang up before its end


@dataclass
class RequestLog:
    requests: list[LoggedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0

    def paths(self, port: int | None = None) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if port is None or r.port == port]

    def for_path(self, path: str) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def max_in_flight_per_host(self) -> int:
        with self.lock:
            return max((r.in_flight_host for r in self.requests), default=0)

    def max_in_flight_all(self) -> int:
        with self.lock:
            return max((r.in_flight_all for r in self.requests), default=0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # a client hanging up early is part of the tests


class NewsSite:
    """One site (one port). Several may share a RequestLog to look like many hosts."""

    def __init__(self, log: RequestLog | None = None, *, page_delay_s: float = 0.0, robots: str | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.log = log or RequestLog()
        self.page_delay_s = page_delay_s
        self.robots = robots
        self.flaky_counts: dict[str, int] = {}
        self.in_flight = 0
        self.feed_version = 1  # bump to add an item to the RSS feed (its ETag changes with it)
        self.live_version = 1  # bump to change the text of /live/story.html
        self.index_stamp = "2026-11-01"  # the sitemap index's <lastmod>: change it to change the index only
        self.credentials: tuple[str, str] | None = None  # (user, password) that /auth/ pages accept (news_site_hostile.py)
        self.release = threading.Event()  # /hostile/held answers once it is set (news_site_hostile.py)
        self._server = _Server((host, port), _handler_for(self))
        self.host = host
        self.port = self._server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"news-site-{self.port}", daemon=True)

    def start(self) -> "NewsSite":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()  # no held request keeps its thread
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> "NewsSite":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def allow_entry(self) -> str:
        """This site in NEWSFLOW_FETCH_ALLOW: its address and port, nothing else on the machine."""
        return f"{self.host}:{self.port}"

    # --- documents ---

    def robots_txt(self) -> str:
        if self.robots is not None:
            return self.robots
        return (
            "User-agent: *\nDisallow: /private/\n\n"
            "User-agent: BadBot\nDisallow: /\n\n"
            f"Sitemap: {self.base}/sitemap_index.xml\n"
        )

    def rss(self) -> str:
        items = []
        for day, name in enumerate(FEED_ARTICLES, start=1):
            items.append(
                f"<item><title>Feed title {name}</title>"
                f"<link>{self.base}/articles/{name}.html?utm_source=rss&amp;utm_medium=feed#top</link>"
                f"<pubDate>Mon, {day:02d} Nov 2026 0{day}:30:00 +0100</pubDate>"
                f"<dc:creator>Reporter {day}</dc:creator><guid>{name}</guid></item>"
            )
        items.append(f"<item><title>Members only</title><link>{self.base}/private/secret.html</link></item>")
        items.append(f"<item><title>Moved away</title><link>{self.base}/articles/missing.html</link></item>")
        if self.feed_version > 1:
            items.append(
                f"<item><title>Late news</title><link>{self.base}/articles/burmese_article.html</link>"
                "<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>Loopback Daily</title><link>{self.base}/</link><description>Test feed</description>"
            + "".join(items)
            + "</channel></rss>"
        )

    def atom(self) -> str:
        entries = "".join(
            f"<entry><title>Atom title {name}</title><link rel=\"alternate\" href=\"/articles/{name}.html\"/>"
            f"<id>urn:{name}</id><published>2026-11-1{i}T12:00:00Z</published><updated>2026-11-2{i}T12:00:00Z</updated>"
            f"<author><name>Atom Author {i}</name></author></entry>"
            for i, name in enumerate(ATOM_ARTICLES)
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{self.base}/"><title>Loopback Atom</title>'
            f'<link rel="self" href="{self.base}/atom.xml"/><id>urn:loopback</id><updated>2026-11-20T12:00:00Z</updated>'
            + entries
            + "</feed>"
        )

    def json_feed(self) -> str:
        return json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "Loopback JSON",
                "items": [
                    {"id": "1", "url": f"{self.base}/articles/article_with_br.html", "title": "JSON title",
                     "date_published": "2026-11-05T09:00:00+02:00", "authors": [{"name": "Jay Son"}]}
                ],
            }
        )

    def sitemap_index(self) -> str:
        parts = "".join(f"<sitemap><loc>{self.base}/sitemap-{i}.xml</loc><lastmod>{self.index_stamp}</lastmod></sitemap>"
                        for i in range(len(SITEMAP_ARTICLES)))
        return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{parts}</sitemapindex>'

    def sitemap(self, index: int) -> str:
        urls = "".join(f"<url><loc>{self.base}/articles/{name}.html</loc><lastmod>2026-11-0{index + 1}</lastmod></url>"
                       for name in SITEMAP_ARTICLES[index])
        return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'

    def bench_feed(self, count: int) -> str:
        names = sorted(p.name for p in PAGES_DIR.glob("*.html"))
        items = "".join(f"<item><title>Copy {i}</title><link>{self.base}/articles/{names[i % len(names)]}?copy={i}</link></item>"
                        for i in range(count))
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench</title>{items}</channel></rss>'

    def many_sitemaps_index(self) -> str:
        parts = "".join(f"<sitemap><loc>{self.base}/many/sitemap-{i}.xml</loc></sitemap>" for i in range(MANY_SITEMAPS))
        return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{parts}</sitemapindex>'

    def one_page_sitemap(self, index: int) -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{self.base}/tiny/{index}.html</loc></url></urlset>")

    def many_pages_sitemap(self, folder: str) -> str:
        urls = "".join(f"<url><loc>{self.base}/{folder}/{i}.html</loc></url>" for i in range(MANY_PAGES))
        return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'

    def live_story(self) -> bytes:
        page = (PAGES_DIR / "latvian_article.html").read_text(encoding="utf-8")
        first = '<p style="margin-left:0cm; margin-right:0cm">'
        return page.replace(first, f"{first}Atjaunināts {self.live_version}. reizi. ", 1).encode("utf-8")

    def page_with_feed_links(self) -> str:
        return (
            "<!doctype html><html><head><title>Loopback Daily</title>"
            '<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">'
            '<link rel="alternate" type="application/atom+xml" title="Atom" href="/atom.xml">'
            "</head><body><h1>Loopback Daily</h1></body></html>"
        )


class NewsSiteHandler(BaseHTTPRequestHandler):
    """Answers for one `NewsSite` (`site`, set by `_handler_for`): the hostile routes, then the site's own."""

    site: NewsSite
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        site = self.site
        # Logged on arrival, so a test never reads the log before a request it made is in it.
        with site.log.lock:
            site.in_flight += 1
            site.log.in_flight += 1
            entry = LoggedRequest(site.port, self.path, dict(self.headers.items()), time.monotonic(), None, None,
                                  site.in_flight, site.log.in_flight)
            site.log.requests.append(entry)
        self._entry = entry
        try:
            self._route()
        finally:
            if entry.status is None:  # the route failed before answering
                self._answering(500)

    def _answering(self, status: int) -> None:
        """Logged, and no longer counted in flight, before the answer goes out: the client may
        read the log, or send its next request, as soon as it has the answer."""
        site = self.site
        with site.log.lock:
            self._entry.status, self._entry.at = status, time.monotonic()
            site.in_flight -= 1
            site.log.in_flight -= 1

    # --- responses ---

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8", headers: dict | None = None) -> int:
        self._answering(status)
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _conditional(self, body: str, content_type: str) -> int:
        data = body.encode("utf-8")
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, headers=headers)
        return self._send(200, data, content_type, headers)

    def _route(self) -> int:
        site = self.site
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        answered = hostile.route(self, site, path, query)  # internal redirects, slow answers, credentials
        if answered is not None:
            return answered
        for routes in (self._feeds_and_sitemaps, self._pages_and_errors, self._oversized_and_encoded):
            answered = routes(path, query)
            if answered is not None:
                return answered
        return self._send(404, b"<html><body>not here</body></html>")

    def _feeds_and_sitemaps(self, path: str, query: dict[str, list[str]]) -> int | None:
        """robots.txt, the front page, the feeds and the sitemaps; None for any other path."""
        site = self.site
        if path == "/robots.txt":
            if site.robots == "<500>":
                return self._send(503)
            if site.robots == HUGE_ROBOTS:
                return self._send_or_hang_up(200, huge_robots_txt(), "text/plain")
            return self._send(200, site.robots_txt().encode(), "text/plain")
        if path == "/":
            return self._send(200, site.page_with_feed_links().encode())
        if path == "/feed.xml":
            return self._conditional(site.rss(), "application/rss+xml; charset=utf-8")
        if path == "/atom.xml":
            return self._conditional(site.atom(), "application/atom+xml")
        if path == "/feed.json":
            return self._conditional(site.json_feed(), "application/feed+json")
        if path == "/sitemap_index.xml":
            return self._conditional(site.sitemap_index(), "application/xml")
        if path.startswith("/sitemap-") and path.endswith(".xml"):
            return self._conditional(site.sitemap(int(path[len("/sitemap-"):-4])), "application/xml")
        if path == "/bench-feed.xml":  # bench/web_bench.py: n distinct article URLs over the development pages
            return self._send(200, site.bench_feed(int(query.get("n", ["100"])[0])).encode(), "application/rss+xml")
        if path == "/malformed.xml":
            return self._send(200, b"<?xml version='1.0'?><rss><channel><title>Broken & unclosed", "application/rss+xml")
        return None

    def _pages_and_errors(self, path: str, query: dict[str, list[str]]) -> int | None:
        """Articles, slow and failing answers, redirects; None for any other path."""
        site = self.site
        if path.startswith("/articles/") or path.startswith("/private/"):
            name = path.rsplit("/", 1)[-1]
            file = PAGES_DIR / name
            if not name.endswith(".html") or not file.is_file():
                return self._send(404, b"<html><body>not here</body></html>")
            if site.page_delay_s:
                time.sleep(site.page_delay_s)
            return self._send(200, file.read_bytes())
        if path == "/amp/spanish.html":
            page = (PAGES_DIR / "spanish_article.html").read_text(encoding="utf-8")
            page = page.replace("<head>", '<head><link rel="canonical" href="/articles/spanish_article.html">', 1)
            return self._send(200, page.encode("utf-8"))
        if path == "/slow":
            time.sleep(float(query.get("s", ["2"])[0]))
            return self._send(200, b"<html><body>finally</body></html>")
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[-1])
            headers = {"Retry-After": query["retry_after"][0]} if "retry_after" in query else {}
            return self._send(code, b"<html><body>error</body></html>", headers=headers)
        if path.startswith("/flaky/"):
            fails = int(query.get("fail", ["1"])[0])
            count = site.flaky_counts.get(path, 0)
            site.flaky_counts[path] = count + 1
            if count < fails:
                code = int(query.get("code", ["503"])[0])
                headers = {"Retry-After": query["retry_after"][0]} if "retry_after" in query else {}
                return self._send(code, b"busy", "text/plain", headers)
            return self._send(200, (PAGES_DIR / "spanish_article.html").read_bytes())
        if path.startswith("/redirect/"):
            left = int(path.rsplit("/", 1)[-1])
            target = "/articles/latvian_article.html" if left <= 0 else f"/redirect/{left - 1}"
            return self._send(302, headers={"Location": target})
        if path == "/loop/a":
            return self._send(301, headers={"Location": "/loop/b"})
        if path == "/loop/b":
            return self._send(301, headers={"Location": f"{site.base}/loop/a"})
        if path == "/to-private":
            return self._send(302, headers={"Location": "/private/secret.html"})
        return None

    def _oversized_and_encoded(self, path: str, query: dict[str, list[str]]) -> int | None:
        """Big bodies, many sitemaps and pages, gzip bombs, odd encodings and charsets; None for any other path."""
        site = self.site
        if path == "/big":
            return self._send(200, b"<html><body>" + b"x" * (3 * 1024 * 1024) + b"</body></html>")
        if path == "/big-chunked":
            return self._chunked(b"<html><body>" + b"y" * (3 * 1024 * 1024) + b"</body></html>")
        if path == "/many-sitemaps.xml":
            return self._conditional(site.many_sitemaps_index(), "application/xml")
        if path.startswith("/many/sitemap-") and path.endswith(".xml"):
            return self._conditional(site.one_page_sitemap(int(path[len("/many/sitemap-"):-4])), "application/xml")
        if path == "/many-pages.xml":  # 1,200 small pages; ?missing=1: 1,200 pages that are not there
            folder = "missing" if query.get("missing") else "tiny"
            return self._conditional(site.many_pages_sitemap(folder), "application/xml")
        if path.startswith("/tiny/"):
            number = path.rsplit("/", 1)[-1]
            return self._send(200, f"<html><head><title>Tiny {number}</title></head><body><p>Tiny page {number}.</p></body></html>".encode())
        if path == "/bomb-sitemap.xml.gz":  # a gzip file: unpacks to 64 MB
            start = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            return self._send_or_hang_up(200, gzip_bomb(start), "application/x-gzip")
        if path in ("/bomb-feed.xml", "/bomb-feed-twice.xml", "/bomb-page.html"):  # Content-Encoding: 64 MB once unpacked
            feed = path != "/bomb-page.html"
            start = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Bomb</title>' if feed else b"<html><body>"
            layers = 2 if "twice" in path else 1
            return self._send_or_hang_up(200, gzip_bomb(start, layers), "application/rss+xml" if feed else "text/html",
                                         {"Content-Encoding": ", ".join(["gzip"] * layers)})
        if path == "/bad-gzip.html":  # says gzip, is not
            return self._send(200, b"<html><body>plain, not gzip</body></html>", headers={"Content-Encoding": "gzip"})
        if path == "/brotli.html":  # an encoding newsflow never asks for
            return self._send(200, bytes(range(256)) * 4, headers={"Content-Encoding": "br"})
        if path.startswith("/sjis/"):  # Shift-JIS, served as iso-8859-1
            body = {"/sjis/article.html": lambda: shift_jis_page("japanese_article.html", meta=True),
                    "/sjis/no-meta.html": lambda: shift_jis_page("japanese_article2.html", meta=False),
                    "/sjis/menu.html": lambda: SHIFT_JIS_MENU}.get(path)
            if body is None:
                return self._send(404, b"<html><body>not here</body></html>")
            return self._send(200, body(), "text/html; charset=iso-8859-1")
        if path == "/live/story.html":
            return self._send(200, site.live_story())
        if path == "/image.png":
            return self._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
        return None

    def _send_or_hang_up(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> int:
        """A large answer the client may stop reading early (as newsflow should)."""
        try:
            return self._send(status, body, content_type, headers)
        except (BrokenPipeError, ConnectionResetError):
            return status

    def _chunked(self, body: bytes) -> int:
        self._answering(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, len(body), 64 * 1024):
                chunk = body[start : start + 64 * 1024]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: that is what the test wants
        return 200



def _handler_for(site: NewsSite) -> type[NewsSiteHandler]:
    return type("Handler", (NewsSiteHandler,), {"site": site})
