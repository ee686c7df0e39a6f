"""Reading the warehouse: `newsflow sql` (the read-only front door), `search`, `duplicates`,
`export` (to a file) and `report` (one HTML page)."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flows.cli.shared import QUERY_STOPPED_NOTE, CommandError, WarehouseOption, console, err_console, stop_on_signals_saying, warehouse_file


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
    stop_on_signals_saying(QUERY_STOPPED_NOTE)
    with Warehouse.open(warehouse_file(warehouse), read_only=True) as store:
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

    stop_on_signals_saying(QUERY_STOPPED_NOTE)
    try:
        result = export_rows(
            warehouse_file(warehouse), output, table=table, query=query, where=where, file_format=file_format, csv_formulas=csv_formulas
        )
    except StdoutClosed:
        raise typer.Exit(141) from None  # the reader went away (`| head`): quiet, as for SIGPIPE
    to = "stdout" if is_stdout(output) else result.path
    said = f"exported {result.rows} row{'s' if result.rows != 1 else ''} to {to} ({result.file_format})"
    (err_console if is_stdout(output) else console).print(said, highlight=False)


def search(
    words: str = typer.Argument(..., help='What to look for, e.g. "kim jong un", in any language the articles are in.'),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Only articles in this language (ISO 639-1, e.g. id)."),
    since: Optional[datetime] = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Only articles published on or after this day (undated ones are left out)."
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
    stop_on_signals_saying(QUERY_STOPPED_NOTE)
    hits, index = search_warehouse(
        warehouse_file(warehouse), words, language=language, since=since.date() if since else None, limit=limit, all_words=all_words
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


def duplicates(
    warehouse: Optional[Path] = WarehouseOption,
    output_format: str = typer.Option("table", "--format", "-f", help="table or json."),
    min_similarity: float = typer.Option(
        0.0, "--min-similarity", min=0.0, max=1.0, help="Only duplicates at least this similar to their cluster's first article (0..1)."
    ),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="First cluster every article again from scratch (after changing the duplicate settings); waits for a running ingest."
    ),
) -> None:
    """List clusters of the same story: syndicated copies and translations, with their first-seen article."""
    from pipeline.duplicates import DuplicatesNotBuilt, clusters_as_json, clusters_table, duplicate_clusters
    from pipeline.warehouse import Warehouse

    if output_format not in ("table", "json"):
        raise CommandError(f"unknown --format {output_format!r}: use table or json")
    if rebuild:
        _rebuild_duplicates(warehouse_file(warehouse))
    with Warehouse.open(warehouse_file(warehouse), read_only=True) as store:
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


def _rebuild_duplicates(path: Path) -> None:
    """Cluster every article from scratch, under the run lock (a run writing meanwhile would note
    changes the rebuild has seen already; harmless, but it would wait on the file anyway)."""
    from pipeline.duplicates import refresh_duplicates
    from pipeline.warehouse import Warehouse, exclusive_run

    if not path.exists():
        raise CommandError(f"no warehouse at {path}: run `newsflow ingest` first")
    waiting = lambda: err_console.print(f"Waiting for the ingest run on {path} to finish…", highlight=False)  # noqa: E731
    with exclusive_run(path, on_wait=waiting), Warehouse.open(path) as store:
        rebuilt = refresh_duplicates(store.connection, rebuild=True)
    err_console.print(
        f"duplicates clustered from scratch: {rebuilt.duplicates} articles in {rebuilt.clusters} clusters "
        f"({rebuilt.articles} compared, {rebuilt.seconds:.1f}s)",
        highlight=False,
    )


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def report(
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write (replaced whole), or - for stdout."),
    warehouse: Optional[Path] = WarehouseOption,
) -> None:
    """Write one self-contained HTML page (opens offline) that pictures the archive: articles per day,
    translation coverage, top sites, duplicate clusters, rejected files and the last runs."""
    from pipeline.outputs import StdoutClosed, is_stdout
    from pipeline.report import write_report

    try:
        result = write_report(warehouse_file(warehouse), output)
    except StdoutClosed:
        raise typer.Exit(141) from None
    counts = f"{result.articles} article{'s' if result.articles != 1 else ''}, {result.charts} chart{'s' if result.charts != 1 else ''}"
    if is_stdout(output):
        err_console.print(f"wrote the report to stdout ({counts})", highlight=False)
    else:
        console.print(f"wrote {result.path} ({counts}): open it in a browser", highlight=False)
