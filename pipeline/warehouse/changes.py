"""Which articles changed since each derived table (duplicates, the search index) last caught up.

Every write that changes what an article holds, where it is seen or whether it exists notes the
article's id here, in the write's own transaction, once for each consumer; a refresh reads and
clears only its consumer's rows, so its cost follows what was written, not the archive. A write
that bypasses the warehouse's write path (plain SQL on `articles`) must note its ids itself
(`note_changed_articles`), or the consumer must be rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa

CHANGES_TABLE = "article_changes"
CONSUMERS = ("duplicates", "search")


def note_changed_articles(db: duckdb.DuckDBPyConnection, article_ids: Iterable[str] | str) -> None:
    """Note the articles for every consumer: `article_ids` is the ids, or a SQL query (or the name
    of a registered table with an article_id column) that gives them."""
    if isinstance(article_ids, str):
        source = article_ids if article_ids.lstrip().upper().startswith("SELECT") else f"SELECT article_id FROM {article_ids}"
        for consumer in CONSUMERS:
            db.execute(f"INSERT INTO {CHANGES_TABLE} (consumer, article_id) SELECT DISTINCT ?, article_id FROM ({source})", [consumer])
        return
    ids = pa.table({"article_id": pa.array(sorted(set(article_ids)), pa.string())})
    if not ids.num_rows:
        return
    db.register("noted_articles", ids)
    try:
        note_changed_articles(db, "noted_articles")
    finally:
        db.unregister("noted_articles")


def pending_articles(db: duckdb.DuckDBPyConnection, consumer: str) -> list[str]:
    """The ids noted for `consumer` and not yet consumed (each once)."""
    return [row[0] for row in db.execute(f"SELECT DISTINCT article_id FROM {CHANGES_TABLE} WHERE consumer = ? ORDER BY 1", [consumer]).fetchall()]


def consume_changes(db: duckdb.DuckDBPyConnection, consumer: str, article_ids: list[str] | None = None) -> None:
    """Forget the notes of `consumer` (of `article_ids` only, when given): it has caught up on them."""
    if article_ids is None:
        db.execute(f"DELETE FROM {CHANGES_TABLE} WHERE consumer = ?", [consumer])
    elif article_ids:
        db.register("consumed_articles", pa.table({"article_id": pa.array(article_ids, pa.string())}))
        try:
            db.execute(f"DELETE FROM {CHANGES_TABLE} WHERE consumer = ? AND article_id IN (SELECT article_id FROM consumed_articles)", [consumer])
        finally:
            db.unregister("consumed_articles")
