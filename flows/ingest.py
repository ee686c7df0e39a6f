"""The `ingest` flow: seeds/ -> sources -> extract -> language -> translate -> warehouse.

Orchestration only: each task runs one pipeline stage over a small batch of documents.
Files are found one at a time and batches stream through the stages: the CPU-bound ones
(load, extract, language, translate) are submitted to worker processes (`task_runners`),
a bounded number of batches in flight, while the flow process writes finished batches in
the order they were found. Only the flow process opens the warehouse: it reads what a batch
needs (stored fingerprints, cached translations) before submitting it and writes the results
after, one open per step, so readers can query between batches and DuckDB's single-writer
rule holds however many workers there are.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import takewhile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from pipeline.extract import extract_document
from pipeline.language import detect_language
from pipeline.record import Document
from pipeline.settings import load_settings
from pipeline.sources import confining_folder, display_path, input_folders, iter_files, load_document
from pipeline.translate import (
    WarehouseTranslationCache,
    install_hint,
    list_installed_packages,
    missing_model_languages,
    translate_documents,
)
from pipeline.translate.cache import PrefetchedTranslationCache, prefetch
from pipeline.translate.stage import documents_needing_a_model, sentences_to_translate
from pipeline.web import FetchedPage, FetchSettings, poll_sources, record_polls
from pipeline.web.credentials import credentials_for_fetching
from pipeline.web.documents import failure_document, is_web_address, page_document, stored_pages
from pipeline.web.store import tidy_raw_store, warehouse_key
from flows.interrupts import kept_during_flow, note_run_recorded, raise_if_stopped, stop_behind, stop_received, stops_held
from flows.prefect_tls import reuse_prefect_tls_contexts
from flows.process_memory import keep_large_buffers_off_the_heap
from flows.task_runners import (
    SMALL_RUN_FILES,
    Done,
    Workers,
    submit_ahead_of_queued,
    this_worker_host,
    workers_per_host,
)
from pipeline.warehouse import (
    BatchCounts,
    InterruptedRun,
    RunCounts,
    Warehouse,
    WarehouseBusyError,
    WarehouseDiskFullError,
    WarehouseMemoryError,
    exclusive_run,
    reject_if_oversized,
)

ProgressListener = Callable[[str, int], None]
_progress_listeners: list[ProgressListener] = []


def add_progress_listener(listener: ProgressListener) -> None:
    """Called as listener(event, n): ("discovered", files found so far) as discovery goes on,
    ("processed", k) as each batch of k files is written, and ("fetching", 0) when fetching from the web starts."""
    _progress_listeners.append(listener)


def remove_progress_listener(listener: ProgressListener) -> None:
    if listener in _progress_listeners:
        _progress_listeners.remove(listener)


def _report(event: str, n: int) -> None:
    for listener in list(_progress_listeners):
        listener(event, n)


@dataclass
class IngestSummary:
    run_id: str
    warehouse: str
    files_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    joined: int = 0  # files that joined an article stored under another path (renamed, copied, syndicated)
    gone: list[str] = field(default_factory=list)  # places of stored articles no longer in a scanned folder
    derived: list[str] = field(default_factory=list)  # what changed in the duplicates and the search index
    indexed_as_written: int = 0  # articles indexed for search batch by batch
    web_skipped_known: int = 0  # article URLs a feed or sitemap listed that are stored already: not fetched
    failing_sources: list[tuple[str, int, str]] = field(default_factory=list)  # web sources failing poll after poll
    web_notes: list[str] = field(default_factory=list)  # limits a poll reached, what the raw page store let go
    languages: dict[str, int] = field(default_factory=dict)
    translation_statuses: dict[str, int] = field(default_factory=dict)
    missing_models: dict[str, int] = field(default_factory=dict)
    rejections: list[tuple[str, str, str]] = field(default_factory=list)
    translation_failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    interrupted_runs: list[InterruptedRun] = field(default_factory=list)
    workers: str = ""  # where the stages ran
    batches_by_worker: dict[str, int] = field(default_factory=dict)  # "host:pid" -> batches it worked on
    seconds: float = 0.0
    status: str = "completed"

    def counts(self) -> RunCounts:
        return RunCounts(
            files_seen=self.files_seen,
            inserted=self.inserted,
            updated=self.updated,
            unchanged=self.unchanged,
            rejected=self.rejected,
        )

    def install_commands(self) -> list[str]:
        return [install_hint(language) for language in sorted(self.missing_models)]


def retry_unless_a_person_must_act(task, task_run, state) -> bool:
    """Retry passing faults, not a full disk, a writer out of its memory limit or a warehouse
    another process still holds after the wait (waiting again would only multiply the wait):
    those end the run with their message. Nor a statement a Ctrl-C or SIGTERM interrupted
    (DuckDB's RuntimeError('Query interrupted')): that is the stop, which ends the run."""
    error = state.result(raise_on_failure=False)
    if stop_behind(error) is not None:
        return False
    return not isinstance(error, (WarehouseDiskFullError, WarehouseMemoryError, WarehouseBusyError))


class DocumentBatch:
    """A batch on its way through the stages, with what the summary needs to know about it.

    A plain class, not a dataclass, on purpose: Prefect walks dataclasses, lists and dicts given
    to a task looking for futures, field by field and document by document, which cost more
    than the stages themselves; an object of a plain class it passes as it is."""

    __slots__ = ("docs", "unchanged", "stage_seconds", "ran_on")

    def __init__(self, docs: list[Document], unchanged: int = 0, stage_seconds: dict[str, float] | None = None, ran_on: tuple[str, ...] = ()):
        self.docs = docs
        self.unchanged = unchanged  # files dropped because their bytes are stored as they are
        self.stage_seconds = dict(stage_seconds or {})  # summed over the processes that ran them
        self.ran_on = ran_on  # "host:pid" of each process that worked on it

    def after(self, stage: str, started: float, docs: list[Document]) -> "DocumentBatch":
        seconds = dict(self.stage_seconds)
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
        here = f"{socket.gethostname()}:{os.getpid()}"
        ran_on = self.ran_on if here in self.ran_on else (*self.ran_on, here)
        return DocumentBatch(docs, self.unchanged, seconds, ran_on)


def load_files(
    paths: Sequence[Path], drop_folder: Path, max_bytes: int, folders: Sequence[Path], stored: dict[str, str]
) -> DocumentBatch:
    """Read and decode; files whose bytes are `stored` (path -> sha256, read by the flow) as they
    are go no further: no stage needs to see them again."""
    started = time.perf_counter()
    docs = [
        page_document(path) if isinstance(path, FetchedPage)
        else load_document(path, drop_folder=drop_folder, max_bytes=max_bytes, folder=confining_folder(path, folders))
        for path in paths
    ]
    changed = [doc for doc in docs if doc.rejected or stored.get(doc.source_path) != doc.content_sha256]
    return DocumentBatch([], unchanged=len(docs) - len(changed)).after("sources", started, changed)


def extract_articles(batch: DocumentBatch) -> DocumentBatch:
    started = time.perf_counter()
    # Nothing after extraction reads the raw page: let it go (for a large file, its whole size).
    return batch.after("extract", started, [extract_document(doc).replace(raw_text=None) for doc in batch.docs])


def detect_languages(batch: DocumentBatch) -> DocumentBatch:
    started = time.perf_counter()
    return batch.after("language", started, [detect_language(doc) for doc in batch.docs])


def sign_texts(batch: DocumentBatch) -> DocumentBatch:
    """Duplicate detection's signature of each text, made here, in parallel, instead of in the
    refresh after the run (which signs only what is left)."""
    from pipeline.duplicates import sign_document  # datasketch: imported once per worker, when there is work

    started = time.perf_counter()
    return batch.after("duplicate signatures", started, [sign_document(doc) for doc in batch.docs])


# One task for the four stages rather than a task each: a Prefect task run on a Dask worker
# costs a few hundred milliseconds of bookkeeping (measured: 100 empty tasks, 20 s on two
# workers), as much as the stages take for a small batch.
@task(name="load, extract, detect language, sign", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def prepare_batch(
    paths: Sequence[Path], drop_folder: Path, max_bytes: int, folders: Sequence[Path], stored: dict[str, str]
) -> DocumentBatch:
    return sign_texts(detect_languages(extract_articles(load_files(paths, drop_folder, max_bytes, folders, stored))))


@task(name="translate", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
def translate_batch(
    batch: DocumentBatch, cache: PrefetchedTranslationCache, workers_by_host: dict[str, int]
) -> tuple[DocumentBatch, PrefetchedTranslationCache]:
    """Translate with the cached sentences the flow read for this batch; the new translations
    travel back in the cache for the flow to store. Models load once per worker process."""
    started = time.perf_counter()
    host = this_worker_host()
    if host is not None:  # share this machine's cores with the other workers on it
        os.environ["NEWSFLOW_WORKERS_PER_HOST"] = str(workers_by_host.get(host, 1))
    docs = translate_documents(batch.docs, target="en", cache=cache)
    return sign_texts(batch.after("translate", started, docs)), cache


class BatchWrite:
    """One batch to store, with the translations its worker made (for the cache) and all its
    paths (the unchanged ones count as still there); `counts` once it is stored (committed),
    `signed` once its duplicate signatures are. A plain class, like DocumentBatch, so that
    Prefect passes it as it is (the flow reads `counts` after the task, also when it failed)."""

    __slots__ = ("batch", "translations", "seen_paths", "counts", "signed")

    def __init__(self, batch: DocumentBatch, translations: PrefetchedTranslationCache | None, seen_paths: Sequence[str]):
        self.batch = batch
        self.translations = translations
        self.seen_paths = seen_paths
        self.counts: BatchCounts | None = None
        self.signed = False


@task(name="write to warehouse", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def write_batches(
    writes: list[BatchWrite],
    warehouse_path: Path,
    run_id: str,
    then_look_up: Sequence[str] = (),
    refresh_search: bool = False,
) -> tuple[dict[str, str], int]:
    """Each batch's articles and rejections, the duplicate signatures its worker made, and the
    translations it made (for the cache), in one open of the warehouse; with `refresh_search`, the
    articles written since the last refresh indexed for search (returns how many); then the
    fingerprints stored for `then_look_up` (the next batch's files), in the same open. A retry
    does not store again a batch it stored before the failure."""
    with _open_for_a_batch(warehouse_path) as warehouse:
        for write in writes:
            _store(warehouse, write, run_id)
        indexed = 0
        if refresh_search:
            from pipeline.search import refresh_search_index

            with stops_held(interrupting=warehouse.connection.interrupt):
                indexed = refresh_search_index(warehouse.connection).reindexed
        return (warehouse.known_fingerprints(then_look_up) if then_look_up else {}), indexed


def _store(warehouse: Warehouse, write: BatchWrite, run_id: str) -> None:
    """Store what of `write` is not stored yet: its batch, in one transaction, with its `counts`
    set in the same step, which a stop does not cut in two (a stop during the transaction rolls
    it back: nothing stored, nothing counted); then its signatures."""
    if write.counts is None:
        for model, pairs in (write.translations.new_pairs() if write.translations is not None else {}).items():
            warehouse.store_translations(model, pairs)
        # A text too long for the writer is rejected here, where the run's summary counts it.
        write.batch.docs = [reject_if_oversized(doc) for doc in write.batch.docs]
        with stops_held(interrupting=warehouse.connection.interrupt):
            write.counts = warehouse.write_batch(write.batch.docs, run_id=run_id, ingested_at=_now(), seen_paths=write.seen_paths)
    if not write.signed:
        signed = [doc for doc in write.batch.docs if doc.text_signature is not None and not doc.rejected]
        if signed:
            from pipeline.duplicates import store_signatures  # datasketch: only when there is something to store

            with stops_held(interrupting=warehouse.connection.interrupt):
                store_signatures(warehouse.connection, signed)
        write.signed = True


def _open_for_a_batch(warehouse_path: Path) -> Warehouse:
    """The warehouse, opened for one batch's reads or writes: a few small statements, which
    DuckDB's parallel threads make no faster (in-process, 2,000 documents: 4.1 s of writes
    either way) but which keep a second thread busy, taking CPU from the stages when they run
    on local workers (flow process: 2 CPU s less, writes 7.2 -> 5.8 s on two workers)."""
    return Warehouse.open(warehouse_path, threads=1)


# The two reads below run once per batch in the flow process, as plain calls rather than Prefect
# tasks: a task run's bookkeeping costs the flow process more than the read, and the flow process
# is the one every batch waits for. (Warehouse.open waits for a busy file by itself.)
def stored_fingerprints(warehouse_path: Path, source_paths: list[str]) -> dict[str, str]:
    """source path -> sha256 of the bytes stored for it (the workers do not open the warehouse)."""
    if not warehouse_path.exists():
        return {}
    with _open_for_a_batch(warehouse_path) as warehouse:
        return warehouse.known_fingerprints(source_paths)


def cached_translations(warehouse_path: Path, needed: dict[str, list[str]]) -> PrefetchedTranslationCache:
    """The cached translations of the sentences a batch will ask for, read before it goes to a worker."""
    return prefetch(WarehouseTranslationCache(lambda: _open_for_a_batch(warehouse_path)), needed)


@dataclass
class WebFetch:
    """What a run fetched from the web: pages for the stages; failures already stored as rejections."""

    pages: list[FetchedPage]
    rejected: list[tuple[str, str, str]]  # (url, reason, what to do)
    skipped_known: int
    failing_sources: list[tuple[str, int, str]]  # (source URL, polls failed in a row, last detail)
    seconds: float = 0.0  # wall time, the warehouse's short opens included
    notes: list[str] = field(default_factory=list)  # limits reached, and what they left for the next poll


@task(name="fetch from the web", retries=1, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def fetch_from_web(warehouse_path: Path, state_dir: Path, urls: list[str], refresh: bool, run_id: str) -> WebFetch:
    """The pages given (`urls`), else those the due web sources list, fetched politely in the
    flow process. The warehouse is not held while fetching, so `newsflow sql` can read it: it is
    opened read-only for what the poll needs to know, then once to record each source's poll and
    store the failed fetches as rejections."""
    started = time.perf_counter()
    result = poll_sources(
        lambda: _reading(warehouse_path),
        state_dir,
        urls=urls,
        due_only=True,
        refresh=refresh,
        known_urls=lambda candidates: _stored_urls(warehouse_path, candidates),
        settings=FetchSettings(),
        credentials=credentials_for_fetching(state_dir),
        warehouse=warehouse_key(warehouse_path),
    )
    with Warehouse.open(warehouse_path) as warehouse:
        record_polls(warehouse.connection, result)
        warehouse.write_batch([failure_document(failure) for failure in result.failures], run_id=run_id, ingested_at=_now())
    return WebFetch(
        pages=result.pages,
        rejected=[(failure.url, failure.reason, failure.detail) for failure in result.failures],
        skipped_known=result.skipped_known,
        failing_sources=[(source.url, source.consecutive_failures, source.detail) for source in result.failing_sources],
        seconds=time.perf_counter() - started,
        notes=list(result.notes),
    )


@contextmanager
def _reading(warehouse_path: Path):
    with Warehouse.open(warehouse_path, read_only=True) as warehouse:
        yield warehouse.connection


def _stored_urls(warehouse_path: Path, urls: list[str]) -> set[str]:
    with Warehouse.open(warehouse_path, read_only=True) as warehouse:
        return warehouse.stored_urls(urls)


def _tally_web(summary: IngestSummary, web: WebFetch) -> list[FetchedPage]:
    summary.files_seen += len(web.pages) + len(web.rejected)
    summary.rejected += len(web.rejected)
    summary.rejections.extend(web.rejected)
    summary.web_skipped_known = web.skipped_known
    summary.failing_sources = web.failing_sources
    summary.stage_seconds["fetch"] = summary.stage_seconds.get("fetch", 0.0) + web.seconds
    summary.web_notes.extend(web.notes)
    _report("discovered", summary.files_seen)
    return list(web.pages)


@task(name="after the run: gone files, duplicates, search index", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def after_run(
    warehouse_path: Path, scanned_folders: list[str], seen_since: datetime, articles_changed: bool, indexed_as_written: int = 0
) -> tuple[list[str], list[str]]:
    """Once every file is written: mark the places in the scanned folders that were not seen in
    this run as gone, and bring the derived tables (duplicates, search index) up to date.
    Returns (gone places, one line per derived table that changed)."""
    with Warehouse.open(warehouse_path) as warehouse:
        gone = warehouse.mark_missing(scanned_folders, seen_since=seen_since)
        # a gone place may have been an article's face: that article now shows another place
        changed = articles_changed or bool(gone)
        return gone, refresh_derived_tables(warehouse, articles_changed=changed, indexed_as_written=indexed_as_written)


def refresh_derived_tables(warehouse: Warehouse, *, articles_changed: bool = True, indexed_as_written: int = 0) -> list[str]:
    """Duplicates and the search index, brought up to date with the articles (each reads only
    what changed since its last refresh, or what the batches left: `indexed_as_written` articles
    were indexed as they were written); one line for each that changed. Clustering duplicates
    costs seconds on a large warehouse even when nothing changed, so a run that changed no
    article skips it unless some article has never been compared."""
    from pipeline.duplicates import refresh_duplicates  # imports datasketch and scipy: only when needed
    from pipeline.search import refresh_search_index

    notes = []
    if articles_changed or _articles_never_compared(warehouse):
        duplicates = refresh_duplicates(warehouse.connection)
        notes.append(
            f"duplicates: {duplicates.duplicates} articles in {duplicates.clusters} clusters "
            f"({duplicates.articles} compared, {duplicates.signatures_computed} signed after the run, {duplicates.seconds:.1f}s)"
        )
    search = refresh_search_index(warehouse.connection)  # an unchanged run costs one scan of hashes
    if search.changed or indexed_as_written:
        notes.append(
            f"search index: {search.articles} articles, {indexed_as_written + search.reindexed} (re)indexed, "
            f"{search.removed} removed ({search.seconds:.1f}s after the run)"
        )
    return notes


def _articles_never_compared(warehouse: Warehouse) -> bool:
    (missing,) = warehouse.connection.execute(
        "SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM article_signatures s WHERE s.article_id = a.article_id)"
    ).fetchone()
    return missing > 0


@task(name="tidy the raw web pages", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def tidy_raw_pages(warehouse_path: Path, state_dir: Path, max_bytes: int) -> list[str]:
    """Once the run's pages are stored: let go of the raw pages no stored article uses (superseded
    fetches, pages that gave no article) and the oldest beyond the bound; one line when any went."""
    with Warehouse.open(warehouse_path) as warehouse:
        cleanup = tidy_raw_store(warehouse.connection, state_dir, warehouse=warehouse_key(warehouse_path), max_bytes=max_bytes)
    return [cleanup.describe()] if cleanup.removed else []


@task(name="record run", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def record_run(warehouse_path: Path, summary: IngestSummary, started_at: datetime, finished: bool) -> list[InterruptedRun]:
    """Start or finish this run's row; starting also closes the rows of runs that were killed
    (under the run lock no other run is active, so a run still marked running is dead)."""
    with Warehouse.open(warehouse_path) as warehouse:
        if not finished:
            interrupted = warehouse.close_interrupted_runs(finished_at=_now())
            warehouse.start_run(summary.run_id, flow_run_id=_flow_run_id(), started_at=started_at)
            return interrupted
        warehouse.finish_run(summary.run_id, counts=summary.counts(), status=summary.status, finished_at=_now())
        return []


def _record_end(warehouse_path: Path, summary: IngestSummary, started_at: datetime) -> None:
    """Record how the run ended, whole: a stop arriving meanwhile is held until the row is
    written, and the run then ends interrupted; a stop received at any point before (whose
    exception may have been lost on the way) makes it interrupted too."""
    with stops_held():
        for _ in range(2):  # again when a stop came while a completed run was being recorded
            if stop_received() is not None and summary.status == "completed":
                summary.status = "interrupted"
            recorded = summary.status
            record_run(warehouse_path, summary, started_at, finished=True)
            if not (stop_received() is not None and recorded == "completed"):
                break
        note_run_recorded(summary.status)
    raise_if_stopped()


def _is_interrupt(error: BaseException) -> bool:
    """Ctrl-C or SIGTERM (Prefect turns SIGTERM into TerminationSignal while a flow runs), or an
    error made of one on its way (`flows.interrupts.stop_behind`)."""
    return stop_behind(error) is not None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _flow_run_id() -> str | None:
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def _describe_inputs(inputs: Sequence[str], shown: int = 3) -> str:
    more = f" and {len(inputs) - shown} more" if len(inputs) > shown else ""
    return ", ".join(inputs[:shown]) + more


def batches_of(items: Iterable, size: int, *, last_parts: int = 1) -> Iterator[list]:
    """Lists of `size` items, except at the end: the last full list and the rest are shared out in
    at least `last_parts` near-equal lists (one per worker), so that the workers finish together
    rather than one of them working through the last batch alone."""
    held: list = []
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            if held:
                yield held
            held, batch = batch, []
    tail = held + batch
    parts = min(len(tail), max(last_parts, -(-len(tail) // size)))
    for index in range(parts):
        yield tail[len(tail) * index // parts : len(tail) * (index + 1) // parts]


def _tally(summary: IngestSummary, batch: DocumentBatch, counts) -> None:
    summary.inserted += counts.inserted
    summary.updated += counts.updated
    summary.unchanged += counts.unchanged + batch.unchanged
    summary.rejected += counts.rejected
    summary.joined += counts.joined
    for stage, seconds in batch.stage_seconds.items():
        summary.stage_seconds[stage] = summary.stage_seconds.get(stage, 0.0) + seconds
    for worker in batch.ran_on:
        summary.batches_by_worker[worker] = summary.batches_by_worker.get(worker, 0) + 1
    docs = batch.docs
    for doc in docs:
        if doc.rejected:
            summary.rejections.append((doc.source_path, doc.rejection.reason, doc.rejection.detail))
            continue
        summary.languages[doc.language] = summary.languages.get(doc.language, 0) + 1
        status = doc.translation_status or "unknown"
        summary.translation_statuses[status] = summary.translation_statuses.get(status, 0) + 1
        if doc.translation_failure:
            summary.translation_failures.append((doc.source_path, doc.translation_failure.reason))
    for language, n in missing_model_languages(docs).items():
        summary.missing_models[language] = summary.missing_models.get(language, 0) + n


@dataclass
class _InFlight:
    """One batch between submission and its write: its files, then its futures."""

    files: int
    source_paths: list[str]  # as stored
    prepared: object  # future of the language stage's DocumentBatch
    translated: object | None = None  # future of (DocumentBatch, PrefetchedTranslationCache), once submitted


class _BatchPipeline:
    """Submits batches through the stages with at most `in_flight` of them unwritten, and writes
    them in the order they were submitted, so a run's result does not depend on which worker
    finishes first."""

    def __init__(self, runner, *, warehouse_path: Path, summary: IngestSummary, load_options: dict, skip_unchanged: bool = True):
        self.runner = runner
        self.skip_unchanged = skip_unchanged  # False: every input goes through the stages (re-extraction)
        self.warehouse_path = warehouse_path
        self.summary = summary
        self.load_options = load_options
        self.window: deque[_InFlight] = deque()
        self.workers_by_host = workers_per_host(runner)
        self._models = None
        self.written_since_indexing = 0  # documents written since the search index was last refreshed
        self.finishing = False  # every batch is submitted
        # Per worker: one batch running, one waiting to start, and one waiting for its translation
        # (submitted once the flow has read its cached sentences, so it mostly runs after the
        # worker's next batch) or for its write. With two per worker, the workers sat idle while
        # the flow wrote; more would only hold more documents in memory. In-process, a batch is
        # done when submitted: write it then.
        workers = sum(self.workers_by_host.values())
        self.workers = max(1, workers)
        self.in_flight = BATCHES_IN_FLIGHT_PER_WORKER * workers if workers else 1

    def add(self, paths: list, drop_folder: Path) -> None:
        """`paths`: files, and pages fetched from the web (FetchedPage)."""
        raise_if_stopped()
        source_paths = [path.url if isinstance(path, FetchedPage) else display_path(path, drop_folder) for path in paths]
        look_up = source_paths if self.skip_unchanged else []
        if len(self.window) >= self.in_flight:
            stored = self._write_ready_batches(then_look_up=look_up)  # one open of the warehouse for both
        elif look_up:
            clock = time.perf_counter()
            stored = stored_fingerprints(self.warehouse_path, look_up)
            self._flow_seconds("skip unchanged", clock)
        else:
            stored = {}
        prepared = self.runner.submit(prepare_batch, {"paths": paths, "drop_folder": drop_folder, "stored": stored, **self.load_options})
        self.window.append(_InFlight(files=len(paths), source_paths=source_paths, prepared=prepared))

    def finish(self) -> None:
        """Write what is still in flight. From here on, each write also indexes what was written
        since the last refresh: on local workers the flow would only wait for the last batches
        meanwhile, and the refresh after the run, which everything waits for, is left with little."""
        self.finishing = True
        while self.window:
            self._write_ready_batches()

    def _write_ready_batches(self, then_look_up: list[str] | None = None) -> dict[str, str]:
        """Write the oldest batch once it is through the stages, and with it the batches after it
        that are through too (one open of the warehouse for all: on local workers, batches often
        come back together); with `then_look_up`, also read the fingerprints stored for those
        paths (the next batch's) in the same open. While it waits, each batch the workers finish
        goes on to its translation at once, so that the workers always have the next step queued."""
        oldest = self.window[0]
        while True:
            raise_if_stopped()
            self._start_ready_translations()
            if oldest.translated is not None and _is_done(oldest.translated):
                break
            _wait_for_any([waiting.prepared for waiting in self.window if waiting.translated is None] + [oldest.translated])
        ready = list(takewhile(lambda waiting: waiting.translated is not None and _is_done(waiting.translated), self.window))
        writes = [BatchWrite(*waiting.translated.result(), waiting.source_paths) for waiting in ready]
        clock = time.perf_counter()
        self.written_since_indexing += sum(len(write.batch.docs) for write in writes)
        refresh_search = self.written_since_indexing >= SEARCH_INDEX_EVERY or self.finishing
        try:
            stored, indexed = write_batches(writes, self.warehouse_path, self.summary.run_id, then_look_up or [], refresh_search)
        finally:  # also when the task failed or was stopped after storing some of them: the run's counts are its rows
            self._tally_stored(ready, writes)
        if refresh_search:
            self.written_since_indexing = 0
        self._flow_seconds("warehouse", clock)
        self.summary.indexed_as_written += indexed
        return stored

    def _tally_stored(self, ready: list[_InFlight], writes: list[BatchWrite]) -> None:
        """Count the batches of `writes` that were stored (in order: a batch is stored only
        after the ones before it), and take them out of the window."""
        for waiting, write in zip(ready, writes):
            if write.counts is None:
                break
            self.window.popleft()
            _tally(self.summary, write.batch, write.counts)
            _report("processed", waiting.files)

    def _start_ready_translations(self) -> None:
        for waiting in self.window:
            if waiting.translated is None and _is_done(waiting.prepared):
                self._submit_translation(waiting)

    def _submit_translation(self, waiting: _InFlight) -> None:
        """Only the documents that need a model go to a worker; the flow settles the others itself
        (not needed, no model installed: statuses only, no model is loaded)."""
        batch: DocumentBatch = waiting.prepared.result()
        models = self._installed_models(batch)
        needing = documents_needing_a_model(batch.docs, target="en", models=models)
        clock = time.perf_counter()
        settled = translate_documents([doc for index, doc in enumerate(batch.docs) if index not in needing], models=models)
        self._flow_seconds("translate", clock)
        if not needing:
            waiting.translated = Done((DocumentBatch(settled, batch.unchanged, batch.stage_seconds, batch.ran_on), None))
            return
        part = [batch.docs[index] for index in needing]
        clock = time.perf_counter()
        cache = cached_translations(self.warehouse_path, sentences_to_translate(part, target="en", models=models))
        self._flow_seconds("read translation cache", clock)
        future = submit_ahead_of_queued(self.runner, translate_batch, {"batch": DocumentBatch(part), "cache": cache, "workers_by_host": self.workers_by_host})
        waiting.translated = _MergedTranslation(future, batch, needing, settled)

    def _installed_models(self, batch: DocumentBatch):
        """The installed packages, listed once per run and only once a batch needs a model
        (listing imports argostranslate); None lets the stage list them itself."""
        if self._models is None and any(doc.language not in (None, "en", "und") for doc in batch.docs if not doc.rejected):
            self._models = list_installed_packages()
        return self._models

    def _flow_seconds(self, stage: str, started: float) -> None:
        seconds = self.summary.stage_seconds
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started


# The search index is refreshed during a run after about this many documents are written, so that
# neither the refresh after the run nor any one step tokenises more than this many articles at
# once (memory), while each refresh's fixed cost (about ten statements over the index) is shared.
SEARCH_INDEX_EVERY = 1000

BATCHES_IN_FLIGHT_PER_WORKER = 3


@dataclass
class _MergedTranslation:
    """The translate task's future for the documents of `batch` at `needing`, put back in their
    places among the ones the flow `settled`, on `result()`."""

    future: object
    batch: DocumentBatch
    needing: list[int]
    settled: list[Document]

    @property
    def wrapped_future(self):
        """The future to wait on, as `_is_done` and `_wait_for_any` look for it in a Prefect one."""
        return _dask_future(self.future)

    def result(self) -> tuple[DocumentBatch, PrefetchedTranslationCache]:
        part, cache = self.future.result()
        translated, settled = iter(part.docs), iter(self.settled)
        needing = set(self.needing)
        docs = [next(translated) if index in needing else next(settled) for index in range(len(self.batch.docs))]
        seconds = dict(self.batch.stage_seconds)
        for stage, spent in part.stage_seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + spent
        ran_on = tuple(dict.fromkeys(self.batch.ran_on + part.ran_on))
        return DocumentBatch(docs, self.batch.unchanged, seconds, ran_on), cache


def _is_done(future) -> bool:
    return _dask_future(future).done()


def _dask_future(future):
    """The Dask future inside a Prefect one (or a translation to merge), else the future itself."""
    return getattr(future, "wrapped_future", future)


def _wait_for_any(futures: list) -> None:
    """Until one of `futures` (None: no future yet) is done, or a stop was received (a stop whose
    exception was lost on the way, while the workers it also reached are gone, would otherwise
    leave the flow waiting for ever)."""
    pending = [_dask_future(future) for future in futures if future is not None]
    if pending and not any(future.done() for future in pending):
        from distributed import wait

        with pending[0].client.as_current():  # the client prefect-dask made is no process-wide default
            while True:
                try:
                    wait(pending, timeout=STOP_CHECK_S, return_when="FIRST_COMPLETED")
                    return
                except TimeoutError:
                    raise_if_stopped()


STOP_CHECK_S = 1.0


@flow(name="ingest", log_prints=False, validate_parameters=False)
@kept_during_flow
def ingest(
    paths: list[str] | None = None,
    warehouse: str | None = None,
    max_file_bytes: int | None = None,
    batch_size: int | None = None,
    confine_to: list[str] | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    poll_web: bool = False,
    refresh: bool = False,
    reextract: bool = False,
) -> IngestSummary:
    """`paths`: folders, globs, files and web addresses (pages or feeds, fetched once).
    `confine_to`: folders, besides those among `paths`, whose files may not link out of them
    (the served deployment names its drop folder, since it is given the files it saw arrive).
    `workers`: local worker processes (default NEWSFLOW_WORKERS, else every core; 1 runs the
    stages in the flow's own process); `dask_address`: run them on that Dask cluster instead.
    `poll_web`: also fetch what is new from the web sources that are due (`newsflow sources`);
    `refresh`: fetch article pages already stored again. `reextract`: run the stages again over
    every raw page kept from the web (no fetching), also when its bytes are stored as they are."""
    settings = load_settings()
    reuse_prefect_tls_contexts()
    keep_large_buffers_off_the_heap()  # whichever process runs the flow (the CLI's, a served run's) holds its batches
    warehouse_path = Path(warehouse) if warehouse else settings.warehouse_path
    web_urls = [path for path in paths or [] if is_web_address(path)]
    file_inputs = [path for path in paths or [] if not is_web_address(path)]
    inputs = file_inputs if paths or reextract else [str(settings.seeds_dir)]
    max_bytes = max_file_bytes or settings.max_file_bytes
    size = batch_size or settings.batch_size
    logger = get_run_logger()

    started = time.perf_counter()
    started_at = _now()
    summary = IngestSummary(run_id=_flow_run_id() or uuid.uuid4().hex, warehouse=str(warehouse_path))
    folders = input_folders(inputs) + [Path(folder) for folder in confine_to or []]
    found = _counted(iter_files(inputs), summary)
    # Look ahead just far enough to tell a small run, which is not worth starting workers for.
    ahead = [path for _, path in zip(range(SMALL_RUN_FILES), found)]
    if len(ahead) < SMALL_RUN_FILES:
        logger.info("Found %d files in %s", len(ahead), _describe_inputs(inputs))
    else:
        logger.info("Found %d files in %s so far; the rest are listed as the run goes", len(ahead), _describe_inputs(inputs))
    waiting = lambda: logger.warning("Waiting for another ingest run on %s to finish", warehouse_path)  # noqa: E731
    with exclusive_run(warehouse_path, on_wait=waiting):
        summary.interrupted_runs = record_run(warehouse_path, summary, started_at, finished=False)
        try:
            if web_urls or poll_web:
                _report("fetching", 0)  # the run has started: what follows is fetch time, not start-up
                web = fetch_from_web(warehouse_path, settings.state_dir, web_urls, refresh, summary.run_id)
                ahead = _tally_web(summary, web) + ahead
                logger.info("Fetched %d pages from the web (%d failed)", len(web.pages), len(web.rejected))
            if reextract:
                kept = stored_pages(settings.state_dir, warehouse=warehouse_key(warehouse_path))
                summary.files_seen += len(kept)
                _report("discovered", summary.files_seen)
                ahead = kept + ahead
                logger.info("Extracting %d kept web pages again", len(kept))
            chosen = Workers.choose(
                workers=workers if workers is not None else settings.workers,
                dask_address=dask_address or settings.dask_address,
                files_ahead=len(ahead),
            )
            summary.workers = chosen.describe()
            logger.info("The stages run on %s", summary.workers)
            with chosen.task_runner() as runner:
                pipeline = _BatchPipeline(
                    runner,
                    warehouse_path=warehouse_path,
                    summary=summary,
                    load_options={"max_bytes": max_bytes, "folders": folders},
                    skip_unchanged=not reextract,
                )
                for batch in batches_of(_chain(ahead, found), size, last_parts=pipeline.workers):
                    pipeline.add(batch, settings.seeds_dir)
                pipeline.finish()
            scanned = [display_path(folder, settings.seeds_dir) for folder in input_folders(inputs)] if inputs else []
            summary.gone, summary.derived = after_run(
                warehouse_path, scanned, started_at, articles_changed=bool(summary.inserted or summary.updated),
                indexed_as_written=summary.indexed_as_written,
            )
            if web_urls or poll_web or reextract:
                summary.web_notes.extend(tidy_raw_pages(warehouse_path, settings.state_dir, settings.raw_pages_max_bytes))
            raise_if_stopped()
        except BaseException as error:
            summary.status = "interrupted" if _is_interrupt(error) else "failed"
            # The frames the error left keep what they held until it is gone: a warehouse
            # connection a stop caught half-opened or half-closed would keep the file's database
            # alive in this process, and recording the run's end would fail or wait for it.
            traceback.clear_frames(error.__traceback__)
            raise
        finally:
            summary.seconds = time.perf_counter() - started
            _record_end(warehouse_path, summary, started_at)
    logger.info("Ingested %d inputs from %s", summary.files_seen, _describe_inputs(list(paths or inputs)))
    create_markdown_artifact(key="ingest-summary", markdown=summary_markdown(summary), description="newsflow ingest run")
    for command in summary.install_commands():
        logger.warning("No translation model installed; to translate these articles run: %s", command)
    return summary


def _counted(paths: Iterator[Path], summary: IngestSummary) -> Iterator[Path]:
    for path in paths:
        summary.files_seen += 1
        _report("discovered", summary.files_seen)
        yield path


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def interrupted_runs_note(runs: Sequence[InterruptedRun]) -> str:
    described = ", ".join(f"{run.run_id} ({run.articles_written} articles, {run.rejected} rejected)" for run in runs)
    return (
        f"{len(runs)} earlier run{'s' if len(runs) != 1 else ''} did not finish and {'are' if len(runs) != 1 else 'is'} "
        f"now marked interrupted: {described}; this run picked up the files {'they' if len(runs) != 1 else 'it'} had not reached."
    )


def gone_note(gone: Sequence[str]) -> str:
    return (
        f"{len(gone)} file{'s are' if len(gone) != 1 else ' is'} gone from the scanned folders since {'they were' if len(gone) != 1 else 'it was'} "
        "last seen: marked not present in article_sources; the articles stay (`newsflow prune` deletes articles with no file left)."
    )


def summary_markdown(summary: IngestSummary) -> str:
    lines = [
        f"# newsflow ingest `{summary.run_id}`",
        "",
        f"Warehouse: `{summary.warehouse}` — status **{summary.status}** in {summary.seconds:.2f} s",
        "",
        "| files seen | inserted | updated | unchanged | rejected |",
        "|---:|---:|---:|---:|---:|",
        f"| {summary.files_seen} | {summary.inserted} | {summary.updated} | {summary.unchanged} | {summary.rejected} |",
        "",
        "| language | articles |",
        "|---|---:|",
        *[f"| {lang} | {n} |" for lang, n in sorted(summary.languages.items())],
        "",
        "| translation | articles |",
        "|---|---:|",
        *[f"| {status} | {n} |" for status, n in sorted(summary.translation_statuses.items())],
    ]
    if summary.interrupted_runs:
        lines += ["", interrupted_runs_note(summary.interrupted_runs)]
    if summary.web_skipped_known:
        lines += ["", f"{summary.web_skipped_known} article page{'s' if summary.web_skipped_known != 1 else ''} listed by web sources {'are' if summary.web_skipped_known != 1 else 'is'} stored already: not fetched again."]
    for url, polls, detail in summary.failing_sources:
        lines += ["", f"Web source {url}: failing ({polls} polls in a row): {detail}"]
    lines += [line for note in summary.web_notes for line in ("", note)]
    if summary.joined:
        lines += ["", f"{summary.joined} file{'s' if summary.joined != 1 else ''} joined an article already stored under another path (see article_sources)."]
    if summary.gone:
        lines += ["", gone_note(summary.gone), ""]
        lines += [f"- `{path}`" for path in summary.gone[:50]]
    if summary.missing_models:
        lines += ["", "Install the missing translation models with:", ""]
        lines += [f"    {command}" for command in summary.install_commands()]
    if summary.translation_failures:
        lines += ["", "| translation failed | why, and what to do |", "|---|---|"]
        lines += [f"| `{path}` | {reason} |" for path, reason in summary.translation_failures]
    if summary.rejections:
        lines += ["", "| rejected file | reason | what to do |", "|---|---|---|"]
        lines += [f"| `{path}` | {reason} | {detail} |" for path, reason, detail in summary.rejections]
    lines += [f"\n{note}" for note in summary.derived]
    lines += ["", f"Stages ran on {summary.workers}.", "", "| stage | process seconds |", "|---|---:|"]
    lines += [f"| {stage} | {seconds:.3f} |" for stage, seconds in summary.stage_seconds.items()]
    if len(summary.batches_by_worker) > 1:
        lines += ["", "| worker process | batches |", "|---|---:|"]
        lines += [f"| `{worker}` | {n} |" for worker, n in sorted(summary.batches_by_worker.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    ingest()
