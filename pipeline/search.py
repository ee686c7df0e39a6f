"""Full-text search over the articles: BM25 over titles and texts, in the original language and in English.

The engine is DuckDB's `fts` extension, loaded from the file the `duckdb-extension-fts` wheel
installs, never downloaded (`pipeline.warehouse.connection.load_search_extension`). Its index lives in the warehouse (schema `fts_main_search_index`)
with the table macro `search_articles(query_text[, all_words := true])`, so SQL finds articles
the way `newsflow search` does.

The extension builds its index from scratch only (and slowly: 200 s for 20,000 articles on
two busy cores), and does not follow the table. So newsflow lets the extension create the
index's tables and macros over an empty table, then fills the same tables itself with set-based
SQL, and `refresh_search_index` (called at the end of every ingest run) re-indexes only the
articles whose indexed values changed, added or removed since the last refresh, each one
recognised by a hash of those values. The extension's `match_bm25` then scores as usual.

Each searched column is indexed up to its first INDEXED_CHARS characters (a million: any news
article whole, a long text such as a book or a log by its first ~150,000 words), and articles are
tokenised a bounded slice at a time (TOKENISED_AT_ONCE articles, TOKENISED_CHARS_AT_ONCE
characters), so a refresh needs the same memory whatever one article holds: a 50 MB text of a
20-word vocabulary, indexed whole, ran a 128 MB writer out of memory after 300 s, on every run.
Snippets come from the same indexed part. A refresh that fails is rolled back whole and leaves its
reason in `search_index_failure`, which `newsflow search` shows while the index is behind.

Tokens are runs of letters and digits of any script (the extension's default keeps only a-z,
which would drop Cyrillic, Arabic, Greek and every number), lower-cased and without accents, then
stemmed with Porter. Porter is made for English, yet it cannot hide an Indonesian word: the query
goes through the same stemmer as the text, so "Korea Utara" still finds "Korea Utara"
(measurements in bench/search_bench.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.front_door import within_deadline
from pipeline.warehouse import Warehouse
from pipeline.warehouse.changes import consume_changes, pending_articles
from pipeline.warehouse.connection import interrupt_behind, keys_looked_up_by_scan, load_search_extension
from pipeline.warehouse.limits import WRITER_MEMORY_LIMIT_ENV, writer_memory_limit

_INDEXED_TABLE = "search_index"  # empty, and only while the extension creates the index: names its schema
INDEX_SCHEMA = f"fts_main_{_INDEXED_TABLE}"
SEARCH_MACRO = "search_articles"
STEMMER = "porter"
# What separates tokens: everything but letters and digits of any script.
TOKEN_SEPARATORS = r"[^\p{L}\p{N}]+"
# Indexed in this order when the warehouse has them (title_en arrives with the identity work).
_SEARCHED_COLUMNS = ("title", "title_en", "text", "text_en")
_STATE_TABLE = "search_index_state"
_FAILURE_TABLE = "search_index_failure"  # the last refresh's error, while it is not followed by one that worked
INDEXED_CHARS = 1_000_000  # of each searched column
SEARCH_CONSUMER = "search"  # its notes in article_changes


class SearchError(Exception):
    """Search cannot run as asked; the message says what to do."""


# --- the index ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchIndexRefresh:
    rebuilt: bool  # the whole index was made anew (first time, or new settings)
    reindexed: int  # articles (re)tokenised: new, changed, or all of them on a rebuild
    removed: int  # articles no longer in the warehouse, or indexed with older values
    articles: int  # articles in the index now
    seconds: float

    @property
    def changed(self) -> bool:
        return self.rebuilt or bool(self.reindexed or self.removed)


@dataclass(frozen=True)
class SearchIndexStatus:
    exists: bool
    current: bool  # every article is indexed with its values as they are now
    articles_indexed: int
    built_at: datetime | None  # last refresh that changed the index
    failure: tuple[datetime, str] | None = None  # (when, why) the last refresh failed, if no later one worked

    def behind_note(self) -> str:
        """What a search on an index that is not current should tell the reader."""
        built = f"the search index was built at {self.built_at:%Y-%m-%d %H:%M} UTC and the articles changed since"
        if self.failure is None:
            return f"{built}; the next `newsflow ingest` run brings it up to date"
        failed_at, reason = self.failure
        return f"{built}: its refresh at {failed_at:%Y-%m-%d %H:%M} UTC failed ({reason}); until a refresh works, new and changed articles are not found"


def searched_columns(connection: duckdb.DuckDBPyConnection) -> list[str]:
    present = {
        name
        for (name,) in connection.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = 'articles'"
        ).fetchall()
    }
    return [column for column in _SEARCHED_COLUMNS if column in present]


def _index_settings(columns: list[str]) -> str:
    """Everything the index is built with: a change here means a rebuild."""
    return f"fts {duckdb.__version__}; stemmer {STEMMER}; tokens {TOKEN_SEPARATORS}; columns {','.join(columns)}"


def _fingerprints_sql(columns: list[str]) -> str:
    """article_id and a hash of every value search sees, per article."""
    return f"SELECT article_id, hash(article_id, {', '.join(columns)}) AS fingerprint FROM articles"


def _stored_state(connection: duckdb.DuckDBPyConnection) -> tuple | None:
    """(settings, built_at, follows_changes) of the index, or None when there is none.
    follows_changes: the index was brought up to date with every change the write path noted
    since (an index made before article_changes existed is diffed whole once)."""
    (tables,) = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND ((schema_name = 'main' AND table_name = ?) OR (schema_name = ? AND table_name = 'docs'))",
        [_STATE_TABLE, INDEX_SCHEMA],
    ).fetchone()
    if tables < 2:
        return None
    (follows,) = connection.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND table_name = ? AND column_name = 'follows_changes'",
        [_STATE_TABLE],
    ).fetchone()
    if not follows:
        return (*connection.execute(f"SELECT settings, built_at FROM {_STATE_TABLE}").fetchone(), False)
    return connection.execute(f"SELECT settings, built_at, follows_changes FROM {_STATE_TABLE}").fetchone()


def _stale_counts(connection: duckdb.DuckDBPyConnection, columns: list[str]) -> tuple[int, int]:
    """(articles to tokenise, indexed documents to drop): new or changed articles, and documents
    of removed articles or of older values."""
    return connection.execute(
        f"""
        WITH now AS ({_fingerprints_sql(columns)})
        SELECT count(*) FILTER (WHERE d.docid IS NULL), count(*) FILTER (WHERE now.article_id IS NULL)
        FROM now FULL JOIN {INDEX_SCHEMA}.docs d ON d.name = now.article_id AND d.fingerprint = now.fingerprint
        """
    ).fetchone()


def search_index_status(connection: duckdb.DuckDBPyConnection) -> SearchIndexStatus:
    """Whether the warehouse has a search index and whether it matches the articles now (reads only)."""
    state = _stored_state(connection)
    if state is None:
        return SearchIndexStatus(exists=False, current=False, articles_indexed=0, built_at=None)
    settings, built_at, follows = state
    columns = searched_columns(connection)
    (indexed,) = connection.execute(f"SELECT count(*) FROM {INDEX_SCHEMA}.docs").fetchone()
    if follows:
        current = settings == _index_settings(columns) and not pending_articles(connection, SEARCH_CONSUMER)
    else:
        current = settings == _index_settings(columns) and _stale_counts(connection, columns) == (0, 0)
    return SearchIndexStatus(exists=True, current=current, articles_indexed=int(indexed), built_at=built_at, failure=_last_failure(connection))


def _last_failure(connection: duckdb.DuckDBPyConnection) -> tuple[datetime, str] | None:
    (tables,) = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ?",
        [_FAILURE_TABLE],
    ).fetchone()
    if not tables:
        return None
    return connection.execute(f"SELECT failed_at, reason FROM {_FAILURE_TABLE} ORDER BY failed_at DESC LIMIT 1").fetchone()


def _record_failure(connection: duckdb.DuckDBPyConnection, error: BaseException) -> None:
    """Keep why a refresh failed (after its rollback), for `newsflow search` to show; best effort."""
    reason = str(error).split("\n", 1)[0]
    if isinstance(error, duckdb.OutOfMemoryException):
        reason = f"{reason}; set {WRITER_MEMORY_LIMIT_ENV} higher than {writer_memory_limit()} and run `newsflow ingest` again"
    try:
        connection.execute(f"CREATE OR REPLACE TABLE {_FAILURE_TABLE} (failed_at TIMESTAMP, reason VARCHAR)")
        connection.execute(f"INSERT INTO {_FAILURE_TABLE} VALUES (current_timestamp::TIMESTAMP, ?)", [reason])
    except duckdb.Error:
        pass


def refresh_search_index(connection: duckdb.DuckDBPyConnection, *, rebuild: bool = False) -> SearchIndexRefresh:
    """Bring the search index up to date with `articles` (`_refresh_search_index`), with the
    articles' texts read by scans, not index lookups (`keys_looked_up_by_scan`): fetched through
    an index, a slice's texts held a block of each text column per article at once."""
    with keys_looked_up_by_scan(connection):
        refresh = _refresh_search_index(connection, rebuild=rebuild)
        _keep_search_macro_current(connection, searched_columns(connection))
        keep_terms_sorted(connection)
    return refresh


