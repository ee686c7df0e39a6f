"""The news site's hostile answers (news_site.NewsSite serves them too): what a feed, a redirect, a
robots.txt or a slow server on the web may try, so that tests can show newsflow decides for itself
where it connects, how long it waits and whom it sends credentials to.

- `/hostile/redirect?to=URL`: a 302 to URL, as given (another port, 127.0.0.2, 2130706434,
  [::ffff:127.0.0.2], 0.0.0.0, file://, user:pass@...).
- `/hostile/feed.xml?to=URL&to=URL`, `/hostile/feed.json?to=...`: an RSS feed and a JSON Feed
  whose entries are those URLs (and `thief_port=N` adds one carrying credentials of its own); `/hostile/atom.xml?base=URL&href=PATH`: an Atom feed whose
  xml:base points elsewhere; `/hostile/sitemap.xml?to=...`: a sitemap of those URLs.
- `/hostile/canonical.html?to=URL`: an article page whose rel=canonical is URL.
- `/hostile/slow-body?every=S&bytes=N`: the headers at once, then the body one byte every S
  seconds; `/hostile/slow-headers?every=S&lines=N`: the status line, then one header line every S
  seconds. Each marks its logged request `client_left` when the client hangs up before the end.
  `/hostile/held`: an article, once the test sets `site.release`.
- robots.txt: `site.robots = "<redirect URL>"` answers 302 to URL; `"<slow S N>"` drips N bytes.
- `/auth/...`: pages behind HTTP Basic authentication with `site.credentials` (user, password):
  `/auth/feed.xml?to=URL...` (the same RSS as /hostile/feed.xml), `/auth/*.html` (an article).
  401 without the right Authorization header; every request's headers are logged as usual.
"""

from __future__ import annotations

import base64
import json
import time
from xml.sax.saxutils import escape

from workbench import DATA_DIR

PAGES_DIR = DATA_DIR / "devdata" / "extraction"  # the news site's own pages

ARTICLE = "spanish_article.html"


def route(handler, site, path: str, query: dict[str, list[str]]) -> int | None:
    """Answer the request if it is one of the hostile ones; None lets the news site answer it."""
    robots = site.robots or ""
    if path == "/robots.txt" and robots.startswith("<redirect "):
        return handler._send(302, headers={"Location": robots[len("<redirect "):-1]})
    if path == "/robots.txt" and robots.startswith("<slow "):
        every, count = robots[len("<slow "):-1].split()
        return drip_body(handler, float(every), int(count), "text/plain")
    if path.startswith("/auth/"):
        if not _authorised(handler, site):
            return handler._send(401, b"<html><body>log in</body></html>", headers={"WWW-Authenticate": 'Basic realm="news"'})
        if path == "/auth/feed.xml":
            return handler._send(200, rss(_entries(query)).encode(), "application/rss+xml")
        return handler._send(200, (PAGES_DIR / ARTICLE).read_bytes())
    if not path.startswith("/hostile/"):
        return None
    targets = _entries(query)
    if path == "/hostile/redirect":
        return handler._send(302, headers={"Location": targets[0]})
    if path == "/hostile/feed.xml":
        return handler._send(200, rss(targets).encode(), "application/rss+xml")
    if path == "/hostile/feed.json":
        items = [{"id": str(i), "url": url, "title": f"Entry {i}"} for i, url in enumerate(targets)]
        body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Hostile JSON", "items": items})
        return handler._send(200, body.encode(), "application/feed+json")
    if path == "/hostile/atom.xml":
        base, href = query["base"][0], query["href"][0]
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{escape(base)}"><title>Hostile Atom</title><id>urn:h</id>'
            f'<entry><title>Inside</title><link rel="alternate" href="{escape(href)}"/><id>urn:h:1</id></entry></feed>'
        )
        return handler._send(200, body.encode(), "application/atom+xml")
    if path == "/hostile/sitemap.xml":
        urls = "".join(f"<url><loc>{escape(url)}</loc></url>" for url in targets)
        body = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        return handler._send(200, body.encode(), "application/xml")
    if path == "/hostile/canonical.html":
        page = (PAGES_DIR / ARTICLE).read_text(encoding="utf-8")
        page = page.replace("<head>", f'<head><link rel="canonical" href="{escape(targets[0])}">', 1)
        return handler._send(200, page.encode("utf-8"))
    if path == "/hostile/held":
        site.release.wait(300)
        return handler._send(200, (PAGES_DIR / ARTICLE).read_bytes())
    if path == "/hostile/slow-body":
        return drip_body(handler, float(query["every"][0]), int(query["bytes"][0]), "text/html")
    if path == "/hostile/slow-headers":
        return drip_headers(handler, float(query["every"][0]), int(query["lines"][0]))
    return None


def _entries(query: dict[str, list[str]]) -> list[str]:
    """`to` URLs, and with `thief_port=N` one more that carries credentials of its own (which only
    the feed's body shows, not its address): http://thief:stolen@127.0.0.1:N/articles/thai_article.html."""
    entries = list(query.get("to", []))
    for port in query.get("thief_port", []):
        entries.append(f"http://thief:stolen@127.0.0.1:{int(port)}/articles/thai_article.html")
    return entries


def rss(urls: list[str]) -> str:
    items = "".join(f"<item><title>Entry {i}</title><link>{escape(url)}</link></item>" for i, url in enumerate(urls))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>{items}</channel></rss>'


def _authorised(handler, site) -> bool:
    if site.credentials is None:
        return False
    user, password = site.credentials
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return handler.headers.get("Authorization") == expected


def drip_body(handler, every: float, count: int, content_type: str) -> int:
    handler._answering(200)
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(count))
        handler.end_headers()
        for _ in range(count):
            handler.wfile.write(b"x")
            time.sleep(every)
    except (BrokenPipeError, ConnectionResetError):
        handler._entry.client_left = True
        handler.close_connection = True
    return 200


def drip_headers(handler, every: float, lines: int) -> int:
    handler._answering(200)
    try:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        for i in range(lines):
            time.sleep(every)
            handler.wfile.write(f"X-Drip-{i}: x\r\n".encode())
        handler.wfile.write(b"Content-Length: 13\r\n\r\n<html></html>")
    except (BrokenPipeError, ConnectionResetError):
        handler._entry.client_left = True
    handler.close_connection = True
    return 200
