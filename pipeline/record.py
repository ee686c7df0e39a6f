"""The one record type that travels through every stage.

A stage takes a `Document` and returns a new one made with `dataclasses.replace`.
A document that cannot go on carries a `Rejection`; later stages pass it through
untouched, and the warehouse stores it in `rejected_files`, so nothing is lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Rejection:
    reason: str  # short code, e.g. "empty_file", "binary_file"
    detail: str  # a sentence a person can act on


@dataclass(frozen=True)
class TranslationFailure:
    model: str  # the package (or pivot chain) that failed, as translation_model would record it
    reason: str  # what happened and what to do


@dataclass(frozen=True)
class ParagraphLanguage:
    language: str  # ISO 639-1 or "und"
    confidence: float


@dataclass(frozen=True)
class TextSignature:
    """What duplicate detection compares of a text (`pipeline.duplicates`), made on the worker
    that made the text, so the flow process only stores it."""

    text_sha256: str  # of the text compared: text_en, else text
    shingle_count: int
    shingles: bytes  # sorted distinct 32-bit shingle hashes, little-endian
    signature: bytes  # datasketch LeanMinHash, serialized; empty when the text is too short to compare


@dataclass(frozen=True)
class Document:
    source_path: str
    content_sha256: str | None = None
    size_bytes: int = 0
    # sources
    raw_text: str | None = None
    encoding: str | None = None
    encoding_origin: str | None = None  # where `encoding` came from, for a fetched page (a header, a <meta>, detection)
    content_format: str | None = None  # "html" | "text"
    fetched_at: datetime | None = None  # when the page was fetched (a WARC record's WARC-Date), naive UTC
    # extract
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    site_name: str | None = None
    source_url: str | None = None
    text: str | None = None  # clean body, paragraphs separated by a blank line
    # language
    language: str | None = None
    language_confidence: float | None = None
    paragraph_languages: tuple[ParagraphLanguage, ...] = ()
    # translate
    text_en: str | None = None
    title_en: str | None = None  # the title in English: translated with the text, the title itself when not needed
    translation_status: str | None = None  # not_needed | translated | missing_model | failed
    translation_model: str | None = None
    translation_failure: TranslationFailure | None = None  # why translation_status is failed
    # duplicates
    text_signature: TextSignature | None = None  # of text_en, else text, as it was when signed
    # quarantine
    rejection: Rejection | None = None

    @property
    def rejected(self) -> bool:
        return self.rejection is not None

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return split_paragraphs(self.text or "")

    def replace(self, **changes) -> "Document":
        return dataclasses.replace(self, **changes)

    def reject(self, reason: str, detail: str) -> "Document":
        return dataclasses.replace(self, rejection=Rejection(reason, detail))


PARAGRAPH_SEPARATOR = "\n\n"


def split_paragraphs(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(PARAGRAPH_SEPARATOR) if p.strip())


def iter_paragraphs(text: str):
    """`split_paragraphs(text)` one paragraph at a time, without a list of them all."""
    start = 0
    while True:
        end = text.find(PARAGRAPH_SEPARATOR, start)
        paragraph = (text[start:] if end < 0 else text[start:end]).strip()
        if paragraph:
            yield paragraph
        if end < 0:
            return
        start = end + len(PARAGRAPH_SEPARATOR)


def join_paragraphs(paragraphs) -> str:
    return PARAGRAPH_SEPARATOR.join(p.strip() for p in paragraphs if p and p.strip())
