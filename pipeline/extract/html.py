"""Article extraction from HTML: trafilatura first, then ever simpler fallbacks.

Order, measured on the development pages: trafilatura with `favor_precision` (fewer
teasers and comment blocks), without its fallback extractors unless it keeps little of the
page's paragraph text, trafilatura's default
(when precision cut too much), trafilatura's `baseline`, and last the page flattened to a
text dump and cleaned by the text-dump cleaner. The first result that reads like an article wins.
"""

from __future__ import annotations

import functools
import logging
import re

import lxml.html
import trafilatura
from lxml import etree
from htmldate import find_date
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document
from trafilatura.utils import load_html

from pipeline.extract.article import ExtractedArticle
from pipeline.extract.dates import parse_iso_datetime
from pipeline.extract.flatten import html_to_text_dump
from pipeline.extract.lines import LineEvidence
from pipeline.extract.metadata import HtmlMetadata, clean_title, html_metadata, site_name_from_url, title_key
from pipeline.extract.textdump import clean_text_dump, strip_citation_marks
from pipeline.record import join_paragraphs, split_paragraphs

logger = logging.getLogger(__name__)

PLACEHOLDER_AUTHORS = frozenset({"submitted", "admin", "administrator", "staff", "editor", "redaksi", "anonymous", "guest"})
# Below this many approximate words a result is "very little" and the next method is tried.
MIN_ARTICLE_UNITS = 40
# Precision mode may drop real paragraphs; when it keeps less than this share of the
# default result, the default result is used.
MIN_PRECISION_SHARE = 0.3
# Below this share of the baseline's text, precision mode may have dropped paragraphs: check
# it against the default pass. On the dev pages it fires on 4 of 23 and never changes the result.
RECALL_PROBE_SHARE = 0.6
# Below this share of the baseline's text, the fast precision pass is redone in full (with
# trafilatura's readability/jusText comparison). Chosen on the tune half of the development
# pages (workbench/extraction_eval.py): there the fast pass loses text only on webmd-1/2, where it
# keeps nothing (F1 0.964/0.957 against 0.992 in full); the full pass restores
# them at any share above 0; the recall probe's own 0.6 is kept (no new figure fitted), and the
# full pass then runs on 6 of the 35 tune pages. The page's text is its paragraphs and its
# <br>-separated lines: where the article is lines in a <div> after a <p> lead, the fast pass
# keeps the lead alone (tests/pipeline/extract/test_html.py).
FULL_PASS_SHARE = RECALL_PROBE_SHARE
# Precision mode already keeps an article, and at least this share of the page's paragraph text
# (baseline and <br> lines): the default pass is not run, since it only wins when precision keeps
# under MIN_PRECISION_SHARE of it. Chosen on the tune half (its development pages and the
# benchmark corpus's variants of them): the smallest share at which no page the default pass
# wins is skipped (0.3 skipped 4 such pages, 0.35 two); it skips the default pass on 49 of the
# 125 tune variants that ran it, and on the check half on 25 of 71, none of them a page it wins.
DEFAULT_PASS_SKIP_SHARE = 0.4


@functools.lru_cache(maxsize=16)
def _units(text: str) -> float:
    """Cached: `_body` weighs each pass's text against several others (about ten times a page)."""
    return LineEvidence(text).units if text else 0.0


def looks_like_article(text: str) -> bool:
    """Some running prose, not only headings and links (read only as far as it takes to tell)."""
    units, start = 0.0, 0
    while start <= len(text):
        end = text.find("\n\n", start)
        end = len(text) if end < 0 else end
        paragraph = text[start:end]
        if paragraph.strip() and LineEvidence(paragraph).prose:
            units += _units(paragraph)
            if units >= 15:
                return True
        start = end + 2
    return False


def _paragraphs_from_lines(text: str | None) -> str:
    """trafilatura separates blocks with one newline; the contract wants a blank line."""
    if not text:
        return ""
    return join_paragraphs(strip_citation_marks(line) for line in text.split("\n"))


def _trafilatura_text(html: str | etree._Element, url: str | None, **options) -> str:
    try:
        document = trafilatura.bare_extraction(
            html, url=url, with_metadata=False, include_comments=False, include_tables=True, **options
        )
    except Exception as error:  # trafilatura raises assorted parser errors on broken markup
        logger.debug("trafilatura failed: %s", error)
        return ""
    if document is None:
        return ""
    return _paragraphs_from_lines(getattr(document, "text", None))