def _refresh_search_index(connection: duckdb.DuckDBPyConnection, *, rebuild: bool = False) -> SearchIndexRefresh:
    """Bring the search index up to date with `articles` on a writable connection: in one transaction
    when it tokenises one slice, else committed slice by slice (`commit_and_begin`).

    Only the articles the write path noted as changed since the last refresh (article_changes)
    are looked at: those whose indexed values changed are tokenised again, removed ones dropped.
    The first refresh (or one with new index settings, or `rebuild`) makes the index anew; an index
    made before the notes existed is diffed against every article once. Nothing noted: no article
    is read, no write.
    """
    started = time.perf_counter()
    load_search_extension(connection)
    columns = searched_columns(connection)
    settings = _index_settings(columns)
    state = _stored_state(connection)
    rebuilt = rebuild or state is None or state[0] != settings
    changed = pending_articles(connection, SEARCH_CONSUMER) if not rebuilt and state[2] else None
    if not rebuilt and (changed == [] or (changed is None and _stale_counts(connection, columns) == (0, 0))):
        (articles,) = connection.execute(f"SELECT count(*) FROM {INDEX_SCHEMA}.docs").fetchone()
        if changed is None:  # an index made before the notes: from now on it follows them
            connection.execute(f"ALTER TABLE {_STATE_TABLE} ADD COLUMN follows_changes BOOLEAN DEFAULT true")
            consume_changes(connection, SEARCH_CONSUMER)
        return SearchIndexRefresh(False, 0, 0, int(articles), time.perf_counter() - started)
    def commit_and_begin() -> None:
        # A refresh of many articles commits slice by slice: one transaction holding every slice
        # ran a 128 MB writer out of memory building the index of 100,000 articles. Committed
        # slices are complete (their terms, words and documents); the state row is written last,
        # so a refresh cut short is taken up again (a build: anew; notes: those still noted).
        connection.commit()
        connection.begin()

    connection.begin()
    try:
        if rebuilt:
            connection.execute(f"DROP TABLE IF EXISTS {_STATE_TABLE}")  # until the new index is whole
            _create_empty_index(connection, columns)
        if changed is not None:
            connection.register("search_changed", pa.table({"article_id": pa.array(changed, pa.string())}))
        try:
            reindexed, removed = _update_index(
                connection, columns, only="search_changed" if changed is not None else None, after_each_slice=commit_and_begin
            )
        finally:
            if changed is not None:
                connection.unregister("search_changed")
        consume_changes(connection, SEARCH_CONSUMER, changed)
        (articles,) = connection.execute(f"SELECT count(*) FROM {INDEX_SCHEMA}.docs").fetchone()
        connection.execute(
            f"CREATE OR REPLACE TABLE {_STATE_TABLE} (settings VARCHAR, built_at TIMESTAMP, seconds DOUBLE, follows_changes BOOLEAN)"
        )
        connection.execute(
            f"INSERT INTO {_STATE_TABLE} VALUES (?, current_timestamp::TIMESTAMP, ?, true)", [settings, time.perf_counter() - started]
        )
        connection.execute(f"DROP TABLE IF EXISTS {_FAILURE_TABLE}")
        connection.commit()
    except BaseException as error:
        try:
            connection.rollback()
        except duckdb.Error:  # a failed commit has ended the transaction already
            pass
        if isinstance(error, Exception) and not _is_interruption(error):  # the next run may well fail the same way
            _record_failure(connection, error)
        raise
    return SearchIndexRefresh(rebuilt, reindexed, removed, int(articles), time.perf_counter() - started)


