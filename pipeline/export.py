"""Export the articles, a warehouse table or a query result to a file: the one place newsflow writes a file a user names.

The articles export carries each article's paragraph languages, in paragraph order, as a list
column (Parquet, JSON, JSONL) or as a space-separated text (CSV), and takes a `--where`
condition on the articles. The warehouse is read on a read-only connection with the front door's
settings and checks (see `pipeline.front_door.checked_queries`), so an export, its condition included,
reads nothing but the warehouse. The rows stream as Arrow batches into DuckDB's `COPY` on a
separate in-memory connection, whose only file is the target; no side holds the whole result:
the articles are read a page (a range of article_id) at a time, their paragraphs' languages
attached in Arrow (`_article_pages`), on a connection whose DuckDB memory is
ARTICLES_READER_MEMORY_LIMIT at most. The file is written beside the target and renamed into place, so a failed
export leaves no half-written file and keeps an older one; the target must be a regular file or a
new path (`pipeline.outputs`), or `-` for stdout. CSV cells that a spreadsheet would run as a
formula are neutralised (CSV_FORMULA_HANDLING).
"""

from __future__ import annotations

import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.front_door import QueryDeadline, checked_queries
from pipeline.outputs import STDOUT, check_replaceable, is_stdout, new_partial_file, replace_with, stream_to_stdout
from pipeline.warehouse import Warehouse, WarehouseError

FORMATS = ("parquet", "csv", "json", "jsonl")
DEFAULT_FORMAT = "parquet"
ARTICLES = "articles"
_FORMAT_BY_SUFFIX = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Rows per Arrow batch and per Parquet row group: an article carries its text twice (original and
# English), about 10 KB, so a batch is ~10 MB and a row group ~20 MB.
ROWS_PER_BATCH = 1024
# One thread and a memory cap for the in-memory connection that writes the file: measured on 20,000
# articles (bench corpus), peak RSS 1.17 GB with DuckDB's defaults (one 122,880-row Parquet row
# group held whole, a buffer per thread), 0.76 GB with these.
_WRITER_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "threads": 1,
    "memory_limit": "256MB",
}
_COPY_OPTIONS = {
    "parquet": "FORMAT parquet, ROW_GROUP_SIZE 2048",
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",  # one JSON array of row objects
    "jsonl": "FORMAT json",  # one row object per line
}
_SUFFIX_BY_FORMAT = {"parquet": ".parquet", "csv": ".csv", "json": ".json", "jsonl": ".jsonl"}
STDOUT_DEFAULT_FORMAT = "jsonl"  # `--output -` without --format: one object per line, what pipes read
# OWASP's rule for CSV injection: a text cell starting with =, +, - or @ is a formula to a
# spreadsheet, and so is one starting with a tab or carriage return; a single quote in front makes
# it text. Some spreadsheets trim leading spaces before they look, so spaces before =+-@ count too.
CSV_FORMULA_HANDLING = ("neutralise", "keep")
_FORMULA_START = r"^([\t\r]|[\t\n\r\f\v ]*[=+\-@])"
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


class ExportError(WarehouseError):
    """An export that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    file_format: str
    rows: int


def export_format(target: Path, requested: str | None = None) -> str:
    """The file format: `requested` if given, else from the target's suffix."""
    if requested is not None:
        if requested not in FORMATS:
            raise ExportError(f"unknown --format {requested!r}: use {', '.join(FORMATS)}")
        return requested
    try:
        return _FORMAT_BY_SUFFIX[target.suffix.lower()]
    except KeyError:
        raise ExportError(
            f"cannot tell the format of {target} from its suffix: name it .parquet, .csv, .json or .jsonl, "
            f"or pass --format ({', '.join(FORMATS)})"
        ) from None


def default_target(file_format: str | None, *, table: str | None = None, query: str | None = None) -> Path:
    """Where an export goes when no --output is given: `<table>.<format>` (or `query.<format>`) in the current folder."""
    stem = "query" if query is not None else (table or ARTICLES)
    return Path(stem + _SUFFIX_BY_FORMAT[file_format or DEFAULT_FORMAT])


