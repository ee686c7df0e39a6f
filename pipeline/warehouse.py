"""The warehouse stage: one DuckDB file, one writer, bulk and idempotent writes.

Every write goes through Arrow: the batch becomes a `pyarrow.Table`, is registered with the
connection, and set-based SQL (`INSERT ... SELECT`, `UPDATE ... FROM`) moves it into the tables
inside one transaction. Row-by-row `executemany` is about a thousand times slower in DuckDB.

Times are stored as naive UTC `TIMESTAMP`s: aware datetimes are converted to UTC first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

import pipeline
from pipeline.record import Document, ParagraphLanguage, Rejection, iter_paragraphs

UNDETERMINED_LANGUAGE = "und"
RUN_STATUSES = ("running", "completed", "failed", "interrupted")
_LOCK_RETRY_INTERVAL_S = 0.1
# A writer waits longer than a reader: a long analyst query must not make an ingest run fail.
_DEFAULT_LOCK_TIMEOUT_S = {"reader": 10.0, "writer": 60.0}
LOCK_TIMEOUT_ENV = "NEWSFLOW_LOCK_TIMEOUT_S"
# DuckDB keeps every block it reads cached up to its memory limit (80% of RAM by default), so a
# writer that scans the articles (search index refresh, duplicate clustering) grew with the
# warehouse: 20,000 articles took the ingest process from 480 to over 1,000 MB. Capped, it evicts
# and spills to <warehouse>.tmp instead.
WRITER_MEMORY_LIMIT_ENV = "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT"
DEFAULT_WRITER_MEMORY_LIMIT = "128MB"
# A read-only connection (`newsflow sql`, export, search, report, status) may use this much memory
# before DuckDB's own default of 80% of the machine: a query that needs more fails with a message
# naming the setting (sorts and joins spill to disk before that).
READER_MEMORY_LIMIT_ENV = "NEWSFLOW_SQL_MEMORY_LIMIT"
DEFAULT_READER_MEMORY_LIMIT = "2GB"
_LOCK_MESSAGE = "Could not set lock on file"
_LOCK_HOLDER_PID = re.compile(r"\(PID (\d+)\)")

logger = logging.getLogger(__name__)


class WarehouseError(Exception):
    """A warehouse problem a person can act on; the message says how."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the DuckDB file's write lock."""


class WarehouseMissingError(WarehouseError):
    """A read-only open of a warehouse file that does not exist yet."""


class WarehouseDiskFullError(WarehouseError):
    """The disk holding the warehouse is full; what was committed before stays readable."""


_DISK_FULL = "No space left on device"


class WarehouseMemoryError(WarehouseError):
    """A writer needed more memory than NEWSFLOW_WAREHOUSE_MEMORY_LIMIT allows it."""


# A commit that runs out of memory is a TransactionException ("Failed to commit: could not allocate block ...").
_COMMIT_OUT_OF_MEMORY = re.compile(r"could not allocate|failed to (?:pin|allocate)")


def _duckdb_says(error: duckdb.Error) -> str:
    return str(error).split("\n", 1)[0].removeprefix("Out of Memory Error: ")


def _out_of_memory_message(error: duckdb.Error) -> str:
    duckdb_says = _duckdb_says(error)
    return (
        f"the warehouse ran out of the memory newsflow lets a writer use ({WRITER_MEMORY_LIMIT_ENV}={writer_memory_limit()}; "
        f"DuckDB: {duckdb_says}): what was stored before is intact; set {WRITER_MEMORY_LIMIT_ENV} higher "
        "(such as 1GB) and run again."
    )


def _query_out_of_memory_message(error: duckdb.OutOfMemoryException) -> str:
    duckdb_says = _duckdb_says(error)
    return (
        f"the query needed more memory than newsflow lets a query use ({READER_MEMORY_LIMIT_ENV}={reader_memory_limit()}; "
        f"DuckDB: {duckdb_says}): narrow it (a WHERE, fewer columns, a LIMIT), or set {READER_MEMORY_LIMIT_ENV} higher "
        "(such as 4GB) and run it again."
    )


def interrupt_behind(error: BaseException | None) -> BaseException | None:
    """What interrupted a DuckDB statement, when `error` is the interruption: a signal handler that
    raised (KeyboardInterrupt, SIGTERM's exception) while DuckDB's client polled for signals
    becomes RuntimeError('Query interrupted'), with what it raised only as its cause."""
    if isinstance(error, RuntimeError) and str(error) == "Query interrupted":
        cause = error.__cause__ or error.__context__
        if cause is not None and not isinstance(cause, (Exception, SystemExit, GeneratorExit)):
            return cause
    return None


def _disk_full_message(path: Path) -> str:
    return (
        f"the disk holding {path} is full (No space left on device): the batch being written was rolled back "
        "and everything stored before it is intact; free space there (or pass --warehouse to use another disk) "
        "and run again to load the rest."
    )


class QueryRefusedError(WarehouseError):
    """A statement the read-only front door does not run; the message says why and what to use."""


# Every read-only connection (`newsflow sql`, `newsflow export`): no file access beyond the
# warehouse's own files, no extension installs or loads, and no SQL can switch that back.
READ_ONLY_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}
# A read-only connection opens with extensions off but not yet locked: `_lock_read_only` loads the
# search extension from its wheel (its functions back the `search_articles` macro), then applies
# READ_ONLY_CONFIG, so nothing else can be loaded or changed afterwards.
_READ_ONLY_OPEN_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def _lock_read_only(connection: duckdb.DuckDBPyConnection) -> None:
    from pipeline.search import load_search_extension

    load_search_extension(connection)
    for name, value in READ_ONLY_CONFIG.items():  # lock_configuration last
        # Connections to one file in one process share its settings: another may have locked them already.
        if connection.execute("SELECT current_setting(?)", [name]).fetchone()[0] != value:
            connection.execute(f"SET {name} = {str(value).lower()}")

@dataclass(frozen=True)
class QueryResult:
    statement: str
    columns: list[str]
    rows: list[tuple]


@dataclass(frozen=True)
class InterruptedRun:
    """A run whose process died before it finished, as far as its rows tell."""

    run_id: str
    articles_written: int
    rejected: int


@dataclass(frozen=True)
class BatchCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    joined: int = 0  # files that joined an article stored under another path (counted in unchanged or updated too)

    def __add__(self, other: "BatchCounts") -> "BatchCounts":
        return BatchCounts(
            inserted=self.inserted + other.inserted,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            rejected=self.rejected + other.rejected,
            joined=self.joined + other.joined,
        )


@dataclass(frozen=True)
class RunCounts:
    files_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


def schema_sql() -> str:
    """The warehouse schema: the checkout's warehouse/schema.sql, else the copy packaged in the wheel."""
    package_dir = Path(pipeline.__file__).resolve().parent
    checkout_schema = package_dir.parent / "warehouse" / "schema.sql"
    if checkout_schema.is_file():
        return checkout_schema.read_text(encoding="utf-8")
    return (package_dir / "schema.sql").read_text(encoding="utf-8")


def article_id_for(source_path: str) -> str:
    """Stable article id: the first 16 hex digits of the sha256 of the source path."""
    return hashlib.sha256(source_path.encode("utf-8")).hexdigest()[:16]


