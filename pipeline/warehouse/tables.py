"""Arrow tables (pure: Documents in, Arrow out): the rows a batch writes to articles, paragraphs,
translation_failures and rejected_files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from pipeline.record import Document, Rejection, iter_paragraphs
from pipeline.warehouse.documents import UNDETERMINED_LANGUAGE, article_id_for, translation_fields, utc_naive

_ARTICLE_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("source_path", pa.string()),
        ("source_url", pa.string()),
        ("content_sha256", pa.string()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_at", pa.timestamp("us")),
        ("site_name", pa.string()),
        ("language", pa.string()),
        ("language_confidence", pa.float64()),
        ("text", pa.string()),
        ("text_en", pa.string()),
        ("translation_status", pa.string()),
        ("translation_model", pa.string()),
        ("ingested_at", pa.timestamp("us")),
        ("run_id", pa.string()),
        ("title_en", pa.string()),
    ]
)
ARTICLE_COLUMNS = tuple(_ARTICLE_SCHEMA.names)

_PARAGRAPH_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("position", pa.int32()),
        ("text", pa.string()),
        ("language", pa.string()),
        ("language_confidence", pa.float64()),
    ]
)

_REJECTION_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("run_id", pa.string()),
        ("rejected_at", pa.timestamp("us")),
    ]
)


def articles_table(docs: Sequence[Document], *, run_id: str, ingested_at: datetime) -> pa.Table:
    """One Arrow row per document, in the `articles` column order. Documents must be storable."""
    rows: dict[str, list] = {name: [] for name in ARTICLE_COLUMNS}
    ingested = utc_naive(ingested_at)
    for doc in docs:
        text_en, status, model = translation_fields(doc)
        values = {
            "article_id": article_id_for(doc.source_path),
            "source_path": doc.source_path,
            "source_url": doc.source_url,
            "content_sha256": doc.content_sha256,
            "title": doc.title,
            "author": doc.author,
            "published_at": utc_naive(doc.published_at),
            "site_name": doc.site_name,
            "language": doc.language or UNDETERMINED_LANGUAGE,
            "language_confidence": doc.language_confidence,
            "text": doc.text,
            "text_en": text_en,
            "translation_status": status,
            "translation_model": model,
            "ingested_at": ingested,
            "run_id": run_id,
            "title_en": doc.title_en if doc.title_en is not None or status != "not_needed" else doc.title,
        }
        for name in ARTICLE_COLUMNS:
            rows[name].append(values[name])
    return pa.table(rows, schema=_ARTICLE_SCHEMA)


def paragraphs_table(docs_by_article_id: dict[str, Document]) -> pa.Table:
    """Paragraph rows, `doc.paragraphs` aligned by position with `doc.paragraph_languages`.

    A paragraph without a language entry gets 'und' and a NULL confidence.
    """
    return paragraph_rows(docs_by_article_id).read_all()


PARAGRAPH_ROWS_AT_ONCE = 10_000


def paragraph_rows(docs_by_article_id: dict[str, Document], rows_at_once: int = PARAGRAPH_ROWS_AT_ONCE) -> pa.RecordBatchReader:
    """`paragraphs_table` as a stream of Arrow batches made as they are read: a text of 400,000
    paragraphs held them all twice over, as Python strings and in Arrow (230 MB for 50 MB)."""

    def batches():
        rows: dict[str, list] = {name: [] for name in _PARAGRAPH_SCHEMA.names}
        for article_id, doc in docs_by_article_id.items():
            languages = doc.paragraph_languages
            for position, text in enumerate(iter_paragraphs(doc.text or "")):
                detected = languages[position] if position < len(languages) else None
                rows["article_id"].append(article_id)
                rows["position"].append(position)
                rows["text"].append(text)
                rows["language"].append(detected.language if detected else UNDETERMINED_LANGUAGE)
                rows["language_confidence"].append(detected.confidence if detected else None)
                if len(rows["position"]) == rows_at_once:
                    yield pa.record_batch(rows, schema=_PARAGRAPH_SCHEMA)
                    rows = {name: [] for name in _PARAGRAPH_SCHEMA.names}
        yield pa.record_batch(rows, schema=_PARAGRAPH_SCHEMA)

    return pa.RecordBatchReader.from_batches(_PARAGRAPH_SCHEMA, batches())


def translation_failures_table(docs_by_article_id: dict[str, Document], *, run_id: str, failed_at: datetime) -> pa.Table:
    failed = [(article_id, doc.translation_failure) for article_id, doc in docs_by_article_id.items() if doc.translation_failure]
    return pa.table(
        {
            "article_id": pa.array([article_id for article_id, _ in failed], pa.string()),
            "model": pa.array([failure.model for _, failure in failed], pa.string()),
            "reason": pa.array([failure.reason for _, failure in failed], pa.string()),
            "run_id": pa.array([run_id] * len(failed), pa.string()),
            "failed_at": pa.array([utc_naive(failed_at)] * len(failed), pa.timestamp("us")),
        }
    )


def rejections_table(rejected: Sequence[tuple[Document, Rejection]], *, run_id: str, rejected_at: datetime) -> pa.Table:
    at = utc_naive(rejected_at)
    return pa.table(
        {
            "path": [doc.source_path for doc, _ in rejected],
            "sha256": [doc.content_sha256 for doc, _ in rejected],
            "reason": [rejection.reason for _, rejection in rejected],
            "detail": [rejection.detail for _, rejection in rejected],
            "run_id": [run_id] * len(rejected),
            "rejected_at": [at] * len(rejected),
        },
        schema=_REJECTION_SCHEMA,
    )