# The articles are read a page at a time, a page being a range of article_id: each page's
# paragraph languages are read first (a short list an article), then its articles stream past them
# and get them as a column in Arrow, so no DuckDB join holds the articles' texts. Every page scans
# the article_id columns of both tables (narrow): time grows as articles x pages, memory with the
# page, not with the archive.
ARTICLES_PER_PAGE = 8192
# DuckDB's memory for the articles export's reading connection (or NEWSFLOW_SQL_MEMORY_LIMIT, if
# smaller): the blocks a scan reads stay cached up to the limit, so with the 2GB default peak memory
# grew with the archive (411 MB for 100,000 articles against 228 MB for 10,000).
ARTICLES_READER_MEMORY_LIMIT = "64MB"


def page_boundaries(condition: str | None) -> str:
    """The first article_id of the articles matching `condition`, then the one that ends each
    page, in order (the last ends the last page). Every page is then a range with both ends: one
    open at an end let DuckDB read it through the article_id index, whose fetch ran out of memory."""
    where = _where([], condition)
    return f"""
SELECT article_id FROM (
    SELECT article_id, row_number() OVER (ORDER BY article_id) AS number, count(*) OVER () AS articles FROM articles {where}
) WHERE number = 1 OR number % {int(ARTICLES_PER_PAGE)} = 0 OR number = articles ORDER BY article_id
"""


def _bounds(after: str | None, through: str | None, from_first: bool = False) -> list[str]:
    """article_id in (after, through], or in [after, through] `from_first`."""
    return ([f"article_id {'>=' if from_first else '>'} {_sql_string(after)}"] if after is not None else []) + (
        [f"article_id <= {_sql_string(through)}"] if through is not None else []
    )


def _where(bounds: list[str], condition: str | None) -> str:
    """The WHERE clause; the condition sits on lines of its own, so a trailing `--` comment in it cannot swallow the rest."""
    if condition is not None:
        _check_condition(condition)
    matching = [*bounds, f"(\n{condition}\n)"] if condition is not None else bounds
    return f"WHERE {' AND '.join(matching)}" if matching else ""


def articles_statement(condition: str | None, *, after: str | None = None, through: str | None = None, from_first: bool = False) -> str:
    """The articles (all of `articles`' columns) matching `condition`, optionally only those whose
    article_id is in (after, through] (`from_first`: [after, through])."""
    return f"SELECT * FROM articles {_where(_bounds(after, through, from_first), condition)}"


def paragraph_languages_statement(*, after: str | None = None, through: str | None = None, from_first: bool = False) -> str:
    """Each article's paragraph languages in order, for the articles whose article_id is in the range (as for articles_statement)."""
    return f"""
SELECT article_id, list(language ORDER BY position) AS languages
FROM paragraphs {_where(_bounds(after, through, from_first), None)} GROUP BY article_id
"""


def _article_pages(store: Warehouse, where: str | None, file_format: str) -> pa.RecordBatchReader:
    """The articles export as one stream of Arrow batches with `paragraph_languages`, read page by
    page (page_boundaries); within a page, in the warehouse's storage order."""
    first_id, *ends = [end for (end,) in store.run_statement(_one_statement(store, page_boundaries(where), "--where")).rows] or [None]
    ranges = list(zip([first_id, *ends], ends, [True] + [False] * len(ends))) or [(None, None, False)]
    list_type = pa.list_(pa.string())
    column_type = pa.string() if file_format == "csv" else list_type

    def page(after, through, from_first):
        bounds = {"after": after, "through": through, "from_first": from_first}
        with store.record_batches(paragraph_languages_statement(**bounds)) as reader:
            languages = reader.read_all()
        ids, lists = languages.column("article_id").combine_chunks(), languages.column("languages").combine_chunks().cast(list_type)
        articles = store.record_batches(_one_statement(store, articles_statement(where, **bounds), "--where"), rows_per_batch=ROWS_PER_BATCH)
        return articles, (lambda batch: _with_languages(batch, ids, lists, file_format))

    def schema(articles: pa.RecordBatchReader) -> pa.Schema:
        return articles.schema.append(pa.field("paragraph_languages", column_type))

    first, attach = page(*ranges[0])

    def batches():
        # Each page's result is closed before the next page's statements run.
        with first:
            for batch in first:
                yield attach(batch)
        for bounds in ranges[1:]:
            articles, attach_page = page(*bounds)
            with articles:
                for batch in articles:
                    yield attach_page(batch)

    return pa.RecordBatchReader.from_batches(schema(first), batches())