def _is_interruption(error: Exception) -> bool:
    """A statement ended by `connection.interrupt()` or by a signal handler that raised inside it:
    a stop, not a failure to tell the next search about."""
    return isinstance(error, duckdb.InterruptException) or interrupt_behind(error) is not None


def _create_empty_index(connection: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
    """The extension's schema (tables, stopwords, tokenize and match_bm25 macros) over an empty
    table with the indexed columns; then the macro `search_articles`."""
    typed = ", ".join(f"{column} VARCHAR" for column in columns)
    connection.execute(f"CREATE OR REPLACE TABLE {_INDEXED_TABLE} (article_id VARCHAR, {typed})")
    field_list = ", ".join(_sql_string(column) for column in columns)
    connection.execute(
        f"PRAGMA create_fts_index({_sql_string(_INDEXED_TABLE)}, 'article_id', {field_list}, stemmer = {_sql_string(STEMMER)}, "
        f"stopwords = 'english', ignore = {_sql_string(TOKEN_SEPARATORS)}, strip_accents = 1, lower = 1, overwrite = 1)"
    )
    connection.execute(f"DROP TABLE {_INDEXED_TABLE}")
    connection.execute(f"ALTER TABLE {INDEX_SCHEMA}.docs ADD COLUMN fingerprint UBIGINT")
    connection.execute(_search_macro_sql(columns))
    connection.execute(f"DROP TABLE IF EXISTS {TERMS_SORTED_STATE}")  # the new terms are in no order yet


TOKENISED_AT_ONCE = 1000  # articles
TOKENISED_CHARS_AT_ONCE = 16_000_000  # of their indexed columns, about what 1,000 news articles hold


def _update_index(
    connection: duckdb.DuckDBPyConnection, columns: list[str], only: str | None = None, after_each_slice: Callable[[], None] | None = None
) -> tuple[int, int]:
    """Drop the documents of removed or changed articles, tokenise new and changed ones, and keep
    `dict.df` and `stats` what the extension's own build would make of the same articles. `only`:
    a registered table of the article ids to look at (else every article). `after_each_slice`:
    called after each slice but the last is indexed."""
    schema = INDEX_SCHEMA
    reindexed, removed = _find_stale(connection, columns, only)
    if removed:
        _drop_gone(connection)
    # A slice of the new articles at a time (their docids are consecutive): tokenising them all at
    # once holds every word of the warehouse (20,000 articles: 2.8 GB uncapped, more than a
    # writer's default limit allows).
    slices = _slices(connection, columns)
    for number, (first, last) in enumerate(slices):
        _index_slice(connection, columns, first, last)
        if after_each_slice is not None and number < len(slices) - 1:
            after_each_slice()
    connection.execute(f"DELETE FROM {schema}.stats")
    connection.execute(f"INSERT INTO {schema}.stats SELECT count(docid), sum(len) / count(len) FROM {schema}.docs")
    for table in ("search_now", "search_gone", "search_fresh"):
        connection.execute(f"DROP TABLE {table}")
    return reindexed, removed


def _find_stale(connection: duckdb.DuckDBPyConnection, columns: list[str], only: str | None = None) -> tuple[int, int]:
    """Temp tables search_now (the fingerprints of every article, or of those in `only`),
    search_gone (indexed documents to drop) and search_fresh (articles to tokenise, with their new
    docids); returns (fresh, gone)."""
    schema = INDEX_SCHEMA
    among = f" WHERE article_id IN (SELECT article_id FROM {only})" if only else ""
    connection.execute(f"CREATE OR REPLACE TEMP TABLE search_now AS {_fingerprints_sql(columns)}{among}")
    among_docs = f"AND d.name IN (SELECT article_id FROM {only})" if only else ""
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_gone AS
        SELECT d.docid FROM {schema}.docs d LEFT JOIN search_now n ON n.article_id = d.name
        WHERE n.fingerprint IS DISTINCT FROM d.fingerprint {among_docs}
        """
    )
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_fresh AS
        SELECT n.article_id, n.fingerprint,
               (SELECT coalesce(max(docid) + 1, 0) FROM {schema}.docs) + row_number() OVER (ORDER BY n.article_id) - 1 AS docid
        FROM search_now n LEFT JOIN {schema}.docs d ON d.name = n.article_id AND d.fingerprint = n.fingerprint
        WHERE d.docid IS NULL
        """
    )
    (removed,) = connection.execute("SELECT count(*) FROM search_gone").fetchone()
    (reindexed,) = connection.execute("SELECT count(*) FROM search_fresh").fetchone()
    return int(reindexed), int(removed)