# --- Arrow tables (pure: Documents in, Arrow out) -------------------------------------------

_ARTICLE_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("source_path", pa.string()),
        ("source_url", pa.string()),
        ("content_sha256", pa.string()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_at", pa.timestamp("us")),
        ("site_name", pa.string()),
        ("language", pa.string()),
        ("language_confidence", pa.float64()),
        ("text", pa.string()),
        ("text_en", pa.string()),
        ("translation_status", pa.string()),
        ("translation_model", pa.string()),
        ("ingested_at", pa.timestamp("us")),
        ("run_id", pa.string()),
        ("title_en", pa.string()),
    ]
)
_ARTICLE_COLUMNS = tuple(_ARTICLE_SCHEMA.names)

_PARAGRAPH_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("position", pa.int32()),
        ("text", pa.string()),
        ("language", pa.string()),
        ("language_confidence", pa.float64()),
    ]
)

_REJECTION_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("run_id", pa.string()),
        ("rejected_at", pa.timestamp("us")),
    ]
)


def utc_naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def incomplete_reason(doc: Document) -> Rejection | None:
    """Why a non-rejected document still cannot be stored as an article (earlier stages should prevent it)."""
    if doc.content_sha256 is None:
        return Rejection(
            "missing_fingerprint",
            "The file reached the warehouse without a content fingerprint; "
            "this is a bug in an earlier stage, please report it.",
        )
    if doc.text is None or not doc.text.strip():
        return Rejection(
            "missing_text",
            "The file reached the warehouse without extracted text; "
            "this is a bug in an earlier stage, please report it.",
        )
    return None


# What a writer needs to store an article (python -m bench.writer_memory_bench): DuckDB holds a
# row's strings whole while it writes them, so storing, then replacing, an article of S bytes of
# text and English text (with its paragraphs) needed about 13 MB + 1.8 x S (S = 1.7, 8.1, 20.7,
# 41.9 MB: 17, 27, 51, 89 MB). A text over 1 MB that would need more than the limit is rejected:
# stored, it would end this run, or the next after the file changed, and every run after, out of memory.
WRITER_BASE_BYTES = 16 * 10**6
WRITER_BYTES_PER_TEXT_BYTE = 2
_ALWAYS_STORED_BYTES = 10**6  # a limit too small for these ends the run with the setting to raise
_SIZE_UNITS = {"B": 1, "KB": 10**3, "KIB": 2**10, "MB": 10**6, "MIB": 2**20, "GB": 10**9, "GIB": 2**30, "TB": 10**12, "TIB": 2**40}


