"""Keep what must not change through translation: URLs, e-mail addresses, numbers and dates,
and names written in Latin script inside text in another script.

A translation model may garble any of these (a URL cut into pieces and "translated", a date
reformatted with a digit lost, "Donald Trump" transliterated back and forth). So:

1. URLs and e-mail addresses never reach the model: the sentence is cut around them, the text
   between them is translated, and they are put back verbatim.
2. Numbers, dates and Latin-script names stay in the sentence (they give the model context and
   a good model keeps them), and each translation is checked: a number survives when the same
   digit groups appear in the output ("2,1" may become "2.1", "10.30" may become "10:30"); a
   name survives when it appears as written.
3. When something did not survive, that text is translated again in pieces cut around the
   protected items, which are put back verbatim: less fluent, but faithful.

`translate_protected` does all three over many sentences with two batched calls at most.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

URL = "url"
EMAIL = "email"
NUMBER = "number"
NAME = "name"

_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'\u201c\u201d\u2018\u2019]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}\u2026"
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")
# Digits with inner separators: 27/10/2025, 2,1, 1.465, 21:45, 2014-2019.
_NUMBER = re.compile(r"\d+(?:[.,:/\-]\d+)*")
_DIGIT_GROUPS = re.compile(r"\d+")
_LATIN_WORD = r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'\u2019.\-]*"
_LATIN_RUN = re.compile(rf"{_LATIN_WORD}(?:[ \t]+{_LATIN_WORD})*")
_LETTER = re.compile(r"[^\W\d_]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # url | email | number | name

    def text(self, sentence: str) -> str:
        return sentence[self.start : self.end]


def is_latin_script(text: str) -> bool:
    """Are most letters of `text` Latin? (True for text without letters.)"""
    letters = _LETTER.findall(text)
    if not letters:
        return True
    return 2 * sum(1 for letter in letters if _LATIN_LETTER.match(letter)) >= len(letters)


def _overlaps(span: Span, taken: list[Span]) -> bool:
    return any(span.start < other.end and other.start < span.end for other in taken)


def protected_spans(sentence: str) -> list[Span]:
    """URLs, e-mail addresses, numbers, and (in text mostly not in Latin script) Latin-script
    names, in order, without overlaps (a number inside a URL belongs to the URL).

    In Latin-script text a name cannot be told from a capitalised word that must be
    translated ("Presiden", "Korea Utara") without a named-entity model, so names are
    protected only where the script tells them apart.
    """
    spans: list[Span] = []
    for match in _URL.finditer(sentence):
        end = match.end()
        while end > match.start() and sentence[end - 1] in _URL_TRAILING:
            end -= 1
        spans.append(Span(match.start(), end, URL))
    for match in _EMAIL.finditer(sentence):
        candidate = Span(match.start(), match.end(), EMAIL)
        if not _overlaps(candidate, spans):
            spans.append(candidate)
    for match in _NUMBER.finditer(sentence):
        candidate = Span(match.start(), match.end(), NUMBER)
        if not _overlaps(candidate, spans):
            spans.append(candidate)
    if not is_latin_script(sentence):
        for match in _LATIN_RUN.finditer(sentence):
            text = match.group(0).rstrip(".-'\u2019")
            candidate = Span(match.start(), match.start() + len(text), NAME)
            if len(text) > 1 and not _overlaps(candidate, spans):
                spans.append(candidate)
    return sorted(spans, key=lambda span: span.start)


def number_key(text: str) -> tuple[str, ...]:
    """What must survive of a number: its digit groups, in order ("2,1" and "2.1" agree)."""
    return tuple(group.lstrip("0") or "0" for group in _DIGIT_GROUPS.findall(text))


def lost_items(source: str, translation: str, spans: Sequence[Span] | None = None) -> list[str]:
    """The protected items of `source` that `translation` lost (each counted as often as it occurs)."""
    spans = protected_spans(source) if spans is None else spans
    available = Counter(number_key(m.group(0)) for m in _NUMBER.finditer(translation))
    lost = []
    for span in spans:
        item = span.text(source)
        if span.kind == NUMBER:
            key = number_key(item)
            if available[key] > 0:
                available[key] -= 1
            else:
                lost.append(item)
        elif item not in translation:
            lost.append(item)
    return lost


@dataclass(frozen=True)
class Segment:
    text: str
    translate: bool  # False: put back verbatim


def has_letters(text: str) -> bool:
    return bool(_LETTER.search(text))


def cut_around(sentence: str, spans: Sequence[Span]) -> list[Segment]:
    """Cut `sentence` into text to translate and verbatim spans; `"".join(...) == sentence`.

    Text between spans that holds no letter (brackets, commas, spaces) is kept verbatim too.
    """
    segments: list[Segment] = []
    position = 0
    for span in spans:
        if span.start > position:
            gap = sentence[position : span.start]
            segments.append(Segment(gap, has_letters(gap)))
        segments.append(Segment(sentence[span.start : span.end], False))
        position = span.end
    if position < len(sentence):
        tail = sentence[position:]
        segments.append(Segment(tail, has_letters(tail)))
    return segments


def _with_source_whitespace(source: str, translation: str) -> str:
    """`translation` with the whitespace that surrounds `source`, so pieces rejoin as they stood."""
    core = source.strip()
    if not core:
        return source
    leading = source[: len(source) - len(source.lstrip())]
    trailing = source[len(source.rstrip()) :]
    return leading + translation.strip() + trailing


def translate_protected(sentences: Sequence[str], translate: Callable[[list[str]], list[str]]) -> list[str]:
    """Translate `sentences` with `translate` (a batch function: list in, list out, same order)
    so that every protected item survives; see the module's docstring.
    """
    plans: list[list[Segment]] = []
    first_pass: dict[str, None] = {}
    for sentence in sentences:
        spans = [s for s in protected_spans(sentence) if s.kind in (URL, EMAIL)]
        segments = cut_around(sentence, spans) if spans else [Segment(sentence, has_letters(sentence))]
        plans.append(segments)
        for segment in segments:
            if segment.translate:
                first_pass.setdefault(segment.text.strip(), None)

    texts = list(first_pass)
    translations = dict(zip(texts, translate(texts))) if texts else {}

    # Text that lost an item is translated again in pieces cut around its items.
    retry_plans: dict[str, list[Segment]] = {}
    second_pass: dict[str, None] = {}
    for text, translation in translations.items():
        spans = protected_spans(text)
        if spans and lost_items(text, translation, spans):
            pieces = cut_around(text, spans)
            retry_plans[text] = pieces
            for piece in pieces:
                if piece.translate:
                    second_pass.setdefault(piece.text.strip(), None)
    if retry_plans:
        pieces_text = list(second_pass)
        piece_translations = dict(zip(pieces_text, translate(pieces_text))) if pieces_text else {}
        for text, pieces in retry_plans.items():
            translations[text] = _join(pieces, piece_translations)

    return [_join(segments, translations).strip() for segments in plans]


def _join(segments: Sequence[Segment], translations: dict[str, str]) -> str:
    parts = []
    for segment in segments:
        if segment.translate:
            parts.append(_with_source_whitespace(segment.text, translations[segment.text.strip()]))
        else:
            parts.append(segment.text)
    return "".join(parts)
