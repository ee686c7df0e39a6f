"""What an extractor returns: the article body and the metadata found around it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ExtractedArticle:
    text: str  # clean body, paragraphs separated by one blank line; "" when none was found
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None  # naive, UTC when the source gave a zone
    site_name: str | None = None
    source_url: str | None = None
