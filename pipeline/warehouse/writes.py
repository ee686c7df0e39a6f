"""Batch writes: one batch of documents stored in one transaction, through Arrow.

The batch becomes `pyarrow.Table`s, registered with the connection, and set-based SQL
(`INSERT ... SELECT`, `UPDATE ... FROM`) moves them into the tables. Row-by-row `executemany` is
about a thousand times slower in DuckDB. Which article each document belongs to is
`pipeline.warehouse.identity`'s decision; what the other places of an article keep is
`pipeline.warehouse.faces`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from pipeline.record import Document, Rejection
from pipeline.warehouse.changes import note_changed_articles
from pipeline.warehouse.connection import Connection, in_lookup_chunks
from pipeline.warehouse.documents import last_per_source_path, utc_naive
from pipeline.warehouse.faces import SOURCE_CONTENT_COLUMNS, keep_face_contents, kept_as_source_content, source_contents_table
from pipeline.warehouse.identity import ArticlePlan, plan_articles
from pipeline.warehouse.storable import incomplete_reason, oversized_reason
from pipeline.warehouse.tables import ARTICLE_COLUMNS, articles_table, paragraph_rows, rejections_table, translation_failures_table


@dataclass(frozen=True)
class BatchCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    joined: int = 0  # files that joined an article stored under another path (counted in unchanged or updated too)
    joined_this_run: int = 0  # of the unchanged, files that joined an article stored in this same run

    def __add__(self, other: "BatchCounts") -> "BatchCounts":
        return BatchCounts(
            inserted=self.inserted + other.inserted,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            rejected=self.rejected + other.rejected,
            joined=self.joined + other.joined,
            joined_this_run=self.joined_this_run + other.joined_this_run,
        )


class Writes(Connection):
    def known_fingerprints(self, source_paths: Iterable[str]) -> dict[str, str]:
        """source_path -> content_sha256 of the bytes last stored from it, for the paths seen before
        whose file is still there (a path that came back after it was gone is read again)."""
        found: dict[str, str] = {}
        for paths in in_lookup_chunks(sorted(set(source_paths))):
            wanted = pa.table({"source_path": pa.array(paths, pa.string())})
            with self._registered(wanted_paths=wanted):
                # `present` is tested here, not in SQL: a filter of its own on the scan makes DuckDB read every row
                rows = self._db.execute(
                    "SELECT s.source_path, s.content_sha256, s.present FROM wanted_paths w JOIN article_sources s USING (source_path)"
                ).fetchall()
            found.update((path, sha256) for path, sha256, present in rows if present)
        return found

    def stored_urls(self, urls: Iterable[str]) -> set[str]:
        """The `urls` stored already: as an article's page address, or as a place an article was fetched from."""
        stored: set[str] = set()
        for chunk in in_lookup_chunks(sorted(set(urls))):
            wanted = pa.table({"url": pa.array(chunk, pa.string())})
            with self._registered(wanted_urls=wanted):
                rows = self._db.execute(
                    """
                    SELECT w.url FROM wanted_urls w JOIN articles a ON a.source_url = w.url
                    UNION SELECT w.url FROM wanted_urls w JOIN article_sources s ON s.source_path = w.url
                    """
                ).fetchall()
            stored.update(url for (url,) in rows)
        return stored

    def write_batch(
        self, docs: Sequence[Document], *, run_id: str, ingested_at: datetime, seen_paths: Sequence[str] = ()
    ) -> BatchCounts:
        """Store one batch in one transaction: which article each file belongs to, and its content.

        A file at a path already stored belongs to that path's article (also when it comes back
        after it was gone): unchanged bytes (with the same text and translation) write nothing,
        changed ones update the article. A file at a new path
        joins the article with the same canonical source_url (a page's own address, not a site's
        home page) or the same text fingerprint, and the article takes its newest content and
        path; otherwise it becomes a new article. Every file's place is recorded in
        article_sources. `seen_paths`: the other paths of the batch, unchanged and not sent
        through the stages, marked as still there. Rejected documents go to rejected_files, once
        per (path, sha256, reason). Within one batch, the last document for a source path wins.
        """
        storable, rejected = _storable_and_rejected(docs)
        seen_at = utc_naive(ingested_at)
        incoming = articles_table(storable, run_id=run_id, ingested_at=ingested_at)
        rejections = rejections_table(rejected, run_id=run_id, rejected_at=ingested_at)
        seen = pa.table({"source_path": pa.array(sorted(set(seen_paths)), pa.string())})
        with self._transaction() as db, self._registered(incoming_articles=incoming, incoming_rejections=rejections, seen_paths=seen):
            if seen.num_rows:
                db.execute(
                    "UPDATE article_sources SET last_seen = ?, present = true WHERE source_path IN (SELECT source_path FROM seen_paths)",
                    [seen_at],
                )
            plan, fingerprint_of = plan_articles(db, storable)
            stored = _stored_articles(db, plan)
            change = _BatchChange(plan, stored, incoming, storable, fingerprint_of, run_id=run_id)
            with self._registered(**change.tables()):
                _write_articles(db, change, seen_at=seen_at)
            with self._registered(incoming_failures=translation_failures_table(change.changed_docs, run_id=run_id, failed_at=ingested_at)):
                db.execute(
                    """
                    INSERT INTO translation_failures (article_id, model, reason, run_id, failed_at)
                    SELECT article_id, model, reason, run_id, failed_at FROM incoming_failures
                    """
                )
            if rejections.num_rows:
                _write_rejections(db)
        counts = change.counts
        return BatchCounts(
            inserted=counts["inserted"],
            updated=counts["updated"],
            unchanged=counts["unchanged"],
            rejected=len(rejected),
            joined=counts["joined"],
            joined_this_run=counts["joined_this_run"],
        )


