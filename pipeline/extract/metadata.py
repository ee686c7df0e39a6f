"""Title, author, date, source URL and site name, from HTML head markup or from dump lines."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from lxml import etree

from pipeline.extract.dates import MONTHS, find_dates, parse_iso_datetime
from pipeline.extract.lines import URL, LineEvidence
from pipeline.extract.vocabulary import NAVIGATION_WORDS, STOPWORDS

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


# A byline's words before the name: "By", "Written by", "Oleh", "Reporting by" ..., or a label with
# its colon ("Penulis: ", "Author - ") or alone on its line (the name below). A label word and a
# capital without the colon is a headline's start: "Authors Guild Sues ...".
_BYLINE_LEAD = re.compile(
    r"^(?:(?:(?:written|reported|reporting|posted|words|story|text|ditulis|dilaporkan)\s+(?:by|oleh)"
    r"|by|oleh|por|par|von|door|di)\b\s*[:\-–—]?\s*"
    r"|(?:author|authors|writer|reporter|penulis|pewarta|autor|autora|auteur|autore|verfasser)(?:\s*[:\-–—]\s*|\s*$))",
    re.I,
)
_NAME_PARTICLES = frozenset("de da das do dos del della di van von der den du la le bin binti al el ibn".split())
_NAME_TOKEN = re.compile(r"^[^\W\d_][\w'’.-]*$")
# "X is a lecturer in ...", "X adalah dosen ...", "X covers the White House.": the note that closes an op-ed
_AUTHOR_NOTE_VERB = re.compile(r"^(?:is|was|adalah|merupakan|ialah|ist|est|es|é|covers|writes|reports|teaches)\b", re.I)
_AUTHOR_NOTE_ROLE = re.compile(
    r"\b(?:lecturer|professor|journalist|reporter|correspondent|researcher|writer|editor|columnist|analyst|fellow"
    r"|director|student|author|contributor|economist|scholar|lawyer|historian|scientist|teacher|founder|blogger"
    r"|freelance|photographer|producer|covers|writes|reports|teaches|dosen|peneliti|wartawan|jurnalis|penulis"
    r"|mahasiswa|pengajar|kolumnis|analis|pengamat|direktur|pendiri|guru besar|redaktur|kontributor|aktivis)\b",
    re.I,
)
_NOTE_SEARCH_LINES = 12
# "By A, B and C": every name, joined by ", " as the HTML path joins its authors
MAX_BYLINE_NAMES = 6
_NEXT_NAME = re.compile(r"^(?:,\s*(?:and\s+|dan\s+|y\s+|et\s+|und\s+|e\s+|en\s+)?|(?:and|dan|y|et|und|e|en|&)\s+)")
_NICKNAME_QUOTES = "\"“”'‘’"
# "Written by" over or before the name closes many blog and magazine pages; a bare "By ..." after
# the article is more often a teaser of another story.
_CLOSING_BYLINE = re.compile(r"^(?:written|ditulis)\s+(?:by|oleh)\b", re.I)
_BYLINE_AFTER_NAME = re.compile(
    r"^(?:[,|/•·@(\[–—-]|(?:and|dan|y|et|und|e|en|&|with|dengan)\s|(?:follow|updated|published|posted|diperbarui)\b"
    r"|(?:" + "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True)) + r")\b\.?\s*\d)",
    re.I,
)


def _name_span(text: str, min_words: int = 1) -> tuple[str, str] | None:
    """The person's name that `text` starts with, and the text after it: capitalised words (and
    particles such as "van") up to a date, a handle, a second name ("and", ",") or lower-case text."""
    tokens = text.replace("\u00a0", " ").split()
    name: list[str] = []
    after = ""
    for index, token in enumerate(tokens):
        word = token.rstrip(",;:|")
        if name and word.lower().rstrip(".") in MONTHS:
            after = " ".join(tokens[index:])
            break
        core = word.strip(_NICKNAME_QUOTES) if name else word  # 'Amanda "Tania Mae" Tan'
        if _NAME_TOKEN.match(core) and (core[0].isupper() or (name and core.lower() in _NAME_PARTICLES)):
            name.append(word)
            if word != token or len(name) == 6:
                after = " ".join([token[len(word):], *tokens[index + 1 :]]).strip()
                break
            continue
        after = " ".join(tokens[index:])
        break
    while name and name[-1].lower() in _NAME_PARTICLES:
        after = name.pop() + " " + after
    if len(name) < min_words or name[0].lower() in STOPWORDS:
        return None
    if any(word.lower() in NAVIGATION_WORDS for word in name):
        return None
    joined = " ".join(name)
    if joined.isupper() and len(joined) > 3:  # "By JEFFREY GETTLEMAN JAN. 13, 2017"
        joined = " ".join(part[:1] + part[1:].lower() for part in name)
    joined = _clean_name(joined)
    return (joined, after.strip()) if joined else None


def _byline_name(line: str) -> str | None:
    """The names in a byline line with its lead words ("By A and B March 18 at 3:57 PM" -> "A, B")."""
    if len(line) > 160:
        return None
    lead = _BYLINE_LEAD.match(line)
    if not lead or lead.end() == len(line) or (not line[lead.end() - 1].isspace() and line[lead.end() - 1] not in ":-–—"):
        return None
    span = _name_span(line[lead.end():])
    if not span:
        return None
    name, after = span
    # what follows the name is another name, a role, a date or a handle, never the rest of a
    # sentence ("Di Jakarta, pemerintah ..." is no byline)
    if after and not _BYLINE_AFTER_NAME.match(after) and not find_dates(after):
        return None
    if after[:1] == "," and after[1:].strip()[:1].islower() and len(after[1:].split()) > 4:
        return None  # a clause, not a role: "Di Jakarta, pemerintah menyatakan bahwa ..."
    names = [name]
    while len(names) < MAX_BYLINE_NAMES and (more := _NEXT_NAME.match(after)):
        span = _name_span(after[more.end():], min_words=2)
        if not span:
            break
        names.append(span[0])
        after = span[1]
    return ", ".join(names)


def is_byline(line: str) -> bool:
    """A byline line as `author_from_text` reads one: "By A March 18", "Written by", "Penulis: B"."""
    return bool(_byline_name(line) or _is_byline_label(line) or (_LABELLED_AUTHOR.match(line) and len(line) <= 120))


def opens_with_dateline(paragraph: str) -> bool:
    """Whether a paragraph opens with a dateline: "Jakarta, IDN Times - ", "Jayanty Nada Shofa, Jakarta – "."""
    return bool(_DATELINE_AUTHOR.match(paragraph) or _DATELINE_OUTLET.match(paragraph))


def _is_byline_label(line: str) -> bool:
    """A byline's lead alone on its line ("Written by", "Oleh:"), the name on the next one."""
    lead = _BYLINE_LEAD.match(line)
    return bool(lead) and lead.end() == len(line) and len(line) <= 20


