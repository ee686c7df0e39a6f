"""Language identification: langdetect's profiles, scored exactly, per paragraph and per document.

langdetect models a language as character 1-3-gram frequencies and estimates the posterior by
random sampling (seeded, it repeats; unseeded, it does not). Here the same profiles and the same
text normalisation give the exact naive-Bayes posterior instead: deterministic by construction,
faster, and honest on short text. Every language is equally likely a priori (no weight fitted to
the development languages): what a two-word fragment cannot settle stays a close call.

Scripts that settle the language on their own (Hangul, kana, Thai, ...) are answered without
statistics. langdetect has no Malay profile: Malay scores as Indonesian, and a learned model
(`MalayIndonesianModel`, naive Bayes over words, word pairs and letter n-grams, trained by
`workbench.language_training` on professional translations of the same news into both) splits
that score by the text's own log-odds of Malay. A document's language is the language of most
of its body text, and between Malay and Indonesian the evidence of all its text decides; a short
paragraph leans towards the document's language, so a caption or a two-word line does not flip,
while a whole sentence in another language keeps its own. A Malay or Indonesian sentence with no
evidence either way takes its document's one at a confidence that says it was a close call.

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
import gzip
import json
import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.record import PARAGRAPH_SEPARATOR, Document, ParagraphLanguage, iter_paragraphs

UNDETERMINED = "und"
LANGDETECT_SEED = 0  # kept for callers; exact scoring has nothing random left to seed
LANGUAGE_DATA = Path(__file__).resolve().parent / "language_data"
MALAY_INDONESIAN_MODEL = LANGUAGE_DATA / "malay_indonesian_model.json.gz"

# Every language is equally likely a priori: a prior fitted to the languages of the development
# data made the others lose their short texts to them (issue 24). The one exception is the split
# of langdetect's Indonesian profile, which stands for Malay and Indonesian together: Indonesia has
# about eight times the people of Malaysia and Brunei, so a Malay/Indonesian text with little
# evidence of its own (two words) is Indonesian, while a Malay sentence's own evidence still
# outweighs this. On the tune half of NTREX (story folds, `python -m workbench.language_training
# --prior-ratios`) 1:4 and 0.35:1 tie for the widest margin over both targets (Indonesian 0.98,
# Malay 0.88); the tie goes to the more common language in news.
MALAY_TO_INDONESIAN_PRIOR = 0.25
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
# Between Malay and Indonesian the lean is mild: a paragraph with no evidence of its own takes the
# document's one at a confidence near 3/4, a close call; its own evidence beyond 3:1 keeps it.
RELATED_DOCUMENT_AFFINITY = 3.0
# Below this share of Malay/Indonesian in a text's posterior, the split between them is the prior's.
MALAY_INDONESIAN_MIN_SHARE = 0.001
WORD_CACHE_SIZE = 50_000  # words whose Malay/Indonesian log-odds are remembered
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
        """The profile rows of the text's n-grams, exactly as langdetect's Detector extracts them
        (append, cleaning_text, _extract_ngrams), without its per-character method calls, which
        cost more than the rest of language identification."""
        row_of = self.row_of
        rows: list[int] = []
        grams, capital_word = " ", False
        for ch in _langdetect_text(text[:MAX_TEXT_CHARS]).translate(_LANGDETECT_CHARACTERS):
            last = grams[-1]
            if last == " ":
                grams, capital_word = " ", False
                if ch == " ":
                    continue
            elif len(grams) >= 3:
                grams = grams[1:]
            grams += ch
            if ch.isupper():
                if last.isupper():
                    capital_word = True
            else:
                capital_word = False
            if capital_word:
                continue
            if ch != " " and ch in row_of:
                rows.append(row_of[ch])
            if len(grams) >= 2:
                if grams[-2:] in row_of:
                    rows.append(row_of[grams[-2:]])
                if len(grams) >= 3 and grams in row_of:
                    rows.append(row_of[grams])
        return rows

    def log_likelihoods(self, text: str) -> np.ndarray | None:
        if _mostly_upper_case(text):
            text = text.lower()  # langdetect skips upper-case words; a shouted headline still speaks
        rows = self.ngram_rows(text)
        if not rows:
            return None
        return self.log_probabilities[rows].sum(axis=0, dtype=np.float64) / NGRAM_TEMPERATURE


class _LangdetectCharacters(dict):
    """str.translate table of langdetect's NGram.normalize, filled as characters are met."""

    def __missing__(self, codepoint: int) -> str:
        from langdetect.utils.ngram import NGram

        self[codepoint] = NGram.normalize(chr(codepoint))
        return self[codepoint]