def _drop_gone(connection: duckdb.DuckDBPyConnection) -> None:
    """Remove the documents in search_gone, their terms, and the words no document has any more."""
    schema = INDEX_SCHEMA
    connection.execute(
        f"""
        UPDATE {schema}.dict SET df = df - gone.documents
        FROM (SELECT termid, count(DISTINCT docid) AS documents FROM {schema}.terms
              WHERE docid IN (SELECT docid FROM search_gone) GROUP BY termid) gone
        WHERE dict.termid = gone.termid
        """
    )
    connection.execute(f"DELETE FROM {schema}.terms WHERE docid IN (SELECT docid FROM search_gone)")
    connection.execute(f"DELETE FROM {schema}.docs WHERE docid IN (SELECT docid FROM search_gone)")
    connection.execute(f"DELETE FROM {schema}.dict WHERE df <= 0")


def _index_slice(connection: duckdb.DuckDBPyConnection, columns: list[str], first: int, last: int) -> None:
    """Tokenise the articles of search_fresh with docids first..last into terms, dict and docs."""
    schema = INDEX_SCHEMA
    # The indexed part is cut in a subquery: unnest() over an expression of a column copies that
    # column for every 2,048 tokens it returns (a 50 MB text: 6.5 s for its first million characters).
    tokenized = " UNION ALL ".join(
        f"SELECT docid, {fieldid} AS fieldid, unnest({schema}.tokenize(body)) AS w FROM ("
        f"SELECT f.docid, left(a.{column}, {INDEXED_CHARS}) AS body "
        f"FROM search_fresh f JOIN articles a USING (article_id) WHERE f.docid BETWEEN {first} AND {last})"
        for fieldid, column in enumerate(columns)
    )
    # Each distinct word is stemmed once: stemming every occurrence is most of the extension's build time.
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_fresh_terms AS
        WITH words AS (
            SELECT docid, fieldid, w FROM ({tokenized})
            WHERE w IS NOT NULL AND len(w) > 0 AND w NOT IN (SELECT sw FROM {schema}.stopwords)
        ),
        stems AS (SELECT w, stem(w, {_sql_string(STEMMER)}) AS term FROM (SELECT DISTINCT w FROM words))
        SELECT words.docid, words.fieldid, stems.term FROM words JOIN stems USING (w)
        """
    )
    connection.execute(
        f"""
        INSERT INTO {schema}.dict (termid, term, df)
        SELECT (SELECT coalesce(max(termid) + 1, 0) FROM {schema}.dict) + row_number() OVER (ORDER BY term) - 1, term, 0
        FROM (SELECT DISTINCT term FROM search_fresh_terms) new_terms
        WHERE NOT EXISTS (SELECT 1 FROM {schema}.dict d WHERE d.term = new_terms.term)
        """
    )
    connection.execute(
        f"""
        INSERT INTO {schema}.terms (docid, fieldid, termid)
        SELECT t.docid, t.fieldid, d.termid FROM search_fresh_terms t JOIN {schema}.dict d USING (term)
        """
    )
    connection.execute(
        f"""
        UPDATE {schema}.dict SET df = df + fresh.documents
        FROM (SELECT term, count(DISTINCT docid) AS documents FROM search_fresh_terms GROUP BY term) fresh
        WHERE dict.term = fresh.term
        """
    )
    connection.execute(
        f"""
        INSERT INTO {schema}.docs (docid, name, len, fingerprint)
        SELECT f.docid, f.article_id, coalesce(lengths.len, 0), f.fingerprint
        FROM search_fresh f LEFT JOIN (SELECT docid, count(*) AS len FROM search_fresh_terms GROUP BY docid) lengths USING (docid)
        WHERE f.docid BETWEEN {first} AND {last}
        """
    )
    connection.execute("DROP TABLE search_fresh_terms")


ARTICLES_SIZED_AT_ONCE = 100_000  # a first build sizes the new articles a hash slice of about this many at a time


def _slices(connection: duckdb.DuckDBPyConnection, columns: list[str]) -> list[tuple[int, int]]:
    """(first, last) docids of the new articles, a slice of at most TOKENISED_AT_ONCE articles and
    about TOKENISED_CHARS_AT_ONCE indexed characters each (an article starts a new slice once those
    before it in its slice reach it). The sizes are read a hash slice of the articles at a time and
    summed here: a window over a million articles' sizes ran a 128 MB writer out of memory."""
    chars = " + ".join(f"least(coalesce(length(a.{column}), 0), {INDEXED_CHARS})" for column in columns)
    (fresh,) = connection.execute("SELECT count(*) FROM search_fresh").fetchone()
    parts = 1 + fresh // ARTICLES_SIZED_AT_ONCE
    docids, sizes = [], []
    for number in range(parts):
        in_part = f"hash(article_id) % {parts} = {number}"
        sized = connection.execute(
            f"""
            SELECT f.docid, {chars} AS chars
            FROM (SELECT article_id, docid FROM search_fresh WHERE {in_part}) f
            JOIN (SELECT article_id, {', '.join(columns)} FROM articles WHERE {in_part}) a USING (article_id)
            """
        ).fetchnumpy()
        docids.append(np.asarray(sized["docid"], dtype=np.int64))
        sizes.append(np.asarray(sized["chars"], dtype=np.int64))
    docid = np.concatenate(docids) if docids else np.empty(0, np.int64)
    size = np.concatenate(sizes) if sizes else np.empty(0, np.int64)
    if not len(docid):
        return []
    in_order = np.argsort(docid, kind="stable")
    docid, size = docid[in_order], size[in_order]
    slice_of = (np.cumsum(size) - size) // TOKENISED_CHARS_AT_ONCE + np.arange(len(docid)) // TOKENISED_AT_ONCE
    starts = np.flatnonzero(np.r_[True, slice_of[1:] != slice_of[:-1]])
    ends = np.r_[starts[1:], len(docid)] - 1
    return [(int(docid[first]), int(docid[last])) for first, last in zip(starts, ends, strict=True)]


