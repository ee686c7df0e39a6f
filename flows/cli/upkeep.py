"""Looking after an archive: `newsflow status` (what is running and stored; changes nothing),
`newsflow prune` (articles whose files are gone) and `newsflow eval` (extraction and language
identification scored on labelled pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flows.cli.shared import CommandError, WarehouseOption, console, err_console, warehouse_file
from pipeline.settings import load_settings


def status(warehouse: Optional[Path] = WarehouseOption) -> None:
    """Show the Prefect API in use, the ingest deployment and its schedule, the warehouse and the
    translation models. Starts nothing and changes nothing."""
    from flows.status import prefect_status, raw_pages_status, warehouse_status
    from pipeline.web.store import format_mb
    from pipeline.translate import list_installed_packages

    settings = load_settings()
    prefect = prefect_status(settings.state_dir)
    _show_prefect(prefect)
    _show_warehouse(warehouse_status(warehouse_file(warehouse)))

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


def _show_prefect(prefect) -> None:
    """The Prefect API in use, and the ingest deployment on it."""
    from flows.status import deployment_statuses

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


def _show_warehouse(store) -> None:
    """The warehouse: articles by language and translation, the last runs, the web sources."""
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
        if store.failing_count > len(store.failing_sources):
            more = store.failing_count - len(store.failing_sources)
            console.print(f"[yellow]and {more} more failing web source{'s' if more != 1 else ''}[/] (`newsflow sources list`)", highlight=False)


def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be deleted, delete nothing."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Delete the articles whose files are all gone (marked not present by a run over their
    folder), with their paragraphs, and forget the places of files that are gone; then let go of
    the raw web pages no article left uses, and of the oldest beyond NEWSFLOW_RAW_PAGES_MAX_MB."""
    from pipeline.warehouse import Warehouse, exclusive_run
    from pipeline.web.store import tidy_raw_store, warehouse_key

    path = warehouse_file(warehouse)
    if not path.exists():
        raise CommandError(f"no warehouse at {path}: nothing to prune")
    settings = load_settings()
    waiting = lambda: err_console.print(f"Waiting for the ingest run on {path} to finish…", highlight=False)  # noqa: E731
    with exclusive_run(path, on_wait=waiting):  # a run's fetched pages are not in the warehouse yet: never tidy under it
        with Warehouse.open(path) as store:
            result = store.prune(dry_run=dry_run)
            if (result.articles or result.faces) and not dry_run:
                from flows.ingest_warehouse import refresh_derived_tables

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
    for title, last_place in result.listed:
        console.print(f"  {title or '(no title)'} — last at {last_place}", highlight=False, markup=False)
    if result.articles > len(result.listed):
        console.print(f"  … and {result.articles - len(result.listed)} more", highlight=False, markup=False)
    console.print(raw.describe(dry_run=dry_run), highlight=False, markup=False)


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
