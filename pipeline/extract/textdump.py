"""Boilerplate line cleaner for plain-text page dumps (a web page copied as text).

The dump holds the article and everything around it: menus, breadcrumbs, share widgets,
summary boxes, teaser lists, comment forms, contact blocks. Each line is judged on
evidence (length, sentence shape, function words, navigation vocabulary, contact/date/URL
patterns), then the article is taken as the densest run of prose lines (a maximum-sum
segment over line weights), so short lines between paragraphs survive as subheadings while
runs of chrome before and after the article are cut.

A dump longer than LARGE_DUMP_CHARS is not a copy of a news page (those are at most a few
hundred KB) but a long text, and is read in windows so time and memory stay linear in its
size: only the first and last EDGE_CHARS, where page chrome lives, are judged line by line as
above (the article starts where the best run of prose reaching into the middle starts, and ends
where the best run leaving it ends); everything between is kept, window by window, as
paragraphs with the same normalisation (NFC, no zero-width characters, runs of spaces
collapsed, citation marks removed; hard-wrapped lines joined when the edges are hard-wrapped),
without per-line evidence. Repeated lines and link lists inside the middle are therefore
kept, and a "Source: <url>" line counts only in the edges. Each paragraph becomes a warehouse row,
so a long text's paragraphs are bounded in number and size: a block (an edge's body, a window)
whose paragraphs average fewer than MIN_MEAN_PARAGRAPH_CHARS has them joined, by a line break, into
paragraphs of at least that many characters (a text of a million short lines is not a million
paragraphs), and a paragraph longer than MAX_PARAGRAPH_CHARS is cut at a space. A text without line
breaks is cut at spaces instead.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from dataclasses import dataclass

from pipeline.extract.article import ExtractedArticle
from pipeline.extract.dates import find_dates
from pipeline.extract.lines import ZERO_WIDTH, LineEvidence, ends_sentence, normalise_line
from pipeline.extract.metadata import (
    author_from_text,
    date_from_text,
    is_byline,
    opens_with_dateline,
    site_name_from_dateline,
    site_name_from_url,
    source_url_line,
    title_key,
)
from pipeline.extract.vocabulary import STOPWORDS
from pipeline.record import PARAGRAPH_SEPARATOR, join_paragraphs

SECTION_BREAK_WEIGHT = -40.0
SHORT_LINE_WEIGHT = -3.0
BOILERPLATE_WEIGHT = 10.0
# A run of this many consecutive non-prose lines inside the article is a list of links, not text.
MENU_RUN = 3
TITLE_SEARCH_LINES = 40
# A byline is looked for above the body and among the lines left out before its third paragraph.
BYLINE_SEARCH_PARAGRAPHS = 2
_CITATION_MARK = r"\[(?:\d{1,3}|[a-z][^\[\]\n]{0,40}|citation needed)\]"
# Marks glued to a word: "[" then a look back at the character before it, so the regex engine
# can jump from one "[" to the next instead of testing the look-behind at every character.
_CITATION_MARKS = re.compile(r"\[(?<=[^\s\[]\[)" + _CITATION_MARK[2:] + "(?:" + _CITATION_MARK + ")*")
BYLINE_LIKE = re.compile(r"^(?:\w+ )?(?:by|oleh|por|par|von|door|di)\s+[A-Z]|^\d+\s*(?:min|minute|menit|minuto|minuten)s?\b", re.I)
# A headline may end in an abbreviation: "... What's Underneath N.Y.C.", "... in the U.S."
_ABBREVIATION_END = re.compile(r"(?:^|[\s.])[A-Z]\.$")
_MID_SENTENCE_END = re.compile(r"[.!?]\s+[\(\w]")
PHOTO_CREDIT = re.compile(r"\b(?:images?|photo\w*|foto\w*|getty|reuters|afp|ap|epa|shutterstock|credit)\b|/", re.I)
_PARENTHETICAL_TAIL = re.compile(r"^\s*[\(\[（].{0,150}[\)\]）]\s*$")
# Above this many characters a dump is a long text, not a page copy: windowed mode.
LARGE_DUMP_CHARS = 1_000_000
# How much of a large dump's start and end is judged line by line (page chrome lives there).
EDGE_CHARS = 100_000
# The middle of a large dump is normalised this many characters at a time.
WINDOW_CHARS = 1_000_000
# A large dump's paragraphs (see above): at least this long on average, at most this long.
MIN_MEAN_PARAGRAPH_CHARS = 100
MAX_PARAGRAPH_CHARS = 100_000
_SPACE = re.compile(r"\s")


@dataclass
class DumpLine:
    text: str
    blank_before: bool
    evidence: LineEvidence
    repeated: bool = False  # the same text occurs elsewhere (a title printed twice, a breadcrumb)


def _read_lines(text: str) -> list[DumpLine]:
    lines: list[DumpLine] = []
    blank = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = normalise_line(raw)
        if not line:
            blank = True
            continue
        lines.append(DumpLine(line, blank, LineEvidence(line)))
        blank = False
    return lines


def _is_hard_wrapped(lines: list[DumpLine]) -> bool:
    """Fixed-width text: nearly every long line stops at about the same width."""
    long_lines = [len(line.text) for line in lines if len(line.text) >= 40]
    return len(long_lines) >= 4 and sum(n <= 100 for n in long_lines) >= 0.9 * len(long_lines)


def _unwrap(lines: list[DumpLine], hard_wrapped: bool | None = None) -> list[DumpLine]:
    """Join hard-wrapped lines (fixed-width text) back into paragraphs."""
    if not (_is_hard_wrapped(lines) if hard_wrapped is None else hard_wrapped):
        return lines
    out: list[DumpLine] = []
    for line in lines:
        previous = out[-1] if out else None
        if (
            previous is not None
            and not line.blank_before
            and len(previous.text) >= 45
            and not previous.evidence.terminal
            and not previous.text.endswith(":")
            and line.text[:1].islower()
        ):
            joined = previous.text + " " + line.text
            out[-1] = DumpLine(joined, previous.blank_before, LineEvidence(joined))
        else:
            out.append(line)
    return out


def _drop_repeats(lines: list[DumpLine]) -> list[DumpLine]:
    """Keep the first of repeated lines; drop breadcrumb-glued titles and doubled captions."""
    keys = [title_key(line.text) for line in lines]
    drop: set[int] = set()
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if not key:
            continue
        if key in seen:
            drop.add(i)
            lines[seen[key]].repeated = True
            continue
        seen[key] = i
    for i in range(len(lines) - 1):
        if i in drop or i + 1 in drop:
            continue
        this, following = keys[i], keys[i + 1]
        if len(following) >= 12 and this != following and this.endswith(following) and len(this) - len(following) <= 40:
            # "HomeAsiaJakarta gambles..." followed by "Jakarta gambles...": breadcrumb glued to the title
            drop.add(i)
            lines[i + 1].repeated = True
        elif len(this) >= 20 and this != following and following.startswith(this):
            tail = lines[i + 1].text[len(lines[i].text):] if lines[i + 1].text.startswith(lines[i].text) else ""
            if _PARENTHETICAL_TAIL.match(tail):
                # an image's alt text followed by its caption with a credit
                drop.update({i, i + 1})
    ordered = sorted(set(keys))
    for i, key in enumerate(keys):
        # a title also printed glued to the site name or a section ("TitleSite Name")
        if i in drop or lines[i].repeated or len(key) < 15 or lines[i].evidence.prose:
            continue
        if _has_glued_variant(ordered, key):
            lines[i].repeated = True
    return [line for i, line in enumerate(lines) if i not in drop]


def _has_glued_variant(ordered_keys: list[str], key: str, max_extra: int = 40) -> bool:
    """Whether another key starts with `key` and is at most `max_extra` characters longer.
    The keys that start with `key` sit together in sorted order, so this is a binary search
    and not a scan of every line (which made long dumps quadratic)."""
    for index in range(bisect.bisect_right(ordered_keys, key), len(ordered_keys)):
        other = ordered_keys[index]
        if not other.startswith(key):
            return False
        if len(other) <= len(key) + max_extra:
            return True
    return False


def _weight(evidence: LineEvidence) -> float:
    if evidence.comments_break:
        return -math.inf
    if evidence.section_break:
        return SECTION_BREAK_WEIGHT
    if evidence.boilerplate:
        return -(BOILERPLATE_WEIGHT + min(evidence.units, 20.0))
    if evidence.prose:
        # headline-length prose (teasers) counts little; paragraphs count in full
        return max(1.0, evidence.units - 5.0) * (0.5 if evidence.navigation_ratio >= 0.3 else 1.0)
    if evidence.sentence_like:
        return 1.0
    return SHORT_LINE_WEIGHT


def densest_span(weights: list[float]) -> tuple[int, int] | None:
    """Maximum-sum contiguous segment (inclusive bounds), or None when every weight is <= 0."""
    best, best_span = 0.0, None
    running, start = 0.0, 0
    for i, weight in enumerate(weights):
        if running <= 0 or weight == -math.inf:
            running, start = weight, i
        else:
            running += weight
        if running > best:
            best, best_span = running, (start, i)
    return best_span


def _body_lines(lines: list[DumpLine], start: int, end: int, trim_start: bool = True, trim_end: bool = True) -> list[int]:
    """Indices of article lines inside the span: trims edges, drops chrome and link lists.
    An edge that continues past `lines` (a window of a large dump) is not trimmed."""
    while trim_start and start <= end and not (lines[start].evidence.prose and not lines[start].evidence.bullet):
        start += 1
    while trim_end and end >= start and not lines[end].evidence.sentence_like:
        end -= 1
    kept: list[int] = []
    run: list[int] = []

    def close_run() -> None:
        if len(run) >= MENU_RUN:
            kept.extend(i for i in run if lines[i].evidence.bullet and lines[i].evidence.sentence_like)
        else:
            kept.extend(run)
        run.clear()

    for i in range(start, end + 1):
        evidence = lines[i].evidence
        if evidence.boilerplate or evidence.section_break or evidence.comments_break:
            close_run()
            continue
        if evidence.prose:
            close_run()
            kept.append(i)
        else:
            run.append(i)
    close_run()
    return kept


def _content_terms(text: str) -> set[str]:
    """Words that carry meaning: non-stopwords, or character pairs in unspaced scripts."""
    evidence = LineEvidence(text)
    if evidence.unspaced_script:
        letters = "".join(c for c in text if c.isalnum())
        # Chinese/Japanese words are about two characters; Thai/Burmese syllables need more
        n = 2 if evidence.cjk_chars >= evidence.southeast_asian_chars else 4
        return {letters[i : i + n] for i in range(len(letters) - n + 1)}
    return {w for w in evidence.words if w not in STOPWORDS and len(w) > 1}


def _title_candidate_score(
    line: DumpLine, distance: int, body_terms: set[str], followed_by_byline: bool, followed_by_credit: bool,
    dateline_follows: bool = False,
) -> float | None:
    evidence = line.evidence
    if evidence.boilerplate or evidence.section_break or evidence.bullet or evidence.contact:
        return None
    if evidence.unspaced_script:
        if not 6 <= len(line.text) <= 120:
            return None
    elif not 3 <= evidence.units <= 30 or len(line.text) > 250 or " " not in line.text:
        return None  # one token of several words is a file name or a slug: "WEB18-Facebook-1160x768.jpg"
    ending = line.text.endswith((".", ":", ",", ";", "…")) and not _ABBREVIATION_END.search(line.text)
    if ending or "|" in line.text or _MID_SENTENCE_END.search(line.text):
        return None
    terms = _content_terms(line.text)
    if not terms:
        return None
    # a headline repeats the words of its article; menu items and promos do not
    overlap = len(terms & body_terms) / len(terms)
    score = 4.0 * overlap * min(1.0, evidence.units / 6.0) + min(evidence.units, 12.0) / 12.0
    if line.repeated:
        score += 1.5
    if followed_by_byline:
        score += 1.0
    if dateline_follows and distance == 0:
        score += 1.0  # the line just above "Jakarta, IDN Times - ..."
    if followed_by_credit:
        score -= 2.0  # an image caption
    if evidence.navigation_ratio >= 0.3:
        score -= 1.0
    return score - distance * 0.03


def _is_byline_or_date(line: DumpLine) -> bool:
    evidence = line.evidence
    return evidence.byline or bool(BYLINE_LIKE.match(line.text)) or is_byline(line.text) or (
        not evidence.prose and evidence.units <= 15 and bool(find_dates(line.text))
    )


def _find_title(lines: list[DumpLine], body_start: int, body_text: str) -> str | None:
    body_terms = _content_terms(body_text)
    dateline = opens_with_dateline(body_text)
    best: tuple[float, int] | None = None
    for distance, i in enumerate(range(body_start - 1, max(-1, body_start - 1 - TITLE_SEARCH_LINES), -1)):
        followed = any(_is_byline_or_date(line) for line in lines[i + 1 : min(i + 4, body_start)])
        credit = i + 1 < len(lines) and bool(PHOTO_CREDIT.search(lines[i + 1].text)) and lines[i + 1].evidence.units <= 6
        score = _title_candidate_score(lines[i], distance, body_terms, followed, credit, dateline)
        if score is not None and score >= 1.0 and (best is None or score > best[0]):
            best = (score, i)
    if best is None:
        return None
    return lines[best[1]].text.strip(" -–—|")


def _byline_zone(lines: list[DumpLine], body: list[int]) -> list[str]:
    """The lines a byline sits in: those above the body, and the lines left out between its first
    paragraphs (a byline under the lead photo's caption, or under the first paragraph)."""
    kept = set(body)
    above = range(max(0, body[0] - TITLE_SEARCH_LINES), body[0])
    among = range(body[0], body[min(BYLINE_SEARCH_PARAGRAPHS, len(body) - 1)])
    return [lines[i].text for i in [*above, *among] if i not in kept]


def strip_citation_marks(text: str) -> str:
    """Remove Wikipedia-style reference marks glued to a word: "view.[3][needs update]"."""
    return _CITATION_MARKS.sub("", text)


def clean_text_dump(text: str) -> ExtractedArticle:
    """The article in a plain-text page dump, with what metadata the dump shows."""
    if text and len(text) > LARGE_DUMP_CHARS:
        return _clean_large_dump(text)
    return _clean_dump_lines(text or "")


def _clean_dump_lines(text: str) -> ExtractedArticle:
    lines = _read_lines(text)
    source_url = None
    kept_lines: list[DumpLine] = []
    for line in lines:
        url = source_url_line(line.text)
        if url is not None:
            source_url = source_url or url
            continue
        kept_lines.append(line)
    lines = _drop_repeats(_unwrap(kept_lines))
    span = densest_span([_weight(line.evidence) for line in lines])
    body = _body_lines(lines, *span) if span else []
    if not body:
        return ExtractedArticle(text="", source_url=source_url, site_name=site_name_from_url(source_url))
    paragraphs = [strip_citation_marks(lines[i].text) for i in body]
    head = [line.text for line in lines[max(0, body[0] - TITLE_SEARCH_LINES) : body[0]]]
    return ExtractedArticle(
        text=join_paragraphs(paragraphs),
        title=_find_title(lines, body[0], " ".join(paragraphs[:6])),
        author=author_from_text(_byline_zone(lines, body), paragraphs, [line.text for line in lines[body[-1] + 1 :]]),
        published_at=date_from_text(head, paragraphs),
        site_name=site_name_from_dateline(paragraphs[0]) or site_name_from_url(source_url),
        source_url=source_url,
    )


# ------------------------------------------------------------------ large dumps, in windows


def _edge_lines(text: str) -> tuple[list[DumpLine], str | None]:
    """A window's lines without "Source: <url>" lines, and the first such URL."""
    source_url, kept = None, []
    for line in _read_lines(text):
        url = source_url_line(line.text)
        if url is not None:
            source_url = source_url or url
            continue
        kept.append(line)
    return kept, source_url


def _article_start(weights: list[float]) -> int:
    """Where the article starts in the first window, the middle (a long run of prose) following
    it: the start of the best run of lines reaching the window's end, as `densest_span` would
    find it; len(weights) when the article starts in the middle."""
    running, start = 0.0, len(weights)
    for i, weight in enumerate(weights):
        if running <= 0 or weight == -math.inf:
            running, start = weight, i
        else:
            running += weight
    return start if running > 0 else len(weights)


def _article_end(weights: list[float]) -> int:
    """The last article line of the final window, the middle preceding it; -1 when none."""
    best, best_end, running = 0.0, -1, 0.0
    for i, weight in enumerate(weights):
        if weight == -math.inf:  # a comment section opens: the article is over
            break
        running += weight
        if running > best:
            best, best_end = running, i
    return best_end


def _windows(text: str, size: int, start: int, stop: int):
    """text[start:stop] in pieces of about `size` characters, cut at line breaks (which are left
    out), without copying the whole range first; where no line break comes within `size`
    characters, at a space, else just there."""
    while start < stop:
        if stop - start <= size:
            yield text[start:stop]
            return
        end = _cut_after(text, start + size, min(stop, start + 2 * size))
        yield text[start:end]
        start = end + 1 if end < stop and text[end].isspace() else end


def _cut_after(text: str, at: int, limit: int) -> int:
    """The first line break in text[at:limit], else the first space there, else `at`."""
    end = text.find("\n", at, limit)
    if end < 0:
        space = _SPACE.search(text, at, limit)
        end = space.start() if space else at
    return end


def _edge_cut(text: str, at: int, from_end: bool) -> int:
    """Where the first window ends (`from_end` False) or the last one starts, just after a line
    break near `at`: a blank line when there is one, so no hard-wrapped paragraph is cut in two;
    with no line break within WINDOW_CHARS, just after a space, else at `at`."""
    if from_end:
        low = max(0, at - WINDOW_CHARS)
        cut = text.rfind("\n\n", low, at)
        cut = cut if cut >= 0 else text.rfind("\n", low, at)
        if cut < 0:
            space = text.rfind(" ", low, at)
            return space + 1 if space >= 0 else at
    else:
        cut = text.find("\n\n", at, at + WINDOW_CHARS)
        cut = cut if cut >= 0 else _cut_after(text, at, at + WINDOW_CHARS)
        if cut == at and not text[at].isspace():
            return at
    return cut + 1


def _bounded_paragraphs(paragraphs: list[str]) -> list[str]:
    """A block of a large dump's paragraphs, none longer than MAX_PARAGRAPH_CHARS (cut at a space)
    and, when they average fewer than MIN_MEAN_PARAGRAPH_CHARS, joined by line breaks into
    paragraphs of at least that many characters."""
    pieces = [piece for paragraph in paragraphs for piece in _cut_long(paragraph)]
    if sum(map(len, pieces)) >= MIN_MEAN_PARAGRAPH_CHARS * len(pieces):
        return pieces
    joined, group, size = [], [], 0
    for piece in pieces:
        group.append(piece)
        size += len(piece) + 1
        if size > MIN_MEAN_PARAGRAPH_CHARS:
            joined.append("\n".join(group))
            group, size = [], 0
    if group:
        joined.append("\n".join(group))
    return joined


def _cut_long(paragraph: str):
    while len(paragraph) > MAX_PARAGRAPH_CHARS:
        cut = paragraph.rfind(" ", MAX_PARAGRAPH_CHARS // 2, MAX_PARAGRAPH_CHARS)
        cut = cut if cut > 0 else MAX_PARAGRAPH_CHARS
        yield paragraph[:cut]
        paragraph = paragraph[cut:].lstrip()
    if paragraph:
        yield paragraph


def _middle_paragraphs(text: str, start: int, stop: int, hard_wrapped: bool):
    """text[start:stop], the middle of a large dump, as blocks of paragraphs ("p\n\np..."), one per window."""
    carried: list[str] = []  # the lines of a hard-wrapped paragraph, which may go on in the next window
    carried_chars = 0
    blank = False
    for window in _windows(text, WINDOW_CHARS, start, stop):
        window = ZERO_WIDTH.sub("", unicodedata.normalize("NFC", window))
        # " ".join(line.split()) is normalise_line's whitespace rule: str.split and re's \s agree
        lines = (" ".join(line.split()) for line in window.split("\n"))
        if not hard_wrapped:
            block = PARAGRAPH_SEPARATOR.join(_bounded_paragraphs([line for line in lines if line]))
        else:
            paragraphs: list[str] = []
            for line in lines:
                if not line:
                    blank = True
                    continue
                # `_unwrap`'s rule: the paragraph so far is long and not ended, and the line goes on in lower case
                if (
                    carried and not blank and 45 <= carried_chars < MAX_PARAGRAPH_CHARS and line[:1].islower()
                    and not carried[-1].endswith(":") and not ends_sentence(carried[-1])
                ):
                    carried.append(line)
                    carried_chars += 1 + len(line)
                else:
                    if carried:
                        paragraphs.append(" ".join(carried))
                    carried, carried_chars = [line], len(line)
                blank = False
            block = PARAGRAPH_SEPARATOR.join(_bounded_paragraphs(paragraphs))
        if block:
            yield strip_citation_marks(block)
    if carried:
        yield strip_citation_marks(PARAGRAPH_SEPARATOR.join(_bounded_paragraphs([" ".join(carried)])))


def _clean_large_dump(text: str) -> ExtractedArticle:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    head_end = _edge_cut(text, EDGE_CHARS, from_end=False)
    tail_start = _edge_cut(text, len(text) - EDGE_CHARS, from_end=True)
    if head_end < 0 or tail_start < 0 or tail_start <= head_end:  # a few very long lines: no per-line cost to save
        return _clean_dump_lines(text)
    head, head_url = _edge_lines(text[:head_end])
    tail, tail_url = _edge_lines(text[tail_start:])
    source_url = head_url or tail_url
    hard_wrapped = _is_hard_wrapped(head + tail)
    head = _drop_repeats(_unwrap(head, hard_wrapped))
    tail = _drop_repeats(_unwrap(tail, hard_wrapped))

    start = _article_start([_weight(line.evidence) for line in head])
    head_body = _body_lines(head, start, len(head) - 1, trim_end=False) if start < len(head) else []
    end = _article_end([_weight(line.evidence) for line in tail])
    tail_body = _body_lines(tail, 0, end, trim_start=False) if end >= 0 else []
    blocks = [join_paragraphs(_bounded_paragraphs([strip_citation_marks(head[i].text) for i in head_body]))]
    blocks += _middle_paragraphs(text, head_end, tail_start, hard_wrapped)
    blocks.append(join_paragraphs(_bounded_paragraphs([strip_citation_marks(tail[i].text) for i in tail_body])))
    body = join_paragraphs(blocks)
    if not body:
        return ExtractedArticle(text="", source_url=source_url, site_name=site_name_from_url(source_url))
    opening = body[:20_000].split(PARAGRAPH_SEPARATOR)[:6]
    body_start = head_body[0] if head_body else len(head)
    head_texts = [line.text for line in head[max(0, body_start - TITLE_SEARCH_LINES) : body_start]]
    return ExtractedArticle(
        text=body,
        title=_find_title(head, body_start, " ".join(opening)),
        author=author_from_text(head_texts, opening),
        published_at=date_from_text(head_texts, opening),
        site_name=site_name_from_dateline(opening[0]) or site_name_from_url(source_url),
        source_url=source_url,
    )