def author_note_name(line: str) -> str | None:
    """The author's name in a closing note: "Aniello Iannone is a lecturer in Southeast Asian
    Politics, ...", "Budi Santoso adalah peneliti di ...", "Steven Mufson covers the White House."."""
    if len(line) > 700:
        return None
    span = _name_span(line, min_words=2)
    if not span or not line.startswith(span[0]):
        return None
    name, rest = span
    verb = _AUTHOR_NOTE_VERB.match(rest)
    if not verb or not _AUTHOR_NOTE_ROLE.search(rest[: verb.end() + 60]):
        return None
    return name


def _name_beside_date(head: list[str], i: int) -> str | None:
    """A line that is only a person's name (two to four words) right above or below the article's
    date line ("John C. Welch" over "Oct 15, 2015 · 18 min read")."""
    span = _name_span(head[i], min_words=2)
    if not span or span[1] or len(span[0].split()) > 4:
        return None
    beside = [head[j] for j in (i - 1, i + 1) if 0 <= j < len(head)]
    if any(LineEvidence(line).date_only for line in beside):
        return span[0]
    return None


def author_from_text(head: list[str], paragraphs: list[str], tail: list[str] = ()) -> str | None:
    """The author a reader sees in a dump: a byline near the top ("By ...", "Penulis: ...", "Written
    by" over the name), a "Name, City –" dateline, or the note that closes an op-ed ("X is a
    lecturer at ...", in the last paragraphs or just after them)."""
    for i in range(len(head) - 1, -1, -1):
        line = head[i]
        match = _LABELLED_AUTHOR.match(line)
        if match and len(line) <= 120:
            name = _clean_name(match.group("name"))
            if name:
                return name
        name = _byline_name(line)
        if name:
            return name
        if _is_byline_label(line) and i + 1 < len(head):
            span = _name_span(head[i + 1], min_words=2)
            if span and not span[1]:
                return span[0]
    for i in range(len(head) - 1, -1, -1):
        name = _name_beside_date(head, i)
        if name:
            return name
    for line in paragraphs[:2]:
        match = _DATELINE_AUTHOR.match(line)
        if match and not match.group("name").isupper():
            return _clean_name(match.group("name"))
    closing = [*paragraphs[-3:], *tail[:_NOTE_SEARCH_LINES]]
    for i, line in enumerate(closing):
        name = author_note_name(line)
        if name:
            return name
        if _CLOSING_BYLINE.match(line):
            name = _byline_name(line)
            span = _name_span(closing[i + 1], min_words=2) if not name and _is_byline_label(line) and i + 1 < len(closing) else None
            name = name or (span[0] if span and not span[1] else None)
            if name:
                return name
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
