"""Language identification: langdetect's profiles, scored exactly, per paragraph and per document.

langdetect models a language as character 1-3-gram frequencies and estimates the posterior by
random sampling (seeded, it repeats; unseeded, it does not). Here the same profiles and the same
text normalisation give the exact naive-Bayes posterior instead: deterministic by construction,
faster, and honest on short text, where a prior of how common each language is in news decides
what a two-word fragment alone cannot.

Scripts that settle the language on their own (Hangul, kana, Thai, ...) are answered without
statistics. langdetect has no Malay profile: Malay scores as Indonesian, and a hand-written list
of words that differ between the two splits that score. A document's language is the language
of most of its body text; a short paragraph leans towards the document's language, so a caption
or a two-word line does not flip, while a whole sentence in another language keeps its own.

A body longer than LARGE_TEXT_CHARS (a long text, not a news article) is labelled in bounded
time: about SAMPLE_CHARS of its paragraphs, evenly spaced over the whole text (so the same
text always gets the same sample) and each read up to MAX_TEXT_CHARS, are scored exactly as
above and decide the document's language; each sampled paragraph keeps its own label, and
every other paragraph is labelled with the document's language at the confidence the sample
supports, the share of sampled paragraphs in that language by Laplace's rule of succession
((k + 1) / (n + 2)), so a label that was inferred and not measured never claims certainty.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.record import PARAGRAPH_SEPARATOR, Document, ParagraphLanguage

UNDETERMINED = "und"
LANGDETECT_SEED = 0  # kept for callers; exact scoring has nothing random left to seed
LANGUAGE_DATA = Path(__file__).resolve().parent / "language_data"

# How common each language is in the news this pipeline expects, relative to 1 for the rest.
# It only decides when the text itself cannot: a sentence outweighs it many times over.
NEWS_PRIOR: dict[str, float] = {
    "en": 8.0,
    **dict.fromkeys(("es", "fr", "de", "ru", "pt", "it", "ar", "zh", "ja", "hi", "id"), 4.0),
    **dict.fromkeys(
        ("nl", "tr", "pl", "fa", "ko", "vi", "uk", "th", "ro", "el", "cs", "sv", "hu", "he", "bn", "ur", "ms"), 2.0
    ),
}
# Each letter yields three overlapping n-grams (1-, 2- and 3-gram); counting all three as
# independent evidence makes short texts look three times surer than they are.
NGRAM_TEMPERATURE = 3.0
# langdetect's smoothing for n-grams a language never showed (alpha / BASE_FREQ).
NGRAM_SMOOTHING = 0.5 / 10000
MAX_TEXT_CHARS = 10000  # langdetect's own cap: more text adds time, not certainty
# Above this many characters of body text, paragraphs are labelled from a sample (see above).
LARGE_TEXT_CHARS = 1_000_000
SAMPLE_CHARS = 200_000  # about how much text the sample scores exactly (~0.5 s)
MAX_SAMPLE_PARAGRAPHS = 2_000
# How many times likelier a paragraph is to be in its document's language than in another.
DOCUMENT_AFFINITY = 30.0
# Letters a candidate language does not write: their presence rules it out (almost).
_FOREIGN_LETTERS = {
    "ru": set("іїєґјљњѓќѕџ"),
    "uk": set("ыэъёјљњѓќѕџ"),
    "bg": set("ыэёіїєґјљњѓќѕџ"),
    "mk": set("йщъыьэюяёіїєґ"),
}
_RULED_OUT = 1e-4

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
# Scripts that nearly settle the language: Han without kana is Chinese, unless its document is
# Japanese (a kanji-only headline or name). langdetect's Japanese profile knows too few kanji to judge.
_SCRIPT_LEANING = {"han": {"zh": 0.9, "ja": 0.1}}
# Scripts shared by a few languages: the n-gram model chooses among these.
_SCRIPT_CANDIDATES = {
    "devanagari": ("hi", "mr", "ne"),
    "arabic": ("ar", "fa", "ur"),
    "bengali": ("bn",),
    "cyrillic": ("ru", "uk", "bg", "mk"),  # langdetect has no Serbian, Belarusian or Kazakh profile
}

_URL_OR_EMAIL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|(?<!\w)@\w+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float


@functools.lru_cache(maxsize=65536)
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
    """The part of `text` that carries language: no URLs, e-mail addresses or @handles."""
    return _URL_OR_EMAIL.sub(" ", text)


def length_certainty(text: str) -> float:
    """How far the amount of text lets any detector be sure: near 0 for a word, near 1 for a sentence."""
    letters = sum(letter_scripts(linguistic_text(text)).values())
    return 1.0 - math.exp(-letters / 12.0)


def _normalise_code(code: str) -> str:
    return code.split("-")[0]


class _NgramModel:
    """langdetect's profiles as one matrix of log n-gram probabilities, language by column."""

    def __init__(self):
        from langdetect import detector_factory

        detector_factory.init_factory()
        self.factory = detector_factory._factory
        self.languages = tuple(_normalise_code(code) for code in self.factory.langlist)
        ngrams = list(self.factory.word_lang_prob_map)
        self.row_of = {ngram: row for row, ngram in enumerate(ngrams)}
        log_probabilities = np.array([self.factory.word_lang_prob_map[g] for g in ngrams], dtype=np.float32)
        log_probabilities += NGRAM_SMOOTHING
        self.log_probabilities = np.log(log_probabilities, out=log_probabilities)
        self.columns_of = defaultdict(list)
        for column, language in enumerate(self.languages):
            self.columns_of[language].append(column)

    def ngram_rows(self, text: str) -> list[int]:
        """The profile rows of the text's n-grams, through langdetect's own normalisation."""
        detector = self.factory.create()
        detector.append(text[:MAX_TEXT_CHARS])
        detector.cleaning_text()
        return [self.row_of[ngram] for ngram in detector._extract_ngrams()]

    def log_likelihoods(self, text: str) -> np.ndarray | None:
        if _mostly_upper_case(text):
            text = text.lower()  # langdetect skips upper-case words; a shouted headline still speaks
        rows = self.ngram_rows(text)
        if not rows:
            return None
        return self.log_probabilities[rows].sum(axis=0, dtype=np.float64) / NGRAM_TEMPERATURE


