"""The extract stage: raw page text -> clean article body plus title, author, date, source.

HTML goes through trafilatura (with fallbacks); plain-text page dumps go through the
boilerplate line cleaner (a text of over a million characters in windows, see `textdump`). A page
with nothing article-like is rejected as `no_article`.
"""

from __future__ import annotations

import logging
import re

from pipeline.extract.article import ExtractedArticle
from pipeline.extract.flatten import html_to_text_dump, markup_too_deep, shallow_markup
from pipeline.extract.html import extract_html, looks_like_article
from pipeline.extract.textdump import clean_text_dump
from pipeline.record import Document

__all__ = ["ExtractedArticle", "clean_text_dump", "extract_document", "extract_html", "html_to_text_dump"]

logger = logging.getLogger(__name__)

NO_ARTICLE_DETAIL = (
    "No article text was found: the page holds only navigation, links or boilerplate; "
    "check that the file is a saved article page rather than an index, menu or error page."
)
_HTML_SNIFF = re.compile(r"<(?:!doctype html|html|head|body|div|p|article)\b", re.I)


def _extract(raw: str, content_format: str | None) -> ExtractedArticle:
    is_html = content_format == "html" or (content_format is None and bool(_HTML_SNIFF.search(raw[:2000])))
    if not is_html:
        return clean_text_dump(raw)
    try:
        article = extract_html(raw)
        if (not article.text or not looks_like_article(article.text)) and markup_too_deep(raw):
            return extract_html(shallow_markup(raw))
        return article
    except Exception:  # a parser bug must not stop the batch: fall back to the flattened page
        logger.warning("HTML extraction failed, falling back to the text-dump cleaner", exc_info=True)
        return clean_text_dump(html_to_text_dump(shallow_markup(raw)))


def no_article_detail(doc: Document) -> str:
    """Why nothing was found; for a fetched page, also how its bytes were read, since a page read
    in the wrong encoding is garbled text that no extractor takes for an article."""
    if not doc.encoding_origin:
        return NO_ARTICLE_DETAIL
    return (
        f"No article text was found in the page: it holds only navigation, links or boilerplate, or its text is garbled. "
        f"It was decoded as {doc.encoding} ({doc.encoding_origin}): if that is the wrong encoding, tell the site's owner."
    )


def extract_document(doc: Document) -> Document:
    """Fill the article fields of `doc`, or reject it as `no_article`; never raises."""
    if doc.rejected:
        return doc
    try:
        article = _extract(doc.raw_text or "", doc.content_format)
    except Exception as error:
        logger.warning("extraction failed for %s", doc.source_path, exc_info=True)
        return doc.reject("extract_failed", f"The extractor failed on this file ({type(error).__name__}: {error}); report it with the file attached.")
    if not article.text or not looks_like_article(article.text):
        return doc.reject("no_article", no_article_detail(doc))
    # What the page says wins; what the document already knew (a feed entry's title and date, a
    # fetched page's canonical URL) fills in what it does not say.
    return doc.replace(
        text=article.text,
        title=article.title or doc.title,
        author=article.author or doc.author,
        published_at=article.published_at or doc.published_at,
        site_name=article.site_name or doc.site_name,
        source_url=doc.source_url or article.source_url,
    )