# BM25 as the extension's match_bm25 scores it (k1 1.2, b 0.75), but from the query's postings:
# match_bm25 is a per-article macro, and a search through it scored every article (105 ms at
# 100,000 articles, growing with the archive).
def _scores_sql(query_text: str, all_words: str) -> str:
    """SQL for (article_id, score) of every article the query hits: `query_text` and `all_words`
    are SQL expressions (parameters or a macro's arguments)."""
    schema = INDEX_SCHEMA
    return f"""
        WITH tokens AS (SELECT DISTINCT stem(unnest({schema}.tokenize({query_text})), {_sql_string(STEMMER)}) AS t),
             qterms AS (SELECT termid, docid FROM {schema}.terms
                        WHERE termid IN (SELECT termid FROM {schema}.dict WHERE term IN (SELECT t FROM tokens))),
             term_tf AS (SELECT termid, docid, count(*) AS tf FROM qterms GROUP BY docid, termid),
             cdocs AS (SELECT docid FROM (SELECT docid, count(DISTINCT termid) AS words FROM qterms GROUP BY docid)
                       WHERE NOT ({all_words}) OR words = (SELECT count(*) FROM tokens))
        SELECT docs.name AS article_id,
               sum(log(((stats.num_docs - dict.df) + 0.5) / (dict.df + 0.5) + 1)
                   * ((term_tf.tf * (1.2 + 1)) / (term_tf.tf + 1.2 * ((1 - 0.75) + 0.75 * (docs.len / stats.avgdl))))) AS score
        FROM term_tf
        JOIN cdocs USING (docid)
        JOIN {schema}.docs docs ON docs.docid = term_tf.docid
        JOIN {schema}.dict dict ON dict.termid = term_tf.termid
        CROSS JOIN {schema}.stats stats
        GROUP BY docs.docid, docs.name
    """


