"""`newsflow sources add|list|remove`: the feeds, sitemaps and pages each scheduled run polls."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flows.cli.shared import CommandError, WarehouseOption, console, refuse_other_schemes, warehouse_file
from pipeline.settings import load_settings


sources_app = typer.Typer(help="Follow news on the web: feeds, sitemaps and pages, polled by each scheduled run.", no_args_is_help=True)


@sources_app.command("add")
def sources_add(
    url: str = typer.Argument(..., help="A feed (RSS, Atom, JSON Feed), a sitemap (or index), or a page; a page announcing a feed means its feed."),
    kind: Optional[str] = typer.Option(
        None, "--kind", help="feed, sitemap or page (default: detected by fetching the URL once; a followed source keeps its own)."
    ),
    every: Optional[str] = typer.Option(
        None, "--every", help="Poll it at most this often, e.g. 30m, 2h, 1d (default 30m; a followed source keeps its own)."
    ),
    language: Optional[str] = typer.Option(None, "--language", help="Its language (ISO 639-1, e.g. id), if known (a followed source keeps its own)."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Follow a feed, sitemap or page: each scheduled run of `newsflow serve` polls it when due.
    Adding a source already followed changes only what is given, and says what changed.
    Credentials in the URL (https://user:password@host/...) are kept apart from it (docs/web-safety.md)."""
    from pipeline.warehouse import Warehouse
    from pipeline.web import FetchSettings, detect_source
    from pipeline.web.credentials import keep_credentials, origin_key, split_credentials
    from pipeline.web.discover import KINDS, canonical_url
    from pipeline.web.fetch import FetchError
    from pipeline.web.sources import DEFAULT_EVERY_SECONDS, add_source, format_every, parse_every

    refuse_other_schemes([url], "follows")
    url, credentials = split_credentials(url)
    given = {origin_key(url): credentials} if credentials else None
    try:
        every_seconds = parse_every(every) if every is not None else None
    except ValueError as error:
        raise CommandError(f"--every: {error}") from None
    if kind is not None and kind not in KINDS:
        raise CommandError(f"unknown --kind {kind!r}: use feed, sitemap or page")
    source_url, source_kind = canonical_url(url), kind
    followed = _followed_source(warehouse_file(warehouse), source_url)
    if kind is None and followed is not None:
        source_kind = followed.kind  # known already: no need to fetch it to tell
    elif kind is None:
        try:
            source_kind, feeds = detect_source(url, FetchSettings(), credentials=given)
        except FetchError as error:
            hint = "" if error.reason == "blocked_destination" else " (give --kind to add it anyway)"
            raise CommandError(f"could not tell what {url} is: {error.detail}{hint}") from None
        if feeds:
            source_url, source_kind = feeds[0], "feed"
            others = f"; it also announces {', '.join(feeds[1:])}" if feeds[1:] else ""
            console.print(f"{url} is a page announcing a feed: following the feed {source_url}{others}", highlight=False)
            followed = _followed_source(warehouse_file(warehouse), source_url)
    if every_seconds is None:
        every_seconds = followed.every_seconds if followed is not None else DEFAULT_EVERY_SECONDS
    if language is None and followed is not None:
        language = followed.language
    with Warehouse.open(warehouse_file(warehouse)) as store:
        add_source(store.connection, source_url, kind=source_kind, every_seconds=every_seconds, language=language)
    settings = f"{source_kind}, polled at most every {format_every(every_seconds)}{f', language {language}' if language else ''}"
    if followed is None:
        said = f"Following {source_url} ({settings}); each scheduled run of `newsflow serve` polls it when due."
    else:
        compared = (
            ("kind", followed.kind, source_kind),
            ("polled at most every", format_every(followed.every_seconds), format_every(every_seconds)),
            ("language", followed.language or "not set", language or "not set"),
        )
        changes = [f"{what} {new_text} (was {old_text})" for what, old_text, new_text in compared if old_text != new_text]
        kept = [f"{what} {new_text}" for what, old_text, new_text in compared if old_text == new_text]
        said = (
            f"Already following {source_url}: now {', '.join(changes)}" + (f"; kept: {', '.join(kept)}." if kept else ".")
            if changes
            else f"Already following {source_url} ({settings}): nothing changed; --every, --kind or --language change it."
        )
    console.print(said, highlight=False, markup=False)
    if credentials is not None:
        origin = origin_key(url)
        kept = keep_credentials(load_settings().state_dir, origin, credentials)
        console.print(f"The credentials given for {origin} are kept in {kept} (readable by you only) and sent to {origin} only.", highlight=False)


