"""Evidence about one line of a page dump: is it prose, a heading, or page chrome?

Script-aware: for scripts written without spaces between words (Chinese, Japanese, Thai,
Burmese, Khmer, Lao) length is counted in characters converted to approximate words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from pipeline.extract.dates import find_dates, strip_dates
from pipeline.extract.vocabulary import (
    COMMENTS_BREAK,
    COPYRIGHT,
    NAVIGATION_WORDS,
    PROSE_BOILERPLATE,
    SECTION_BREAK,
    STOPWORDS,
    TEASER_PREFIX,
)

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_SOUTHEAST_ASIAN = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]")
# Sentence and clause punctuation of Chinese and Japanese prose.
_CJK_CLAUSE_MARK = re.compile(r"[。，、！？；]")
_CJK_PUNCTUATION = re.compile(r"[。，、！？；：「」『』（）《》“”]")
# A line of at least this many words without punctuation is menu entries side by side (chosen on the tune half: 10-20 tried).
INLINE_MENU_WORDS = 15
_PUNCTUATION = re.compile(r"[.,;:!?¿¡()\"“”«»—–]")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_TERMINAL = re.compile(r"[.!?。！？…؟।॥۔။።](?:[\s\"'”’»)\]】」』]*)$")
_BULLET = re.compile(r"^(?:[•·▪▫◦‣⁃●○■□►▶✓✔➤→\-–—*]|\d{1,2}[.)])\s+")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.I)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|\[email\s*protected\]", re.I)
PHONE = re.compile(r"(?:\+\s?\d[\d\s().-]{6,}\d|\(\d{2,4}\)\s?\d[\d\s.-]{5,}\d|\b\d{3,4}[\s.-]\d{3,4}[\s.-]\d{3,4}\b)")
_RELATIVE_TIME = re.compile(
    r"^(?:\d+|an?|one)\s+(?:sec|min|minute|hour|hr|day|week|month|year|detik|menit|jam|hari|minggu|bulan|tahun)s?\s+"
    r"(?:ago|lalu|yang lalu)$|^hace\s+\d+\s+\w+$|^il y a\s+\d+\s+\w+$|^vor\s+\d+\s+\w+$|^há\s+\d+\s+\w+$"
    r"|^\d+\s+\w+\s+fa$|^\d+\s+\w+\s+geleden$",
    re.I,
)
_CODE_TOKEN = re.compile(r"^[\w.-]*(?:_[\w.-]*|[{}<>=;$])+$")
BYLINE = re.compile(
    r"^(?i:by|oleh|por|par|von|door|di)\s+(?P<name>[A-Z][\w'’.-]+(?:\s+(?:[A-Z][\w'’.-]+|de|da|van|von|der|del|la|le|bin|binti)){0,5})"
    r"(?:\s*(?:[,|/•·]|and|dan|y|et|und|e|en)\s*.*)?$"
)


ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")


def normalise_line(line: str) -> str:
    line = unicodedata.normalize("NFC", line)
    line = ZERO_WIDTH.sub("", line)
    return re.sub(r"\s+", " ", line).strip()


def ends_sentence(text: str) -> bool:
    return bool(_TERMINAL.search(text))


@dataclass(frozen=True)
class LineEvidence:
    text: str

    @cached_property
    def lowered(self) -> str:
        return self.text.lower()

    @cached_property
    def words(self) -> list[str]:
        return _WORD.findall(self.lowered)

    @cached_property
    def cjk_chars(self) -> int:
        return len(_CJK.findall(self.text))

    @cached_property
    def southeast_asian_chars(self) -> int:
        return len(_SOUTHEAST_ASIAN.findall(self.text))

    @cached_property
    def unspaced_script(self) -> bool:
        letters = sum(1 for c in self.text if c.isalpha())
        return letters > 0 and (self.cjk_chars + self.southeast_asian_chars) / letters > 0.3

    @cached_property
    def units(self) -> float:
        """Approximate number of words, whatever the script."""
        spaced = [w for w in self.words if not (_CJK.search(w) or _SOUTHEAST_ASIAN.search(w))]
        return len(spaced) + self.cjk_chars / 1.7 + self.southeast_asian_chars / 4.5

    @cached_property
    def terminal(self) -> bool:
        return ends_sentence(self.text)

    @cached_property
    def stopword_ratio(self) -> float:
        return sum(w in STOPWORDS for w in self.words) / len(self.words) if self.words else 0.0

    @cached_property
    def navigation_ratio(self) -> float:
        content = [w for w in self.words if w not in STOPWORDS]
        if not content:
            return 1.0 if self.words else 0.0
        return sum(w in NAVIGATION_WORDS for w in content) / len(content)

    @cached_property
    def capitalised_ratio(self) -> float:
        """Share of non-stopword words written with a capital (title case, names, menus)."""
        tokens = [t for t in re.findall(r"[^\W\d_][\w'’-]*", self.text) if t.lower() not in STOPWORDS]
        cased = [t for t in tokens if t[0].isupper() or t[0].islower()]
        return sum(t[0].isupper() for t in cased) / len(cased) if cased else 0.0

    @cached_property
    def bullet(self) -> bool:
        return bool(_BULLET.match(self.text))

    @cached_property
    def contact(self) -> bool:
        return bool(EMAIL.search(self.text) or PHONE.search(self.text))

    @cached_property
    def has_url(self) -> bool:
        return bool(URL.search(self.text))

    @cached_property
    def date_only(self) -> bool:
        rest = strip_dates(self.text)
        if rest == self.text and not _RELATIVE_TIME.match(self.text):
            return False
        return len(_WORD.findall(rest)) <= 2 and len(rest.strip(" ,.|-–—()")) <= 25

    @cached_property
    def prose(self) -> bool:
        """Running text: long enough and shaped like sentences."""
        if self.unspaced_script:
            if self.cjk_chars:
                return self.cjk_chars >= 20 and not self.phrase_list and (
                    self.terminal or "，" in self.text or "、" in self.text
                    or (self.cjk_chars >= 45 and bool(_CJK_PUNCTUATION.search(self.text)))
                )
            return self.units >= 8
        if self.units < 5 or self.inline_menu:
            return False
        if self.terminal and self.units >= 6 and not (self.units < 10 and self.capitalised_ratio > 0.8):
            return True
        if self.stopword_ratio >= 0.15 and self.units >= 8 and self.capitalised_ratio < 0.75:
            return True
        return self.units >= 15 and self.capitalised_ratio < 0.5

    @cached_property
    def phrase_list(self) -> bool:
        """Chinese or Japanese phrases side by side, a space between each and hardly a comma: a menu,
        a tag list or teaser headlines copied as one line (prose in these scripts has no spaces)."""
        chunks = self.text.split()
        return len(chunks) >= 4 and len(_CJK_CLAUSE_MARK.findall(self.text)) * 2 < len(chunks)

    @cached_property
    def inline_menu(self) -> bool:
        """Many words and not one punctuation mark between them: menu entries or buttons copied side
        by side ("Edit Delete Invite Follow ..."), not a sentence."""
        return (
            not self.unspaced_script and INLINE_MENU_WORDS <= self.units <= 4 * INLINE_MENU_WORDS
            and not _PUNCTUATION.search(self.text)
        )  # longer than a menu: unpunctuated text (a transcript, a text cut at spaces)

    @cached_property
    def sentence_like(self) -> bool:
        """Prose, or a line with the function words of a sentence (a bio line, a long caption)."""
        if self.prose:
            return True
        return not self.unspaced_script and self.units >= 8 and self.stopword_ratio >= 0.15 and not self.inline_menu

    @cached_property
    def byline(self) -> bool:
        return bool(BYLINE.match(self.text)) and self.units <= 12

    @cached_property
    def boilerplate(self) -> bool:
        """Page chrome whatever its position: widgets, contact blocks, dates, legal lines."""
        text = self.text
        if not any(c.isalpha() for c in text):
            return True
        if self.date_only or self.dated_teaser or COPYRIGHT.search(text) or PROSE_BOILERPLATE.search(text):
            return True
        if TEASER_PREFIX.match(text) or self.byline:
            return True
        if self.contact and (self.units <= 15 or not self.prose):
            return True
        if self.has_url and len(URL.sub("", text).split()) <= 4:
            return True
        tokens = text.split()
        if sum(t.startswith("#") for t in tokens) * 2 >= len(tokens):
            return True
        if " " not in text and _CODE_TOKEN.match(text):
            return True
        if not self.prose and self.units <= 12 and self.words and self.navigation_ratio >= 0.5:
            return True
        return False

    @cached_property
    def comments_break(self) -> bool:
        """The heading of a comment section: the article is over."""
        return len(self.text) <= 50 and bool(COMMENTS_BREAK.match(self.text.strip(" :.!»›>")))

    @cached_property
    def dated_teaser(self) -> bool:
        """A link to another article led or closed by its date: "08/01/2014 Minister resigns"."""
        if self.terminal or self.units > 25:
            return False
        mentions = find_dates(self.text)
        return bool(mentions) and (mentions[0].start <= 2 or mentions[-1].end >= len(self.text) - 2)

    @cached_property
    def section_break(self) -> bool:
        """A heading that opens the related-articles list or the comment section."""
        return not self.prose and len(self.text) <= 60 and bool(SECTION_BREAK.match(self.text.strip(" :.»›>")))