def _title_sql(columns: list[str]) -> str:
    return "coalesce(a.title_en, a.title)" if "title_en" in columns else "a.title"


def _search_macro_sql(columns: list[str]) -> str:
    return f"""
        CREATE OR REPLACE MACRO {SEARCH_MACRO}(query_text, all_words := false) AS TABLE
        SELECT a.article_id, hits.score, {_title_sql(columns)} AS title, a.language, a.published_at, a.site_name,
               a.source_path, a.source_url
        FROM ({_scores_sql("query_text", "all_words")}) hits
        JOIN articles a USING (article_id)
        ORDER BY hits.score DESC, a.article_id
    """


def _keep_search_macro_current(connection: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
    """An index made before the macro scored from postings gets the new macro (same results)."""
    rows = connection.execute(
        "SELECT macro_definition FROM duckdb_functions() WHERE database_name = current_database() AND function_name = ?", [SEARCH_MACRO]
    ).fetchall()
    if any("match_bm25" in (definition or "") for (definition,) in rows):
        connection.execute(_search_macro_sql(columns))


# The terms table (a row per word of every indexed text) is kept in termid order, so a query reads
# only the row groups of its words (DuckDB skips the others by their min/max): at 100,000
# articles, reading a query's postings took 206 ms unsorted and 38 ms sorted on a loaded machine.
# Refreshes append new articles' rows at the end, out of order; the whole table is sorted again
# when that tail passes a quarter of the sorted part (and TERMS_LEFT_UNSORTED rows), so each row
# is re-sorted a bounded number of times as the archive grows.
TERMS_SORTED_STATE = "search_index_terms_sorted"
TERMS_LEFT_UNSORTED = 2_000_000  # rows (about 13,000 news articles)
TERMS_UNSORTED_SHARE = 0.25


def _terms_sorted_rows(connection: duckdb.DuckDBPyConnection) -> int:
    (tables,) = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ?",
        [TERMS_SORTED_STATE],
    ).fetchone()
    if not tables:
        return 0
    row = connection.execute(f"SELECT sorted_rows FROM {TERMS_SORTED_STATE}").fetchone()
    return int(row[0]) if row else 0


