"""How long a server that drips its answer can hold newsflow: wall seconds per fetch and per poll.

    python -m bench.web_deadline_bench [--every 0.5] [--bytes 40] [--pages 5] [--deadline 5] [--timeout 20]

The local news site (workbench/news_site.py, its hostile answers in news_site_hostile.py) sends one byte (or one header line) every
`--every` seconds, `--bytes` of them: each read is well within NEWSFLOW_FETCH_TIMEOUT, so only
a total deadline ends the request early. Scenarios:
- a page whose body drips; a page whose headers drip; a page on a host whose robots.txt drips;
- a poll of a feed listing `--pages` such pages on one host (the host is left for the next poll
  after 3 requests in a row miss the deadline).
It also runs against code without a deadline (the settings it lacks are left out), which is how
the before/after figures in docs/web-safety.md were taken.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from urllib.parse import quote

import duckdb

from pipeline.web import FetchSettings, poll_sources
from pipeline.web.fetch import FetchError, PoliteFetcher
from workbench.news_site import NewsSite


def settings_for(site: NewsSite, args) -> FetchSettings:
    wanted = {"per_host_delay_s": 0.0, "retries": 0, "timeout_s": args.timeout, "deadline_s": args.deadline}
    fields = {field.name for field in dataclasses.fields(FetchSettings)}
    settings = FetchSettings(**{name: value for name, value in wanted.items() if name in fields})
    if "destinations" in fields:
        settings = dataclasses.replace(settings, destinations=settings.destinations.allowing(site.allow_entry))
    return settings


def timed_fetch(settings: FetchSettings, url: str) -> tuple[float, str]:
    started = time.perf_counter()
    with PoliteFetcher(settings) as fetcher:
        try:
            outcome = f"HTTP {fetcher.get(url).status}"
        except FetchError as error:
            outcome = error.reason
    return time.perf_counter() - started, outcome


def timed_poll(settings: FetchSettings, feed: str, site: NewsSite) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="newsflow-deadline-bench-") as folder, duckdb.connect() as db:
        # an opener since the warehouse is no longer held while fetching; before that, the connection
        warehouse = (lambda: nullcontext(db)) if "open_warehouse" in inspect.signature(poll_sources).parameters else db
        started = time.perf_counter()
        result = poll_sources(warehouse, Path(folder), urls=[feed], known_urls=lambda urls: set(), settings=settings)
        seconds = time.perf_counter() - started
    asked = sum(1 for path in site.log.paths() if path.startswith("/hostile/slow-body"))
    return seconds, f"{asked} of the pages requested, {len(result.failures)} failed, {len(result.pages)} fetched"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=0.5, help="seconds between two bytes (default 0.5)")
    parser.add_argument("--bytes", type=int, default=40, help="bytes (or header lines) a dripping answer has (default 40)")
    parser.add_argument("--pages", type=int, default=5, help="dripping pages the feed lists (default 5)")
    parser.add_argument("--deadline", type=float, default=5.0, help="NEWSFLOW_FETCH_DEADLINE for the run (default 5)")
    parser.add_argument("--timeout", type=float, default=20.0, help="NEWSFLOW_FETCH_TIMEOUT for the run (default 20, the shipped default)")
    parser.add_argument("--json", type=Path, help="also write the figures here, with the commit, date and machine")
    args = parser.parse_args(argv)

    drip = f"every={args.every}&bytes={args.bytes}"
    rows = []
    with NewsSite() as site:
        settings = settings_for(site, args)
        rows.append(("page whose body drips", *timed_fetch(settings, site.url(f"/hostile/slow-body?{drip}"))))
        rows.append(("page whose headers drip", *timed_fetch(settings, site.url(f"/hostile/slow-headers?every={args.every}&lines={args.bytes}"))))
        site.robots = f"<slow {args.every} {args.bytes}>"
        rows.append(("page after a dripping robots.txt", *timed_fetch(settings, site.url("/articles/spanish_article.html"))))
        site.robots = None
        site.log.clear()
        pages = [site.url(f"/hostile/slow-body?{drip}&n={n}") for n in range(args.pages)]
        feed = site.url("/hostile/feed.xml?" + "&".join(f"to={quote(url, safe='')}" for url in pages))
        rows.append((f"poll of a feed of {args.pages} dripping pages", *timed_poll(settings, feed, site)))
    print(f"each answer: {args.bytes} bytes, one every {args.every:g} s ({args.bytes * args.every:g} s in all); "
          f"timeout {args.timeout:g} s per read; deadline {getattr(settings, 'deadline_s', 'none')}")
    width = max(len(name) for name, _, _ in rows)
    for name, seconds, outcome in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f} s  {outcome}")
    if args.json:
        from bench.large_file_bench import machine_and_commit

        result = {
            **machine_and_commit(),
            "command": "python -m bench.web_deadline_bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "settings": {"every_s": args.every, "bytes": args.bytes, "pages": args.pages, "timeout_s": args.timeout,
                         "deadline_s": getattr(settings, "deadline_s", None)},
            "rows": [{"scenario": name, "seconds": round(seconds, 2), "outcome": outcome} for name, seconds, outcome in rows],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