def size_in_bytes(size: str) -> int:
    """A DuckDB size (such as 128MB, 1GiB: KB, MB, GB are powers of 1000, KiB, MiB, GiB of 1024) in bytes."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", size.strip()).groups()
    return int(float(number) * _SIZE_UNITS[unit.upper()])


def oversized_reason(doc: Document) -> Rejection | None:
    """Why a document's text is too long for the warehouse's writer to store, or None (see
    WRITER_BASE_BYTES)."""
    text_en, _, _ = _translation_fields(doc)
    stored = _utf8_length(doc.text or "") + _utf8_length(text_en or "")
    needed = WRITER_BASE_BYTES + WRITER_BYTES_PER_TEXT_BYTE * stored
    limit = writer_memory_limit()
    if stored <= _ALWAYS_STORED_BYTES or needed <= size_in_bytes(limit):
        return None
    suggested_mb = -(-needed // (32 * 10**6)) * 32
    return Rejection(
        "too_large_for_warehouse",
        f"The article's text is {stored / 10**6:.1f} MB with its English version: storing it needs about "
        f"{needed / 10**6:.0f} MB of writer memory, more than {WRITER_MEMORY_LIMIT_ENV}={limit}; set "
        f"{WRITER_MEMORY_LIMIT_ENV}={suggested_mb}MB or more and run again, or split the file into smaller ones.",
    )


def _utf8_length(text: str, piece: int = 1 << 20) -> int:
    """len(text.encode()) without encoding a long text whole."""
    if text.isascii():
        return len(text)
    return sum(len(text[start : start + piece].encode("utf-8")) for start in range(0, len(text), piece))


def reject_if_oversized(doc: Document) -> Document:
    """`doc`, rejected (and its text let go) when its text is too long for the writer: see `oversized_reason`."""
    rejection = None if doc.rejected else oversized_reason(doc)
    if rejection is None:
        return doc
    return doc.replace(rejection=rejection, text=None, text_en=None, paragraph_languages=(), text_signature=None)


def _translation_fields(doc: Document) -> tuple[str | None, str, str | None]:
    """(text_en, translation_status, translation_model), filling what an untranslated doc lacks.

    A document that never went through translation counts as not_needed when it is English
    (text_en = text, per the contract) and as missing_model otherwise, so `pending_translations`
    picks it up later.
    """
    status = doc.translation_status
    language = doc.language or UNDETERMINED_LANGUAGE
    if status is None:
        status = "not_needed" if language == "en" else "missing_model"
    text_en = doc.text_en
    if text_en is None and status == "not_needed":
        text_en = doc.text
    return text_en, status, doc.translation_model


def articles_table(docs: Sequence[Document], *, run_id: str, ingested_at: datetime) -> pa.Table:
    """One Arrow row per document, in the `articles` column order. Documents must be storable."""
    rows: dict[str, list] = {name: [] for name in _ARTICLE_COLUMNS}
    ingested = utc_naive(ingested_at)
    for doc in docs:
        text_en, status, model = _translation_fields(doc)
        values = {
            "article_id": article_id_for(doc.source_path),
            "source_path": doc.source_path,
            "source_url": doc.source_url,
            "content_sha256": doc.content_sha256,
            "title": doc.title,
            "author": doc.author,
            "published_at": utc_naive(doc.published_at),
            "site_name": doc.site_name,
            "language": doc.language or UNDETERMINED_LANGUAGE,
            "language_confidence": doc.language_confidence,
            "text": doc.text,
            "text_en": text_en,
            "translation_status": status,
            "translation_model": model,
            "ingested_at": ingested,
            "run_id": run_id,
            "title_en": doc.title_en if doc.title_en is not None or status != "not_needed" else doc.title,
        }
        for name in _ARTICLE_COLUMNS:
            rows[name].append(values[name])
    return pa.table(rows, schema=_ARTICLE_SCHEMA)


def paragraphs_table(docs_by_article_id: dict[str, Document]) -> pa.Table:
    """Paragraph rows, `doc.paragraphs` aligned by position with `doc.paragraph_languages`.

    A paragraph without a language entry gets 'und' and a NULL confidence.
    """
    return paragraph_rows(docs_by_article_id).read_all()


PARAGRAPH_ROWS_AT_ONCE = 10_000


def paragraph_rows(docs_by_article_id: dict[str, Document], rows_at_once: int = PARAGRAPH_ROWS_AT_ONCE) -> pa.RecordBatchReader:
    """`paragraphs_table` as a stream of Arrow batches made as they are read: a text of 400,000
    paragraphs held them all twice over, as Python strings and in Arrow (230 MB for 50 MB)."""

    def batches():
        rows: dict[str, list] = {name: [] for name in _PARAGRAPH_SCHEMA.names}
        for article_id, doc in docs_by_article_id.items():
            languages = doc.paragraph_languages
            for position, text in enumerate(iter_paragraphs(doc.text or "")):
                detected = languages[position] if position < len(languages) else None
                rows["article_id"].append(article_id)
                rows["position"].append(position)
                rows["text"].append(text)
                rows["language"].append(detected.language if detected else UNDETERMINED_LANGUAGE)
                rows["language_confidence"].append(detected.confidence if detected else None)
                if len(rows["position"]) == rows_at_once:
                    yield pa.record_batch(rows, schema=_PARAGRAPH_SCHEMA)
                    rows = {name: [] for name in _PARAGRAPH_SCHEMA.names}
        yield pa.record_batch(rows, schema=_PARAGRAPH_SCHEMA)

    return pa.RecordBatchReader.from_batches(_PARAGRAPH_SCHEMA, batches())


_PARAGRAPH_LIST_TYPE = pa.list_(
    pa.struct([("text", pa.string()), ("language", pa.string()), ("language_confidence", pa.float64())])
)
# source_contents: an articles row without article_id (the place's article is in article_sources), with its paragraphs.
_SOURCE_CONTENT_COLUMNS = tuple(name for name in _ARTICLE_COLUMNS if name != "article_id")
# A place whose text (with its English) is longer is not kept in source_contents: a second copy of a
# long text would need as much writer memory again (a 7 MB copy ran a 48 MB writer out of memory).
# When such a place must become its article's face, the next run over its folder reads it again.
SOURCE_CONTENT_MAX_CHARS = 1_000_000


def _kept_as_source_content(doc: Document) -> bool:
    return len(doc.text or "") + len(doc.text_en or "") <= SOURCE_CONTENT_MAX_CHARS


def source_contents_table(articles: pa.Table, docs: Sequence[Document]) -> pa.Table:
    """source_contents rows for `docs`, given their `articles_table` rows in the same order."""
    lists = []
    for doc in docs:
        languages = doc.paragraph_languages
        lists.append(
            [
                {
                    "text": text,
                    "language": languages[position].language if position < len(languages) else UNDETERMINED_LANGUAGE,
                    "language_confidence": languages[position].confidence if position < len(languages) else None,
                }
                for position, text in enumerate(doc.paragraphs)
            ]
        )
    return articles.select(list(_SOURCE_CONTENT_COLUMNS)).append_column("paragraphs", pa.array(lists, _PARAGRAPH_LIST_TYPE))


def translation_failures_table(docs_by_article_id: dict[str, Document], *, run_id: str, failed_at: datetime) -> pa.Table:
    failed = [(article_id, doc.translation_failure) for article_id, doc in docs_by_article_id.items() if doc.translation_failure]
    return pa.table(
        {
            "article_id": pa.array([article_id for article_id, _ in failed], pa.string()),
            "model": pa.array([failure.model for _, failure in failed], pa.string()),
            "reason": pa.array([failure.reason for _, failure in failed], pa.string()),
            "run_id": pa.array([run_id] * len(failed), pa.string()),
            "failed_at": pa.array([utc_naive(failed_at)] * len(failed), pa.timestamp("us")),
        }
    )


def rejections_table(rejected: Sequence[tuple[Document, Rejection]], *, run_id: str, rejected_at: datetime) -> pa.Table:
    at = utc_naive(rejected_at)
    return pa.table(
        {
            "path": [doc.source_path for doc, _ in rejected],
            "sha256": [doc.content_sha256 for doc, _ in rejected],
            "reason": [rejection.reason for _, rejection in rejected],
            "detail": [rejection.detail for _, rejection in rejected],
            "run_id": [run_id] * len(rejected),
            "rejected_at": [at] * len(rejected),
        },
        schema=_REJECTION_SCHEMA,
    )


# A canonical URL identifies one article only when it names a page, not a site: some pages give
# their site's home page as their canonical URL.
_PAGE_URL_PATTERN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]+/.*[^/].*$")


def _is_page_url(url: str | None) -> bool:
    return bool(url) and bool(_PAGE_URL_PATTERN.match(url))


@dataclass(frozen=True)
class PruneResult:
    articles: int  # articles deleted (or that would be, with dry_run)
    places: int  # places (article_sources rows) of files that are gone
    dry_run: bool
    faces: int = 0  # articles whose face was a gone place and now shows a place still present


class _ArticlePlan:
    """Which article each document of a batch belongs to, and what to write for it."""

    def __init__(self):
        self.article_of: dict[str, str] = {}  # source_path -> article_id
        self.kind_of: dict[str, str] = {}  # source_path -> known | joined | new
        self.docs_of: dict[str, list[Document]] = {}  # article_id -> its documents, in batch order
        self.new_ids: set[str] = set()
        self._by_url: dict[str, str] = {}
        self._by_text: dict[str, str] = {}

    def _add(self, doc: Document, article_id: str, kind: str, fingerprint: str | None, url_key: str | None) -> None:
        self.article_of[doc.source_path] = article_id
        self.kind_of[doc.source_path] = kind
        self.docs_of.setdefault(article_id, []).append(doc)
        if url_key:
            self._by_url.setdefault(url_key, article_id)
        if fingerprint:
            self._by_text.setdefault(fingerprint, article_id)

    def at_known_path(self, doc, article_id, fingerprint, url_key) -> None:
        self._add(doc, article_id, "known", fingerprint, url_key)

    def joining(self, doc, article_id, fingerprint, url_key) -> None:
        self._add(doc, article_id, "joined", fingerprint, url_key)

    def new_article(self, doc, article_id, fingerprint, url_key) -> None:
        self.new_ids.add(article_id)
        self._add(doc, article_id, "new", fingerprint, url_key)

    def found_in_batch(self, url_key: str | None, fingerprint: str | None) -> str | None:
        return (self._by_url.get(url_key) if url_key else None) or (self._by_text.get(fingerprint) if fingerprint else None)

    def id_used(self, article_id: str) -> bool:
        return article_id in self.new_ids

    def actions(self, stored: dict[str, tuple]) -> tuple[dict[str, Document], dict[str, Document], dict[str, str], dict[str, int]]:
        """(articles to insert, articles to update: article_id -> the document whose content they
        take; articles that only move to a new latest path; counts per file)."""
        inserts: dict[str, Document] = {}
        updates: dict[str, Document] = {}
        moves: dict[str, str] = {}
        counts = {"inserted": 0, "updated": 0, "unchanged": 0, "joined": 0}
        for article_id, docs in self.docs_of.items():
            latest = docs[-1]
            if article_id in self.new_ids:
                inserts[article_id] = latest
                counts["inserted"] += 1
                counts["unchanged"] += len(docs) - 1  # copies within the batch join it
                counts["joined"] += len(docs) - 1
                continue
            sha256, status, text_en, text, path = stored[article_id]
            text_en_now, status_now, _ = _translation_fields(latest)
            # the same bytes can give another text (re-extraction by a better extractor)
            differs = (sha256, status, text_en, text) != (latest.content_sha256, status_now, text_en_now, latest.text)
            for doc in docs:
                if self.kind_of[doc.source_path] == "joined":
                    counts["joined"] += 1
            if differs:
                updates[article_id] = latest
                counts["updated"] += 1
                counts["unchanged"] += len(docs) - 1
            else:
                if latest.source_path != path:
                    moves[article_id] = latest.source_path
                counts["unchanged"] += len(docs)
        return inserts, updates, moves, counts


def _last_per_source_path(docs: Iterable[Document]) -> list[Document]:
    """Drop earlier duplicates of a source path within one batch: the last one is its latest content."""
    latest: dict[str, Document] = {}
    for doc in docs:
        latest.pop(doc.source_path, None)
        latest[doc.source_path] = doc
    return list(latest.values())


def describe_process(pid: int | None, fallback: str = "") -> str:
    """'PID 123 (newsflow sql ...)': the command line from /proc when it can be read."""
    if pid is None:
        return "another process"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        command = fallback
    command = " ".join(command.split())
    if len(command) > 120:
        command = command[:119] + "…"
    return f"PID {pid} ({command})" if command else f"PID {pid}"


def _lock_holder(error_text: str) -> str:
    """The process named in DuckDB's lock error ("... is held in /usr/bin/python3 (PID 123) ...")."""
    match = _LOCK_HOLDER_PID.search(error_text)
    held_in = re.search(r"held in (.+?) \(PID", error_text)
    return describe_process(int(match.group(1)) if match else None, held_in.group(1) if held_in else "")