def _with_languages(batch: pa.RecordBatch, ids: pa.Array, lists: pa.Array, file_format: str) -> pa.RecordBatch:
    """`batch` with its articles' paragraph languages (an empty list for an article without paragraphs) appended."""
    taken = pc.take(lists, pc.index_in(batch.column("article_id"), value_set=ids))
    if taken.null_count:
        taken = pa.array([value or [] for value in taken.to_pylist()], pa.list_(pa.string()))
    column = pc.binary_join(taken, " ") if file_format == "csv" else taken
    return pa.RecordBatch.from_arrays([*batch.columns, column], schema=batch.schema.append(pa.field("paragraph_languages", column.type)))


def _check_condition(condition: str) -> None:
    if not condition.strip():
        raise ExportError("--where is empty: give a condition on articles, e.g. --where \"language = 'id'\"")
    try:
        statements = duckdb.extract_statements(f"SELECT * FROM articles WHERE (\n{condition}\n)")
    except duckdb.Error as error:
        raise ExportError(f"--where is not a condition DuckDB can read: {str(error).strip()}") from None
    if len(statements) != 1:
        raise ExportError("--where takes one condition on articles, not statements: e.g. --where \"language = 'id'\"")


def export(
    warehouse_path: Path,
    target: Path | None = None,
    *,
    table: str | None = None,
    query: str | None = None,
    where: str | None = None,
    file_format: str | None = None,
    csv_formulas: str = "neutralise",
) -> ExportResult:
    """Write the articles (or the table `table`, or the result of the one query `query`) to `target`
    (`-`: to stdout, as it is read).

    `where` is a SQL condition on articles; without a table or query, the articles are exported.
    `csv_formulas`: `neutralise` puts a single quote before CSV text cells a spreadsheet would run
    as formulas; `keep` writes them as they are.
    """
    if file_format is not None:
        export_format(Path(), file_format)  # an unknown format is refused before it names a default file
    if csv_formulas not in CSV_FORMULA_HANDLING:
        raise ExportError(f"unknown --csv-formulas {csv_formulas!r}: use {' or '.join(CSV_FORMULA_HANDLING)}")
    if table is not None and query is not None:
        raise ExportError("name a table (e.g. `newsflow export articles`) or pass --query, not both")
    if where is not None and (query is not None or table not in (None, ARTICLES)):
        raise ExportError("--where is a condition on articles; to filter another table, export a --query with its WHERE")
    to_stdout = is_stdout(target)
    if to_stdout:
        fmt = export_format(Path(), file_format or STDOUT_DEFAULT_FORMAT)
        if fmt == "parquet" and sys.stdout.isatty():
            raise ExportError("Parquet is binary and stdout is a terminal: redirect it (`> articles.parquet`) or pipe it on")
    else:
        if target is None:
            target = default_target(file_format, table=table, query=query)
        target = Path(target).expanduser()
        _check_target(target, Path(warehouse_path))
        fmt = export_format(target, file_format)
        check_replaceable(target)
    deadline = QueryDeadline()
    articles = query is None and table in (None, ARTICLES)
    with Warehouse.open(warehouse_path, read_only=True, **(_articles_reader() if articles else {})) as store:
        if query is not None:
            statement = _one_statement(store, query, "--query")
        elif table in (None, ARTICLES):
            statement = None
        else:
            names = store.relation_names()
            if table not in names:
                raise ExportError(f"the warehouse has no table or view {table!r}; it has: {', '.join(names)}")
            statement = "SELECT * FROM " + '"' + table.replace('"', '""') + '"'
        if statement is None:
            rows = deadline.run(lambda: _article_pages(store, where, fmt), store.connection)
        else:
            rows = deadline.run(lambda: store.record_batches(statement, rows_per_batch=ROWS_PER_BATCH), store.connection)
        selected = _csv_cells(rows.schema) if fmt == "csv" and csv_formulas == "neutralise" else "*"
        try:
            if to_stdout:
                reader_gone = threading.Event()
                stoppable = _until(rows, reader_gone)
                count = stream_to_stdout(
                    lambda path: _write_rows(stoppable, selected, path, fmt, spill_near=None, deadline=deadline, reading=store.connection),
                    reader_gone=reader_gone,
                )
                return ExportResult(path=Path(STDOUT), file_format=fmt, rows=count)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = new_partial_file(target)
            try:
                count = _write_rows(rows, selected, str(partial), fmt, spill_near=target, deadline=deadline, reading=store.connection)
                replace_with(partial, target)
            finally:
                partial.unlink(missing_ok=True)
        finally:
            # A stream stopped half-way (stdout closed, a full disk) lets go of the warehouse's result
            # now: left to the interpreter's exit, DuckDB released it from its own thread and aborted.
            rows.close()
    return ExportResult(path=target, file_format=fmt, rows=count)


