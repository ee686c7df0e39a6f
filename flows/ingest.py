"""The `ingest` flow: seeds/ -> sources -> extract -> language -> translate -> warehouse.

Orchestration only: each task runs one pipeline stage over a small batch of documents.
Files are found one at a time and batches stream through the stages: the CPU-bound ones
(load, extract, language, translate) are submitted to worker processes (`task_runners`),
a bounded number of batches in flight, while the flow process writes finished batches in
the order they were found. Only the flow process opens the warehouse: it reads what a batch
needs (stored fingerprints, cached translations) before submitting it and writes the results
after, one open per step, so readers can query between batches and DuckDB's single-writer
rule holds however many workers there are.

This module is the flow itself; its parts: `ingest_batches` (batches through the stages, written
in order), `ingest_stages` (the tasks the workers run), `ingest_warehouse` (every read and write
of the warehouse, the run's row, what follows the run), `ingest_web` (fetching), `ingest_summary`
(the counts and notes) and `ingest_progress` (what listeners hear as it goes).
"""

from __future__ import annotations

import time
import traceback
import uuid
from pathlib import Path
from typing import Iterator, Sequence

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.ingest_batches import BatchPipeline, batches_of
from flows.ingest_progress import report_progress
from flows.ingest_summary import IngestSummary, summary_markdown
from flows.ingest_warehouse import after_run, current_flow_run_id, record_end, record_run, tidy_raw_pages, utc_now
from flows.ingest_web import WebFetch, fetch_from_web
from flows.interrupts import kept_during_flow, raise_if_stopped, stop_behind
from flows.prefect_tls import reuse_prefect_tls_contexts
from flows.process_memory import keep_large_buffers_off_the_heap
from flows.served_runs import print_line_if_served
from flows.task_runners import SMALL_RUN_FILES, Workers
from pipeline.settings import Settings, load_settings
from pipeline.sources import display_path, input_folders, iter_files
from pipeline.warc import warc_records_of
from pipeline.web import FetchedPage
from pipeline.web.documents import is_web_address, stored_pages
from pipeline.web.store import warehouse_key
from pipeline.warehouse import exclusive_run


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
    started_at = utc_now()
    summary = IngestSummary(run_id=current_flow_run_id() or uuid.uuid4().hex, warehouse=str(warehouse_path))
    folders = input_folders(inputs) + [Path(folder) for folder in confine_to or []]
    found = _counted(warc_records_of(iter_files(inputs), summary.warc_skipped, folders), summary)
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
            ahead = _web_pages_ahead(summary, settings, warehouse_path, web_urls, poll_web=poll_web, refresh=refresh, reextract=reextract) + ahead
            chosen = Workers.choose(
                workers=workers if workers is not None else settings.workers,
                dask_address=dask_address or settings.dask_address,
                files_ahead=len(ahead),
            )
            load_options = {"max_bytes": max_bytes, "folders": folders}
            _run_the_stages(chosen, summary, _chain(ahead, found), warehouse_path, size, load_options, settings.seeds_dir, skip_unchanged=not reextract)
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
            record_end(warehouse_path, summary, started_at)
            print_line_if_served(summary, started_at)
    logger.info("Ingested %d inputs from %s", summary.files_seen, _describe_inputs(list(paths or inputs)))
    if summary.warc_skipped:
        logger.info("Skipped %d WARC records that are not HTML pages", sum(summary.warc_skipped.values()))
    create_markdown_artifact(key="ingest-summary", markdown=summary_markdown(summary), description="newsflow ingest run")
    for command in summary.install_commands():
        logger.warning("No translation model installed; to translate these articles run: %s", command)
    return summary


def _web_pages_ahead(
    summary: IngestSummary, settings: Settings, warehouse_path: Path, web_urls: list[str], *, poll_web: bool, refresh: bool, reextract: bool
) -> list:
    """What goes ahead of the files: with `reextract`, the raw pages kept from the web; then the
    pages fetched now (`web_urls`, and with `poll_web` what the due web sources list)."""
    logger = get_run_logger()
    ahead: list = []
    if web_urls or poll_web:
        report_progress("fetching", 0)  # the run has started: what follows is fetch time, not start-up
        web = fetch_from_web(warehouse_path, settings.state_dir, web_urls, refresh, summary.run_id)
        ahead = _tally_web(summary, web) + ahead
        logger.info("Fetched %d pages from the web (%d failed)", len(web.pages), len(web.rejected))
    if reextract:
        kept = stored_pages(settings.state_dir, warehouse=warehouse_key(warehouse_path))
        summary.files_seen += len(kept)
        report_progress("discovered", summary.files_seen)
        ahead = kept + ahead
        logger.info("Extracting %d kept web pages again", len(kept))
    return ahead


def _run_the_stages(
    chosen: Workers,
    summary: IngestSummary,
    inputs: Iterator,
    warehouse_path: Path,
    size: int,
    load_options: dict,
    drop_folder: Path,
    *,
    skip_unchanged: bool,
) -> None:
    """Every input through the stages on the `chosen` workers, in batches of at most `size`
    (smaller toward the end of the run, `batches_of`), and into the warehouse."""
    summary.workers = chosen.describe()
    get_run_logger().info("The stages run on %s", summary.workers)
    with chosen.task_runner() as runner:
        pipeline = BatchPipeline(
            runner,
            warehouse_path=warehouse_path,
            summary=summary,
            load_options=load_options,
            skip_unchanged=skip_unchanged,
        )
        for batch in batches_of(inputs, size, workers=pipeline.workers):
            pipeline.add(batch, drop_folder)
        pipeline.finish()


def _tally_web(summary: IngestSummary, web: WebFetch) -> list[FetchedPage]:
    summary.files_seen += len(web.pages) + len(web.rejected)
    summary.pages_fetched += len(web.pages)
    summary.rejected += len(web.rejected)
    summary.rejections.extend(web.rejected)
    summary.web_skipped_known = web.skipped_known
    summary.failing_sources = web.failing_sources
    summary.stage_seconds["fetch"] = summary.stage_seconds.get("fetch", 0.0) + web.seconds
    summary.web_notes.extend(web.notes)
    report_progress("discovered", summary.files_seen)
    return list(web.pages)


def _counted(paths: Iterator[Path], summary: IngestSummary) -> Iterator[Path]:
    for path in paths:
        summary.files_seen += 1
        report_progress("discovered", summary.files_seen)
        yield path


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _is_interrupt(error: BaseException) -> bool:
    """Ctrl-C or SIGTERM (Prefect turns SIGTERM into TerminationSignal while a flow runs), or an
    error made of one on its way (`flows.interrupts.stop_behind`)."""
    return stop_behind(error) is not None


def _describe_inputs(inputs: Sequence[str], shown: int = 3) -> str:
    more = f" and {len(inputs) - shown} more" if len(inputs) > shown else ""
    return ", ".join(inputs[:shown]) + more


if __name__ == "__main__":
    ingest()