def _mostly_upper_case(text: str) -> bool:
    """A headline in capitals, not one acronym (which langdetect rightly reads as no word at all)."""
    upper = sum(c.isupper() for c in text)
    return upper >= sum(c.islower() for c in text) and len(re.findall(r"\b[^\W\d_]{2,}\b", text)) >= 2


@dataclass(frozen=True)
class MalayIndonesianMarkers:
    """Words that tell Malay from Indonesian, and how much each one counts."""

    malay: frozenset[str]
    indonesian: frozenset[str]
    malay_suffixes: tuple[str, ...]
    indonesian_suffixes: tuple[str, ...]
    log_odds_per_word: float = math.log(8.0)

    @classmethod
    def load(cls, path: Path = LANGUAGE_DATA / "malay_indonesian.json") -> "MalayIndonesianMarkers":
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            frozenset(data["ms_words"]),
            frozenset(data["id_words"]),
            tuple(data.get("ms_suffixes", ())),
            tuple(data.get("id_suffixes", ())),
        )

    def malay_log_odds(self, text: str) -> float:
        """Evidence for Malay over Indonesian: positive means Malay, 0 means none either way."""
        words = [w.lower() for w in _WORD.findall(text)]
        terms = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
        malay = sum(t in self.malay for t in terms) + sum(_ends_with(w, self.malay_suffixes) for w in words)
        indonesian = sum(t in self.indonesian for t in terms)
        indonesian += sum(_ends_with(w, self.indonesian_suffixes) for w in words)
        return (malay - indonesian) * self.log_odds_per_word


def _ends_with(word: str, suffixes: tuple[str, ...]) -> bool:
    return len(word) > 6 and word.endswith(suffixes)


