"""What an ingest run reads and writes in the warehouse, all from the flow's process (the workers
never open it): each batch's stored fingerprints and cached translations before it is submitted,
its rows after; the run's own row; after the run, gone files and the derived tables (duplicates,
search index) and the raw web pages no article uses."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.ingest_stages import DocumentBatch
from flows.ingest_summary import IngestSummary
from flows.interrupts import note_run_recorded, raise_if_stopped, stop_behind, stop_received, stops_held
from pipeline.translate import WarehouseTranslationCache
from pipeline.translate.cache import PrefetchedTranslationCache, prefetch
from pipeline.warehouse import (
    BatchCounts,
    InterruptedRun,
    Warehouse,
    WarehouseBusyError,
    WarehouseDiskFullError,
    WarehouseMemoryError,
    reject_if_oversized,
)
from pipeline.web.store import tidy_raw_store, warehouse_key


def retry_unless_a_person_must_act(task, task_run, state) -> bool:
    """Retry passing faults, not a full disk, a writer out of its memory limit or a warehouse
    another process still holds after the wait (waiting again would only multiply the wait):
    those end the run with their message. Nor a statement a Ctrl-C or SIGTERM interrupted
    (DuckDB's RuntimeError('Query interrupted')): that is the stop, which ends the run."""
    error = state.result(raise_on_failure=False)
    if stop_behind(error) is not None:
        return False
    return not isinstance(error, (WarehouseDiskFullError, WarehouseMemoryError, WarehouseBusyError))


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
            write.counts = warehouse.write_batch(write.batch.docs, run_id=run_id, ingested_at=utc_now(), seen_paths=write.seen_paths)
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


@task(name="record run", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def record_run(warehouse_path: Path, summary: IngestSummary, started_at: datetime, finished: bool) -> list[InterruptedRun]:
    """Start or finish this run's row; starting also closes the rows of runs that were killed
    (under the run lock no other run is active, so a run still marked running is dead)."""
    with Warehouse.open(warehouse_path) as warehouse:
        if not finished:
            interrupted = warehouse.close_interrupted_runs(finished_at=utc_now())
            warehouse.start_run(summary.run_id, flow_run_id=current_flow_run_id(), started_at=started_at)
            return interrupted
        warehouse.finish_run(summary.run_id, counts=summary.counts(), status=summary.status, finished_at=utc_now())
        return []


def record_end(warehouse_path: Path, summary: IngestSummary, started_at: datetime) -> None:
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
    """Duplicates and the search index, brought up to date with the articles (each reads only the
    articles the writes noted as changed since its last refresh, or what the batches left:
    `indexed_as_written` articles were indexed as they were written); one line for each that
    changed. A refresh with nothing noted reads no article. (`articles_changed` is kept for callers;
    the notes decide.)"""
    from pipeline.duplicates import refresh_duplicates  # imports datasketch and scipy: only when needed
    from pipeline.search import refresh_search_index

    notes = []
    duplicates = refresh_duplicates(warehouse.connection)
    if duplicates.rebuilt or duplicates.redecided or duplicates.signatures_dropped:
        how = "clustered from scratch" if duplicates.rebuilt else f"{duplicates.redecided} re-decided"
        notes.append(
            f"duplicates: {duplicates.duplicates} articles in {duplicates.clusters} clusters "
            f"({duplicates.articles} compared, {how}, {duplicates.signatures_computed} signed after the run, {duplicates.seconds:.1f}s)"
        )
    search = refresh_search_index(warehouse.connection)  # nothing noted: no article read
    if search.changed or indexed_as_written:
        notes.append(
            f"search index: {search.articles} articles, {indexed_as_written + search.reindexed} (re)indexed, "
            f"{search.removed} removed ({search.seconds:.1f}s after the run)"
        )
    return notes


@task(name="tidy the raw web pages", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def tidy_raw_pages(warehouse_path: Path, state_dir: Path, max_bytes: int) -> list[str]:
    """Once the run's pages are stored: let go of the raw pages no stored article uses (superseded
    fetches, pages that gave no article) and the oldest beyond the bound; one line when any went."""
    with Warehouse.open(warehouse_path) as warehouse:
        cleanup = tidy_raw_store(warehouse.connection, state_dir, warehouse=warehouse_key(warehouse_path), max_bytes=max_bytes)
    return [cleanup.describe()] if cleanup.removed else []


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def current_flow_run_id() -> str | None:
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None