def _articles_reader() -> dict:
    """How the articles export opens the warehouse: with ARTICLES_READER_MEMORY_LIMIT, or NEWSFLOW_SQL_MEMORY_LIMIT if smaller."""
    from pipeline.warehouse.limits import reader_memory_limit, size_in_bytes

    return {"memory_limit": min(reader_memory_limit(), ARTICLES_READER_MEMORY_LIMIT, key=size_in_bytes)}


def _until(rows: pa.RecordBatchReader, stop: threading.Event) -> pa.RecordBatchReader:
    """`rows`, ending early once `stop` is set."""

    def batches():
        for batch in rows:
            if stop.is_set():
                return
            yield batch

    return pa.RecordBatchReader.from_batches(rows.schema, batches())


def _write_rows(
    rows: pa.RecordBatchReader,
    selected: str,
    path: str,
    fmt: str,
    *,
    spill_near: Path | None,
    deadline: QueryDeadline,
    reading: duckdb.DuckDBPyConnection,
) -> int:
    """COPY the rows (read on `reading`) to `path` on an in-memory connection of its own, within
    `deadline`; spills (if any) go beside `spill_near` (not into the current folder), else to the
    system's temporary folder, and leave with it."""
    where = {"prefix": f".{spill_near.name}.", "dir": spill_near.parent} if spill_near is not None else {"prefix": "newsflow-export-"}
    with tempfile.TemporaryDirectory(**where) as spill:
        with duckdb.connect(":memory:", config={**_WRITER_CONFIG, "temp_directory": spill}) as writer:
            writer.register("export_rows", rows)
            return deadline.run(lambda: _copy(writer, selected, path, fmt), writer, reading)


def _copy(writer: duckdb.DuckDBPyConnection, selected: str, path: str, fmt: str) -> int:
    (count,) = writer.execute(
        f"COPY (SELECT {selected} FROM export_rows) TO {_sql_string(path)} ({_COPY_OPTIONS[fmt]}, USE_TMP_FILE false)"
    ).fetchone()
    return int(count)


def _csv_cells(schema: pa.Schema) -> str:
    """The export's columns, each text column with its would-be formulas neutralised (OWASP: a
    single quote in front), for CSV. Other columns (numbers, times, lists) are left as they are."""
    cells = []
    for field in schema:
        name = '"' + field.name.replace('"', '""') + '"'
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type):
            quote = _sql_string("'")
            cells.append(f"CASE WHEN regexp_matches({name}, {_sql_string(_FORMULA_START)}) THEN {quote} || {name} ELSE {name} END AS {name}")
        else:
            cells.append(name)
    return ", ".join(cells)


def _one_statement(store: Warehouse, sql: str, option: str) -> duckdb.Statement:
    statements = checked_queries(store, sql)
    if len(statements) != 1:
        raise ExportError(f"{option} takes one statement, not {len(statements)}: export each result to its own file")
    return statements[0]


def _check_target(target: Path, warehouse_path: Path) -> None:
    resolved = target.resolve()
    warehouse = warehouse_path.resolve()
    if resolved in (warehouse, Path(str(warehouse) + ".wal")):
        raise ExportError(f"{target} is the warehouse itself: export to another file")
    if resolved.is_dir():
        raise ExportError(f"{target} is a folder: give a file name, e.g. {target / 'articles.parquet'}")
    if resolved.is_file():
        with open(resolved, "rb") as handle:
            header = handle.read(12)
        if header[8:12] == _DUCKDB_MAGIC:
            raise ExportError(f"{target} is a DuckDB database: export does not overwrite databases; choose another file")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
