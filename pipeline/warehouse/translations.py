"""The translation queue (articles still waiting for an English text, and their translations
stored) and the sentence translation cache."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from pipeline.record import Document, ParagraphLanguage
from pipeline.warehouse.changes import note_changed_articles
from pipeline.warehouse.connection import Connection, in_lookup_chunks
from pipeline.warehouse.documents import last_per_source_path


class Translations(Connection):
    def pending_translations(self, limit: int | None = None) -> list[Document]:
        """Articles still waiting for an English text (missing_model or failed), oldest path first."""
        limit_clause = "" if limit is None else f"LIMIT {int(limit)}"
        with self._lock:
            result = self._db.execute(
                f"""
                SELECT source_path, source_url, content_sha256, title, author, published_at, site_name,
                       language, language_confidence, text, text_en, translation_status, translation_model,
                       article_id
                FROM articles
                WHERE translation_status IN ('missing_model', 'failed')
                ORDER BY source_path
                {limit_clause}
                """
            )
            columns = [column[0] for column in result.description]
            records = [dict(zip(columns, row)) for row in result.fetchall()]
            wanted = pa.table({"article_id": pa.array([r["article_id"] for r in records], pa.string())})
            with self._registered(pending_articles=wanted):
                paragraph_rows = self._db.execute(
                    """
                    SELECT p.article_id, p.language, p.language_confidence
                    FROM paragraphs p JOIN pending_articles USING (article_id)
                    ORDER BY p.article_id, p.position
                    """
                ).fetchall()
        languages: dict[str, list[ParagraphLanguage]] = {}
        complete: dict[str, bool] = {}
        for article_id, language, confidence in paragraph_rows:
            # A NULL confidence marks a paragraph that had no language entry when it was written:
            # stop there, so the Document gets back exactly the entries it was stored with.
            if confidence is None:
                complete[article_id] = False
            if complete.get(article_id, True):
                languages.setdefault(article_id, []).append(ParagraphLanguage(language, confidence))
        documents = []
        for record in records:
            article_id = record.pop("article_id")
            documents.append(Document(**record, paragraph_languages=tuple(languages.get(article_id, ()))))
        return documents

    def update_translations(self, docs: Sequence[Document]) -> int:
        """Store text_en, title_en, translation_status and translation_model of stored articles; returns rows updated."""
        storable = [doc for doc in last_per_source_path(docs) if not doc.rejected and doc.translation_status]
        if not storable:
            return 0
        translations = pa.table(
            {
                "source_path": [doc.source_path for doc in storable],
                "text_en": [doc.text_en for doc in storable],
                "translation_status": [doc.translation_status for doc in storable],
                "translation_model": [doc.translation_model for doc in storable],
                "title_en": [doc.title_en for doc in storable],
            },
            schema=pa.schema(
                [(name, pa.string()) for name in ("source_path", "text_en", "translation_status", "translation_model", "title_en")]
            ),
        )
        failed = [doc for doc in storable if doc.translation_failure]
        failures = pa.table(
            {
                "source_path": pa.array([doc.source_path for doc in failed], pa.string()),
                "model": pa.array([doc.translation_failure.model for doc in failed], pa.string()),
                "reason": pa.array([doc.translation_failure.reason for doc in failed], pa.string()),
            }
        )
        with self._transaction() as db, self._registered(new_translations=translations, new_failures=failures):
            (updated,) = db.execute(
                """
                UPDATE articles
                SET text_en = t.text_en, translation_status = t.translation_status, translation_model = t.translation_model,
                    title_en = t.title_en
                FROM new_translations t
                WHERE articles.source_path = t.source_path
                """
            ).fetchone()
            note_changed_articles(db, "SELECT a.article_id FROM articles a JOIN new_translations t USING (source_path)")
            db.execute(
                """
                INSERT INTO translation_failures (article_id, model, reason, run_id, failed_at)
                SELECT a.article_id, f.model, f.reason, a.run_id, current_timestamp::TIMESTAMP
                FROM new_failures f JOIN articles a USING (source_path)
                """
            )
        return int(updated)

    def cached_translations(self, model: str, sentences: Sequence[str]) -> dict[str, str]:
        """source sentence -> stored translation by `model`, for the sentences the cache has."""
        found: dict[str, str] = {}
        for wanted in in_lookup_chunks(sorted(set(sentences))):
            table = pa.table({"source": pa.array(wanted, pa.string())})
            with self._registered(wanted_sentences=table):
                # the model is compared here: a filter of its own on the scan makes DuckDB read every row
                rows = self._db.execute(
                    """
                    SELECT c.source, c.translation, c.model
                    FROM wanted_sentences w JOIN translation_cache c USING (source)
                    """
                ).fetchall()
            found.update((source, translation) for source, translation, cached_by in rows if cached_by == model)
        return found

    def store_translations(self, model: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Remember (source, translation) pairs for `model`; a sentence already cached keeps its translation."""
        first_per_source: dict[str, str] = {}
        for source, translation in pairs:
            first_per_source.setdefault(source, translation)
        if not first_per_source:
            return
        table = pa.table(
            {
                "source": pa.array(list(first_per_source), pa.string()),
                "translation": pa.array(list(first_per_source.values()), pa.string()),
            }
        )
        with self._transaction() as db, self._registered(new_cache_entries=table):
            db.execute(
                """
                INSERT INTO translation_cache (model, source, translation)
                SELECT ?, source, translation FROM new_cache_entries
                ON CONFLICT (model, source) DO NOTHING
                """,
                [model],
            )