def keep_terms_sorted(connection: duckdb.DuckDBPyConnection, *, force: bool = False) -> bool:
    """Sort the index's terms by termid when the rows appended since the last sort are too many
    (see above); call it with no transaction open. True when it sorted."""
    sorted_rows = _terms_sorted_rows(connection)
    (end,) = connection.execute(  # the table's rows, deleted ones included, from the catalog (max(rowid) reads every row)
        "SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = 'terms'",
        [INDEX_SCHEMA],
    ).fetchone()
    if not force and end - sorted_rows <= max(TERMS_LEFT_UNSORTED, TERMS_UNSORTED_SHARE * sorted_rows):
        return False
    connection.begin()
    try:
        connection.execute(f"CREATE TABLE {INDEX_SCHEMA}.terms_in_order AS SELECT * FROM {INDEX_SCHEMA}.terms ORDER BY termid, docid")
        connection.execute(f"DROP TABLE {INDEX_SCHEMA}.terms")
        connection.execute(f"ALTER TABLE {INDEX_SCHEMA}.terms_in_order RENAME TO terms")
        (rows,) = connection.execute(f"SELECT count(*) FROM {INDEX_SCHEMA}.terms").fetchone()
        connection.execute(f"CREATE OR REPLACE TABLE {TERMS_SORTED_STATE} (sorted_rows BIGINT, sorted_at TIMESTAMP)")
        connection.execute(f"INSERT INTO {TERMS_SORTED_STATE} VALUES (?, current_timestamp::TIMESTAMP)", [rows])
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return True


# --- searching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    article_id: str
    score: float
    title: str | None  # the English title where there is one, else the original
    language: str
    published_at: datetime | None
    site_name: str | None
    source_path: str
    source_url: str | None
    snippet: str  # the text around the first hit, English text first, then the original


def search(
    connection: duckdb.DuckDBPyConnection,
    query: str,
    *,
    language: str | None = None,
    since: date | None = None,
    limit: int = 20,
    all_words: bool = False,
) -> list[SearchHit]:
    """The best `limit` articles for `query`, best first; `since` keeps articles published on or after that day."""
    if not query.strip():
        raise SearchError('give the words to search for, e.g. newsflow search "kim jong un"')
    try:
        stems = _query_stems(connection, query)
    except duckdb.CatalogException as error:
        if "fts extension" in str(error):
            raise SearchError(
                "this connection has not loaded the fts extension: open it with Warehouse.open, "
                "or run pipeline.warehouse.connection.load_search_extension(connection) first"
            ) from None
        if INDEX_SCHEMA not in str(error):
            raise
        raise SearchError(
            "the warehouse has no search index yet: every `newsflow ingest` run builds it at its end "
            "(files already stored are not ingested again)"
        ) from None
    columns = searched_columns(connection)
    filtered = (
        "JOIN (SELECT article_id, language, published_at FROM articles) a USING (article_id) "
        "WHERE ($language IS NULL OR a.language = $language) AND ($since IS NULL OR a.published_at >= $since)"
        if language is not None or since is not None
        else ""
    )
    rows = connection.execute(
        f"""
        WITH best AS (
            SELECT hits.article_id, hits.score FROM ({_scores_sql("$query", "$all_words")}) hits {filtered}
            ORDER BY hits.score DESC, hits.article_id
            LIMIT $limit
        )
        SELECT b.article_id, b.score, {_title_sql(columns)}, a.language, a.published_at, a.site_name, a.source_path, a.source_url,
               left(a.text_en, {INDEXED_CHARS}), left(a.text, {INDEXED_CHARS})
        FROM best b JOIN articles a USING (article_id)
        ORDER BY b.score DESC, b.article_id
        """,
        {"query": query, "all_words": all_words, "limit": limit, **({"language": language, "since": since} if filtered else {})},
    ).fetchall()
    return [SearchHit(*row[:8], snippet=first_snippet([row[8], row[9]], stems)) for row in rows]


