"""The `newsflow` command line: ingest, query, manage models, translate pending articles."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline.settings import load_settings

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


def _warehouse_path(warehouse: Optional[Path]) -> Path:
    return warehouse if warehouse else load_settings().warehouse_path


WarehouseOption = typer.Option(None, "--warehouse", "-w", help="DuckDB file (default warehouse/news.duckdb or $NEWSFLOW_WAREHOUSE).")


@app.command()
def ingest(
    paths: list[str] = typer.Argument(None, help="Folders, globs or files (default: seeds/)."),
    warehouse: Optional[Path] = WarehouseOption,
    max_file_mb: Optional[float] = typer.Option(None, help="Reject files larger than this (default 20 MB)."),
    batch_size: Optional[int] = typer.Option(None, help="Documents per task batch (default 256)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Ingest documents into the warehouse through the Prefect `ingest` flow."""
    from flows.prefect_setup import configure_prefect

    mode = configure_prefect(verbose=verbose)
    started = time.perf_counter()
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
        if event == "discovered":
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
            )
    finally:
        remove_progress_listener(on_progress)
    prefect_startup = (first_event[0] if first_event else time.perf_counter()) - started - import_seconds
    _print_summary(summary, mode.describe(), import_seconds + prefect_startup, time.perf_counter() - started)


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

    if summary.rejections:
        rejected = Table(title="rejected files", show_edge=False)
        rejected.add_column("file")
        rejected.add_column("reason")
        rejected.add_column("what to do")
        for path, reason, detail in summary.rejections:
            rejected.add_row(path, reason, detail)
        console.print(rejected)

    for command in summary.install_commands():
        console.print(f"[yellow]No translation model for some articles.[/] Install it with: [bold]{command}[/], then run [bold]newsflow translate --pending[/].")
    stages = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in summary.stage_seconds.items())
    console.print(f"time: {total_seconds:.2f}s in all; flow {summary.seconds:.2f}s ({stages}); Prefect start-up {prefect_startup:.2f}s via {prefect_mode}")


@app.command()
def sql(
    query: str = typer.Argument(..., help="SQL to run against the warehouse (read-only)."),
    warehouse: Optional[Path] = WarehouseOption,
    output_format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
) -> None:
    """Run a read-only SQL query and print the result."""
    from pipeline.warehouse import Warehouse

    if output_format not in ("table", "csv", "json"):
        raise CommandError(f"unknown --format {output_format!r}: use table, csv or json")
    with Warehouse.open(_warehouse_path(warehouse), read_only=True) as store:
        columns, rows = store.query(query)
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    elif output_format == "json":
        sys.stdout.write(json.dumps([dict(zip(columns, row)) for row in rows], default=_json_default, ensure_ascii=False, indent=2) + "\n")
    else:
        table = Table(show_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        console.print(table)
        console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", style="dim")


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

    if not languages and not file:
        raise CommandError("name a language (e.g. `newsflow models install id`) or a file with --file PKG.argosmodel")
    installed = [install_package_file(path) for path in file or []]
    installed += [install_from_index(language, index_url=index_url) for language in languages or []]
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
    from flows.prefect_setup import configure_prefect

    configure_prefect(verbose=verbose)
    from flows.translate_pending import translate_pending

    result = translate_pending(warehouse=str(_warehouse_path(warehouse)))
    console.print(f"translated {result.translated} of {result.pending} pending articles; still missing a model: {result.still_missing or 'none'}")


@app.command("eval")
def evaluate(
    devdata: Optional[Path] = typer.Option(None, help="Labelled development data (default ../shared/devdata or $NEWSFLOW_DEVDATA)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the full result as JSON here."),
) -> None:
    """Score extraction and language identification on labelled pages; compare with the stored baseline."""
    from pipeline.evaluation import eval_command

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
def server(
    port: int = typer.Option(4200, help="Port on 127.0.0.1 for the API and UI."),
) -> None:
    """Start a local Prefect server (API and UI) with its database under the state folder."""
    from flows.server import start_local_server

    home = load_settings().state_dir / "prefect-server"
    local = start_local_server(home, port=port, ui=True)
    console.print(f"Prefect server on http://127.0.0.1:{port} (API {local.api_url}); database and log in {home}. Ctrl-C stops it.")
    try:
        local.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()


@app.command()
def serve(
    cron: Optional[str] = typer.Option(None, help="Schedule (default $NEWSFLOW_CRON or every 15 minutes)."),
    seeds: Optional[Path] = typer.Option(None, help="Folder to watch and ingest (default seeds/ or $NEWSFLOW_SEEDS)."),
    warehouse: Optional[Path] = WarehouseOption,
    settle_seconds: float = typer.Option(2.0, help="Quiet time before a batch of new files is ingested."),
) -> None:
    """Serve `ingest` on a schedule and on file arrival (a long-running process; Ctrl-C stops it)."""
    import os
    from urllib.parse import urlsplit

    from flows.prefect_setup import configure_prefect, local_server_url

    settings = load_settings()
    seeds_dir = (seeds or settings.seeds_dir).resolve()
    warehouse_path = _warehouse_path(warehouse).resolve()
    mode = configure_prefect(verbose=True)  # a service's log shows its runs
    local = None
    if mode.api_url is None:
        from flows.server import start_local_server

        port = urlsplit(local_server_url()).port
        home = settings.state_dir / "prefect-server"
        console.print(f"No Prefect server answered at {local_server_url()}: starting one (database in {home}).")
        local = start_local_server(home, port=port, ui=True)
        os.environ["PREFECT_API_URL"] = local.api_url
    from flows.serve import DEFAULT_CRON, serve_ingest

    schedule = cron or os.environ.get("NEWSFLOW_CRON") or DEFAULT_CRON
    console.print(f"Serving ingest: schedule '{schedule}', watching {seeds_dir}, warehouse {warehouse_path}, Prefect API {os.environ['PREFECT_API_URL']}")
    try:
        serve_ingest(seeds_dir=seeds_dir, warehouse=warehouse_path, cron=schedule, settle_seconds=settle_seconds)
    finally:
        if local is not None:
            local.stop()


def main() -> None:
    try:
        app(standalone_mode=False)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as error:  # one clear line, not a traceback
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if "--verbose" in sys.argv or "-v" in sys.argv:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        err_console.print(f"[red]error:[/] {message}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
