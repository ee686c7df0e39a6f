"""Article identity: which article each document of a batch belongs to.

A file at a path already stored belongs to that path's article (also when it comes back after it
was gone). A file at a new path joins the article with the same canonical source_url (a page's own
address, not a site's home page) or the same text fingerprint; otherwise it becomes a new article.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from pipeline.record import Document
from pipeline.warehouse.documents import article_id_for, translation_fields

# A canonical URL identifies one article only when it names a page, not a site: some pages give
# their site's home page as their canonical URL.
PAGE_URL_PATTERN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]+/.*[^/].*$")


def is_page_url(url: str | None) -> bool:
    return bool(url) and bool(PAGE_URL_PATTERN.match(url))


class ArticlePlan:
    """Which article each document of a batch belongs to, and what to write for it."""

    def __init__(self):
        self.article_of: dict[str, str] = {}  # source_path -> article_id
        self.kind_of: dict[str, str] = {}  # source_path -> known | joined | new
        self.docs_of: dict[str, list[Document]] = {}  # article_id -> its documents, in batch order
        self.new_ids: set[str] = set()
        self._by_url: dict[str, str] = {}
        self._by_text: dict[str, str] = {}

    def _add(self, doc: Document, article_id: str, kind: str, fingerprint: str | None, url_key: str | None) -> None:
        self.article_of[doc.source_path] = article_id
        self.kind_of[doc.source_path] = kind
        self.docs_of.setdefault(article_id, []).append(doc)
        if url_key:
            self._by_url.setdefault(url_key, article_id)
        if fingerprint:
            self._by_text.setdefault(fingerprint, article_id)

    def at_known_path(self, doc, article_id, fingerprint, url_key) -> None:
        self._add(doc, article_id, "known", fingerprint, url_key)

    def joining(self, doc, article_id, fingerprint, url_key) -> None:
        self._add(doc, article_id, "joined", fingerprint, url_key)

    def new_article(self, doc, article_id, fingerprint, url_key) -> None:
        self.new_ids.add(article_id)
        self._add(doc, article_id, "new", fingerprint, url_key)

    def found_in_batch(self, url_key: str | None, fingerprint: str | None) -> str | None:
        return (self._by_url.get(url_key) if url_key else None) or (self._by_text.get(fingerprint) if fingerprint else None)

    def id_used(self, article_id: str) -> bool:
        return article_id in self.new_ids

    def actions(
        self, stored: dict[str, tuple], run_id: str | None = None
    ) -> tuple[dict[str, Document], dict[str, Document], dict[str, str], dict[str, int]]:
        """(articles to insert, articles to update: article_id -> the document whose content they
        take; articles that only move to a new latest path; counts per file). `joined_this_run`
        counts the files counted unchanged that joined an article stored in this run (`run_id`)."""
        inserts: dict[str, Document] = {}
        updates: dict[str, Document] = {}
        moves: dict[str, str] = {}
        counts = {"inserted": 0, "updated": 0, "unchanged": 0, "joined": 0, "joined_this_run": 0}
        for article_id, docs in self.docs_of.items():
            latest = docs[-1]
            if article_id in self.new_ids:
                inserts[article_id] = latest
                counts["inserted"] += 1
                counts["unchanged"] += len(docs) - 1  # copies within the batch join it
                counts["joined"] += len(docs) - 1
                counts["joined_this_run"] += len(docs) - 1
                continue
            sha256, status, text_en, text, path, stored_by_run = stored[article_id]
            text_en_now, status_now, _ = translation_fields(latest)
            # the same bytes can give another text (re-extraction by a better extractor)
            differs = (sha256, status, text_en, text) != (latest.content_sha256, status_now, text_en_now, latest.text)
            for doc in docs:
                if self.kind_of[doc.source_path] == "joined":
                    counts["joined"] += 1
            if run_id is not None and stored_by_run == run_id:
                counted_unchanged = docs[:-1] if differs else docs
                counts["joined_this_run"] += sum(self.kind_of[doc.source_path] == "joined" for doc in counted_unchanged)
            if differs:
                updates[article_id] = latest
                counts["updated"] += 1
                counts["unchanged"] += len(docs) - 1
            else:
                if latest.source_path != path:
                    moves[article_id] = latest.source_path
                counts["unchanged"] += len(docs)
        return inserts, updates, moves, counts


def plan_articles(db: duckdb.DuckDBPyConnection, storable: Sequence[Document]) -> tuple[ArticlePlan, dict[str, str]]:
    """The plan for `storable` (registered as `incoming_articles`, in this order), and each one's
    text fingerprint by source path."""
    if not storable:
        return ArticlePlan(), {}
    # Each text is fingerprinted once (as a join condition too, a 50 MB text took 460 MB, once 140 MB).
    # Every match is a join from the batch's keys, so that it reads the rows of an index for them,
    # not every article (see connection.WRITER_LOOKUP_CONFIG: correlated subqueries read them all).
    places = db.execute(
        """
        WITH incoming AS MATERIALIZED (
            SELECT source_path, article_id, text_fingerprint(text) AS fingerprint FROM incoming_articles
        ),
        text_match AS (
            SELECT i.source_path, min(f.article_id) AS article_id FROM incoming i JOIN article_sources f ON f.text_fingerprint = i.fingerprint GROUP BY 1
        ),
        id_taken AS (
            SELECT i.source_path, a.article_id FROM incoming i JOIN articles a ON a.article_id = i.article_id
        )
        SELECT i.source_path, i.fingerprint, s.article_id, t.article_id, k.article_id
        FROM incoming i
        LEFT JOIN article_sources s USING (source_path)
        LEFT JOIN text_match t USING (source_path)
        LEFT JOIN id_taken k USING (source_path)
        """
    ).fetchall()
    url_article = _articles_by_url(db, storable)
    place_by_path = {row[0]: row[1:] for row in places}
    plan = ArticlePlan()
    for doc in storable:
        fingerprint, path_article, text_article, id_taken = place_by_path[doc.source_path]
        url_key = doc.source_url if is_page_url(doc.source_url) else None
        if path_article is not None:
            plan.at_known_path(doc, path_article, fingerprint, url_key)
            continue
        match = url_article.get(url_key) or text_article or plan.found_in_batch(url_key, fingerprint)
        if match is not None:
            plan.joining(doc, match, fingerprint, url_key)
        else:
            new_id = article_id_for(doc.source_path)
            if id_taken is not None or plan.id_used(new_id):  # the id of an article that has moved on (pruned place)
                new_id = article_id_for(f"{doc.source_path}\n{doc.content_sha256}")
            plan.new_article(doc, new_id, fingerprint, url_key)
    return plan, {path: place[0] for path, place in place_by_path.items()}


def _articles_by_url(db: duckdb.DuckDBPyConnection, storable: Sequence[Document]) -> dict[str, str]:
    """page URL -> the stored article with that source_url (the first by id), for the batch's page
    URLs; no statement when it has none (a join from no keys still reads the articles)."""
    urls = sorted({doc.source_url for doc in storable if is_page_url(doc.source_url)})
    if not urls:
        return {}
    db.register("incoming_page_urls", pa.table({"url": pa.array(urls, pa.string())}))
    try:
        rows = db.execute(
            "SELECT u.url, min(a.article_id) FROM incoming_page_urls u JOIN articles a ON a.source_url = u.url GROUP BY 1"
        ).fetchall()
    finally:
        db.unregister("incoming_page_urls")
    return dict(rows)