def _baseline_text(html: str | etree._Element) -> str:
    try:
        _, text, _ = trafilatura.baseline(html)
    except Exception as error:
        logger.debug("trafilatura baseline failed: %s", error)
        return ""
    return _paragraphs_from_lines(text)


def _load(html: str) -> etree._Element | None:
    """trafilatura's own parse of the page (encoding, repairs), made once: each pass below works on
    a copy of it rather than parsing the page again."""
    try:
        return load_html(html)
    except Exception as error:
        logger.debug("trafilatura could not parse the page: %s", error)
        return None


def _line_broken_text(tree: etree._Element | None) -> str:
    """Text set off by <br> outside any <p>: articles written as lines in a <div>, which
    trafilatura's baseline (paragraph text) does not count."""
    if tree is None:
        return ""
    lines = []
    for br in tree.iter("br"):
        tail = (br.tail or "").strip()
        if tail and not any(ancestor.tag == "p" for ancestor in br.iterancestors()):
            lines.append(tail)
    return "\n\n".join(lines)


def _body(html: str, url: str | None, tree: etree._Element | None) -> str:
    page = html if tree is None else tree
    # `fast`: without trafilatura's comparison against readability and jusText (a third of a
    # pass). Where it keeps much less than the page's paragraphs, trafilatura's own extractor
    # may have missed the article, which that comparison exists to find: the full pass runs.
    # The full pass only where the fast one kept no article, or kept less than the page's
    # <br>-separated lines (a lead alone): on the tune half it changed the text nowhere else (on
    # the benchmark corpus it ran on 211 of 591 pages and changed 20, 19 of them pages where the
    # fast pass kept no article).
    precise = _trafilatura_text(page, url, favor_precision=True, fast=True)
    baseline = _baseline_text(page)
    line_units = _units(_line_broken_text(tree))
    page_units = _units(baseline) + line_units
    precise_is_article = _units(precise) >= MIN_ARTICLE_UNITS and looks_like_article(precise)
    if _units(precise) < FULL_PASS_SHARE * page_units and (not precise_is_article or _units(precise) < FULL_PASS_SHARE * line_units):
        precise = _trafilatura_text(page, url, favor_precision=True)
        precise_is_article = _units(precise) >= MIN_ARTICLE_UNITS and looks_like_article(precise)
    # trafilatura's baseline (all paragraph text, about a fifth of a full pass) is the cheap
    # recall probe: only when precision mode keeps much less than it is the default pass worth running.
    if precise_is_article and _units(precise) >= RECALL_PROBE_SHARE * _units(baseline):
        return precise
    if precise_is_article and _units(precise) >= DEFAULT_PASS_SKIP_SHARE * page_units:
        return precise
    default = _trafilatura_text(page, url)
    if precise_is_article and _units(precise) >= MIN_PRECISION_SHARE * _units(default):
        return precise
    if _units(default) >= MIN_ARTICLE_UNITS and looks_like_article(default):
        return default
    candidates = [precise, default, baseline, clean_text_dump(html_to_text_dump(html)).text]
    articles = [c for c in candidates if c and looks_like_article(c)]
    if not articles:
        return ""
    enough = [c for c in articles if _units(c) >= MIN_ARTICLE_UNITS]
    return enough[0] if enough else max(articles, key=_units)


def _parse(html: str) -> etree._Element | None:
    for payload in (html, html.encode("utf-8", "replace")):
        try:
            return lxml.html.document_fromstring(payload)
        except (etree.ParserError, ValueError):
            continue
    return None


def _choose_title(meta: HtmlMetadata, trafilatura_title: str | None, site_names: list[str | None]) -> str | None:
    candidates = [meta.title, trafilatura_title]
    cleaned = [clean_title(c, site_names) for c in candidates if c]
    if meta.headline:
        # the page's <h1> is the clean headline when the <title> agrees with it
        headline_key = title_key(meta.headline)
        for candidate in candidates:
            if candidate and headline_key and headline_key in title_key(candidate):
                return clean_title(meta.headline, site_names)
    return next((c for c in cleaned if c), None) or (clean_title(meta.headline, site_names) if meta.headline else None)