def _busy_message(path: Path, holder: str, waited_s: float) -> str:
    # A read-only query (newsflow sql, the duckdb shell) holds the lock as firmly as a writer does.
    return (
        f"The warehouse {path} is still in use by {holder} after waiting {waited_s:.0f} s: "
        f"let that query or run finish (or stop it) and run again, raise {LOCK_TIMEOUT_ENV} to wait longer, "
        f"or pass --warehouse to use another file."
    )


def default_lock_timeout_s(*, read_only: bool) -> float:
    """How long opening the warehouse waits for another process's DuckDB lock.

    $NEWSFLOW_LOCK_TIMEOUT_S when set, else 10 s for a reader and 60 s for a writer.
    """
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "")
    try:
        return max(0.0, float(raw)) if raw.strip() else _DEFAULT_LOCK_TIMEOUT_S["reader" if read_only else "writer"]
    except ValueError:
        raise WarehouseError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds.") from None


def writer_memory_limit() -> str:
    """DuckDB's memory limit for a connection that writes: $NEWSFLOW_WAREHOUSE_MEMORY_LIMIT
    (a DuckDB size, such as 512MB or 2GB) when set, else 128MB."""
    return _memory_limit_setting(WRITER_MEMORY_LIMIT_ENV, DEFAULT_WRITER_MEMORY_LIMIT)


def reader_memory_limit() -> str:
    """DuckDB's memory limit for a read-only connection: $NEWSFLOW_SQL_MEMORY_LIMIT when set, else 2GB."""
    return _memory_limit_setting(READER_MEMORY_LIMIT_ENV, DEFAULT_READER_MEMORY_LIMIT)


def _memory_limit_setting(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)", raw, flags=re.IGNORECASE):
        raise WarehouseError(f"{name}={raw!r} is not a size DuckDB reads, such as 512MB or 2GB.")
    return raw


# --- the warehouse ---------------------------------------------------------------------------


