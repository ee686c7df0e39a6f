"""The `newsflow` command line: ingest, query, manage models, translate pending articles."""

from __future__ import annotations

import csv
import gc
import io
import json
import logging
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from flows.interrupts import Terminated, raise_if_stopped, run_recorded_as, stop_handlers_installed, stop_on_signals, stop_received
from pipeline.settings import DEFAULT_BATCH_SIZE, load_settings

app = typer.Typer(
    name="newsflow",
    help="Multilingual news ingestion: seeds/ -> clean, English-searchable records in DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and install argos translation models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

# Piped output (logs, CI, scripts) is not wrapped at 80 columns: messages stay greppable.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)


class CommandError(Exception):
    """An error whose message is all the user needs: printed as one line, exit code 1."""


INTERRUPTED_NOTE = (
    "what was stored is kept and the run is marked interrupted; run the same command again to load the rest."
)
FINISHED_NOTE = "the run had finished: everything is stored and the run is marked completed."
QUERY_STOPPED_NOTE = "the query was stopped."
_interrupted_note = ""  # what a command stopped by Ctrl-C or SIGTERM says after "interrupted (...)"


def _stop_on_signals(note: str) -> None:
    """Ctrl-C and SIGTERM stop this command (exit 130, 143) with one line ending in `note`,
    wherever they arrive (`flows.interrupts`)."""
    global _interrupted_note
    _interrupted_note = note
    stop_on_signals()


def _the_work_is_done(note: str = FINISHED_NOTE) -> None:
    """From here on a stop ends the command saying `note`: the work is done and recorded. A stop
    that came already, once the flow function had returned (Prefect's engine swallows what is
    raised then), ends it now."""
    global _interrupted_note
    _interrupted_note = note
    raise_if_stopped()


def _warehouse_path(warehouse: Optional[Path]) -> Path:
    return warehouse if warehouse else load_settings().warehouse_path


WarehouseOption = typer.Option(None, "--warehouse", "-w", help="DuckDB file (default warehouse/news.duckdb or $NEWSFLOW_WAREHOUSE).")


def _configure_prefect_for_a_run(verbose: bool):
    """Point Prefect at its server; start the project's background server on first use."""
    from flows.prefect_setup import configure_prefect
    from flows.server import ServerStartError

    try:
        mode = configure_prefect(verbose=verbose, start_background=True)
    except ServerStartError as error:
        raise CommandError(f"could not start the project's Prefect server: {error}") from error
    if mode.started_now:
        err_console.print(
            f"Started the project's Prefect server in the background: UI {mode.project_server.ui_url} "
            f"(stops after {_idle_minutes_text()} without use; `newsflow server stop` stops it now)",
            highlight=False,
        )
    return mode


def _idle_minutes_text() -> str:
    from flows.server import idle_minutes

    return f"{idle_minutes():g} min"


@app.command()
def ingest(
    paths: list[str] = typer.Argument(None, help="Folders, globs, files or http(s) addresses of pages or feeds (default: seeds/)."),
    warehouse: Optional[Path] = WarehouseOption,
    max_file_mb: Optional[float] = typer.Option(None, help="Reject files larger than this (default 20 MB)."),
    batch_size: Optional[int] = typer.Option(None, help=f"Documents per task batch (default {DEFAULT_BATCH_SIZE}, or NEWSFLOW_BATCH_SIZE)."),
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
    _stop_on_signals(INTERRUPTED_NOTE)
    _refuse_other_schemes(paths or [], "fetches")
    _check_inputs_exist(paths)
    paths = _credentials_kept_apart(paths) if paths else paths
    mode = _configure_prefect_for_a_run(verbose)
    started = time.perf_counter()
    _start_local_workers_early(paths, workers, dask_address)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.ingest import add_progress_listener, ingest as ingest_flow, remove_progress_listener

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
    _the_work_is_done()
    prefect_startup = (first_event[0] if first_event else time.perf_counter()) - started - import_seconds
    _print_summary(summary, mode.describe(), import_seconds + prefect_startup, time.perf_counter() - started)


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


def _refuse_other_schemes(inputs: list[str], verb: str) -> None:
    """file://, ftp://, gopher://, data:... are not web addresses: one line saying so, before anything starts."""
    import os

    from pipeline.web.credentials import without_userinfo
    from pipeline.web.documents import other_scheme

    for text in inputs:
        scheme = other_scheme(text)
        if scheme and not os.path.lexists(text):
            raise CommandError(
                f"{without_userinfo(text.strip())} is not a web address: newsflow {verb} http:// and https:// addresses only, "
                f"not {scheme}: (for files, give their path to `newsflow ingest` or put them in seeds/)"
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


def _print_summary(summary, prefect_mode: str, prefect_startup: float, total_seconds: float) -> None:
    counts = Table(title=f"newsflow ingest — {summary.warehouse}", show_edge=False)
    for column in ("files seen", "inserted", "updated", "unchanged", "rejected"):
        counts.add_column(column, justify="right")
    counts.add_row(*(str(v) for v in (summary.files_seen, summary.inserted, summary.updated, summary.unchanged, summary.rejected)))
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
        console.print(
            f"{summary.joined} file{'s' if summary.joined != 1 else ''} joined an article already stored under another path "
            "(same page address or same text: see article_sources)",
            highlight=False,
        )
    if summary.gone:
        from flows.ingest import gone_note

        console.print(f"[yellow]{gone_note(summary.gone)}[/]", highlight=False)
        for path in summary.gone[:20]:
            console.print(f"  gone: {path}", highlight=False, markup=False)
        if len(summary.gone) > 20:
            console.print(f"  … and {len(summary.gone) - 20} more (SELECT * FROM article_sources WHERE NOT present)", highlight=False)
    for note in summary.derived:
        console.print(note, highlight=False)
    if summary.web_skipped_known:
        console.print(f"{summary.web_skipped_known} article pages listed by web sources are stored already: not fetched again (--refresh fetches them)", highlight=False)
    for url, polls, detail in summary.failing_sources:
        console.print(f"[yellow]Web source {url}: failing ({polls} polls in a row):[/] {detail}", highlight=False)
    for note in summary.web_notes:
        console.print(note, highlight=False, markup=False)
    if summary.interrupted_runs:
        from flows.ingest import interrupted_runs_note

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


# `ignore_unknown_options`: SQL that starts with a `--` comment is the query, not an unknown option.
@app.command(context_settings={"ignore_unknown_options": True})
def sql(
    query: Optional[str] = typer.Argument(None, help="SQL to run (read-only); several statements run in order. `-` or none: read standard input."),
    file: Optional[Path] = typer.Option(None, "--file", help="Read the SQL from this file (e.g. warehouse/queries.sql)."),
    warehouse: Optional[Path] = WarehouseOption,
    output_format: str = typer.Option("table", "--format", "-f", help="table, csv or json (several statements: one JSON list per statement, in a list)."),
) -> None:
    """Run read-only SQL against the warehouse and print each statement's result.

    Only queries run (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN): nothing is
    written, attached, installed or loaded, and no file but the warehouse is read. To write a
    table or a query result to a file, use `newsflow export`.
    """
    from pipeline.front_door import checked_queries, within_deadline
    from pipeline.warehouse import Warehouse

    if output_format not in ("table", "csv", "json"):
        raise CommandError(f"unknown --format {output_format!r}: use table, csv or json")
    text = _sql_input(query, file)
    _stop_on_signals(QUERY_STOPPED_NOTE)
    with Warehouse.open(_warehouse_path(warehouse), read_only=True) as store:
        statements = checked_queries(store, text)
        results = []
        for number, statement in enumerate(statements, 1):
            try:
                result = within_deadline(store, lambda: store.run_statement(statement))
            except Exception as error:
                if len(statements) > 1:
                    raise CommandError(f"statement {number} of {len(statements)} failed: {error}") from error
                raise
            if output_format == "json":
                results.append(result)  # printed together: one JSON document
            else:
                _print_result(result, output_format, number, len(statements))
    if output_format == "json":
        documents = [[dict(zip(r.columns, row)) for row in r.rows] for r in results]
        payload = documents[0] if len(documents) == 1 else documents
        sys.stdout.write(json.dumps(payload, default=_json_default, ensure_ascii=False, indent=2) + "\n")


def _sql_input(query: Optional[str], file: Optional[Path]) -> str:
    """The SQL from the argument, --file, or standard input (`-`, or no argument with piped input)."""
    if query is not None and file is not None:
        raise CommandError("give the SQL either as an argument or with --file, not both")
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read --file {file}: {error.strerror or error}") from None
    if query is not None and query != "-":
        return query
    if query is None and sys.stdin.isatty():
        raise CommandError('no SQL given: `newsflow sql "select ..."`, `newsflow sql --file queries.sql`, or `newsflow sql < queries.sql`')
    return sys.stdin.read()


def _statement_heading(statement: str) -> str:
    """The comment line right above a statement (what it is for), else its first line of SQL."""
    import duckdb

    tokens = duckdb.tokenize(statement)
    start = tokens[0][0] if tokens else 0
    comments = [line.strip() for line in statement[:start].splitlines() if line.strip()]
    if comments:
        return comments[-1]
    return next((line.strip() for line in statement[start:].splitlines() if line.strip()), "")


def _print_result(result, output_format: str, number: int, total: int) -> None:
    if output_format == "csv":
        if number > 1:
            sys.stdout.write("\n")  # a blank line between the results of several statements
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        sys.stdout.write(buffer.getvalue())
        return
    if total > 1:
        console.print(f"statement {number} of {total}: {_statement_heading(result.statement)[:100]}", style="bold", highlight=False, markup=False)
    table = Table(show_edge=False)
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    console.print(table)
    console.print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}", style="dim")


@app.command()
def export(
    table: Optional[str] = typer.Argument(None, help="Table or view to export (default: articles, with their paragraphs' languages)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", "--to", help="File to write (default ./articles.<format>); the format comes from its suffix unless --format says."
    ),
    where: Optional[str] = typer.Option(None, "--where", help="Only the articles matching this SQL condition, e.g. \"language = 'id'\"."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Export the result of this query instead."),
    file_format: Optional[str] = typer.Option(None, "--format", "-f", help="parquet (default), csv, jsonl (one object per line) or json (one array)."),
    csv_formulas: str = typer.Option(
        "neutralise", "--csv-formulas", help="neutralise (default: a ' before CSV cells starting with = + - @, which spreadsheets run) or keep."
    ),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Write the articles, a table or a query result to a file (`--output -`: to stdout), streaming (the front door's queries cannot write files)."""
    from pipeline.export import export as export_rows
    from pipeline.outputs import StdoutClosed, is_stdout

    _stop_on_signals(QUERY_STOPPED_NOTE)
    try:
        result = export_rows(
            _warehouse_path(warehouse), output, table=table, query=query, where=where, file_format=file_format, csv_formulas=csv_formulas
        )
    except StdoutClosed:
        raise typer.Exit(141) from None  # the reader went away (`| head`): quiet, as for SIGPIPE
    to = "stdout" if is_stdout(output) else result.path
    said = f"exported {result.rows} row{'s' if result.rows != 1 else ''} to {to} ({result.file_format})"
    (err_console if is_stdout(output) else console).print(said, highlight=False)


@app.command()
def search(
    words: str = typer.Argument(..., help='What to look for, e.g. "kim jong un", in any language the articles are in.'),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Only articles in this language (ISO 639-1, e.g. id)."),
    since: Optional[datetime] = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="Only articles published on or after this day (undated ones are left out)."
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many articles."),
    all_words: bool = typer.Option(False, "--all-words", help="Only articles with every word (default: any word, best first)."),
    output_format: str = typer.Option("table", "--format", "-f", help="table or json."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Find articles by their words (BM25 over titles and texts, original and English), best first."""
    from rich.text import Text

    from pipeline.search import search_warehouse

    if output_format not in ("table", "json"):
        raise CommandError(f"unknown --format {output_format!r}: use table or json")
    _stop_on_signals(QUERY_STOPPED_NOTE)
    hits, index = search_warehouse(
        _warehouse_path(warehouse), words, language=language, since=since.date() if since else None, limit=limit, all_words=all_words
    )
    if not index.current:
        err_console.print(
            f"note: {index.behind_note()}",
            style="yellow",
            highlight=False,
        )
    if output_format == "json":
        payload = [dict(vars(hit)) for hit in hits]
        sys.stdout.write(json.dumps(payload, default=_json_default, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(show_edge=False, show_lines=True)
    for column, justify in (("score", "right"), ("title", "left"), ("language", "left"), ("date", "left"), ("source", "left"), ("snippet", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for hit in hits:
        date_text = f"{hit.published_at:%Y-%m-%d}" if hit.published_at else ""
        cells = (f"{hit.score:.2f}", hit.title or "(no title)", hit.language, date_text, hit.site_name or hit.source_path, hit.snippet)
        table.add_row(*(Text(cell) for cell in cells))  # Text: brackets in articles are not markup
    console.print(table, highlight=False)
    console.print(f"{len(hits)} article{'s' if len(hits) != 1 else ''}", style="dim")


@app.command()
def duplicates(
    warehouse: Optional[Path] = WarehouseOption,
    output_format: str = typer.Option("table", "--format", "-f", help="table or json."),
    min_similarity: float = typer.Option(
        0.0, "--min-similarity", min=0.0, max=1.0, help="Only duplicates at least this similar to their cluster's first article (0..1)."
    ),
) -> None:
    """List clusters of the same story: syndicated copies and translations, with their first-seen article."""
    from pipeline.duplicates import DuplicatesNotBuilt, clusters_as_json, clusters_table, duplicate_clusters
    from pipeline.warehouse import Warehouse

    if output_format not in ("table", "json"):
        raise CommandError(f"unknown --format {output_format!r}: use table or json")
    with Warehouse.open(_warehouse_path(warehouse), read_only=True) as store:
        try:
            clusters = duplicate_clusters(store.query, min_similarity)
        except DuplicatesNotBuilt as error:
            raise CommandError(str(error)) from None
    if output_format == "json":
        sys.stdout.write(json.dumps(clusters_as_json(clusters), ensure_ascii=False, indent=2) + "\n")
        return
    console.print(clusters_table(clusters), highlight=False)
    copies = sum(len(cluster.duplicates) for cluster in clusters)
    console.print(f"{len(clusters)} cluster{'s' if len(clusters) != 1 else ''}, {copies} duplicate{'s' if copies != 1 else ''}", style="dim")


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


@models_app.command("list")
def models_list() -> None:
    """List installed translation models."""
    from pipeline.translate import list_installed_packages

    models = list_installed_packages()
    if not models:
        console.print("No translation models installed. Install one with: newsflow models install LANG [--file PKG.argosmodel]")
        return
    table = Table(show_edge=False)
    for column in ("from", "to", "package", "version", "path"):
        table.add_column(column)
    for model in models:
        table.add_row(model.from_code, model.to_code, model.name, model.version, str(model.path))
    console.print(table)


@models_app.command("install")
def models_install(
    languages: list[str] = typer.Argument(None, help="Source language codes, e.g. id (translating to English)."),
    file: Optional[list[Path]] = typer.Option(None, "--file", help="Install from a .argosmodel file instead of the index."),
    index_url: Optional[str] = typer.Option(None, "--index-url", help="Package index URL or local mirror folder."),
) -> None:
    """Install translation models from the argos package index or from files."""
    from pipeline.translate import install_from_index, install_package_file
    from pipeline.translate.packages import package_file_languages

    if not languages and not file:
        raise CommandError("name a language (e.g. `newsflow models install id`) or a file with --file PKG.argosmodel")
    if file:
        # With --file, the files are the install: a named language must be one of theirs (no index).
        covered = {path: package_file_languages(path) for path in file}
        uncovered = [lang for lang in languages or [] if lang not in {source for source, _ in covered.values()}]
        if uncovered:
            holds = ", ".join(f"{path.name} translates {source}→{target}" for path, (source, target) in covered.items())
            raise CommandError(
                f"--file covers no {', '.join(uncovered)} model ({holds}); nothing was installed: "
                f"pass the package file for {', '.join(uncovered)}, or install it from the index without --file"
            )
        installed = [install_package_file(path) for path in file]
    else:
        installed = [install_from_index(language, index_url=index_url) for language in languages]
    for model in installed:
        console.print(f"installed {model.name} {model.version} ({model.from_code} → {model.to_code}) at {model.path}")


@app.command()
def translate(
    pending: bool = typer.Option(False, "--pending", help="Translate articles stored without a translation."),
    warehouse: Optional[Path] = WarehouseOption,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Fill in translations after a model was installed."""
    if not pending:
        raise CommandError("nothing to do: use `newsflow translate --pending`")
    _stop_on_signals(INTERRUPTED_NOTE)
    _configure_prefect_for_a_run(verbose)
    from flows.translate_pending import translate_pending

    result = translate_pending(warehouse=str(_warehouse_path(warehouse)))
    _the_work_is_done("the translations had finished: everything is stored.")
    console.print(f"translated {result.translated} of {result.pending} pending articles; still missing a model: {result.still_missing or 'none'}")


@app.command("eval")
def evaluate(
    devdata: Optional[Path] = typer.Option(None, help="Labelled development data (default workbench/data/devdata in the checkout, or $NEWSFLOW_DEVDATA)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the full result as JSON here."),
) -> None:
    """Score extraction and language identification on labelled pages; compare with the stored baseline."""
    try:
        from workbench.evaluation import eval_command
    except ModuleNotFoundError as error:  # an installed wheel: the workbench ships only in the source checkout
        if error.name != "workbench":
            raise
        err_console.print("newsflow eval: evaluation needs a source checkout of newsflow (its workbench/ is not in the installed package).", highlight=False)
        raise typer.Exit(2) from None

    code = eval_command(devdata, json_out)
    if code:
        raise typer.Exit(code)


@app.command()
def detect(
    text: Optional[str] = typer.Argument(None, help="Text to identify (default: --file, or standard input)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Read the text from this file."),
    lines: bool = typer.Option(False, "--lines", help="One text per line."),
    output_format: str = typer.Option("table", "--format", "-f", help="table or jsonl."),
) -> None:
    """Identify the language of texts with exactly the pipeline's language stage."""
    from pipeline.language import shared_identifier

    if output_format not in ("table", "jsonl"):
        raise CommandError(f"unknown --format {output_format!r}: use table or jsonl")
    if text is not None:
        source = text
    elif file is not None:
        source = file.read_text(encoding="utf-8", errors="replace")
    else:
        source = sys.stdin.read()
    texts = source.splitlines() if lines else [source]
    identifier = shared_identifier()
    guesses = [identifier.identify(item) for item in texts]
    if output_format == "jsonl":
        for guess in guesses:
            sys.stdout.write(json.dumps({"language": guess.language, "confidence": round(guess.confidence, 4)}) + "\n")
        return
    table = Table(show_edge=False)
    for column in ("language", "confidence", "text"):
        table.add_column(column, overflow="fold")
    for item, guess in zip(texts, guesses):
        table.add_row(guess.language, f"{guess.confidence:.3f}", item[:80])
    console.print(table)


@app.command()
def reextract(
    warehouse: Optional[Path] = WarehouseOption,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Run the stages again over every web page kept under the state folder, without fetching
    anything (after an extractor or model update): the latest fetch of each URL."""
    _stop_on_signals(INTERRUPTED_NOTE)
    mode = _configure_prefect_for_a_run(verbose)
    started = time.perf_counter()
    from flows.ingest import ingest as ingest_flow

    summary = ingest_flow(warehouse=str(warehouse) if warehouse else None, reextract=True)
    _the_work_is_done()
    _print_summary(summary, mode.describe(), 0.0, time.perf_counter() - started)


@app.command()
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be deleted, delete nothing."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Delete the articles whose files are all gone (marked not present by a run over their
    folder), with their paragraphs, and forget the places of files that are gone; then let go of
    the raw web pages no article left uses, and of the oldest beyond NEWSFLOW_RAW_PAGES_MAX_MB."""
    from pipeline.warehouse import Warehouse, exclusive_run
    from pipeline.web.store import tidy_raw_store, warehouse_key

    path = _warehouse_path(warehouse)
    if not path.exists():
        raise CommandError(f"no warehouse at {path}: nothing to prune")
    settings = load_settings()
    waiting = lambda: err_console.print(f"Waiting for the ingest run on {path} to finish…", highlight=False)  # noqa: E731
    with exclusive_run(path, on_wait=waiting):  # a run's fetched pages are not in the warehouse yet: never tidy under it
        with Warehouse.open(path) as store:
            result = store.prune(dry_run=dry_run)
            if (result.articles or result.faces) and not dry_run:
                from flows.ingest import refresh_derived_tables

                refresh_derived_tables(store)  # the pruned articles leave the duplicates and the search index
            raw = tidy_raw_store(
                store.connection, settings.state_dir, warehouse=warehouse_key(path), max_bytes=settings.raw_pages_max_bytes,
                dry_run=dry_run, pruning=True,
            )
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {result.articles} article{'s' if result.articles != 1 else ''} with no file left, "
        f"and {result.places} place{'s' if result.places != 1 else ''} of files that are gone",
        highlight=False,
    )
    console.print(raw.describe(dry_run=dry_run), highlight=False, markup=False)


@app.command()
def status(warehouse: Optional[Path] = WarehouseOption) -> None:
    """Show the Prefect API in use, the ingest deployment and its schedule, the warehouse and the
    translation models. Starts nothing and changes nothing."""
    from flows.status import deployment_statuses, prefect_status, raw_pages_status, warehouse_status
    from pipeline.web.store import format_mb
    from pipeline.translate import list_installed_packages

    settings = load_settings()
    prefect = prefect_status(settings.state_dir)
    if prefect.source == "PREFECT_API_URL":
        console.print(f"Prefect API: {prefect.api_url} (from PREFECT_API_URL): {'up' if prefect.up else 'NOT answering'}", highlight=False)
    elif prefect.project_server is not None and prefect.up:
        record = prefect.project_server
        console.print(
            f"Prefect API: {record.api_url} (the project's server, {record.mode}, pid {record.pid}, since {record.started_at}): up; "
            f"UI {record.ui_url}",
            highlight=False,
        )
    else:
        console.print(
            "Prefect API: no project server is running; the next `newsflow ingest` starts one in the background "
            "(or run `newsflow server`)",
            highlight=False,
        )

    if not prefect.up:
        console.print("Deployment ingest/newsflow-ingest: unknown (no Prefect server is up)")
    else:
        try:
            deployments = deployment_statuses(prefect.api_url)
        except OSError as error:
            console.print(f"Deployment ingest/newsflow-ingest: could not ask the server ({error})", highlight=False)
        else:
            if not deployments:
                console.print("Deployment ingest/newsflow-ingest: not on this server (`newsflow serve` creates it)")
            for deployment in deployments:
                schedules = "; ".join(f"{text} {'active' if active else 'inactive'}" for text, active in deployment.schedules) or "no schedule"
                console.print(
                    f"Deployment {deployment.path}: {'PAUSED' if deployment.paused else 'active'}; {schedules}; "
                    f"next run {deployment.next_run or 'none scheduled'}; {deployment.runner}",
                    highlight=False,
                )

    store = warehouse_status(_warehouse_path(warehouse))
    if not store.exists:
        console.print(f"Warehouse {store.path}: does not exist yet (`newsflow ingest` creates it)", highlight=False)
    elif store.error:
        console.print(f"Warehouse {store.path}: cannot be read now: {store.error}", highlight=False)
    else:
        total = sum(n for _, _, n in store.languages)
        console.print(f"Warehouse {store.path}: {total} article{'s' if total != 1 else ''}", highlight=False)
        if store.languages:
            table = Table(show_edge=False)
            for column, justify in (("language", "left"), ("translation", "left"), ("articles", "right")):
                table.add_column(column, justify=justify)
            for language, translation, n in store.languages:
                table.add_row(language, translation, str(n))
            console.print(table)
        if store.runs:
            runs = Table(title="last runs", show_edge=False)
            for column in ("started", "status", "files", "inserted", "updated", "unchanged", "rejected"):
                runs.add_column(column, justify="left" if column in ("started", "status") else "right")
            for started_at, run_status, *counts in store.runs:
                runs.add_row(str(started_at)[:19], run_status, *(str(n) for n in counts))
            console.print(runs)
        else:
            console.print("No runs recorded yet.")
        if store.web_sources:
            console.print(f"Web sources followed: {store.web_sources} (`newsflow sources list`)", highlight=False)
        for url, polls, detail in store.failing_sources:
            console.print(f"[yellow]Web source {url}: failing ({polls} polls in a row):[/] {detail}", highlight=False)

    raw = raw_pages_status(settings.state_dir, settings.raw_pages_max_bytes)
    console.print(
        f"Raw web pages {raw.folder}: {raw.pages} page{'s' if raw.pages != 1 else ''}, {format_mb(raw.disk_bytes)} "
        f"(bound {format_mb(raw.max_bytes)}, NEWSFLOW_RAW_PAGES_MAX_MB); `newsflow reextract` extracts them again",
        highlight=False,
    )

    models = list_installed_packages()
    if models:
        console.print("Translation models: " + ", ".join(f"{m.from_code}→{m.to_code} ({m.name} {m.version})" for m in models), highlight=False)
    else:
        console.print("Translation models: none installed (`newsflow models install LANG`)")


sources_app = typer.Typer(help="Follow news on the web: feeds, sitemaps and pages, polled by each scheduled run.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("add")
def sources_add(
    url: str = typer.Argument(..., help="A feed (RSS, Atom, JSON Feed), a sitemap (or index), or a page; a page announcing a feed means its feed."),
    kind: Optional[str] = typer.Option(None, "--kind", help="feed, sitemap or page (default: detected by fetching the URL once)."),
    every: str = typer.Option("30m", "--every", help="Poll it at most this often, e.g. 30m, 2h, 1d."),
    language: Optional[str] = typer.Option(None, "--language", help="Its language (ISO 639-1, e.g. id), if known."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Follow a feed, sitemap or page: each scheduled run of `newsflow serve` polls it when due.
    Credentials in the URL (https://user:password@host/...) are kept apart from it (docs/web-safety.md)."""
    from pipeline.warehouse import Warehouse
    from pipeline.web import FetchSettings, detect_source
    from pipeline.web.credentials import keep_credentials, origin_key, split_credentials
    from pipeline.web.discover import KINDS, canonical_url
    from pipeline.web.fetch import FetchError
    from pipeline.web.sources import add_source, format_every, parse_every

    _refuse_other_schemes([url], "follows")
    url, credentials = split_credentials(url)
    given = {origin_key(url): credentials} if credentials else None
    try:
        every_seconds = parse_every(every)
    except ValueError as error:
        raise CommandError(f"--every: {error}") from None
    if kind is not None and kind not in KINDS:
        raise CommandError(f"unknown --kind {kind!r}: use feed, sitemap or page")
    source_url, source_kind = canonical_url(url), kind
    if kind is None:
        try:
            source_kind, feeds = detect_source(url, FetchSettings(), credentials=given)
        except FetchError as error:
            hint = "" if error.reason == "blocked_destination" else " (give --kind to add it anyway)"
            raise CommandError(f"could not tell what {url} is: {error.detail}{hint}") from None
        if feeds:
            source_url, source_kind = feeds[0], "feed"
            others = f"; it also announces {', '.join(feeds[1:])}" if feeds[1:] else ""
            console.print(f"{url} is a page announcing a feed: following the feed {source_url}{others}", highlight=False)
    with Warehouse.open(_warehouse_path(warehouse)) as store:
        new = add_source(store.connection, source_url, kind=source_kind, every_seconds=every_seconds, language=language)
    console.print(
        f"{'Following' if new else 'Updated'} {source_url} ({source_kind}, polled at most every {format_every(every_seconds)}"
        f"{f', language {language}' if language else ''}); each scheduled run of `newsflow serve` polls it when due.",
        highlight=False,
    )
    if credentials is not None:
        origin = origin_key(url)
        kept = keep_credentials(load_settings().state_dir, origin, credentials)
        console.print(f"The credentials given for {origin} are kept in {kept} (readable by you only) and sent to {origin} only.", highlight=False)


@sources_app.command("list")
def sources_list(warehouse: Optional[Path] = WarehouseOption) -> None:
    """The followed sources: when each was last polled, what it found, and which keep failing."""
    from pipeline.warehouse import Warehouse, WarehouseMissingError
    from pipeline.web.sources import format_every, list_sources

    try:
        with Warehouse.open(_warehouse_path(warehouse), read_only=True) as store:
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

    with Warehouse.open(_warehouse_path(warehouse)) as store:
        removed = remove_source(store.connection, canonical_url(url))
        remaining = {origin_key(source.url) for source in list_sources(store.connection)}
    if not removed:
        raise CommandError(f"{without_userinfo(url)} is not followed (`newsflow sources list` shows what is)")
    console.print(f"No longer following {canonical_url(url)}; its articles stay in the warehouse.", highlight=False)
    origin = origin_key(canonical_url(url))
    if origin not in remaining and forget_credentials(load_settings().state_dir, origin):
        console.print(f"Forgot the credentials kept for {origin} (no followed source is there any more).", highlight=False)


server_app = typer.Typer(help="Run or stop the project's local Prefect server (API and UI).")
app.add_typer(server_app, name="server")


@server_app.callback(invoke_without_command=True)
def server(
    ctx: typer.Context,
    port: Optional[int] = typer.Option(None, help="Port on 127.0.0.1 for the API and UI (default $NEWSFLOW_SERVER_PORT or 4200)."),
    start_timeout: Optional[float] = typer.Option(
        None, help="Seconds to wait for the server to become healthy (default $NEWSFLOW_SERVER_START_TIMEOUT or 120)."
    ),
) -> None:
    """Run the project's Prefect server in the foreground (Ctrl-C or SIGTERM stops it); `newsflow
    ingest` and `newsflow serve` use it while it runs. `newsflow server stop` stops a server
    running in the background."""
    if ctx.invoked_subcommand is not None:
        return
    import signal

    from flows.server import ServerStartError, configured_port, start_project_server

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt

    # SIGINT too: a shell starting this in the background (e.g. under make) may have ignored it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_on_signal)
    local = None
    try:
        local = start_project_server(load_settings().state_dir, port=port or configured_port(), startup_timeout=start_timeout)
        ui_url = local.api_url.removesuffix("/api")
        console.print(f"Prefect server UI {ui_url} (API {local.api_url}); database and log in {local.home}. Ctrl-C stops it.")
        code = local.process.wait()
    except ServerStartError as error:
        raise CommandError(str(error)) from None
    except KeyboardInterrupt:
        console.print("Prefect server stopped.")
        return
    finally:
        if local is not None:
            local.stop()
    raise CommandError(f"the Prefect server exited by itself with code {code}; log: {local.log_path}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the project's Prefect server (background or foreground) and wait until it is gone."""
    from flows.server import stop_project_server

    stopped = stop_project_server(load_settings().state_dir)
    if stopped is None:
        console.print("No project Prefect server is running.")
    else:
        console.print(f"Stopped the project's Prefect server at {stopped.ui_url} ({stopped.mode}, pid {stopped.pid}).")


@app.command()
def serve(
    cron: Optional[str] = typer.Option(None, help="Cron schedule (default $NEWSFLOW_CRON or every 15 minutes)."),
    every: Optional[str] = typer.Option(None, "--every", help="Fixed interval instead of --cron, e.g. 10s, 15m, 1h."),
    seeds: Optional[Path] = typer.Option(None, help="Folder to watch and ingest (default seeds/ or $NEWSFLOW_SEEDS)."),
    warehouse: Optional[Path] = WarehouseOption,
    settle_seconds: float = typer.Option(2.0, help="Quiet time before a batch of new files is ingested."),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="Local worker processes for each run's stages (default: every core; 1: in the run's process)."
    ),
    dask_address: Optional[str] = typer.Option(
        None, "--dask-address", envvar="NEWSFLOW_DASK_ADDRESS", help="Run each run's stages on this Dask cluster (tcp://HOST:PORT)."
    ),
    name: str = typer.Option(
        "newsflow-ingest", "--name", help="Deployment to serve (lowercase letters, digits, - and _): one serve per deployment and Prefect server."
    ),
) -> None:
    """Serve `ingest` on a schedule and on file arrival, after one run over the whole seeds folder
    (a long-running process; Ctrl-C stops it). A second serve of the same deployment refuses to start."""
    import os
    import re

    # Each served run is a process of its own started from this one: it reads these as its settings.
    if workers is not None:
        os.environ["NEWSFLOW_WORKERS"] = str(workers)
    if dask_address:
        os.environ["NEWSFLOW_DASK_ADDRESS"] = dask_address

    from flows.prefect_setup import configure_prefect
    from flows.schedule import describe_schedule, parse_interval, schedule_for

    if cron and every:
        raise CommandError("use either --cron or --every, not both")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", name):
        raise CommandError(f"--name {name!r}: use lowercase letters, digits, - and _ (up to 100), e.g. newsflow-ingest-2")
    try:
        interval = parse_interval(every) if every else None
    except ValueError as error:
        raise CommandError(f"--every: {error}") from None
    settings = load_settings()
    seeds_dir = (seeds or settings.seeds_dir).resolve()
    warehouse_path = _warehouse_path(warehouse).resolve()
    mode = configure_prefect(verbose=True)  # a service's log shows its runs
    port = None
    if mode.api_url is None:  # serve starts the project's server; Prefect must see its URL at import
        from flows.server import HOST, configured_port, free_port, port_in_use

        port = configured_port() if not port_in_use(HOST, configured_port()) else free_port(HOST)
        os.environ["PREFECT_API_URL"] = f"http://{HOST}:{port}/api"
    try:  # checked before any server is started for it
        schedule = schedule_for(cron=None if interval else cron or os.environ.get("NEWSFLOW_CRON"), every=interval)
    except ValueError as error:
        raise CommandError(f"--cron: {error}") from None
    local = None
    if port is not None:
        from flows.server import start_project_server

        console.print("No project Prefect server is running: starting one.")
        local = start_project_server(settings.state_dir, port=port)  # recorded, so `newsflow ingest` uses it too
        console.print(f"Prefect server UI {local.api_url.removesuffix('/api')}; database and log in {local.home}.")
    try:
        from flows.serve import ServeAlreadyRunning, serve_ingest

        announce = lambda: console.print(  # noqa: E731 - once the deployment is this serve's
            f"Serving ingest/{name}: schedule {describe_schedule(schedule)}, watching {seeds_dir}, warehouse {warehouse_path}, "
            f"Prefect API {os.environ['PREFECT_API_URL']}; first a reconcile run over {seeds_dir}"
        )
        try:
            serve_ingest(
                seeds_dir=seeds_dir, warehouse=warehouse_path, schedule=schedule, settle_seconds=settle_seconds, name=name, on_claimed=announce
            )
        except ServeAlreadyRunning as error:
            raise CommandError(str(error)) from None
    finally:
        if local is not None:
            local.stop()


@app.command()
def report(
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write (replaced whole), or - for stdout."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Write one self-contained HTML page (opens offline) that pictures the archive: articles per day,
    translation coverage, top sites, duplicate clusters, rejected files and the last runs."""
    from pipeline.outputs import StdoutClosed, is_stdout
    from pipeline.report import write_report

    try:
        result = write_report(_warehouse_path(warehouse), output)
    except StdoutClosed:
        raise typer.Exit(141) from None
    counts = f"{result.articles} article{'s' if result.articles != 1 else ''}, {result.charts} chart{'s' if result.charts != 1 else ''}"
    if is_stdout(output):
        err_console.print(f"wrote the report to stdout ({counts})", highlight=False)
    else:
        console.print(f"wrote {result.path} ({counts}): open it in a browser", highlight=False)


def main() -> None:
    try:
        _run_command()
    finally:
        _exit_at_once_on_a_late_stop()
        # What is left is the interpreter's teardown, whose last garbage collection walks every
        # object the imports made (Prefect, Dask, pydantic): about 0.6 s added to every command
        # (bench/cli_exit_bench.py). Files, connections and Prefect's queues are closed by now, and
        # finalizers and atexit handlers still run.
        gc.freeze()


def _run_command() -> None:
    import signal

    import click

    _show_warehouse_waits()
    try:
        code = app(standalone_mode=False)  # click returns the code of typer.Exit here instead of exiting
        if code == 130:  # typer turns Ctrl-C into Exit(130)
            raise KeyboardInterrupt
        raise_if_stopped()  # a stop whose exception was lost on the way still stops the command
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except (KeyboardInterrupt, typer.Abort, click.exceptions.Abort):  # click turns Ctrl-C into Abort
        _exit_interrupted(signal.SIGINT if stop_received() is None else stop_received())
    except Terminated:
        _exit_interrupted(signal.SIGTERM)
    except Exception as error:  # one clear line, not a traceback
        if stop_received() is not None:  # an error made of the stop on its way (DuckDB's 'Query interrupted')
            _exit_interrupted(stop_received())
        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if "--verbose" in sys.argv or "-v" in sys.argv:
            raise
        err_console.print(f"[red]error:[/] {_error_message(error)}", highlight=False, markup=True)
        sys.exit(1)


def _exit_at_once_on_a_late_stop() -> None:
    """Once the command is done, only its exit is left (Prefect flushing its logs, the
    interpreter's teardown): a Ctrl-C or SIGTERM then ends it at once, with one line and its exit
    code, instead of raising in the middle of the teardown (a traceback, and the command's code)."""
    import os
    import signal

    if stop_received() is None and not stop_handlers_installed():
        return

    def exit_now(signum, frame):
        name, code = ("Ctrl-C", 130) if signum == signal.SIGINT else ("SIGTERM", 143)
        note = FINISHED_NOTE if run_recorded_as() == "completed" else "newsflow had done its work and was exiting."
        err_console.print(f"interrupted ({name}): {note}", highlight=False, markup=False)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, exit_now)


def _exit_interrupted(signum: int) -> None:
    import signal

    name, code = ("Ctrl-C", 130) if signum == signal.SIGINT else ("SIGTERM", 143)
    note = FINISHED_NOTE if _interrupted_note == INTERRUPTED_NOTE and run_recorded_as() == "completed" else _interrupted_note
    err_console.print(f"interrupted ({name}){': ' + note if note else ''}", highlight=False, markup=False)
    sys.exit(code)


def _error_message(error: BaseException) -> str:
    """The whole actionable message: every line (DuckDB's `Did you mean ...`), without link noise."""
    from pydantic import ValidationError

    from rich.markup import escape

    if isinstance(error, ValidationError):
        problems = []
        for problem in error.errors(include_url=False):
            where = ".".join(str(part) for part in problem.get("loc", ())) or error.title
            given = f" (got {problem['input']!r})" if "input" in problem and not isinstance(problem["input"], dict) else ""
            problems.append(f"{where}: {problem['msg']}{given}")
        return escape(f"invalid {error.title}: " + "; ".join(problems))
    text = str(error).strip() or type(error).__name__
    lines = [line.rstrip() for line in text.splitlines() if not line.strip().startswith("For further information visit")]
    return escape("\n".join(lines))


class _OneLinePerWait(logging.Handler):
    """Shows the warehouse's waiting messages (another run, a reader's lock) once each, on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._last = ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message != self._last:
            self._last = message
            err_console.print(message, style="yellow", highlight=False, markup=False)


def _show_warehouse_waits() -> None:
    warehouse_logger = logging.getLogger("pipeline.warehouse")
    warehouse_logger.addHandler(_OneLinePerWait())
    warehouse_logger.propagate = False  # not a second time through Prefect's console handler


if __name__ == "__main__":
    main()