def _drop_leading_title(text: str, titles: list[str | None]) -> str:
    """The headline is metadata, not the first paragraph of the body."""
    paragraphs = list(split_paragraphs(text))
    keys = {title_key(t) for t in titles if t}
    if len(paragraphs) > 1 and title_key(paragraphs[0]) in keys:
        paragraphs = paragraphs[1:]
    return join_paragraphs(paragraphs)


def _needs_trafilatura_metadata(meta: HtmlMetadata, url: str | None) -> bool:
    """Whether trafilatura's metadata could change the result: the page's own tags leave a field
    open, or its <h1> is not in its <title> (trafilatura's title may hold it)."""
    if not (meta.author and meta.published_at and meta.site_name and meta.title and (meta.url or url)):
        return True
    return bool(meta.headline) and title_key(meta.headline) not in title_key(meta.title)


# The page's own <meta>/JSON-LD dates come first; htmldate's extensive search over the whole
# page costs more than the rest of extraction and only fills gaps.
FAST_DATE_SEARCH = {"extensive_search": False, "original_date": True}


def _trafilatura_metadata(tree: etree._Element, url: str | None, meta: HtmlMetadata) -> Document | None:
    """trafilatura's `extract_metadata`, step for step, for the fields `extract_html` reads (title,
    author, URL, site name, date), and of those only the ones the page's own tags left open:
    its author search (a copy of the tree, pruned) and its date search cost most of it, and its
    categories, tags and licence were read for nothing (skipping them cut its time by more than
    half on the benchmark corpus's pages; tests/pipeline/extract/test_html.py compares the fields
    with `extract_metadata`'s on every development page)."""
    try:
        found = examine_meta(tree)
        if found.author and " " not in found.author:
            found.author = None
        try:
            found = extract_meta_json(tree, found)
        except Exception as error:  # bugs in trafilatura's json_metadata.py
            logger.debug("trafilatura JSON metadata failed: %s", error)
        if not found.title:
            found.title = extract_title(tree)
        if not found.author and not meta.author:
            found.author = extract_author(tree)
        if not found.url:
            found.url = extract_url(tree, url)
        if meta.published_at is None:
            found.date = find_date(tree, **FAST_DATE_SEARCH, url=found.url)
        if not found.sitename:
            found.sitename = extract_sitename(tree)
        if found.sitename:
            found.sitename = found.sitename.lstrip("@")
            if found.sitename and "." not in found.sitename and not found.sitename[0].isupper():
                found.sitename = found.sitename.title()
        elif found.url:
            site = META_URL.match(found.url)
            if site:
                found.sitename = site[1]
        found.clean_and_trim()
        return found
    except Exception as error:  # the same assorted parser errors as the text passes
        logger.debug("trafilatura metadata failed: %s", error)
        return None


def extract_html(html: str, *, url: str | None = None) -> ExtractedArticle:
    """The article in an HTML page, with its metadata; never raises on bad markup."""
    if not html or not html.strip():
        return ExtractedArticle(text="")
    loaded = _load(html)
    text = _body(html, url, loaded)
    tree = loaded if loaded is not None else _parse(html)
    meta = html_metadata(tree) if tree is not None else HtmlMetadata()
    # trafilatura's metadata search costs a fifth of a page's extraction: only for what the page's
    # own tags leave open (the text passes above worked on copies, so the tree is as parsed).
    document = _trafilatura_metadata(loaded, url, meta) if loaded is not None and _needs_trafilatura_metadata(meta, url) else None
    source_url = meta.url or getattr(document, "url", None) or url
    site_name = meta.site_name or getattr(document, "sitename", None) or site_name_from_url(source_url)
    title = _choose_title(meta, getattr(document, "title", None), [site_name, source_url])
    text = _drop_leading_title(text, [title, meta.headline, meta.title])
    author = meta.author or getattr(document, "author", None)
    published_at = meta.published_at
    if published_at is None and getattr(document, "date", None):
        published_at = parse_iso_datetime(document.date)
    if author:
        author = re.sub(r"\s*;\s*", ", ", author).strip()
        author = None if author.lower() in PLACEHOLDER_AUTHORS else author
    return ExtractedArticle(
        text=text,
        title=title,
        author=author,
        published_at=published_at,
        site_name=site_name,
        source_url=source_url,
    )