def _query_stems(connection: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    """(token, stem) for each query token the index uses: tokenised, stopwords left out and stemmed as it does."""
    rows = connection.execute(
        f"SELECT DISTINCT token, stem(token, {_sql_string(STEMMER)}) FROM "
        f"(SELECT unnest({INDEX_SCHEMA}.tokenize(?)) AS token) "
        f"WHERE token <> '' AND token NOT IN (SELECT sw FROM {INDEX_SCHEMA}.stopwords)",
        [query],
    ).fetchall()
    return [(token, stem) for token, stem in rows]


def _word_pattern(token: str, stem: str) -> str:
    """A regex for the words of a text that a query token hits: the part the token and its stem
    share plus a short ending, so "diplomats" hits "diplomatic" and "countries" hits "country";
    a token of three letters or fewer hits only itself ("un" is not "unique")."""
    if len(token) <= 3:
        return re.escape(token) + r"(?!\w)"
    shared = 0
    for a, b in zip(token, stem):
        if a != b:
            break
        shared += 1
    prefix = token[: max(shared, 3)]
    if prefix.endswith("i") and len(prefix) > 3:  # Porter's y -> i: "countries" and "country" are both "countri"
        prefix = prefix[:-1]
    return re.escape(prefix) + r"\w{0,5}(?!\w)"


def snippet(text: str, stems: list[tuple[str, str]], width: int = 200) -> str | None:
    """About `width` characters of `text` where the most query tokens hit (the first such place),
    or None when none does."""
    patterns = [re.compile(r"(?<!\w)" + _word_pattern(token, stem), re.IGNORECASE) for token, stem in stems if token]
    if not text or not patterns:
        return None
    flat = " ".join(text.split())
    hits = _hits(flat, patterns) or _hits(_without_accents(flat), patterns)  # the index ignores accents
    if not hits:
        return None
    hit_start, hit_end = _densest_hit(hits, reach=width * 2 // 3)
    start = max(0, hit_start - width // 3)
    end = min(len(flat), max(start + width, hit_end))
    if start > 0:  # whole words only
        space = flat.find(" ", start, hit_start)
        start = space + 1 if space >= 0 else start
    if end < len(flat):
        space = flat.rfind(" ", hit_end, end)
        end = space if space >= 0 else end
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _hits(text: str, patterns: list[re.Pattern]) -> list[tuple[int, int, int]]:
    return sorted((match.start(), match.end(), number) for number, pattern in enumerate(patterns) for match in pattern.finditer(text))


def _densest_hit(hits: list[tuple[int, int, int]], reach: int) -> tuple[int, int]:
    """(start, end) of the first hit followed, within `reach` characters, by the most distinct tokens.
    `hits` are (start, end, token number), sorted; one pass with a sliding window."""
    counts: dict[int, int] = {}
    best, best_distinct, last = hits[0], 0, 0
    for first in hits:
        while last < len(hits) and hits[last][0] < first[0] + reach:
            counts[hits[last][2]] = counts.get(hits[last][2], 0) + 1
            last += 1
        if len(counts) > best_distinct:
            best, best_distinct = first, len(counts)
        counts[first[2]] -= 1
        if not counts[first[2]]:
            del counts[first[2]]
    return best[0], best[1]


def first_snippet(texts: list[str | None], stems: list[tuple[str, str]], width: int = 200) -> str:
    """The snippet of the first text with a hit; else the start of the first text there is (the hit was in a title)."""
    for text in texts:
        found = snippet(text or "", stems, width)
        if found:
            return found
    first = " ".join(next((text for text in texts if text), "").split())
    return first[:width].rsplit(" ", 1)[0] + "…" if len(first) > width else first


def _without_accents(text: str) -> str:
    """Same length as `text`, so positions still match: each accented letter loses its marks."""
    if text.isascii():
        return text
    import unicodedata

    bare = {ord(char): unicodedata.normalize("NFKD", char)[0] for char in set(text) if not char.isascii() and char.isalpha()}
    return text.translate(bare)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def search_warehouse(warehouse_path: Path, query: str, **options) -> tuple[list[SearchHit], SearchIndexStatus]:
    """`search` on a read-only open of the warehouse, with the index's status (to tell a stale index)."""
    with Warehouse.open(warehouse_path, read_only=True) as store:
        connection = store.connection
        return within_deadline(store, lambda: (search(connection, query, **options), search_index_status(connection)))
