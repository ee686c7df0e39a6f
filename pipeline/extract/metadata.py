"""Title, author, date, source URL and site name, from HTML head markup or from dump lines."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from lxml import etree

from pipeline.extract.dates import find_dates, parse_iso_datetime
from pipeline.extract.lines import BYLINE, URL

_SOURCE_LABEL = (
    r"(?:source|sources|sumber|fuente|quelle|fonte|bron|origin|original(?: article| url| link)?|source url|url"
    r"|link|permalink|canonical(?: url)?|retrieved from|diambil dari|artikel asli|read (?:the )?original)"
)
_SOURCE_LINE = re.compile(
    r"^(?:" + _SOURCE_LABEL + r"\s*[:\-–—]?\s*)?[\"“'<(]?(?P<url>https?://[^\s\"”'<>)]+)[\"”'>)]?\.?$", re.I
)
_LABELLED_AUTHOR = re.compile(
    r"^(?:author|authors|writer|written by|reporter|reporting by|penulis|pewarta|autor|autora|auteur|autore"
    r"|verfasser|auteur|texto|text)\s*[:\-–—]\s*(?P<name>[^\d|,;:]{3,60}?)\s*(?:[|,;].*)?$",
    re.I,
)
# "Jayanty Nada Shofa, Jakarta – Indonesia and ..." : a reporter's name and a city before the dash
_DATELINE_AUTHOR = re.compile(
    r"^(?P<name>[A-Z][\w'’.-]+(?: [A-Z][\w'’.-]+){1,4}), (?P<place>[A-Z][\w'’.-]+(?: [A-Z][\w'’.-]+)?) ?[–—-]{1,2} "
)
# "Jakarta, IDN Times - ...", "SEOUL, Aug. 20 (Yonhap) -- ...", "WASHINGTON (Reuters) - ..."
_DATELINE_OUTLET = re.compile(
    r"^[A-Z][\w'’.-]+(?: [A-Z][\w'’.-]+)?(?:, [^()–—-]{0,20})?"
    r"(?:\s*\((?P<paren>[A-Z][\w.&' ]{1,30})\)|, (?P<outlet>[A-Z][\w.]*(?: [A-Z][\w.]*){0,3}))\s*[–—-]{1,2} "
)


def title_key(text: str) -> str:
    """Comparison key: lower case letters and digits only."""
    return "".join(c for c in text.casefold() if c.isalnum())


def source_url_line(line: str) -> str | None:
    """The URL when `line` is only a (labelled) link such as "Source: https://...", else None."""
    if len(line) > 600:
        return None
    match = _SOURCE_LINE.match(line.strip())
    return match.group("url").rstrip(".,;") if match else None


def site_name_from_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return re.sub(r"^(?:www\d?|m|amp|mobile)\.", "", host)


def site_name_from_dateline(paragraph: str) -> str | None:
    match = _DATELINE_OUTLET.match(paragraph)
    if not match:
        return None
    outlet = match.group("paren") or match.group("outlet")
    if outlet and not find_dates(outlet) and len(outlet.split()) <= 4:
        return outlet.strip()
    return None


def _clean_name(name: str) -> str | None:
    name = re.sub(r"\s+", " ", name).strip(" ,.;:-–—|")
    if not 3 <= len(name) <= 80 or URL.search(name) or "@" in name:
        return None
    return name


def author_from_text(head: list[str], paragraphs: list[str]) -> str | None:
    """A byline near the top ("By ...", "Penulis: ...") or a "Name, City –" dateline."""
    for line in reversed(head):
        for pattern in (BYLINE, _LABELLED_AUTHOR):
            match = pattern.match(line)
            if match and len(line) <= 120:
                name = _clean_name(match.group("name"))
                if name:
                    return name
    for line in paragraphs[:2]:
        match = _DATELINE_AUTHOR.match(line)
        if match and not match.group("name").isupper():
            return _clean_name(match.group("name"))
    return None


def date_from_text(head: list[str], paragraphs: list[str]) -> datetime | None:
    """The date nearest above the body, else the first date in the opening paragraphs."""
    for line in reversed(head):
        mentions = find_dates(line)
        if mentions and len(line) <= 200:
            return mentions[0].value
    for paragraph in paragraphs[:2]:
        mentions = find_dates(paragraph)
        if mentions:
            return mentions[0].value
    return None


# ---------------------------------------------------------------------------- HTML


@dataclass(frozen=True)
class HtmlMetadata:
    title: str | None = None
    headline: str | None = None  # first substantial <h1>
    author: str | None = None
    published_at: datetime | None = None
    site_name: str | None = None
    url: str | None = None


_TITLE_SEPARATORS = re.compile(r"\s+(?:\||-{1,2}|–|—|::|»|·|/|•)\s+|\s*\|\s*")
_PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "article:published", "datepublished",
    "date", "pubdate", "publishdate", "publish-date", "publish_date", "dc.date.issued", "dc.date",
    "dcterms.created", "dcterms.date", "sailthru.date", "parsely-pub-date", "og:published_time",
    "article.published", "published_time", "originalpublicationdate", "cxenseparse:recs:publishtime",
)


def _meta_map(tree: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        value = (meta.get("content") or "").strip()
        if key and value and key not in found:
            found[key] = value
    return found


def _json_ld_objects(tree: etree._Element) -> list[dict]:
    objects: list[dict] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                objects.append(item)
                if "@graph" in item:
                    stack.append(item["@graph"])
    return objects


def _ld_name(value) -> str | None:
    if isinstance(value, list):
        names = [n for n in (_ld_name(v) for v in value) if n]
        return ", ".join(dict.fromkeys(names)) or None
    if isinstance(value, dict):
        value = value.get("name")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _text_of(element: etree._Element) -> str:
    return re.sub(r"\s+", " ", "".join(element.itertext())).strip()


def html_metadata(tree: etree._Element) -> HtmlMetadata:
    """Metadata from <meta> tags, JSON-LD, <title>, <h1>, <time> and the canonical link."""
    meta = _meta_map(tree)
    articles = [o for o in _json_ld_objects(tree) if "headline" in o or "datePublished" in o]
    article = articles[0] if articles else {}

    title_element = next(tree.iter("title"), None)
    title = meta.get("og:title") or meta.get("twitter:title") or _ld_name(article.get("headline"))
    if not title and title_element is not None:
        title = _text_of(title_element)
    headline = None
    for h1 in list(tree.iter("h1"))[:3]:
        text = _text_of(h1)
        if len(text) >= 6:
            headline = text
            break

    author = _ld_name(article.get("author")) or meta.get("author") or meta.get("parsely-author")
    author = meta.get("article:author") if not author and not URL.match(meta.get("article:author", "x://")) else author
    author = author if author and not URL.match(author) else None

    published = parse_iso_datetime(article.get("datePublished")) if isinstance(article.get("datePublished"), str) else None
    for key in _PUBLISHED_META:
        if published is None and key in meta:
            published = parse_iso_datetime(meta[key])
    if published is None:
        time_element = next((t for t in tree.iter("time") if t.get("datetime")), None)
        if time_element is not None:
            published = parse_iso_datetime(time_element.get("datetime"))

    site_name = meta.get("og:site_name") or meta.get("application-name") or _ld_name(article.get("publisher"))
    url = meta.get("og:url")
    for link in tree.iter("link"):
        if (link.get("rel") or "").lower() == "canonical" and (link.get("href") or "").startswith("http"):
            url = link.get("href")
            break
    if url and not url.startswith("http"):
        url = None
    return HtmlMetadata(title, headline, _clean_name(author) if author else None, published, site_name, url)


def _is_site_part(part: str, site_keys: list[str]) -> bool:
    key = title_key(part)
    return bool(key) and any(key == s or (len(key) >= 3 and (key in s or s in key)) for s in site_keys if s)


def clean_title(title: str | None, site_names: list[str | None] = ()) -> str | None:
    """Drop a site-name suffix or prefix (" | CNN", "Site - ") and breadcrumb trails from a title."""
    if not title:
        return None
    title = re.sub(r"\s+", " ", title).strip()
    site_keys = []
    for name in site_names:
        if name:
            site_keys.append(title_key(name))
            host = site_name_from_url(name) if "." in name else None
            if host:
                site_keys.append(title_key(host.rsplit(".", 1)[0].split(".")[-1]))
    parts = [p for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if len(parts) > 1:
        while len(parts) > 1 and _is_site_part(parts[-1], site_keys):
            parts.pop()
        while len(parts) > 1 and _is_site_part(parts[0], site_keys):
            parts.pop(0)
        if len(parts) > 1:
            longest = max(parts, key=len)
            others_short = all(len(p.split()) <= 5 or len(p) <= 30 for p in parts if p is not longest)
            if others_short:
                parts = [longest]
        title = " - ".join(parts) if len(parts) > 1 else parts[0]
    else:
        for key in site_keys:
            # a site suffix glued with a bare dash: "Headline-Xinhua"
            match = re.match(r"^(.{6,}?)\s*[-_–—|]\s*(\S{2,30})$", title)
            if key and match and title_key(match.group(2)) == key:
                title = match.group(1)
                break
    # a photo credit glued to the headline: "Headline（写真＝ロイター）", "Headline (Photo: AP)"
    title = re.sub(r"\s*[（(](?:写真|照片|photo|foto|picture|video|動画|视频)[^)）]{0,40}[)）]$", "", title, flags=re.I)
    return title.strip(" -–—|:") or None
