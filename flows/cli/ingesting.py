"""`newsflow ingest` and `newsflow reextract`: run the `ingest` flow from the command line, checking
the inputs before anything starts, and print the run's summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flows.cli.shared import (
    INTERRUPTED_NOTE,
    CommandError,
    WarehouseOption,
    configure_prefect_for_a_run,
    console,
    err_console,
    refuse_other_schemes,
    stop_on_signals_saying,
    the_work_is_done,
)
from pipeline.settings import DEFAULT_BATCH_SIZE, load_settings


def ingest(
    paths: list[str] = typer.Argument(None, help="Folders, globs, files or http(s) addresses of pages or feeds (default: seeds/)."),
    warehouse: Optional[Path] = WarehouseOption,
    max_file_mb: Optional[float] = typer.Option(None, help="Reject files larger than this (default 20 MB)."),
    batch_size: Optional[int] = typer.Option(None, min=1, help=f"At most this many documents per task batch (default {DEFAULT_BATCH_SIZE}, or NEWSFLOW_BATCH_SIZE); on several workers, batches shrink toward the end of the run."),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="Local worker processes for the stages (default: every core; 1: in this process)."
    ),
    dask_address: Optional[str] = typer.Option(
        None, "--dask-address", envvar="NEWSFLOW_DASK_ADDRESS", help="Run the stages on this Dask cluster (tcp://HOST:PORT)."
    ),
    refresh: bool = typer.Option(False, "--refresh", help="Fetch web pages again even when they are stored already."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Ingest documents into the warehouse through the Prefect `ingest` flow: files, folders and
    globs, and web addresses of pages or feeds (fetched once, politely)."""
    stop_on_signals_saying(INTERRUPTED_NOTE)
    if max_file_mb is not None and max_file_mb <= 0:
        raise CommandError(f"--max-file-mb {max_file_mb:g} is not a size: give the megabytes a file may have, above 0, e.g. 20")
    refuse_other_schemes(paths or [], "fetches")
    _check_inputs_exist(paths)
    paths = _credentials_kept_apart(paths) if paths else paths
    mode = configure_prefect_for_a_run(verbose)
    started = time.perf_counter()
    _start_local_workers_early(paths, workers, dask_address)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.ingest import ingest as ingest_flow
    from flows.ingest_progress import add_progress_listener, remove_progress_listener

    import_seconds = time.perf_counter() - started
    progress = Progress(
        TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True
    )
    task_id = progress.add_task("ingest", total=None)
    first_event: list[float] = []

    def on_progress(event: str, n: int) -> None:
        if not first_event:
            first_event.append(time.perf_counter())
        if event == "discovered":  # files found so far: the total grows while discovery goes on
            progress.update(task_id, total=n)
        else:
            progress.advance(task_id, n)

    add_progress_listener(on_progress)
    try:
        with progress:
            summary = ingest_flow(
                paths=list(paths) if paths else None,
                warehouse=str(warehouse) if warehouse else None,
                max_file_bytes=int(max_file_mb * 1024 * 1024) if max_file_mb else None,
                batch_size=batch_size,
                workers=workers,
                dask_address=dask_address,
                refresh=refresh,
            )
    finally:
        remove_progress_listener(on_progress)
    the_work_is_done()
    prefect_startup = (first_event[0] if first_event else time.perf_counter()) - started - import_seconds
    _print_summary("ingest", summary, mode.describe(), import_seconds + prefect_startup, time.perf_counter() - started)


def _start_local_workers_early(paths: Optional[list[str]], workers: Optional[int], dask_address: Optional[str]) -> None:
    """When the run will start local workers, start the process they are forked from now, so that
    it loads the stages while this process imports the flow and Prefect creates the run. It
    chooses as the flow will (`Workers.choose`); a wrong guess costs an idle process."""
    import threading
    from itertools import islice

    from flows.task_runners import SMALL_RUN_FILES, Workers, start_worker_forkserver
    from pipeline.sources import iter_files
    from pipeline.web.documents import is_web_address

    settings = load_settings()
    inputs = [path for path in paths if not is_web_address(path)] if paths else [str(settings.seeds_dir)]
    chosen = Workers.choose(
        workers=workers if workers is not None else settings.workers,
        dask_address=dask_address or settings.dask_address,
        files_ahead=sum(1 for _ in islice(iter_files(inputs), SMALL_RUN_FILES)),
    )
    if not chosen.in_process and not chosen.dask_address:
        # in a thread: it imports Dask first (about 0.4 s), while this one goes on importing the flow
        threading.Thread(target=start_worker_forkserver, name="newsflow-start-workers", daemon=True).start()


def _check_inputs_exist(paths: Optional[list[str]]) -> None:
    """A mistyped path is an error before anything starts, not a rejected file."""
    from pipeline.sources import missing_inputs
    from pipeline.web.documents import is_web_address

    missing = missing_inputs([path for path in paths or [] if not is_web_address(path)])
    if missing:
        names = ", ".join(missing)
        raise CommandError(
            f"{'this path does' if len(missing) == 1 else 'these paths do'} not exist (or match no file): {names}; "
            "check the spelling, or run from the folder the paths are relative to"
        )