class Warehouse:
    """One open DuckDB warehouse file. Use `Warehouse.open(...)`, ideally as a context manager.

    Calls are serialised with a lock, so Prefect tasks in threads may share one instance.
    """

    def __init__(self, path: Path, connection: duckdb.DuckDBPyConnection, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._connection: duckdb.DuckDBPyConnection | None = connection
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False, lock_timeout_s: float | None = None, threads: int | None = None) -> "Warehouse":
        """`threads`: DuckDB's threads for this connection (default: one per core)."""
        path = Path(path)
        if lock_timeout_s is None:
            lock_timeout_s = default_lock_timeout_s(read_only=read_only)
        if read_only and not path.exists():
            raise WarehouseMissingError(
                f"There is no warehouse at {path} yet: run `newsflow ingest` first, "
                f"or pass --warehouse to point at an existing file."
            )
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        config = {**_READ_ONLY_OPEN_CONFIG, "memory_limit": reader_memory_limit()} if read_only else {"memory_limit": writer_memory_limit()}
        if threads is not None:
            config = {**config, "threads": threads}
        connection = _connect_waiting_for_lock(path, read_only=read_only, lock_timeout_s=lock_timeout_s, config=config)
        # From here to the return, anything raised (a Ctrl-C too) closes the connection: one left
        # open in a frame of the traceback keeps the database instance alive in this process, and
        # the next open of the file (the run's own last row) fails or waits for it.
        try:
            if read_only:
                _lock_read_only(connection)
            warehouse = cls(path, connection, read_only=read_only)
            if not read_only:
                warehouse._apply_schema()
        except duckdb.OutOfMemoryException as error:
            connection.close()
            raise WarehouseMemoryError(_out_of_memory_message(error)) from None
        except BaseException:
            connection.close()
            raise
        return warehouse

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc is not None:
                self._interrupt_quietly()
        finally:
            self.close()
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise WarehouseMemoryError(_query_out_of_memory_message(exc) if self.read_only else _out_of_memory_message(exc)) from None
        interrupted_by = interrupt_behind(exc)
        if interrupted_by is not None:  # the Ctrl-C or SIGTERM itself, not an error to retry
            raise interrupted_by

    def _interrupt_quietly(self) -> None:
        """Stop the statement running, if one is: a statement cut short by a signal handler in
        the middle of DuckDB's call can keep running, and on a connection with locked settings
        (the front door's) `close` then waits until it ends (seen: minutes)."""
        connection = self._connection
        if connection is not None:
            try:
                connection.interrupt()
            except duckdb.Error:
                pass

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open DuckDB connection, for stages that run their own SQL (search, duplicates)."""
        return self._db

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            raise WarehouseError(f"The warehouse {self.path} is already closed.")
        return self._connection

    def _apply_schema(self) -> None:
        """schema.sql, unless this very schema was applied already: its DDL rewrites the catalog,
        which costs a checkpoint at every close, and a run opens the warehouse twice per batch."""
        schema = schema_sql()
        version = hashlib.sha256(schema.encode("utf-8")).hexdigest()
        try:
            if self._db.execute("SELECT version FROM schema_version").fetchone() == (version,):
                return
        except duckdb.CatalogException:
            pass
        with self._transaction() as db:
            db.execute(schema)
            db.execute("CREATE OR REPLACE TABLE schema_version AS SELECT ? AS version", [version])

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            db = self._db
            db.begin()
            try:
                yield db
                db.commit()
            except duckdb.Error as error:
                _rollback_quietly(db)
                if _DISK_FULL in str(error):
                    raise WarehouseDiskFullError(_disk_full_message(self.path)) from None
                if isinstance(error, duckdb.TransactionException) and _COMMIT_OUT_OF_MEMORY.search(str(error)):
                    raise WarehouseMemoryError(_out_of_memory_message(error)) from None
                raise
            except BaseException:
                _rollback_quietly(db)
                raise

    @contextmanager
    def _registered(self, **tables: pa.Table) -> Iterator[None]:
        """Make Arrow tables visible to SQL under the given names for the duration of the block."""
        with self._lock:
            for name, table in tables.items():
                self._db.register(name, table)
            try:
                yield
            finally:
                for name in tables:
                    self._db.unregister(name)

    # --- runs ---

    def start_run(self, run_id: str, *, flow_run_id: str | None, started_at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                """
                INSERT INTO ingest_runs (run_id, flow_run_id, started_at, status)
                VALUES (?, ?, ?, 'running')
                ON CONFLICT (run_id) DO UPDATE
                SET flow_run_id = excluded.flow_run_id, started_at = excluded.started_at, status = 'running'
                """,
                [run_id, flow_run_id, utc_naive(started_at)],
            )

    def close_interrupted_runs(self, *, finished_at: datetime) -> list["InterruptedRun"]:
        """Mark every run still `running` as `interrupted`, with the counts its rows show.

        Call it holding the warehouse's run lock (`exclusive_run`): then no other run is active,
        and a `running` row is a run whose process was killed before it could finish. Its
        articles count as inserted (the rows cannot tell inserted from updated) and its
        rejections as rejected; the files it never reached are picked up by the next run.
        """
        with self._transaction() as db:
            found = db.execute(
                """
                SELECT r.run_id,
                       (SELECT count(*) FROM articles a WHERE a.run_id = r.run_id),
                       (SELECT count(*) FROM rejected_files f WHERE f.run_id = r.run_id)
                FROM ingest_runs r WHERE r.status = 'running' ORDER BY r.started_at
                """
            ).fetchall()
            for run_id, written, rejected in found:
                db.execute(
                    """
                    UPDATE ingest_runs
                    SET status = 'interrupted', finished_at = ?, inserted = ?, rejected = ?,
                        files_seen = greatest(files_seen, ? + ?)
                    WHERE run_id = ?
                    """,
                    [utc_naive(finished_at), written, rejected, written, rejected, run_id],
                )
        return [InterruptedRun(run_id, written, rejected) for run_id, written, rejected in found]

    def finish_run(self, run_id: str, *, counts: RunCounts, status: str, finished_at: datetime) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"Run status must be one of {', '.join(RUN_STATUSES)}, not {status!r}.")
        with self._transaction() as db:
            (updated,) = db.execute(
                """
                UPDATE ingest_runs
                SET finished_at = ?, files_seen = ?, inserted = ?, updated = ?, unchanged = ?, rejected = ?, status = ?
                WHERE run_id = ?
                """,
                [
                    utc_naive(finished_at),
                    counts.files_seen,
                    counts.inserted,
                    counts.updated,
                    counts.unchanged,
                    counts.rejected,
                    status,
                    run_id,
                ],
            ).fetchone()
            if updated == 0:
                raise ValueError(f"No run {run_id!r} in {self.path}: call start_run before finish_run.")

    # --- articles ---

    def known_fingerprints(self, source_paths: Iterable[str]) -> dict[str, str]:
        """source_path -> content_sha256 of the bytes last stored from it, for the paths seen before
        whose file is still there (a path that came back after it was gone is read again)."""
        paths = sorted(set(source_paths))
        if not paths:
            return {}
        wanted = pa.table({"source_path": pa.array(paths, pa.string())})
        with self._registered(wanted_paths=wanted):
            rows = self._db.execute(
                "SELECT s.source_path, s.content_sha256 FROM article_sources s JOIN wanted_paths w USING (source_path) WHERE s.present"
            ).fetchall()
        return dict(rows)

    def stored_urls(self, urls: Iterable[str]) -> set[str]:
        """The `urls` stored already: as an article's page address, or as a place an article was fetched from."""
        wanted = pa.table({"url": pa.array(sorted(set(urls)), pa.string())})
        if not wanted.num_rows:
            return set()
        with self._registered(wanted_urls=wanted):
            rows = self._db.execute(
                """
                SELECT url FROM wanted_urls WHERE url IN (SELECT source_url FROM articles)
                UNION SELECT url FROM wanted_urls WHERE url IN (SELECT source_path FROM article_sources)
                """
            ).fetchall()
        return {url for (url,) in rows}

    def write_batch(
        self, docs: Sequence[Document], *, run_id: str, ingested_at: datetime, seen_paths: Sequence[str] = ()
    ) -> BatchCounts:
        """Store one batch in one transaction: which article each file belongs to, and its content.

        A file at a path already stored belongs to that path's article (also when it comes back
        after it was gone): unchanged bytes (with the same text and translation) write nothing,
        changed ones update the article. A file at a new path
        joins the article with the same canonical source_url (a page's own address, not a site's
        home page) or the same text fingerprint, and the article takes its newest content and
        path; otherwise it becomes a new article. Every file's place is recorded in
        article_sources. `seen_paths`: the other paths of the batch, unchanged and not sent
        through the stages, marked as still there. Rejected documents go to rejected_files, once
        per (path, sha256, reason). Within one batch, the last document for a source path wins.
        """
        storable: list[Document] = []
        rejected: list[tuple[Document, Rejection]] = []
        for doc in _last_per_source_path(docs):
            rejection = doc.rejection or incomplete_reason(doc) or oversized_reason(doc)
            if rejection is None:
                storable.append(doc)
            else:
                rejected.append((doc, rejection))

        seen_at = utc_naive(ingested_at)
        incoming = articles_table(storable, run_id=run_id, ingested_at=ingested_at)
        rejections = rejections_table(rejected, run_id=run_id, rejected_at=ingested_at)
        seen = pa.table({"source_path": pa.array(sorted(set(seen_paths)), pa.string())})
        with self._transaction() as db, self._registered(incoming_articles=incoming, incoming_rejections=rejections, seen_paths=seen):
            db.execute(
                "UPDATE article_sources SET last_seen = ?, present = true WHERE source_path IN (SELECT source_path FROM seen_paths)",
                [seen_at],
            )
            # Each text is fingerprinted once (as a join condition too, a 50 MB text took 460 MB, once 140 MB).
            places = db.execute(
                """
                WITH incoming AS MATERIALIZED (
                    SELECT source_path, source_url, article_id, text_fingerprint(text) AS fingerprint FROM incoming_articles
                )
                SELECT
                    i.source_path,
                    i.fingerprint,
                    s.article_id AS path_article,
                    (SELECT min(a.article_id) FROM articles a WHERE a.source_url = i.source_url) AS url_article,
                    (SELECT min(f.article_id) FROM article_sources f WHERE f.text_fingerprint = i.fingerprint) AS text_article,
                    (SELECT a.article_id FROM articles a WHERE a.article_id = i.article_id) AS id_taken
                FROM incoming i
                LEFT JOIN article_sources s USING (source_path)
                """
            ).fetchall()
            place_by_path = {row[0]: row[1:] for row in places}
            plan = _ArticlePlan()
            for doc in storable:
                fingerprint, path_article, url_article, text_article, id_taken = place_by_path[doc.source_path]
                url_key = doc.source_url if _is_page_url(doc.source_url) else None
                if path_article is not None:
                    plan.at_known_path(doc, path_article, fingerprint, url_key)
                    continue
                match = (url_article if url_key else None) or text_article or plan.found_in_batch(url_key, fingerprint)
                if match is not None:
                    plan.joining(doc, match, fingerprint, url_key)
                else:
                    new_id = article_id_for(doc.source_path)
                    if id_taken is not None or plan.id_used(new_id):  # the id of an article that has moved on (pruned place)
                        new_id = article_id_for(f"{doc.source_path}\n{doc.content_sha256}")
                    plan.new_article(doc, new_id, fingerprint, url_key)

            stored = {
                row[0]: row[1:]
                for row in db.execute(
                    "SELECT article_id, content_sha256, translation_status, text_en, text, source_path FROM articles "
                    "WHERE article_id IN (SELECT unnest(?::VARCHAR[]))",
                    [sorted(plan.article_of.values())],
                ).fetchall()
            }
            inserts, updates, moves, counts = plan.actions(stored)
            incoming_by_path = {path: i for i, path in enumerate(incoming.column("source_path").to_pylist())}

            def rows_of(chosen: dict[str, Document]) -> pa.Table:
                rows = [incoming_by_path[doc.source_path] for doc in chosen.values()]
                # take() copies the texts: not when it would take every row in order (a batch of one long text)
                picked = incoming if rows == list(range(incoming.num_rows)) else incoming.take(pa.array(rows, pa.int64()))
                return picked.set_column(0, "article_id", pa.array(list(chosen), pa.string()))

            to_insert, to_update = rows_of(inserts), rows_of(updates)
            changed_docs = {**inserts, **updates}
            # Every place that is not its article's face keeps what it gave (source_contents), so
            # that the face can move to a place still present when its own file is gone.
            face_of = {article_id: row[4] for article_id, row in stored.items()}
            face_of.update({article_id: doc.source_path for article_id, doc in changed_docs.items()})
            face_of.update(moves)
            spare = [
                doc for article_id, docs in plan.docs_of.items() for doc in docs
                if doc.source_path != face_of[article_id] and _kept_as_source_content(doc)
            ]
            left_behind = [article_id for article_id, row in stored.items() if row[4] != face_of[article_id]]
            spare_contents = source_contents_table(
                incoming.take(pa.array([incoming_by_path[doc.source_path] for doc in spare], pa.int64())), spare
            )
            paragraphs = paragraph_rows(changed_docs)
            changed = pa.table({"article_id": pa.array(list(changed_docs), pa.string())})
            moved = pa.table({"article_id": pa.array(list(moves), pa.string()), "source_path": pa.array(list(moves.values()), pa.string())})
            sources = pa.table(
                {
                    "source_path": pa.array([doc.source_path for doc in storable], pa.string()),
                    "article_id": pa.array([plan.article_of[doc.source_path] for doc in storable], pa.string()),
                    "content_sha256": pa.array([doc.content_sha256 for doc in storable], pa.string()),
                    "text_fingerprint": pa.array([place_by_path[doc.source_path][0] for doc in storable], pa.string()),
                }
            )
            with self._registered(
                articles_to_insert=to_insert,
                articles_to_update=to_update,
                articles_moved=moved,
                changed_articles=changed,
                incoming_paragraphs=paragraphs,
                incoming_sources=sources,
                faces_left_behind=pa.table({"article_id": pa.array(left_behind, pa.string())}),
                spare_contents=spare_contents,
                faces_now=pa.table({"source_path": pa.array(sorted(set(face_of.values())), pa.string())}),
            ):
                if left_behind:
                    self._keep_face_contents(db, "faces_left_behind")
                if spare:
                    content_columns = ", ".join(_SOURCE_CONTENT_COLUMNS)
                    db.execute(
                        f"INSERT OR REPLACE INTO source_contents ({content_columns}, paragraphs) "
                        f"SELECT {content_columns}, paragraphs FROM spare_contents"
                    )
                db.execute("DELETE FROM source_contents WHERE source_path IN (SELECT source_path FROM faces_now)")
                columns = ", ".join(_ARTICLE_COLUMNS)
                # Paths move first, so that an article can take a path another article gives up.
                db.execute(
                    "UPDATE articles SET source_path = m.source_path FROM articles_moved m WHERE articles.article_id = m.article_id"
                )
                db.execute(f"INSERT INTO articles ({columns}) SELECT {columns} FROM articles_to_insert")
                # Replaced, not updated: DuckDB's UPDATE keeps the old text beside the new one, and
                # could not update a 20 MB article within the writer's default 128 MB.
                db.execute("DELETE FROM articles WHERE article_id IN (SELECT article_id FROM articles_to_update)")
                db.execute(f"INSERT INTO articles ({columns}) SELECT {columns} FROM articles_to_update")
                db.execute("DELETE FROM paragraphs WHERE article_id IN (SELECT article_id FROM changed_articles)")
                db.execute(
                    """
                    INSERT INTO paragraphs (article_id, position, text, language, language_confidence)
                    SELECT article_id, position, text, language, language_confidence FROM incoming_paragraphs
                    """
                )
                db.execute(
                    """
                    INSERT INTO article_sources (source_path, article_id, content_sha256, text_fingerprint, first_seen, last_seen, present)
                    SELECT source_path, article_id, content_sha256, text_fingerprint, ?, ?, true FROM incoming_sources
                    ON CONFLICT (source_path) DO UPDATE SET
                        article_id = excluded.article_id, content_sha256 = excluded.content_sha256,
                        text_fingerprint = excluded.text_fingerprint, last_seen = excluded.last_seen, present = true
                    """,
                    [seen_at, seen_at],
                )
            failures = translation_failures_table(changed_docs, run_id=run_id, failed_at=ingested_at)
            with self._registered(incoming_failures=failures):
                db.execute(
                    """
                    INSERT INTO translation_failures (article_id, model, reason, run_id, failed_at)
                    SELECT article_id, model, reason, run_id, failed_at FROM incoming_failures
                    """
                )
            db.execute(
                """
                INSERT INTO rejected_files (path, sha256, reason, detail, run_id, rejected_at)
                SELECT i.path, i.sha256, i.reason, i.detail, i.run_id, i.rejected_at
                FROM incoming_rejections i
                WHERE NOT EXISTS (
                    SELECT 1 FROM rejected_files r
                    WHERE r.path = i.path AND r.sha256 IS NOT DISTINCT FROM i.sha256 AND r.reason = i.reason
                )
                """
            )
        return BatchCounts(
            inserted=counts["inserted"],
            updated=counts["updated"],
            unchanged=counts["unchanged"],
            rejected=len(rejected),
            joined=counts["joined"],
        )

    @staticmethod
    def _keep_face_contents(db: duckdb.DuckDBPyConnection, articles_leaving: str) -> None:
        """Copy the face (articles row and paragraphs) of the articles listed in the registered
        table `articles_leaving` to source_contents, under its place, before the face moves."""
        content_columns = ", ".join(f"a.{name}" for name in _SOURCE_CONTENT_COLUMNS)
        db.execute(
            f"""
            INSERT OR REPLACE INTO source_contents
            WITH kept AS (  -- a long text is not copied (SOURCE_CONTENT_MAX_CHARS)
                SELECT article_id FROM articles JOIN {articles_leaving} USING (article_id)
                WHERE length(text) + coalesce(length(text_en), 0) <= {SOURCE_CONTENT_MAX_CHARS}
            )
            SELECT {content_columns}, coalesce(p.paragraphs, [])
            FROM articles a
            JOIN kept USING (article_id)
            LEFT JOIN (
                SELECT article_id,
                       list({{'text': text, 'language': language, 'language_confidence': language_confidence}} ORDER BY position)
                           AS paragraphs
                FROM paragraphs JOIN kept USING (article_id)
                GROUP BY article_id
            ) p USING (article_id)
            """
        )

    @staticmethod
    def _restore_faces(db: duckdb.DuckDBPyConnection) -> int:
        """Articles whose face's place is gone (not present, or no longer a place) take the content
        of their latest place still present, with its paragraphs; returns how many did. The search
        index and the duplicates signatures follow at their next refresh (they compare texts)."""
        faceless = db.execute(
            """
            SELECT a.article_id FROM articles a
            WHERE NOT EXISTS (SELECT 1 FROM article_sources f WHERE f.source_path = a.source_path AND f.present)
              AND EXISTS (SELECT 1 FROM article_sources s WHERE s.article_id = a.article_id AND s.present)
            """
        ).fetch_arrow_table()
        if not faceless.num_rows:
            return 0
        db.register("faceless_articles", faceless)
        try:
            moving = db.execute(
                """
                SELECT s.article_id, s.source_path
                FROM article_sources s JOIN faceless_articles USING (article_id) JOIN source_contents c USING (source_path)
                WHERE s.present
                QUALIFY row_number() OVER (PARTITION BY s.article_id ORDER BY s.last_seen DESC, s.first_seen DESC, s.source_path) = 1
                """
            ).fetch_arrow_table()
            db.register("faces_restored", moving)
            assignments = ", ".join(f"{name} = c.{name}" for name in _SOURCE_CONTENT_COLUMNS)
            db.execute(
                f"""
                UPDATE articles SET {assignments}
                FROM faces_restored m JOIN source_contents c USING (source_path)
                WHERE articles.article_id = m.article_id
                """
            )
            db.execute("DELETE FROM paragraphs WHERE article_id IN (SELECT article_id FROM faces_restored)")
            db.execute(
                """
                INSERT INTO paragraphs (article_id, position, text, language, language_confidence)
                SELECT article_id, position, paragraph.text, paragraph.language, paragraph.language_confidence
                FROM (
                    SELECT m.article_id, unnest(range(len(c.paragraphs)))::INTEGER AS position, unnest(c.paragraphs) AS paragraph
                    FROM faces_restored m JOIN source_contents c USING (source_path)
                )
                """
            )
            db.execute("DELETE FROM source_contents WHERE source_path IN (SELECT source_path FROM faces_restored)")
            # A place read by a newsflow that did not keep source_contents: the next run over its
            # folder reads the file again (a fingerprint no file has), and the article takes that content.
            db.execute(
                """
                UPDATE article_sources SET content_sha256 = ''
                WHERE present AND article_id IN (SELECT article_id FROM faceless_articles)
                  AND article_id NOT IN (SELECT article_id FROM faces_restored)
                """
            )
        finally:
            db.unregister("faceless_articles")
            db.unregister("faces_restored")
        return moving.num_rows

    def mark_missing(self, folders: Sequence[str], *, seen_since: datetime) -> list[str]:
        """Mark the places under `folders` (stored paths, e.g. 'seeds') not seen since `seen_since`
        as not present, and return them: files gone from a folder a run scanned. Their articles stay;
        one whose face was such a file takes the content of a place still present (`_restore_faces`)."""
        if not folders:
            return []
        prefixes = [folder.rstrip("/") + "/" for folder in folders]
        with self._transaction() as db:
            rows = db.execute(
                """
                UPDATE article_sources SET present = false
                WHERE present AND last_seen < ? AND list_bool_or([starts_with(source_path, p) FOR p IN ?::VARCHAR[]])
                RETURNING source_path
                """,
                [utc_naive(seen_since), prefixes],
            ).fetchall()
            self._restore_faces(db)
        return sorted(path for (path,) in rows)

    def prune(self, *, dry_run: bool = False) -> "PruneResult":
        """Delete the articles none of whose places is present (with their paragraphs and
        places), and the places that are gone from articles that still have one; an article whose
        face was such a place takes the content of a place still present first."""
        with self._transaction() as db:
            faces = 0 if dry_run else self._restore_faces(db)
            gone = [
                row[0]
                for row in db.execute(
                    """
                    SELECT article_id FROM articles a
                    WHERE NOT EXISTS (SELECT 1 FROM article_sources s WHERE s.article_id = a.article_id AND s.present)
                    ORDER BY article_id
                    """
                ).fetchall()
            ]
            (places,) = db.execute("SELECT count(*) FROM article_sources WHERE NOT present").fetchone()
            if not dry_run:
                for table in ("paragraphs", "translation_failures", "articles"):
                    db.execute(f"DELETE FROM {table} WHERE article_id IN (SELECT unnest(?::VARCHAR[]))", [gone])
                db.execute("DELETE FROM source_contents WHERE source_path IN (SELECT source_path FROM article_sources WHERE NOT present)")
                db.execute("DELETE FROM article_sources WHERE NOT present")
        return PruneResult(articles=len(gone), places=int(places), dry_run=dry_run, faces=faces)

    # --- translations ---

    def pending_translations(self, limit: int | None = None) -> list[Document]:
        """Articles still waiting for an English text (missing_model or failed), oldest path first."""
        limit_clause = "" if limit is None else f"LIMIT {int(limit)}"
        with self._lock:
            columns, rows = self.query(
                f"""
                SELECT source_path, source_url, content_sha256, title, author, published_at, site_name,
                       language, language_confidence, text, text_en, translation_status, translation_model,
                       article_id
                FROM articles
                WHERE translation_status IN ('missing_model', 'failed')
                ORDER BY source_path
                {limit_clause}
                """
            )
            records = [dict(zip(columns, row)) for row in rows]
            wanted = pa.table({"article_id": pa.array([r["article_id"] for r in records], pa.string())})
            with self._registered(pending_articles=wanted):
                paragraph_rows = self._db.execute(
                    """
                    SELECT p.article_id, p.language, p.language_confidence
                    FROM paragraphs p JOIN pending_articles USING (article_id)
                    ORDER BY p.article_id, p.position
                    """
                ).fetchall()
        languages: dict[str, list[ParagraphLanguage]] = {}
        complete: dict[str, bool] = {}
        for article_id, language, confidence in paragraph_rows:
            # A NULL confidence marks a paragraph that had no language entry when it was written:
            # stop there, so the Document gets back exactly the entries it was stored with.
            if confidence is None:
                complete[article_id] = False
            if complete.get(article_id, True):
                languages.setdefault(article_id, []).append(ParagraphLanguage(language, confidence))
        documents = []
        for record in records:
            article_id = record.pop("article_id")
            documents.append(Document(**record, paragraph_languages=tuple(languages.get(article_id, ()))))
        return documents

    def update_translations(self, docs: Sequence[Document]) -> int:
        """Store text_en, title_en, translation_status and translation_model of stored articles; returns rows updated."""
        storable = [doc for doc in _last_per_source_path(docs) if not doc.rejected and doc.translation_status]
        if not storable:
            return 0
        translations = pa.table(
            {
                "source_path": [doc.source_path for doc in storable],
                "text_en": [doc.text_en for doc in storable],
                "translation_status": [doc.translation_status for doc in storable],
                "translation_model": [doc.translation_model for doc in storable],
                "title_en": [doc.title_en for doc in storable],
            },
            schema=pa.schema(
                [(name, pa.string()) for name in ("source_path", "text_en", "translation_status", "translation_model", "title_en")]
            ),
        )
        failed = [doc for doc in storable if doc.translation_failure]
        failures = pa.table(
            {
                "source_path": pa.array([doc.source_path for doc in failed], pa.string()),
                "model": pa.array([doc.translation_failure.model for doc in failed], pa.string()),
                "reason": pa.array([doc.translation_failure.reason for doc in failed], pa.string()),
            }
        )
        with self._transaction() as db, self._registered(new_translations=translations, new_failures=failures):
            (updated,) = db.execute(
                """
                UPDATE articles
                SET text_en = t.text_en, translation_status = t.translation_status, translation_model = t.translation_model,
                    title_en = t.title_en
                FROM new_translations t
                WHERE articles.source_path = t.source_path
                """
            ).fetchone()
            db.execute(
                """
                INSERT INTO translation_failures (article_id, model, reason, run_id, failed_at)
                SELECT a.article_id, f.model, f.reason, a.run_id, current_timestamp::TIMESTAMP
                FROM new_failures f JOIN articles a USING (source_path)
                """
            )
        return int(updated)

    def cached_translations(self, model: str, sentences: Sequence[str]) -> dict[str, str]:
        """source sentence -> stored translation by `model`, for the sentences the cache has."""
        wanted = sorted(set(sentences))
        if not wanted:
            return {}
        table = pa.table({"source": pa.array(wanted, pa.string())})
        with self._registered(wanted_sentences=table):
            rows = self._db.execute(
                """
                SELECT c.source, c.translation
                FROM translation_cache c JOIN wanted_sentences w USING (source)
                WHERE c.model = ?
                """,
                [model],
            ).fetchall()
        return dict(rows)

    def store_translations(self, model: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Remember (source, translation) pairs for `model`; a sentence already cached keeps its translation."""
        first_per_source: dict[str, str] = {}
        for source, translation in pairs:
            first_per_source.setdefault(source, translation)
        if not first_per_source:
            return
        table = pa.table(
            {
                "source": pa.array(list(first_per_source), pa.string()),
                "translation": pa.array(list(first_per_source.values()), pa.string()),
            }
        )
        with self._transaction() as db, self._registered(new_cache_entries=table):
            db.execute(
                """
                INSERT INTO translation_cache (model, source, translation)
                SELECT ?, source, translation FROM new_cache_entries
                ON CONFLICT (model, source) DO NOTHING
                """,
                [model],
            )

    # --- ad hoc SQL ---

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Run one SQL statement; returns (column names, rows). Empty for statements without a result."""
        with self._lock:
            result = self._db.execute(sql)
            if result.description is None:
                return [], []
            return [column[0] for column in result.description], result.fetchall()

    # --- the read-only front door (`newsflow sql`, `newsflow export --query`) ---

    def checked_queries(self, sql: str) -> list[duckdb.Statement]:
        """The statements of `sql`, in order, once every one is a query the front door runs
        (`pipeline.front_door`); QueryRefusedError names the first that is not."""
        from pipeline.front_door import checked_queries

        with self._lock:
            return checked_queries(self._db, sql)

    def run_statement(self, statement: duckdb.Statement | str) -> QueryResult:
        """Run one (checked) statement and fetch its result."""
        with self._lock:
            result = self._db.execute(statement)
            query = statement if isinstance(statement, str) else statement.query
            if result.description is None:
                return QueryResult(query, [], [])
            return QueryResult(query, [column[0] for column in result.description], result.fetchall())

    def record_batches(self, statement: duckdb.Statement | str, *, rows_per_batch: int = 100_000) -> pa.RecordBatchReader:
        """Stream one (checked) statement's result as Arrow batches, for writers that do not hold it all."""
        with self._lock:
            return self._db.execute(statement).fetch_record_batch(rows_per_batch)

    def relation_names(self) -> list[str]:
        """The warehouse's tables and views, sorted."""
        _, rows = self.query(
            """
            SELECT table_name FROM duckdb_tables()
            WHERE NOT internal AND database_name = current_database() AND schema_name = 'main'
            UNION
            SELECT view_name FROM duckdb_views()
            WHERE NOT internal AND database_name = current_database() AND schema_name = 'main'
            ORDER BY 1
            """
        )
        return [name for (name,) in rows]


def _rollback_quietly(db: duckdb.DuckDBPyConnection) -> None:
    try:
        db.rollback()
    except duckdb.Error:  # a failed commit has already ended the transaction
        pass


def _connect_waiting_for_lock(
    path: Path, *, read_only: bool, lock_timeout_s: float, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Connect, retrying while another process holds the file's lock, up to `lock_timeout_s`.

    Logs one warning (logger `pipeline.warehouse`) when it starts to wait, naming the holder.
    """
    started = time.monotonic()
    waiting = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as error:
            if _DISK_FULL in str(error):
                raise WarehouseDiskFullError(_disk_full_message(path)) from None
            if _LOCK_MESSAGE not in str(error):
                raise
            holder = _lock_holder(str(error))
            if time.monotonic() - started >= lock_timeout_s:
                raise WarehouseBusyError(_busy_message(path, holder, time.monotonic() - started)) from None
            if not waiting:
                waiting = True
                logger.warning("Waiting up to %g s for %s to release the warehouse %s", lock_timeout_s, holder, path)
            time.sleep(_LOCK_RETRY_INTERVAL_S)


class WarehouseRunLockTimeout(WarehouseError):
    pass


def _run_lock_holder(lock_path: Path) -> str:
    try:
        pid = int(lock_path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return "another process"
    return describe_process(pid)


@contextmanager
def exclusive_run(path: Path, *, timeout_s: float = 3600.0, on_wait=None) -> Iterator[None]:
    """One ingest run per warehouse at a time, across processes (an advisory lock file beside it).

    DuckDB's own lock only covers an open connection; runs open the file per batch so readers
    can query between batches, and this lock keeps two runs from interleaving their batches.
    """
    import fcntl

    lock_path = Path(str(path) + ".run.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        waited = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    logger.warning(
                        "Waiting for another ingest run on %s to finish: %s", path, _run_lock_holder(lock_path)
                    )
                    if on_wait is not None:
                        on_wait()
                waited = True
                if time.monotonic() >= deadline:
                    raise WarehouseRunLockTimeout(
                        f"Another ingest run, {_run_lock_holder(lock_path)}, has held {path} for over "
                        f"{timeout_s:.0f} s; wait for it to finish, or stop it if it is stuck."
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")  # who holds it, for the next run's waiting message
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
