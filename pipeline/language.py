"""Language identification: langdetect, seeded, per paragraph and per document.

Scripts that settle the language on their own (Hangul, kana, Thai, ...) are answered
without statistics. A document's language is the language of most of its body text,
so a few address lines in another script or an English disclaimer do not flip it.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

from pipeline.record import Document, ParagraphLanguage

UNDETERMINED = "und"
LANGDETECT_SEED = 0

# Unicode script ranges whose presence decides the language (or narrows it to a few).
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0E00, 0x0E7F, "thai"),
    (0x1100, 0x11FF, "hangul"),
    (0x3130, 0x318F, "hangul"),
    (0xAC00, 0xD7AF, "hangul"),
    (0x3040, 0x309F, "kana"),
    (0x30A0, 0x30FF, "kana"),
    (0x31F0, 0x31FF, "kana"),
    (0xFF66, 0xFF9F, "kana"),
    (0x4E00, 0x9FFF, "han"),
    (0x3400, 0x4DBF, "han"),
    (0xF900, 0xFAFF, "han"),
    (0x0900, 0x097F, "devanagari"),
    (0x0600, 0x06FF, "arabic"),
    (0x0750, 0x077F, "arabic"),
    (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"),
    (0x0370, 0x03FF, "greek"),
    (0x0590, 0x05FF, "hebrew"),
    (0x10A0, 0x10FF, "georgian"),
    (0x0530, 0x058F, "armenian"),
    (0x0980, 0x09FF, "bengali"),
    (0x0A00, 0x0A7F, "gurmukhi"),
    (0x0A80, 0x0AFF, "gujarati"),
    (0x0B80, 0x0BFF, "tamil"),
    (0x0C00, 0x0C7F, "telugu"),
    (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"),
    (0x1000, 0x109F, "myanmar"),
    (0x1780, 0x17FF, "khmer"),
    (0x0E80, 0x0EFF, "lao"),
    (0x0D80, 0x0DFF, "sinhala"),
    (0x1200, 0x137F, "ethiopic"),
    (0x0400, 0x04FF, "cyrillic"),
)

# Scripts used by exactly one language in practice.
_SCRIPT_LANGUAGE = {
    "thai": "th",
    "hangul": "ko",
    "kana": "ja",
    "greek": "el",
    "hebrew": "he",
    "georgian": "ka",
    "armenian": "hy",
    "gujarati": "gu",
    "tamil": "ta",
    "telugu": "te",
    "kannada": "kn",
    "malayalam": "ml",
    "myanmar": "my",
    "khmer": "km",
    "lao": "lo",
    "sinhala": "si",
    "gurmukhi": "pa",
    "ethiopic": "am",
}
# Scripts shared by a few languages: langdetect chooses among these, with a default.
_SCRIPT_CANDIDATES = {
    "han": ("zh",),
    "devanagari": ("hi", "mr", "ne"),
    "arabic": ("ar", "fa", "ur"),
    "bengali": ("bn",),
    "cyrillic": ("ru", "uk", "bg", "mk"),  # langdetect has no Serbian, Belarusian or Kazakh profile
}

_URL_OR_EMAIL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float


def script_of(char: str) -> str | None:
    code = ord(char)
    for low, high, script in _SCRIPT_RANGES:
        if low <= code <= high:
            return script
    if char.isalpha():
        return "latin" if "LATIN" in unicodedata.name(char, "") else "other"
    return None


def letter_scripts(text: str) -> Counter:
    return Counter(s for s in map(script_of, text) if s is not None)


def linguistic_text(text: str) -> str:
    """The part of `text` that carries language: no URLs, e-mail addresses or digits."""
    return _URL_OR_EMAIL.sub(" ", text)


def length_certainty(text: str) -> float:
    """How far the amount of text lets any detector be sure: near 0 for a word, near 1 for a sentence."""
    letters = sum(letter_scripts(linguistic_text(text)).values())
    return 1.0 - math.exp(-letters / 12.0)


def _normalise_code(code: str) -> str:
    return code.split("-")[0]


class LanguageIdentifier:
    """langdetect with fixed seed, script shortcuts and paragraph-weighted documents."""

    _init_lock = threading.Lock()
    _factory = None

    def __init__(self, seed: int = LANGDETECT_SEED):
        self.seed = seed
        self._ensure_factory()

    @classmethod
    def _ensure_factory(cls):
        with cls._init_lock:
            if cls._factory is None:
                from langdetect import detector_factory

                detector_factory.init_factory()
                cls._factory = detector_factory._factory

    def _langdetect_probabilities(self, text: str) -> dict[str, float]:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        detector.seed = self.seed
        detector.append(text)
        try:
            ranked = detector.get_probabilities()
        except LangDetectException:
            return {}
        probabilities: dict[str, float] = defaultdict(float)
        for item in ranked:
            probabilities[_normalise_code(item.lang)] += item.prob
        return dict(probabilities)

    def probabilities(self, text: str) -> dict[str, float]:
        """Language → probability for one text; empty when it carries no linguistic signal."""
        return self._probabilities(text)[0]

    def _probabilities(self, text: str) -> tuple[dict[str, float], bool]:
        """(probabilities, whether they are statistical) — a script alone can settle the language."""
        cleaned = linguistic_text(text)
        scripts = letter_scripts(cleaned)
        letters = sum(scripts.values())
        if letters == 0:
            return {}, False
        script, count = scripts.most_common(1)[0]
        if script in ("han", "kana") and scripts.get("kana"):
            script, count = "kana", scripts["kana"] + scripts.get("han", 0)  # Japanese mixes kanji and kana
        if script in _SCRIPT_LANGUAGE:
            return {_SCRIPT_LANGUAGE[script]: count / letters}, False
        if script in _SCRIPT_CANDIDATES:
            candidates = _SCRIPT_CANDIDATES[script]
            detected = self._langdetect_probabilities(cleaned)
            restricted = {lang: p for lang, p in detected.items() if lang in candidates}
            total = sum(restricted.values())
            if total == 0:
                return {candidates[0]: count / letters}, False
            return {lang: p / total * count / letters for lang, p in restricted.items()}, len(restricted) > 1
        return self._langdetect_probabilities(cleaned), True

    def identify(self, text: str) -> LanguageGuess:
        probabilities, statistical = self._probabilities(text)
        if not probabilities:
            return LanguageGuess(UNDETERMINED, 0.0)
        language, probability = max(probabilities.items(), key=lambda item: item[1])
        certainty = length_certainty(text) if statistical else 1.0
        return LanguageGuess(language, round(min(1.0, probability) * certainty, 4))

    def identify_paragraphs(self, paragraphs: tuple[str, ...]) -> tuple[LanguageGuess, tuple[ParagraphLanguage, ...]]:
        """The document's language and each paragraph's, weighted by letters of body text."""
        per_paragraph = [self.probabilities(p) for p in paragraphs]
        weights = [sum(letter_scripts(linguistic_text(p)).values()) for p in paragraphs]
        votes: dict[str, float] = defaultdict(float)
        for probabilities, weight in zip(per_paragraph, weights):
            for language, probability in probabilities.items():
                votes[language] += probability * weight
        total = sum(weights)
        if not votes or total == 0:
            undetermined = ParagraphLanguage(UNDETERMINED, 0.0)
            return LanguageGuess(UNDETERMINED, 0.0), tuple(undetermined for _ in paragraphs)
        document_language, score = max(votes.items(), key=lambda item: item[1])
        document = LanguageGuess(document_language, round(min(1.0, score / total), 4))
        paragraph_languages = tuple(
            self._paragraph_language(probabilities, weight, document_language)
            for probabilities, weight in zip(per_paragraph, weights)
        )
        return document, paragraph_languages

    @staticmethod
    def _paragraph_language(probabilities: dict[str, float], weight: int, document_language: str) -> ParagraphLanguage:
        if not probabilities:
            return ParagraphLanguage(UNDETERMINED, 0.0)
        language, probability = max(probabilities.items(), key=lambda item: item[1])
        # Short paragraphs are noisy: keep the document's language while it stays plausible.
        if language != document_language and weight < 60 and probabilities.get(document_language, 0.0) >= 0.1:
            return ParagraphLanguage(document_language, round(probabilities[document_language], 4))
        return ParagraphLanguage(language, round(min(1.0, probability), 4))

    def annotate(self, doc: Document) -> Document:
        if doc.rejected:
            return doc
        document, paragraph_languages = self.identify_paragraphs(doc.paragraphs)
        return doc.replace(
            language=document.language,
            language_confidence=document.confidence,
            paragraph_languages=paragraph_languages,
        )


_shared_identifier: LanguageIdentifier | None = None


def shared_identifier() -> LanguageIdentifier:
    global _shared_identifier
    if _shared_identifier is None:
        _shared_identifier = LanguageIdentifier()
    return _shared_identifier


def detect_language(doc: Document) -> Document:
    """The stage function: document and paragraph languages for one document."""
    return shared_identifier().annotate(doc)
