"""What the warehouse reads from a Document: the stable id of its path, its English text and
translation status as stored, its times in UTC, and which of a batch's documents for one path wins."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone

from pipeline.record import Document

UNDETERMINED_LANGUAGE = "und"


def article_id_for(source_path: str) -> str:
    """Stable article id: the first 16 hex digits of the sha256 of the source path."""
    return hashlib.sha256(source_path.encode("utf-8")).hexdigest()[:16]


def utc_naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def translation_fields(doc: Document) -> tuple[str | None, str, str | None]:
    """(text_en, translation_status, translation_model), filling what an untranslated doc lacks.

    A document that never went through translation counts as not_needed when it is English
    (text_en = text, per the contract) and as missing_model otherwise, so `pending_translations`
    picks it up later.
    """
    status = doc.translation_status
    language = doc.language or UNDETERMINED_LANGUAGE
    if status is None:
        status = "not_needed" if language == "en" else "missing_model"
    text_en = doc.text_en
    if text_en is None and status == "not_needed":
        text_en = doc.text
    return text_en, status, doc.translation_model


def last_per_source_path(docs: Iterable[Document]) -> list[Document]:
    """Drop earlier duplicates of a source path within one batch: the last one is its latest content."""
    latest: dict[str, Document] = {}
    for doc in docs:
        latest.pop(doc.source_path, None)
        latest[doc.source_path] = doc
    return list(latest.values())
