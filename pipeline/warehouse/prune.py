"""Files gone from a folder a run scanned, and prune: the places marked not present, and the
articles none of whose places is present deleted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from pipeline.warehouse.changes import note_changed_articles
from pipeline.warehouse.connection import Connection
from pipeline.warehouse.documents import utc_naive
from pipeline.warehouse.faces import restore_faces


@dataclass(frozen=True)
class PruneResult:
    articles: int  # articles deleted (or that would be, with dry_run)
    places: int  # places (article_sources rows) of files that are gone
    dry_run: bool
    faces: int = 0  # articles whose face was a gone place and now shows a place still present
    listed: tuple[tuple[str | None, str], ...] = ()  # the first of those articles: (title, the place it was last seen)


class Prune(Connection):
    def mark_missing(self, folders: Sequence[str], *, seen_since: datetime) -> list[str]:
        """Mark the places under `folders` (stored paths, e.g. 'seeds') not seen since `seen_since`
        as not present, and return them: files gone from a folder a run scanned. Their articles stay;
        one whose face was such a file takes the content of a place still present (`faces.restore_faces`)."""
        if not folders:
            return []
        prefixes = [folder.rstrip("/") + "/" for folder in folders]
        with self._transaction() as db:
            rows = db.execute(
                """
                UPDATE article_sources SET present = false
                WHERE present AND last_seen < ? AND list_bool_or([starts_with(source_path, p) FOR p IN ?::VARCHAR[]])
                RETURNING source_path, article_id
                """,
                [utc_naive(seen_since), prefixes],
            ).fetchall()
            if rows:  # only an article with a place gone now can have lost its face
                with self._registered(articles_with_places_gone=pa.table({"article_id": pa.array([row[1] for row in rows], pa.string())})):
                    restore_faces(db, among="articles_with_places_gone")
        return sorted(path for path, _ in rows)

    def prune(self, *, dry_run: bool = False, listing: int = 20) -> PruneResult:
        """Delete the articles none of whose places is present (with their paragraphs and
        places), and the places that are gone from articles that still have one; an article whose
        face was such a place takes the content of a place still present first. The result lists
        the first `listing` of the articles by the place each was last seen."""
        with self._transaction() as db:
            faces = 0 if dry_run else restore_faces(db)
            gone = [
                row[0]
                for row in db.execute(
                    """
                    SELECT article_id FROM articles a
                    WHERE NOT EXISTS (SELECT 1 FROM article_sources s WHERE s.article_id = a.article_id AND s.present)
                    ORDER BY article_id
                    """
                ).fetchall()
            ]
            (places,) = db.execute("SELECT count(*) FROM article_sources WHERE NOT present").fetchone()
            listed = db.execute(
                """
                SELECT a.title, arg_max(s.source_path, s.last_seen) AS last_place
                FROM articles a JOIN article_sources s USING (article_id)
                WHERE a.article_id IN (SELECT unnest(?::VARCHAR[]))
                GROUP BY a.article_id, a.title ORDER BY last_place LIMIT ?
                """,
                [gone, listing],
            ).fetchall() if gone and listing else []
            if not dry_run:
                # deleted articles, and those losing a place (their first-seen time may move)
                note_changed_articles(db, "SELECT article_id FROM article_sources WHERE NOT present")
                for table in ("paragraphs", "translation_failures", "articles"):
                    db.execute(f"DELETE FROM {table} WHERE article_id IN (SELECT unnest(?::VARCHAR[]))", [gone])
                db.execute("DELETE FROM source_contents WHERE source_path IN (SELECT source_path FROM article_sources WHERE NOT present)")
                db.execute("DELETE FROM article_sources WHERE NOT present")
        return PruneResult(articles=len(gone), places=int(places), dry_run=dry_run, faces=faces, listed=tuple(map(tuple, listed)))
