"""Which documents the writer can store: complete ones, and none too long for its memory limit."""

from __future__ import annotations

from pipeline.record import Document, Rejection
from pipeline.warehouse.documents import translation_fields
from pipeline.warehouse.limits import WRITER_MEMORY_LIMIT_ENV, size_in_bytes, writer_memory_limit


def incomplete_reason(doc: Document) -> Rejection | None:
    """Why a non-rejected document still cannot be stored as an article (earlier stages should prevent it)."""
    if doc.content_sha256 is None:
        return Rejection(
            "missing_fingerprint",
            "The file reached the warehouse without a content fingerprint; "
            "this is a bug in an earlier stage, please report it.",
        )
    if doc.text is None or not doc.text.strip():
        return Rejection(
            "missing_text",
            "The file reached the warehouse without extracted text; "
            "this is a bug in an earlier stage, please report it.",
        )
    return None


# What a writer needs to store an article (python -m bench.writer_memory_bench): DuckDB holds a
# row's strings whole while it writes them, so storing, then replacing, an article of S bytes of
# text and English text (with its paragraphs) needed about 13 MB + 1.8 x S (S = 1.7, 8.1, 20.7,
# 41.9 MB: 17, 27, 51, 89 MB). A text over 1 MB that would need more than the limit is rejected:
# stored, it would end this run, or the next after the file changed, and every run after, out of memory.
WRITER_BASE_BYTES = 16 * 10**6
WRITER_BYTES_PER_TEXT_BYTE = 2
_ALWAYS_STORED_BYTES = 10**6  # a limit too small for these ends the run with the setting to raise


def oversized_reason(doc: Document) -> Rejection | None:
    """Why a document's text is too long for the warehouse's writer to store, or None (see
    WRITER_BASE_BYTES)."""
    text_en, _, _ = translation_fields(doc)
    stored = _utf8_length(doc.text or "") + _utf8_length(text_en or "")
    needed = WRITER_BASE_BYTES + WRITER_BYTES_PER_TEXT_BYTE * stored
    limit = writer_memory_limit()
    if stored <= _ALWAYS_STORED_BYTES or needed <= size_in_bytes(limit):
        return None
    suggested_mb = -(-needed // (32 * 10**6)) * 32
    return Rejection(
        "too_large_for_warehouse",
        f"The article's text is {stored / 10**6:.1f} MB with its English version: storing it needs about "
        f"{needed / 10**6:.0f} MB of writer memory, more than {WRITER_MEMORY_LIMIT_ENV}={limit}; set "
        f"{WRITER_MEMORY_LIMIT_ENV}={suggested_mb}MB or more and run again, or split the file into smaller ones.",
    )


def _utf8_length(text: str, piece: int = 1 << 20) -> int:
    """len(text.encode()) without encoding a long text whole."""
    if text.isascii():
        return len(text)
    return sum(len(text[start : start + piece].encode("utf-8")) for start in range(0, len(text), piece))


def reject_if_oversized(doc: Document) -> Document:
    """`doc`, rejected (and its text let go) when its text is too long for the writer: see `oversized_reason`."""
    rejection = None if doc.rejected else oversized_reason(doc)
    if rejection is None:
        return doc
    return doc.replace(rejection=rejection, text=None, text_en=None, paragraph_languages=(), text_signature=None)
