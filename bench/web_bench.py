"""Web fetching benchmark: pages/s that `poll_sources` fetches and stores from local news sites.

    python -m bench.web_bench [--pages 200] [--hosts 20] [--delay 1.0] [--json bench/results/web.json]

The sites are the local news site of workbench/news_site.py (real pages of the development data, served by
Python's threaded HTTP server on 127.0.0.1); each registers one feed listing its share of the
pages under distinct URLs. A poll reads robots.txt and the feed, then fetches and stores every
page (content-addressed files under a temporary state folder). Scenarios:
- one host, politeness off: as many requests at once as the concurrency limit allows;
- one host, polite: one request at a time with the configured delay (what one site sees);
- `--hosts` hosts (distinct loopback ports), polite: the per-host delay overlaps across hosts.
The figure is the whole poll: pages fetched / wall seconds, robots.txt and feeds included.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipeline.web import FetchSettings, poll_sources
from pipeline.web.sources import add_source
from workbench.news_site import NewsSite, RequestLog


def run_scenario(name: str, *, hosts: int, pages: int, settings: FetchSettings) -> dict:
    log = RequestLog()
    sites = [NewsSite(log).start() for _ in range(hosts)]
    try:
        with tempfile.TemporaryDirectory(prefix="newsflow-web-bench-") as folder:
            db = duckdb.connect()
            per_site = [pages // hosts + (1 if i < pages % hosts else 0) for i in range(hosts)]
            for site, count in zip(sites, per_site):
                add_source(db, site.url(f"/bench-feed.xml?n={count}"), kind="feed")
            started = time.perf_counter()
            allowed = replace(settings, destinations=settings.destinations.allowing(*(site.allow_entry for site in sites)))
            result = poll_sources(lambda: nullcontext(db), Path(folder), known_urls=lambda urls: set(), settings=allowed,
                                  now=datetime.now(timezone.utc))
            seconds = time.perf_counter() - started
            db.close()
    finally:
        for site in sites:
            site.stop()
    # Pages fetched and stored; a few development pages declare a same-site rel=canonical, so
    # their copies are one article in result.pages: the log counts the fetches.
    fetched = sum(1 for r in log.requests if r.path.startswith("/articles/") and r.status == 200)
    if result.failures:
        raise SystemExit(f"{name}: {len(result.failures)} failures, e.g. {result.failures[0]}")
    return {
        "scenario": name,
        "hosts": hosts,
        "polite": settings.one_request_per_host,
        "delay_s": settings.per_host_delay_s,
        "concurrency": settings.max_concurrency,
        "pages": fetched,
        "articles": len(result.pages),
        "requests": len(log.requests),
        "max_in_flight_per_host": log.max_in_flight_per_host(),
        "max_in_flight": log.max_in_flight_all(),
        "seconds": round(seconds, 2),
        "pages_per_s": round(fetched / seconds, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200, help="pages per scenario (default 200)")
    parser.add_argument("--hosts", type=int, default=20, help="hosts in the many-hosts scenario (default 20)")
    parser.add_argument("--delay", type=float, default=1.0, help="per-host delay when polite, seconds (default 1.0, the shipped default)")
    parser.add_argument("--concurrency", type=int, default=8, help="global limit on requests in flight (default 8, the shipped default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    polite = FetchSettings(contact_url="https://example.org/newsflow-bench", per_host_delay_s=args.delay,
                           max_concurrency=args.concurrency, retries=0)
    one_host_polite_pages = max(5, min(args.pages, int(20 / max(args.delay, 0.05))))  # about 20 s of waiting at most
    rows = [
        run_scenario("1 host, politeness off", hosts=1, pages=args.pages, settings=polite.without_politeness()),
        run_scenario(f"{args.hosts} hosts, politeness off", hosts=args.hosts, pages=args.pages, settings=polite.without_politeness()),
        run_scenario("1 host, polite", hosts=1, pages=one_host_polite_pages, settings=polite),
        run_scenario(f"{args.hosts} hosts, polite", hosts=args.hosts, pages=args.pages, settings=polite),
    ]
    columns = ["scenario", "pages", "seconds", "pages_per_s", "delay_s", "concurrency", "max_in_flight_per_host", "max_in_flight"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