class LanguageIdentifier:
    """langdetect's model scored exactly, with script shortcuts, a news prior and paragraph-weighted documents."""

    _init_lock = threading.Lock()
    _model: _NgramModel | None = None
    _markers: MalayIndonesianMarkers | None = None

    def __init__(self, seed: int = LANGDETECT_SEED, prior: dict[str, float] | None = None):
        self.seed = seed
        self._ensure_model()
        self.prior = dict(NEWS_PRIOR if prior is None else prior)
        model = self._model
        self._log_prior = np.log(np.array([self.prior.get(lang, 1.0) for lang in model.languages], dtype=np.float64))
        # zh-cn and zh-tw share "zh": split its prior so the two columns do not count it twice
        for language, columns in model.columns_of.items():
            self._log_prior[columns] -= math.log(len(columns))

    @classmethod
    def _ensure_model(cls):
        with cls._init_lock:
            if cls._model is None:
                cls._model = _NgramModel()
                cls._markers = MalayIndonesianMarkers.load()

    def probabilities(self, text: str) -> dict[str, float]:
        """Language → probability for one text; empty when it carries no linguistic signal."""
        return {language: p for language, p in self._score(text).probabilities.items() if p >= 0.001}

    def _score(self, text: str) -> "_Score":
        cleaned = linguistic_text(text)
        scripts = letter_scripts(cleaned)
        letters = sum(scripts.values())
        if letters == 0:
            return _Score({}, False, 0)
        script, count = scripts.most_common(1)[0]
        if script in ("han", "kana") and scripts.get("kana"):
            script, count = "kana", scripts["kana"] + scripts.get("han", 0)  # Japanese mixes kanji and kana
        share = count / letters
        if script in _SCRIPT_LANGUAGE:
            return _Score({_SCRIPT_LANGUAGE[script]: share}, False, letters)
        if script in _SCRIPT_LEANING:
            return _Score({language: p * share for language, p in _SCRIPT_LEANING[script].items()}, True, letters)
        candidates = _SCRIPT_CANDIDATES.get(script)
        posterior = self._posterior(cleaned, candidates)
        if not posterior:
            return _Score({candidates[0]: share} if candidates else {}, False, letters)
        if candidates:
            posterior = {language: p * share for language, p in posterior.items()}
        return _Score(posterior, not candidates or len(candidates) > 1, letters)

    def _posterior(self, text: str, candidates: tuple[str, ...] | None) -> dict[str, float]:
        model = self._model
        log_likelihoods = model.log_likelihoods(text)
        if log_likelihoods is None:
            return {}
        scores = log_likelihoods + self._log_prior
        if candidates:
            allowed = np.full(len(scores), -np.inf)
            for language in candidates:
                allowed[model.columns_of[language]] = 0.0
                if language in _FOREIGN_LETTERS and _FOREIGN_LETTERS[language].intersection(text.lower()):
                    allowed[model.columns_of[language]] = math.log(_RULED_OUT)
            scores = scores + allowed
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        posterior: dict[str, float] = defaultdict(float)
        for language, weight in zip(model.languages, weights.tolist()):
            if weight > 1e-9:
                posterior[language] += weight
        if "id" in posterior:
            self._split_malay(posterior, text)
        return dict(posterior)

    def _split_malay(self, posterior: dict[str, float], text: str) -> None:
        """langdetect's Indonesian profile stands for both Indonesian and Malay: divide it by the words used."""
        log_odds = math.log(self.prior.get("ms", 1.0) / self.prior.get("id", 1.0)) + self._markers.malay_log_odds(text)
        malay_share = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, log_odds))))
        combined = posterior.pop("id")
        posterior["id"] = combined * (1.0 - malay_share)
        posterior["ms"] = combined * malay_share

    def identify(self, text: str) -> LanguageGuess:
        return _best_guess(self._score(text).probabilities)

    def identify_paragraphs(self, paragraphs: tuple[str, ...]) -> tuple[LanguageGuess, tuple[ParagraphLanguage, ...]]:
        """The document's language and each paragraph's, weighted by letters of body text."""
        scores = [self._score(p) for p in paragraphs]
        votes: dict[str, float] = defaultdict(float)
        for score in scores:
            for language, probability in score.probabilities.items():
                votes[language] += probability * score.letters
        total = sum(score.letters for score in scores)
        if not votes or total == 0:
            undetermined = ParagraphLanguage(UNDETERMINED, 0.0)
            return LanguageGuess(UNDETERMINED, 0.0), tuple(undetermined for _ in paragraphs)
        if "ms" in votes:
            # Malay and Indonesian differ in a word here and there: pool the evidence of the whole document
            votes["id"] += votes.pop("ms")
            self._split_malay(votes, "\n".join(paragraphs))
        document_language, vote = max(votes.items(), key=lambda item: item[1])
        document = LanguageGuess(document_language, round(min(1.0, vote / total), 4))
        paragraph_languages = tuple(_paragraph_language(score, document_language) for score in scores)
        return document, paragraph_languages

    def identify_long_text(self, text: str) -> tuple[LanguageGuess, tuple[ParagraphLanguage, ...]]:
        """Like `identify_paragraphs(split_paragraphs(text))`, in bounded time: an evenly spread
        sample of paragraphs is scored, the others take the document's language (module docstring)."""
        count = sum(1 for _ in _iter_paragraphs(text))
        if count == 0:
            return self.identify_paragraphs(())
        wanted = max(1, min(count, MAX_SAMPLE_PARAGRAPHS, round(SAMPLE_CHARS * count / len(text))))
        positions = sorted({i * count // wanted for i in range(wanted)})
        # a sampled paragraph is read up to langdetect's own cap: one huge paragraph costs no more
        sample = tuple(paragraph[:MAX_TEXT_CHARS] for paragraph in _paragraphs_at(text, positions))
        document, sampled = self.identify_paragraphs(sample)
        agreeing = sum(label.language == document.language for label in sampled)
        inferred = ParagraphLanguage(
            document.language, 0.0 if document.language == UNDETERMINED else round((agreeing + 1) / (len(sampled) + 2), 4)
        )
        labels = [inferred] * count  # one shared object: no per-paragraph memory
        for position, label in zip(positions, sampled):
            labels[position] = label
        return document, tuple(labels)

    def annotate(self, doc: Document) -> Document:
        if doc.rejected:
            return doc
        if len(doc.text or "") > LARGE_TEXT_CHARS:
            document, paragraph_languages = self.identify_long_text(doc.text)
        else:
            document, paragraph_languages = self.identify_paragraphs(doc.paragraphs)
        return doc.replace(
            language=document.language,
            language_confidence=document.confidence,
            paragraph_languages=paragraph_languages,
        )


def _iter_paragraphs(text: str):
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


def _paragraphs_at(text: str, positions: list[int]) -> tuple[str, ...]:
    """The paragraphs at the given (sorted) positions of `split_paragraphs(text)`."""
    wanted = iter(positions)
    following = next(wanted, None)
    found = []
    for position, paragraph in enumerate(_iter_paragraphs(text)):
        if position == following:
            found.append(paragraph)
            following = next(wanted, None)
            if following is None:
                break
    return tuple(found)


@dataclass(frozen=True)
class _Score:
    probabilities: dict[str, float]
    statistical: bool  # False when the script alone settled it
    letters: int  # how much body text stands behind it: a paragraph's weight in its document


def _best_guess(probabilities: dict[str, float]) -> LanguageGuess:
    if not probabilities:
        return LanguageGuess(UNDETERMINED, 0.0)
    language, probability = max(probabilities.items(), key=lambda item: item[1])
    return LanguageGuess(language, round(min(1.0, probability), 4))


def _paragraph_language(score: _Score, document_language: str) -> ParagraphLanguage:
    """A paragraph's own posterior, with the document's language made likelier a priori.

    A short paragraph that fits the document's language well enough inherits it; a sentence that
    is clearly another language (an English disclaimer in an Indonesian article) keeps its own.
    """
    probabilities = score.probabilities
    if score.statistical and document_language in probabilities:
        total = sum(probabilities.values())
        leaning = {
            language: p * (DOCUMENT_AFFINITY if language == document_language else 1.0)
            for language, p in probabilities.items()
        }
        scale = total / sum(leaning.values())
        probabilities = {language: p * scale for language, p in leaning.items()}
    guess = _best_guess(probabilities)
    return ParagraphLanguage(guess.language, guess.confidence)


_shared_identifier: LanguageIdentifier | None = None


def shared_identifier() -> LanguageIdentifier:
    global _shared_identifier
    if _shared_identifier is None:
        _shared_identifier = LanguageIdentifier()
    return _shared_identifier


def detect_language(doc: Document) -> Document:
    """The stage function: document and paragraph languages for one document."""
    return shared_identifier().annotate(doc)