def _credentials_kept_apart(paths: list[str]) -> list[str]:
    """The inputs with web addresses stripped of `user:password@`. The credentials are given to
    this process's fetcher for its origin only, never to the flow's parameters (Prefect stores those)."""
    from pipeline.web.credentials import origin_key, remember_for_this_process, split_credentials
    from pipeline.web.documents import is_web_address

    kept = []
    for path in paths:
        if is_web_address(path):
            path, credentials = split_credentials(path)
            if credentials is not None:
                remember_for_this_process(origin_key(path), credentials)
        kept.append(path)
    return kept


def reextract(
    warehouse: Optional[Path] = WarehouseOption,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Run the stages again over every web page kept under the state folder, without fetching
    anything (after an extractor or model update): the latest fetch of each URL."""
    stop_on_signals_saying(INTERRUPTED_NOTE)
    mode = configure_prefect_for_a_run(verbose)
    started = time.perf_counter()
    from flows.ingest import ingest as ingest_flow

    summary = ingest_flow(warehouse=str(warehouse) if warehouse else None, reextract=True)
    the_work_is_done()
    _print_summary("reextract", summary, mode.describe(), 0.0, time.perf_counter() - started)


def _print_summary(command: str, summary, prefect_mode: str, prefect_startup: float, total_seconds: float) -> None:
    counts = Table(title=f"newsflow {command} — {summary.warehouse}", show_edge=False)
    for column in ("files seen", "inserted", "updated", "joined this run", "unchanged", "rejected"):
        counts.add_column(column, justify="right")
    unchanged = summary.unchanged - summary.joined_this_run  # a file joining an article this run stored is not "unchanged"
    row = (summary.files_seen, summary.inserted, summary.updated, summary.joined_this_run, unchanged, summary.rejected)
    counts.add_row(*(str(v) for v in row))
    console.print(counts)

    if summary.languages:
        languages = Table(title="articles processed this run", show_edge=False)
        languages.add_column("language")
        languages.add_column("articles", justify="right")
        for language, n in sorted(summary.languages.items(), key=lambda item: (-item[1], item[0])):
            languages.add_row(language, str(n))
        console.print(languages)
        statuses = Table(title="translation", show_edge=False)
        statuses.add_column("status")
        statuses.add_column("articles", justify="right")
        for status, n in sorted(summary.translation_statuses.items()):
            statuses.add_row(status, str(n))
        console.print(statuses)

    if summary.translation_failures:
        failures = Table(title="translation failed", show_edge=False)
        failures.add_column("file")
        failures.add_column("why, and what to do")
        for path, reason in summary.translation_failures:
            failures.add_row(path, reason)
        console.print(failures)

    if summary.rejections:
        rejected = Table(title="rejected files", show_edge=False)
        rejected.add_column("file")
        rejected.add_column("reason")
        rejected.add_column("what to do")
        for path, reason, detail in summary.rejections:
            rejected.add_row(path, reason, detail)
        console.print(rejected)

    if summary.joined:
        before = summary.joined - summary.joined_this_run
        when = ", ".join(part for n, part in ((summary.joined_this_run, "stored in this run"), (before, "in an earlier one")) if n for part in [f"{n} {part}"])
        console.print(
            f"{summary.joined} file{'s' if summary.joined != 1 else ''} joined an article already stored under another path: {when} "
            "(same page address or same text: see article_sources)",
            highlight=False,
        )
    if summary.gone:
        from flows.ingest_summary import gone_note

        console.print(f"[yellow]{gone_note(summary.gone)}[/]", highlight=False)
        for path in summary.gone[:20]:
            console.print(f"  gone: {path}", highlight=False, markup=False)
        if len(summary.gone) > 20:
            console.print(f"  … and {len(summary.gone) - 20} more (SELECT * FROM article_sources WHERE NOT present)", highlight=False)
    for note in summary.derived:
        console.print(note, highlight=False)
    if summary.warc_skipped:
        from flows.ingest_summary import warc_skipped_note

        console.print(warc_skipped_note(summary.warc_skipped), highlight=False, markup=False)
    if summary.web_skipped_known:
        n = summary.web_skipped_known
        console.print(
            f"{n} article page{'s' if n != 1 else ''} listed by web sources {'are' if n != 1 else 'is'} stored already: "
            f"not fetched again (--refresh fetches {'them' if n != 1 else 'it'})",
            highlight=False,
        )
    for url, polls, detail in summary.failing_sources:
        console.print(f"[yellow]Web source {url}: failing ({polls} polls in a row):[/] {detail}", highlight=False)
    for note in summary.web_notes:
        console.print(note, highlight=False, markup=False)
    if summary.interrupted_runs:
        from flows.ingest_summary import interrupted_runs_note

        console.print(f"[yellow]{interrupted_runs_note(summary.interrupted_runs)}[/]")
    for command in summary.install_commands():
        console.print(f"[yellow]No translation model for some articles.[/] Install it with: [bold]{command}[/], then run [bold]newsflow translate --pending[/].")
    stages = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in summary.stage_seconds.items())
    where = ", ".join(f"{worker} {n} batches" for worker, n in sorted(summary.batches_by_worker.items()))
    console.print(f"stages ran on {summary.workers}" + (f" (host:pid {where})" if where else ""))
    console.print(
        f"time: {total_seconds:.2f}s in all; flow {summary.seconds:.2f}s (process time by stage: {stages}); "
        f"Prefect start-up {prefect_startup:.2f}s via {prefect_mode}"
    )
