"""The web sources a user follows (`newsflow sources add|list|remove`), kept in the warehouse.

One row per followed feed, sitemap or page: how often to poll it, what the last poll found, the
validators for the next conditional GET, and how many polls in a row have failed, so a source
that keeps failing is visible in `newsflow sources list` and `newsflow status`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import duckdb

from pipeline.warehouse import schema_sql
from pipeline.warehouse.documents import utc_naive

# The tables (web_sources, web_sitemap_children) are in warehouse/schema.sql.

DEFAULT_EVERY_SECONDS = 30 * 60
FAILING_AFTER = 3  # consecutive failed polls before a source is called failing
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_COLUMNS = (
    "url, kind, every_seconds, language, added_at, last_polled_at, last_status, last_detail, "
    "etag, last_modified, articles_found, consecutive_failures, last_success_at"
)


@dataclass(frozen=True)
class WebSource:
    url: str
    kind: str
    every_seconds: int
    language: str | None
    added_at: datetime
    last_polled_at: datetime | None = None
    last_status: str | None = None
    last_detail: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    articles_found: int = 0
    consecutive_failures: int = 0
    last_success_at: datetime | None = None

    @property
    def failing(self) -> bool:
        return self.consecutive_failures >= FAILING_AFTER

    def due(self, now: datetime) -> bool:
        return self.last_polled_at is None or self.last_polled_at + timedelta(seconds=self.every_seconds) <= utc_naive(now)


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of a source did, to be recorded in its row."""

    status: str  # ok | not_modified | a failure reason code
    detail: str
    failed: bool
    new_pages: int = 0
    etag: str | None = None
    last_modified: str | None = None
    keep_validators: bool = False  # True: leave the stored ETag/Last-Modified as they are


def parse_every(text: str) -> int:
    """'30m', '2h', '1d', '90s' or plain minutes ('45') as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match:
        raise ValueError(f"'{text}' is not an interval: write e.g. 30m, 2h or 1d")
    seconds = int(float(match[1]) * _UNITS[match[2] or "m"])
    if seconds < 60:
        raise ValueError(f"'{text}' is too often: poll a source at most once a minute")
    return seconds


def format_every(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def ensure_web_sources_table(connection: duckdb.DuckDBPyConnection) -> None:
    """The warehouse schema (idempotent), for a connection that was not opened through `Warehouse`."""
    connection.execute(schema_sql())


def add_source(
    connection: duckdb.DuckDBPyConnection,
    url: str,
    *,
    kind: str,
    every_seconds: int = DEFAULT_EVERY_SECONDS,
    language: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Follow `url`; True when it is new, False when it was followed already (its settings are updated)."""
    ensure_web_sources_table(connection)
    existed = get_source(connection, url) is not None
    if existed:
        connection.execute(
            "UPDATE web_sources SET kind = ?, every_seconds = ?, language = ? WHERE url = ?", [kind, every_seconds, language, url]
        )
    else:
        connection.execute(
            "INSERT INTO web_sources (url, kind, every_seconds, language, added_at) VALUES (?, ?, ?, ?, ?)",
            [url, kind, every_seconds, language, utc_naive(now or datetime.now(timezone.utc))],
        )
    return not existed


def remove_source(connection: duckdb.DuckDBPyConnection, url: str) -> bool:
    ensure_web_sources_table(connection)
    if get_source(connection, url) is None:
        return False
    connection.execute("DELETE FROM web_sitemap_children WHERE source_url = ?", [url])
    connection.execute("DELETE FROM web_sources WHERE url = ?", [url])
    return True


def has_web_sources_table(connection: duckdb.DuckDBPyConnection) -> bool:
    """False in a warehouse no source was ever added to (read-only connections cannot create it)."""
    return bool(connection.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'web_sources'").fetchone()[0])


def get_source(connection: duckdb.DuckDBPyConnection, url: str) -> WebSource | None:
    if not has_web_sources_table(connection):
        return None
    row = connection.execute(f"SELECT {_COLUMNS} FROM web_sources WHERE url = ?", [url]).fetchone()
    return WebSource(*row) if row else None


def list_sources(connection: duckdb.DuckDBPyConnection) -> list[WebSource]:
    if not has_web_sources_table(connection):
        return []
    return [WebSource(*row) for row in connection.execute(f"SELECT {_COLUMNS} FROM web_sources ORDER BY added_at, url").fetchall()]


def due_sources(connection: duckdb.DuckDBPyConnection, now: datetime) -> list[WebSource]:
    return [source for source in list_sources(connection) if source.due(now)]


def failing_sources(connection: duckdb.DuckDBPyConnection) -> list[WebSource]:
    """Sources whose last FAILING_AFTER polls or more all failed: for `newsflow status` and the run summary."""
    return [source for source in list_sources(connection) if source.failing]


def record_poll(connection: duckdb.DuckDBPyConnection, url: str, outcome: PollOutcome, *, now: datetime) -> None:
    moment = utc_naive(now)
    if outcome.failed:
        connection.execute(
            "UPDATE web_sources SET last_polled_at = ?, last_status = ?, last_detail = ?, "
            "consecutive_failures = consecutive_failures + 1 WHERE url = ?",
            [moment, outcome.status, outcome.detail, url],
        )
        return
    validators = "" if outcome.keep_validators else ", etag = ?, last_modified = ?"
    parameters = [moment, outcome.status, outcome.detail, outcome.new_pages, moment]
    if not outcome.keep_validators:
        parameters += [outcome.etag, outcome.last_modified]
    connection.execute(
        "UPDATE web_sources SET last_polled_at = ?, last_status = ?, last_detail = ?, articles_found = articles_found + ?, "
        f"consecutive_failures = 0, last_success_at = ?{validators} WHERE url = ?",
        parameters + [url],
    )


def child_validators(connection: duckdb.DuckDBPyConnection, source_urls: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """url -> (ETag, Last-Modified) of the sitemaps that the sitemap indexes `source_urls` list,
    those checked longest ago first."""
    if not source_urls:
        return {}
    rows = connection.execute(
        "SELECT url, etag, last_modified FROM web_sitemap_children WHERE list_contains(?, source_url) ORDER BY checked_at, url",
        [source_urls],
    ).fetchall()
    return {url: (etag, modified) for url, etag, modified in rows}


def record_child_validators(
    connection: duckdb.DuckDBPyConnection, source_url: str, validators: dict[str, tuple[str | None, str | None]], *, now: datetime
) -> None:
    moment = utc_naive(now)
    for url, (etag, modified) in validators.items():
        connection.execute(
            "INSERT OR REPLACE INTO web_sitemap_children (url, source_url, etag, last_modified, checked_at) VALUES (?, ?, ?, ?, ?)",
            [url, source_url, etag, modified, moment],
        )