_LANGDETECT_CHARACTERS = _LangdetectCharacters()
_LATIN = re.compile(r"[A-z]")
_NON_LATIN = re.compile("[\u0300-\u1dff\u1f00-\U0010ffff]")  # langdetect: >= U+0300, not Latin Extended Additional
_SPACES = re.compile(" +")


def _langdetect_text(text: str) -> str:
    """What langdetect's Detector.append and cleaning_text leave of a text: no URLs or e-mail
    addresses, Vietnamese marks composed, runs of spaces as one, at most 10,000 characters, and
    no Latin letters when the text is mostly in another script."""
    from langdetect.detector import Detector
    from langdetect.utils.ngram import NGram

    text = NGram.normalize_vi(Detector.MAIL_RE.sub(" ", Detector.URL_RE.sub(" ", text)))
    text = _SPACES.sub(" ", text[:10000])
    if len(_LATIN.findall(text)) * 2 < len(_NON_LATIN.findall(text)):
        text = _LATIN.sub("", text)
    return text


def _mostly_upper_case(text: str) -> bool:
    """A headline in capitals, not one acronym (which langdetect rightly reads as no word at all)."""
    upper = sum(c.isupper() for c in text)
    return upper >= sum(c.islower() for c in text) and len(re.findall(r"\b[^\W\d_]{2,}\b", text)) >= 2


def malay_indonesian_features(text: str) -> set[str]:
    """What the Malay/Indonesian model reads: words, word pairs and letter 2-4-grams of words, lower case."""
    words = [w.lower() for w in _WORD.findall(text)]
    features = {f"p {a} {b}" for a, b in zip(words, words[1:])}
    for word in set(words):
        features.update(_word_features(word))
    return features


def _word_features(word: str) -> list[str]:
    padded = f" {word} "
    return [f"w {word}"] + [f"c {padded[i:i + n]}" for n in range(2, 5) for i in range(len(padded) - n + 1)]


@dataclass(frozen=True)
class MalayIndonesianModel:
    """Log-odds of Malay over Indonesian from the features a text contains (binarised naive Bayes,
    calibrated): positive means Malay, 0 means no evidence either way. Trained by
    `python -m workbench.language_training` on professional translations of the same news into both,
    with each word's frequency in Malay and in Indonesian text (wordfreq's lists)."""

    weights: dict[str, float]
    _word_cache: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path = MALAY_INDONESIAN_MODEL) -> "MalayIndonesianModel":
        return cls(json.loads(gzip.decompress(path.read_bytes()))["weights"])

    def malay_log_odds(self, text: str) -> float:
        """The sum of the weights of the text's features; a letter n-gram shared by two different
        words counts for each (each word's sum is cached: news repeats its words)."""
        weights = self.weights
        words = [w.lower() for w in _WORD.findall(text)]
        pairs = {f"p {a} {b}" for a, b in zip(words, words[1:])}
        # fsum: exact, so the order a set is walked in (it varies between processes) cannot change the result
        return math.fsum([*map(self._word_log_odds, set(words)), *(weights.get(pair, 0.0) for pair in pairs)])

    def _word_log_odds(self, word: str) -> float:
        cached = self._word_cache.get(word)
        if cached is None:
            if len(self._word_cache) >= WORD_CACHE_SIZE:
                self._word_cache.clear()
            cached = self._word_cache[word] = math.fsum(self.weights.get(f, 0.0) for f in _word_features(word))
        return cached