def _followed_source(path: Path, url: str):
    """The source followed at `url` in the warehouse at `path`, or None (also when there is no warehouse yet)."""
    from pipeline.warehouse import Warehouse, WarehouseMissingError
    from pipeline.web.sources import get_source

    try:
        with Warehouse.open(path, read_only=True) as store:
            return get_source(store.connection, url)
    except WarehouseMissingError:
        return None


@sources_app.command("list")
def sources_list(warehouse: Optional[Path] = WarehouseOption) -> None:
    """The followed sources: when each was last polled, what it found, and which keep failing."""
    from pipeline.warehouse import Warehouse, WarehouseMissingError
    from pipeline.web.sources import format_every, list_sources

    try:
        with Warehouse.open(warehouse_file(warehouse), read_only=True) as store:
            sources = list_sources(store.connection)
    except WarehouseMissingError:
        sources = []
    if not sources:
        console.print("No web sources followed yet: `newsflow sources add URL` follows a feed, sitemap or page.")
        return
    table = Table(show_edge=False)
    for column in ("url", "kind", "every", "last polled", "status", "articles", "failures"):
        table.add_column(column, overflow="fold", justify="right" if column in ("articles", "failures") else "left")
    for source in sources:
        status = source.last_status or "not polled yet"
        table.add_row(
            source.url, source.kind, format_every(source.every_seconds), str(source.last_polled_at or "never")[:19],
            f"FAILING: {status}" if source.failing else status, str(source.articles_found), str(source.consecutive_failures),
        )
    console.print(table)
    for source in sources:
        if source.failing:
            console.print(f"{source.url} failed {source.consecutive_failures} polls in a row: {source.last_detail}", style="yellow", highlight=False)
        elif source.last_detail:  # what the last poll found, and what a limit left for the next one
            console.print(f"{source.url}: {source.last_detail}", highlight=False, markup=False)


@sources_app.command("remove")
def sources_remove(url: str = typer.Argument(..., help="The URL as `newsflow sources list` shows it."), warehouse: Optional[Path] = WarehouseOption) -> None:
    """Stop following a source (articles already stored stay)."""
    from pipeline.warehouse import Warehouse
    from pipeline.web.credentials import forget_credentials, origin_key, without_userinfo
    from pipeline.web.discover import canonical_url
    from pipeline.web.sources import list_sources, remove_source

    if not warehouse_file(warehouse).exists():  # opening it to write would create it
        raise CommandError(f"{without_userinfo(url)} is not followed: there is no warehouse at {warehouse_file(warehouse)} yet")
    with Warehouse.open(warehouse_file(warehouse)) as store:
        removed = remove_source(store.connection, canonical_url(url))
        remaining = {origin_key(source.url) for source in list_sources(store.connection)}
    if not removed:
        raise CommandError(f"{without_userinfo(url)} is not followed (`newsflow sources list` shows what is)")
    console.print(f"No longer following {canonical_url(url)}; its articles stay in the warehouse.", highlight=False)
    origin = origin_key(canonical_url(url))
    if origin not in remaining and forget_credentials(load_settings().state_dir, origin):
        console.print(f"Forgot the credentials kept for {origin} (no followed source is there any more).", highlight=False)