def _storable_and_rejected(docs: Sequence[Document]) -> tuple[list[Document], list[tuple[Document, Rejection]]]:
    """The batch's documents (the last one per source path) that can be stored, and the others with why not."""
    storable: list[Document] = []
    rejected: list[tuple[Document, Rejection]] = []
    for doc in last_per_source_path(docs):
        rejection = doc.rejection or incomplete_reason(doc) or oversized_reason(doc)
        if rejection is None:
            storable.append(doc)
        else:
            rejected.append((doc, rejection))
    return storable, rejected


def _stored_articles(db: duckdb.DuckDBPyConnection, plan: ArticlePlan) -> dict[str, tuple]:
    """article_id -> (content_sha256, translation_status, text_en, text, source_path, run_id) of the stored articles the batch touches."""
    if not plan.article_of:
        return {}
    return {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT article_id, content_sha256, translation_status, text_en, text, source_path, run_id FROM articles "
            "WHERE article_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(plan.article_of.values())],
        ).fetchall()
    }


class _BatchChange:
    """What one batch changes, as the Arrow tables `_write_articles` moves into the warehouse."""

    def __init__(
        self, plan: ArticlePlan, stored: dict[str, tuple], incoming: pa.Table, storable: list[Document], fingerprint_of: dict[str, str],
        run_id: str | None = None,
    ) -> None:
        self.plan, self.stored, self.incoming, self.storable, self.fingerprint_of = plan, stored, incoming, storable, fingerprint_of
        self.inserts, self.updates, self.moves, self.counts = plan.actions(stored, run_id)
        self.changed_docs = {**self.inserts, **self.updates}
        self._incoming_by_path = {path: i for i, path in enumerate(incoming.column("source_path").to_pylist())}
        # Every place that is not its article's face keeps what it gave (source_contents), so
        # that the face can move to a place still present when its own file is gone.
        face_of = {article_id: row[4] for article_id, row in stored.items()}
        face_of.update({article_id: doc.source_path for article_id, doc in self.changed_docs.items()})
        face_of.update(self.moves)
        self.face_of = face_of
        self.spare = [
            doc for article_id, docs in plan.docs_of.items() for doc in docs
            if doc.source_path != face_of[article_id] and kept_as_source_content(doc)
        ]
        self.left_behind = [article_id for article_id, row in stored.items() if row[4] != face_of[article_id]]

    def _rows_of(self, chosen: dict[str, Document]) -> pa.Table:
        rows = [self._incoming_by_path[doc.source_path] for doc in chosen.values()]
        incoming = self.incoming
        # take() copies the texts: not when it would take every row in order (a batch of one long text)
        picked = incoming if rows == list(range(incoming.num_rows)) else incoming.take(pa.array(rows, pa.int64()))
        return picked.set_column(0, "article_id", pa.array(list(chosen), pa.string()))

    def tables(self) -> dict[str, pa.Table | pa.RecordBatchReader]:
        """The tables to register, by the name `_write_articles` reads them under."""
        storable, plan, moves = self.storable, self.plan, self.moves
        spare_rows = pa.array([self._incoming_by_path[doc.source_path] for doc in self.spare], pa.int64())
        return {
            "articles_to_insert": self._rows_of(self.inserts),
            "articles_to_update": self._rows_of(self.updates),
            "articles_moved": pa.table(
                {"article_id": pa.array(list(moves), pa.string()), "source_path": pa.array(list(moves.values()), pa.string())}
            ),
            "changed_articles": pa.table({"article_id": pa.array(list(self.changed_docs), pa.string())}),
            "incoming_paragraphs": paragraph_rows(self.changed_docs),
            "incoming_sources": pa.table(
                {
                    "source_path": pa.array([doc.source_path for doc in storable], pa.string()),
                    "article_id": pa.array([plan.article_of[doc.source_path] for doc in storable], pa.string()),
                    "content_sha256": pa.array([doc.content_sha256 for doc in storable], pa.string()),
                    "text_fingerprint": pa.array([self.fingerprint_of[doc.source_path] for doc in storable], pa.string()),
                    "fetched_at": pa.array([doc.fetched_at for doc in storable], pa.timestamp("us")),
                }
            ),
            "faces_left_behind": pa.table({"article_id": pa.array(self.left_behind, pa.string())}),
            "spare_contents": source_contents_table(self.incoming.take(spare_rows), self.spare),
            "faces_now": pa.table({"source_path": pa.array(sorted(set(self.face_of.values())), pa.string())}),
        }


