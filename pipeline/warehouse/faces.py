"""Each article's face and the content its other places gave.

An article shows the content of one of its places (its face: `articles.source_path`); every other
place keeps what it gave in source_contents, so that when the face's file is gone the article can
take the content of a place still present.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from pipeline.record import Document
from pipeline.warehouse.changes import note_changed_articles
from pipeline.warehouse.documents import UNDETERMINED_LANGUAGE
from pipeline.warehouse.tables import ARTICLE_COLUMNS

_PARAGRAPH_LIST_TYPE = pa.list_(
    pa.struct([("text", pa.string()), ("language", pa.string()), ("language_confidence", pa.float64())])
)
# source_contents: an articles row without article_id (the place's article is in article_sources), with its paragraphs.
SOURCE_CONTENT_COLUMNS = tuple(name for name in ARTICLE_COLUMNS if name != "article_id")
# A place whose text (with its English) is longer is not kept in source_contents: a second copy of a
# long text would need as much writer memory again (a 7 MB copy ran a 48 MB writer out of memory).
# When such a place must become its article's face, the next run over its folder reads it again.
SOURCE_CONTENT_MAX_CHARS = 1_000_000


def kept_as_source_content(doc: Document) -> bool:
    return len(doc.text or "") + len(doc.text_en or "") <= SOURCE_CONTENT_MAX_CHARS


def source_contents_table(articles: pa.Table, docs: Sequence[Document]) -> pa.Table:
    """source_contents rows for `docs`, given their `articles_table` rows in the same order."""
    lists = []
    for doc in docs:
        languages = doc.paragraph_languages
        lists.append(
            [
                {
                    "text": text,
                    "language": languages[position].language if position < len(languages) else UNDETERMINED_LANGUAGE,
                    "language_confidence": languages[position].confidence if position < len(languages) else None,
                }
                for position, text in enumerate(doc.paragraphs)
            ]
        )
    return articles.select(list(SOURCE_CONTENT_COLUMNS)).append_column("paragraphs", pa.array(lists, _PARAGRAPH_LIST_TYPE))


def keep_face_contents(db: duckdb.DuckDBPyConnection, articles_leaving: str) -> None:
    """Copy the face (articles row and paragraphs) of the articles listed in the registered
    table `articles_leaving` to source_contents, under its place, before the face moves."""
    content_columns = ", ".join(f"a.{name}" for name in SOURCE_CONTENT_COLUMNS)
    db.execute(
        f"""
        INSERT OR REPLACE INTO source_contents
        WITH kept AS (  -- a long text is not copied (SOURCE_CONTENT_MAX_CHARS)
            SELECT article_id FROM articles JOIN {articles_leaving} USING (article_id)
            WHERE length(text) + coalesce(length(text_en), 0) <= {SOURCE_CONTENT_MAX_CHARS}
        )
        SELECT {content_columns}, coalesce(p.paragraphs, [])
        FROM articles a
        JOIN kept USING (article_id)
        LEFT JOIN (
            SELECT article_id,
                   list({{'text': text, 'language': language, 'language_confidence': language_confidence}} ORDER BY position)
                       AS paragraphs
            FROM paragraphs JOIN kept USING (article_id)
            GROUP BY article_id
        ) p USING (article_id)
        """
    )


def restore_faces(db: duckdb.DuckDBPyConnection, among: str | None = None) -> int:
    """Articles whose face's place is gone (not present, or no longer a place) take the content
    of their latest place still present, with its paragraphs; returns how many did. The search
    index and the duplicates signatures follow at their next refresh (they compare texts).
    `among`: a registered table whose article_id column lists the only articles to look at
    (those of the places just gone), found by index instead of reading every article."""
    if among is None:
        faceless = db.execute(
            """
            SELECT a.article_id FROM articles a
            WHERE NOT EXISTS (SELECT 1 FROM article_sources f WHERE f.source_path = a.source_path AND f.present)
              AND EXISTS (SELECT 1 FROM article_sources s WHERE s.article_id = a.article_id AND s.present)
            """
        ).fetch_arrow_table()
    else:  # `present` is tested after the joins: a filter of its own on the scan makes DuckDB read every place
        faceless = db.execute(
            f"""
            SELECT a.article_id
            FROM (SELECT DISTINCT article_id FROM {among}) g
            JOIN articles a USING (article_id)
            JOIN article_sources s ON s.article_id = a.article_id
            LEFT JOIN article_sources f ON f.source_path = a.source_path
            GROUP BY a.article_id
            HAVING NOT coalesce(bool_or(f.present), false) AND bool_or(s.present)
            """
        ).fetch_arrow_table()
    if not faceless.num_rows:
        return 0
    db.register("faceless_articles", faceless)
    try:
        moving = db.execute(
            """
            WITH places AS MATERIALIZED (  -- each join from the few keys before it; `present` tested last, as above
                SELECT s.article_id, s.source_path, s.present, s.last_seen, s.first_seen
                FROM faceless_articles JOIN article_sources s USING (article_id)
            )
            SELECT article_id, source_path FROM (
                SELECT p.article_id, p.source_path, p.present,
                       row_number() OVER (PARTITION BY p.article_id ORDER BY p.present DESC, p.last_seen DESC, p.first_seen DESC, p.source_path) AS latest
                FROM places p JOIN source_contents c USING (source_path)
            )
            WHERE latest = 1 AND present
            """
        ).fetch_arrow_table()
        db.register("faces_restored", moving)
        assignments = ", ".join(f"{name} = c.{name}" for name in SOURCE_CONTENT_COLUMNS)
        db.execute(
            f"""
            UPDATE articles SET {assignments}
            FROM faces_restored m JOIN source_contents c USING (source_path)
            WHERE articles.article_id = m.article_id
            """
        )
        db.execute("DELETE FROM paragraphs WHERE article_id IN (SELECT article_id FROM faces_restored)")
        db.execute(
            """
            INSERT INTO paragraphs (article_id, position, text, language, language_confidence)
            SELECT article_id, position, paragraph.text, paragraph.language, paragraph.language_confidence
            FROM (
                SELECT m.article_id, unnest(range(len(c.paragraphs)))::INTEGER AS position, unnest(c.paragraphs) AS paragraph
                FROM faces_restored m JOIN source_contents c USING (source_path)
            )
            """
        )
        db.execute("DELETE FROM source_contents WHERE source_path IN (SELECT source_path FROM faces_restored)")
        note_changed_articles(db, "faces_restored")
        # A place read by a newsflow that did not keep source_contents: the next run over its
        # folder reads the file again (a fingerprint no file has), and the article takes that content.
        db.execute(
            """
            UPDATE article_sources SET content_sha256 = CASE WHEN present THEN '' ELSE content_sha256 END
            WHERE article_id IN (SELECT article_id FROM faceless_articles)
              AND article_id NOT IN (SELECT article_id FROM faces_restored)
            """
        )
    finally:
        db.unregister("faceless_articles")
        db.unregister("faces_restored")
    return moving.num_rows