class LanguageIdentifier:
    """langdetect's model scored exactly, with script shortcuts, the same prior for every language
    and paragraph-weighted documents.

    `prior` (language -> relative weight, 1.0 for any language not named) exists for experiments
    and tests: the pipeline uses none.
    """

    _init_lock = threading.Lock()
    _model: _NgramModel | None = None
    _malay_indonesian: MalayIndonesianModel | None = None

    def __init__(
        self,
        seed: int = LANGDETECT_SEED,
        prior: dict[str, float] | None = None,
        malay_indonesian: MalayIndonesianModel | None = None,
    ):
        self.seed = seed
        self._ensure_model()
        self.malay_indonesian = malay_indonesian or self._malay_indonesian
        self.prior = dict(prior or {})
        indonesian_prior = self.prior.get("id", 1.0)
        self._malay_prior_log_odds = math.log(self.prior.get("ms", indonesian_prior * MALAY_TO_INDONESIAN_PRIOR) / indonesian_prior)
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
                cls._malay_indonesian = MalayIndonesianModel.load()

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
        malay_evidence = 0.0
        if posterior.get("id", 0.0) >= MALAY_INDONESIAN_MIN_SHARE:
            malay_evidence = self.malay_indonesian.malay_log_odds(cleaned)
        _split_malay_indonesian(posterior, self._malay_prior_log_odds + malay_evidence)
        return _Score(posterior, not candidates or len(candidates) > 1, letters, malay_evidence)

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
        return dict(posterior)  # "id" is langdetect's profile of Indonesian and Malay together

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
        if "ms" in votes or "id" in votes:
            # Malay and Indonesian differ in a word here and there: pool the evidence of all the text,
            # each paragraph's as far as it is Malay or Indonesian at all
            evidence = sum(score.malay_indonesian_share * score.malay_evidence for score in scores)
            _split_malay_indonesian(votes, self._malay_prior_log_odds + evidence)
        document_language, vote = max(votes.items(), key=lambda item: item[1])
        document = LanguageGuess(document_language, round(min(1.0, vote / total), 4))
        paragraph_languages = tuple(_paragraph_language(score, document_language) for score in scores)
        return document, paragraph_languages

    def identify_long_text(self, text: str) -> tuple[LanguageGuess, tuple[ParagraphLanguage, ...]]:
        """Like `identify_paragraphs(split_paragraphs(text))`, in bounded time: an evenly spread
        sample of paragraphs is scored, the others take the document's language (module docstring)."""
        count = sum(1 for _ in iter_paragraphs(text))
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


def _paragraphs_at(text: str, positions: list[int]) -> tuple[str, ...]:
    """The paragraphs at the given (sorted) positions of `split_paragraphs(text)`."""
    wanted = iter(positions)
    following = next(wanted, None)
    found = []
    for position, paragraph in enumerate(iter_paragraphs(text)):
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
    malay_evidence: float = 0.0  # the text's own log-odds of Malay over Indonesian, no prior

    @property
    def malay_indonesian_share(self) -> float:
        return self.probabilities.get("ms", 0.0) + self.probabilities.get("id", 0.0)


def _split_malay_indonesian(probabilities: dict[str, float], malay_log_odds: float) -> None:
    """langdetect's Indonesian profile stands for Indonesian and Malay together: divide their
    combined probability by the log-odds of Malay."""
    combined = probabilities.pop("ms", 0.0) + probabilities.pop("id", 0.0)
    if combined:
        malay_share = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, malay_log_odds))))
        probabilities["id"] = combined * (1.0 - malay_share)
        probabilities["ms"] = combined * malay_share


def _best_guess(probabilities: dict[str, float]) -> LanguageGuess:
    if not probabilities:
        return LanguageGuess(UNDETERMINED, 0.0)
    language, probability = max(probabilities.items(), key=lambda item: item[1])
    return LanguageGuess(language, round(min(1.0, probability), 4))


def _paragraph_language(score: _Score, document_language: str) -> ParagraphLanguage:
    """A paragraph's own posterior, with the document's language made likelier a priori.

    A short paragraph that fits the document's language well enough inherits it; a sentence that
    is clearly another language (an English disclaimer in an Indonesian article) keeps its own.
    Malay and Indonesian count as one language for that lean; between the two, a paragraph's own
    evidence decides, and without any it takes the document's one as a close call
    (RELATED_DOCUMENT_AFFINITY).
    """
    probabilities = dict(score.probabilities)
    related = document_language in ("ms", "id")
    leaning_to = "id" if related else document_language
    if related and ("id" in probabilities or "ms" in probabilities):
        probabilities["id"] = probabilities.pop("id", 0.0) + probabilities.pop("ms", 0.0)
    if score.statistical and leaning_to in probabilities:
        total = sum(probabilities.values())
        leaning = {
            language: p * (DOCUMENT_AFFINITY if language == leaning_to else 1.0)
            for language, p in probabilities.items()
        }
        scale = total / sum(leaning.values())
        probabilities = {language: p * scale for language, p in leaning.items()}
    if related:
        lean = math.log(RELATED_DOCUMENT_AFFINITY) * (1 if document_language == "ms" else -1)
        _split_malay_indonesian(probabilities, score.malay_evidence + lean)
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