def _write_articles(db: duckdb.DuckDBPyConnection, change: _BatchChange, *, seen_at: datetime | None) -> None:
    """Move the registered tables of `change` into articles, paragraphs, article_sources and source_contents."""
    if change.storable:  # a place that moves to another article leaves its old article (whose first-seen time may move)
        note_changed_articles(db, "SELECT s.article_id FROM article_sources s JOIN incoming_sources USING (source_path)")
    if change.left_behind:
        keep_face_contents(db, "faces_left_behind")
    if change.spare:
        content_columns = ", ".join(SOURCE_CONTENT_COLUMNS)
        db.execute(
            f"INSERT OR REPLACE INTO source_contents ({content_columns}, paragraphs) "
            f"SELECT {content_columns}, paragraphs FROM spare_contents"
        )
    if not change.storable:  # only rejections: nothing below has a row to write
        return
    # Each statement below runs only when it has rows to move: with none, DuckDB still reads
    # the table it joins to (its first vectors, or all of it) for nothing.
    db.execute("DELETE FROM source_contents WHERE source_path IN (SELECT source_path FROM faces_now)")
    columns = ", ".join(ARTICLE_COLUMNS)
    # Paths move first, so that an article can take a path another article gives up.
    if change.moves:
        db.execute(
            "UPDATE articles SET source_path = m.source_path FROM articles_moved m WHERE articles.article_id = m.article_id"
        )
    if change.inserts:
        db.execute(f"INSERT INTO articles ({columns}) SELECT {columns} FROM articles_to_insert")
    if change.updates:
        # Replaced, not updated: DuckDB's UPDATE keeps the old text beside the new one, and
        # could not update a 20 MB article within the writer's default 128 MB.
        db.execute("DELETE FROM articles WHERE article_id IN (SELECT article_id FROM articles_to_update)")
        db.execute(f"INSERT INTO articles ({columns}) SELECT {columns} FROM articles_to_update")
    if change.changed_docs:
        db.execute("DELETE FROM paragraphs WHERE article_id IN (SELECT article_id FROM changed_articles)")
        db.execute(
            """
            INSERT INTO paragraphs (article_id, position, text, language, language_confidence)
            SELECT article_id, position, text, language, language_confidence FROM incoming_paragraphs
            """
        )
    db.execute(
        """
        INSERT INTO article_sources (source_path, article_id, content_sha256, text_fingerprint, first_seen, last_seen, present, fetched_at)
        SELECT source_path, article_id, content_sha256, text_fingerprint, ?, ?, true, fetched_at FROM incoming_sources
        ON CONFLICT (source_path) DO UPDATE SET
            article_id = excluded.article_id, content_sha256 = excluded.content_sha256,
            text_fingerprint = excluded.text_fingerprint, last_seen = excluded.last_seen, present = true,
            fetched_at = excluded.fetched_at
        """,
        [seen_at, seen_at],
    )
    # duplicates and the search index catch up on these (a moved face changes the clustering order)
    note_changed_articles(db, "SELECT article_id FROM changed_articles UNION SELECT article_id FROM articles_moved UNION SELECT article_id FROM incoming_sources")


def _write_rejections(db: duckdb.DuckDBPyConnection) -> None:
    """The registered `incoming_rejections`, each (path, sha256, reason) once. The stored rows of
    the batch's paths are found first, by a join from them, then compared."""
    db.execute(
        """
        INSERT INTO rejected_files (path, sha256, reason, detail, run_id, rejected_at)
        WITH stored AS MATERIALIZED (
            SELECT r.path, r.sha256, r.reason FROM (SELECT DISTINCT path FROM incoming_rejections) i JOIN rejected_files r USING (path)
        )
        SELECT i.path, i.sha256, i.reason, i.detail, i.run_id, i.rejected_at
        FROM incoming_rejections i
        WHERE NOT EXISTS (
            SELECT 1 FROM stored r
            WHERE r.path = i.path AND r.sha256 IS NOT DISTINCT FROM i.sha256 AND r.reason = i.reason
        )
        """
    )
