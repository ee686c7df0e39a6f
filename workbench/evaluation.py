"""Score every stage on the development data: the numbers behind `newsflow eval` and the quality gate.

Extraction is scored the way trafilatura's and ScrapingHub's article-extraction benchmark
score it: the extracted body and the expected body are each a bag of tokens (with counts),
and precision, recall and F1 come from the tokens they share. Titles, authors and dates are
scored as exact matches against hand-checked labels; language identification as accuracy.
`run_evaluation` returns the headline scores in one flat dict, which the quality gate
(`gate_failures`) compares with a stored baseline.

The development data lives in the repository (`workbench/data/devdata`, its sources and licences
in the README there), so every checkout runs the gate; `NEWSFLOW_DEVDATA` points elsewhere.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import re
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from pipeline.extract import clean_text_dump, extract_html, html_to_text_dump
from pipeline.extract.article import ExtractedArticle
from workbench import DATA_DIR
from workbench.duplicates_eval import READABILITY_ARCHIVE, duplicate_scores, duplicates_table
from workbench.langid_eval import (
    evaluate_langid_sets,
    langid_scores,
    langid_table,
    read_labelled_texts,
    speed_against_langdetect,
)
from workbench.language_training import (
    CHECK,
    LENGTH_CLASSES,
    TUNE,
    cross_validate,
    read_parallel_sentences,
    score_held_out,
    split_halves,
)

DEVDATA_ENV = "NEWSFLOW_DEVDATA"
DEVDATA_PATH = DATA_DIR / "devdata"
LABELS_PATH = DATA_DIR / "extraction_labels.json"
BASELINE_PATH = DATA_DIR / "quality_baseline.json"
GATE_TOLERANCE = 0.01
WORST_PAGES = 5

HtmlExtractor = Callable[[str], ExtractedArticle]
DumpCleaner = Callable[[str], ExtractedArticle]


# ------------------------------------------------------------------ token scores

# Scripts written without spaces between words: each character is a token.
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan (syllables, not words, are delimited)
    (0x1000, 0x109F),  # Myanmar (Burmese)
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x2FA1F),  # CJK extensions B and later
)


def _is_unspaced(char: str) -> bool:
    code = ord(char)
    if code < 0x0E00:  # below every range: Latin, Cyrillic, Arabic, Devanagari... (most text)
        return False
    return any(low <= code <= high for low, high in _UNSPACED_RANGES)


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def tokens(text: str) -> list[str]:
    """Case-folded tokens of `text`: words, or characters in scripts written without spaces.

    A word is a run of letters, digits and combining marks (so Devanagari or Arabic words
    keep their vowel signs). Space-delimited scripts (Latin, Cyrillic, Arabic, Devanagari,
    Hangul, ...) give one token per word. Thai, Lao, Burmese, Khmer, Tibetan, Chinese and
    Japanese give one token per character, with its combining marks attached, because their
    words are not delimited and a word segmenter would make the score depend on it.
    Punctuation is not a token.
    """
    out: list[str] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            out.append("".join(word).casefold())
            word.clear()

    for char in unicodedata.normalize("NFC", text):
        if not _is_word_char(char):
            flush()
        elif _is_unspaced(char):
            if unicodedata.category(char)[0] == "M" and word and _is_unspaced(word[-1]):
                word.append(char)  # a vowel sign or tone mark belongs to its letter
            else:
                flush()
                word.append(char)
        else:
            if word and _is_unspaced(word[-1]):
                flush()
            word.append(char)
    flush()
    return out


@dataclass(frozen=True)
class TokenScore:
    precision: float
    recall: float
    f1: float


def token_scores(predicted: str, expected: str) -> TokenScore:
    """Bag-of-tokens precision, recall and F1 of `predicted` against `expected`.

    Two empty texts agree perfectly; an empty prediction of a non-empty text scores 0.
    """
    got, want = Counter(tokens(predicted)), _expected_counts(expected)
    if not got and not want:
        return TokenScore(1.0, 1.0, 1.0)
    common = sum((got & want).values())
    if not common:
        return TokenScore(0.0, 0.0, 0.0)
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return TokenScore(precision, recall, 2 * precision * recall / (precision + recall))


@functools.lru_cache(maxsize=512)
def _expected_counts(expected: str) -> Counter:
    """The expected text's tokens, counted once per text and process (every path scores against it)."""
    return Counter(tokens(expected))


def token_f1(predicted: str, expected: str) -> float:
    return token_scores(predicted, expected).f1


# ------------------------------------------------------------------ extraction


@dataclass(frozen=True)
class PageScore:
    name: str
    precision: float
    recall: float
    f1: float
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class ExtractionScores:
    path: str  # "html" or "dump"
    pages: tuple[PageScore, ...]
    seconds: float  # time spent in the stage itself, not reading files

    @property
    def precision(self) -> float:
        return _mean(p.precision for p in self.pages)

    @property
    def recall(self) -> float:
        return _mean(p.recall for p in self.pages)

    @property
    def f1(self) -> float:
        return _mean(p.f1 for p in self.pages)

    @property
    def worst(self) -> tuple[PageScore, ...]:
        return tuple(sorted(self.pages, key=lambda p: (p.f1, p.name))[:WORST_PAGES])

    @property
    def pages_per_second(self) -> float:
        return len(self.pages) / self.seconds if self.seconds > 0 else math.inf


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class DevPage:
    name: str
    html: str
    expected: str


def read_dev_pages(pages_dir: str | Path) -> list[DevPage]:
    """Every `NAME.html` in `pages_dir` that has its expected body `NAME.txt` beside it."""
    pages = []
    for html_path in sorted(Path(pages_dir).glob("*.html")):
        text_path = html_path.with_suffix(".txt")
        if text_path.exists():
            pages.append(
                DevPage(
                    html_path.stem,
                    html_path.read_text(encoding="utf-8", errors="replace"),
                    text_path.read_text(encoding="utf-8", errors="replace"),
                )
            )
    return pages


def _score_articles(path: str, pages: list[DevPage], run: Callable[[DevPage], ExtractedArticle]) -> ExtractionScores:
    scored, seconds = [], 0.0
    for page in pages:
        started = time.perf_counter()
        article = run(page)
        seconds += time.perf_counter() - started
        score = token_scores(article.text or "", page.expected)
        scored.append(
            PageScore(page.name, score.precision, score.recall, score.f1, article.title, article.author, article.published_at)
        )
    return ExtractionScores(path, tuple(scored), seconds)


def evaluate_html_extraction(pages_dir: str | Path, extractor: HtmlExtractor = extract_html) -> ExtractionScores:
    """`extractor(html).text` against `NAME.txt` for every page; the time counts extraction only."""
    return _score_articles("html", read_dev_pages(pages_dir), lambda page: extractor(page.html))


def evaluate_text_dumps(pages_dir: str | Path, cleaner: DumpCleaner = clean_text_dump) -> ExtractionScores:
    """The pages flattened to plain-text dumps (all visible text, one line per block element,
    menus and footers included, like the seeds), cleaned by `cleaner` and scored like HTML.

    The time counts the cleaner only, not the flattening, which stands in for the user's copy.
    """
    pages = read_dev_pages(pages_dir)
    dumps = {page.name: html_to_text_dump(page.html) for page in pages}
    return _score_articles("dump", pages, lambda page: cleaner(dumps[page.name]))


# ------------------------------------------------------------------ metadata

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "`": "'", "´": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"'})
_SPACE = re.compile(r"\s+")
_AUTHOR_SPLIT = re.compile(r"\s*(?:[,;&/、，]|\band\b)\s*", re.I)
_BYLINE_PREFIX = re.compile(r"^(?:\w+\s+)?(?:by|por|par|von|oleh|di|door|autori|authors?|written by)\s*:?\s+", re.I)


def normalise_text(value: str | None) -> str:
    """NFKC, one space for any whitespace run, straight quotes; for exact-match comparisons."""
    if not value:
        return ""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", value).translate(_QUOTES)).strip()


def author_names(byline: str | None, affiliations: tuple[str, ...] = ()) -> frozenset[str]:
    """The names in a byline ("By A, B and C, CNN" -> {a, b, c}), case-folded, outlets dropped."""
    text = normalise_text(byline)
    ignored = {normalise_text(a).casefold() for a in affiliations}
    names = set()
    for part in _AUTHOR_SPLIT.split(text):
        part = _BYLINE_PREFIX.sub("", part.strip()).strip().casefold()
        if part and part not in ignored:
            names.add(part)
    return frozenset(names)


def _accepted_days(label: str) -> set[date]:
    """The calendar days a labelled time falls on: local and UTC when the label has an offset."""
    moment = datetime.fromisoformat(label)
    if moment.tzinfo is None:
        return {moment.date()}
    return {moment.date(), moment.astimezone(timezone.utc).date()}


@dataclass(frozen=True)
class PageLabel:
    title: str | None
    authors: tuple[str, ...] | None
    also_authors: tuple[tuple[str, ...], ...] = ()
    affiliations: tuple[str, ...] = ()
    published: str | None = None


def read_labels(path: str | Path = LABELS_PATH) -> dict[str, PageLabel]:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))["pages"]
    return {
        name: PageLabel(
            title=entry.get("title"),
            authors=tuple(entry["authors"]) if entry.get("authors") else None,
            also_authors=tuple(tuple(names) for names in entry.get("also_authors", ())),
            affiliations=tuple(entry.get("affiliations", ())),
            published=entry.get("published"),
        )
        for name, entry in raw.items()
    }


def title_matches(predicted: str | None, label: PageLabel) -> bool:
    return bool(predicted) and normalise_text(predicted) == normalise_text(label.title)


def author_matches(predicted: str | None, label: PageLabel) -> bool:
    got = author_names(predicted, label.affiliations)
    return any(got == frozenset(normalise_text(n).casefold() for n in names) for names in (label.authors, *label.also_authors))


def date_matches(predicted: datetime | None, label: PageLabel) -> bool:
    return predicted is not None and predicted.date() in _accepted_days(label.published)


@dataclass(frozen=True)
class FieldScore:
    field: str  # "title" | "author" | "date"
    path: str
    hits: int
    total: int
    misses: tuple[tuple[str, str, str], ...] = ()  # (page, expected, got)
    labelled: tuple[str, ...] = ()  # the pages whose label has this field

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


_MATCHERS = {
    "title": (lambda label: label.title, lambda page: page.title, title_matches),
    "author": (lambda label: label.authors, lambda page: page.author, author_matches),
    "date": (lambda label: label.published, lambda page: page.published_at, date_matches),
}


def score_metadata(scores: ExtractionScores, labels: dict[str, PageLabel]) -> dict[str, FieldScore]:
    """Exact-match rate of title, author and date over the pages whose label has that field."""
    results = {}
    for field_name, (expected_of, got_of, matches) in _MATCHERS.items():
        hits, misses, labelled = 0, [], []
        for page in scores.pages:
            label = labels.get(page.name)
            if label is None or expected_of(label) is None:
                continue
            labelled.append(page.name)
            if matches(got_of(page), label):
                hits += 1
            else:
                expected = expected_of(label)
                expected = ", ".join(expected) if isinstance(expected, tuple) else str(expected)
                got = got_of(page)
                misses.append((page.name, expected, got.isoformat(sep=" ") if isinstance(got, datetime) else str(got)))
        results[field_name] = FieldScore(field_name, scores.path, hits, len(labelled), tuple(misses), tuple(labelled))
    return results


# ------------------------------------------------------------------ the whole evaluation


def default_devdata() -> Path:
    """`NEWSFLOW_DEVDATA`, else the repository's `workbench/data/devdata`."""
    override = os.environ.get(DEVDATA_ENV)
    return Path(override) if override else DEVDATA_PATH


class DevDataMissing(FileNotFoundError):
    pass


def run_evaluation(
    devdata: Path | None = None,
    *,
    html_extractor: HtmlExtractor = extract_html,
    dump_cleaner: DumpCleaner = clean_text_dump,
    identifier=None,
    labels_path: Path = LABELS_PATH,
) -> dict:
    """Every headline number in `scores` (flat, check half, gated), the tune half's in `tune_scores`, speeds in `throughput` (not gated), and `details`.

    Raises `DevDataMissing` when `devdata` (default: `default_devdata()`) lacks the pages or
    the langid set, or the page labels are missing. The stages are parameters so a test can
    score a deliberately worse one.
    """
    devdata = Path(devdata) if devdata else default_devdata()
    pages_dir, langid_tsv = devdata / "extraction", devdata / "langid" / "dev.tsv"
    if not any(pages_dir.glob("*.html")) or not langid_tsv.exists():
        raise DevDataMissing(f"development data not found under {devdata} (set {DEVDATA_ENV} to its folder)")
    if not Path(labels_path).exists():  # an installed wheel carries no tests/
        raise DevDataMissing(f"page labels not found at {labels_path}: run `newsflow eval` from a newsflow checkout")
    started = time.perf_counter()
    labels = read_labels(labels_path)
    from workbench.extraction_eval import evaluate_extraction, newspaper4k_scores

    # both page subsets, split by site into tune and check halves (workbench/extraction_eval.py)
    extraction = evaluate_extraction(pages_dir, html_extractor, dump_cleaner, labels)
    html, dump = (newspaper4k_scores(extraction.pop(f"{path}_scored")) for path in ("html", "dump"))
    metadata = {path.path: score_metadata(path, labels) for path in (html, dump)}
    langid_sets = evaluate_langid_sets(langid_tsv.parent, identifier)
    langid = langid_sets["dev"]["check"]
    # the repository's development data has it (the gate's key check fails without it); a small test set may not
    malay_indonesian_tsv = devdata / "langid" / "ntrex_ms_id.tsv"
    malay_indonesian = _malay_indonesian_halves(malay_indonesian_tsv, identifier) if malay_indonesian_tsv.exists() else None
    # every 4th development text: the same texts for both, in a second or two
    speeds = speed_against_langdetect([item.text for item in read_labelled_texts(langid_tsv)[::4]], identifier)

    scores = dict(extraction["scores"])
    scores.update(langid_scores(langid_sets, "check"))

    # Every development set is split by source into a tune half (where anything is chosen) and a
    # check half; `scores` holds the check half's figures (gated), `tune_scores` the same names on
    # the tune half (shown beside them, never gated). A figure not split yet is in `scores` only.
    tune_scores: dict[str, float] = dict(extraction["tune_scores"])
    tune_scores.update(langid_scores(langid_sets, "tune"))
    for half, figures in ((CHECK, scores), (TUNE, tune_scores)):  # NTREX by story block (language_training)
        for language, accuracy in (malay_indonesian or {}).get(half, {}).get("per_language", {}).items():
            figures[f"langid.ntrex.{language}"] = accuracy
    # duplicates: the real-pages set needs the readability archive (a small test set may not have it)
    duplicates = duplicate_scores(extraction_dir=pages_dir) if (pages_dir / READABILITY_ARCHIVE).exists() else None
    if duplicates:
        scores.update(duplicates[0])
        tune_scores.update(duplicates[1])
    return {
        "devdata": str(devdata),
        "scores": scores,
        "tune_scores": tune_scores,
        "throughput": {
            **extraction["pages_per_second"],
            "language.texts_per_second": langid["texts_per_second"],
        },
        "details": {
            "pages": {
                path.path: [_page_detail(p) for p in path.pages] for path in (html, dump)
            },
            "worst": {path.path: [p.name for p in path.worst] for path in (html, dump)},
            "extraction": extraction,
            "metadata": {
                path: {name: _field_detail(score) for name, score in fields.items()}
                for path, fields in metadata.items()
            },
            "langid": {key: value for key, value in langid.items() if key != "misses"},
            "langid_misses": langid["misses"],
            "langid_sets": langid_sets,
            "malay_indonesian": (
                {half: {key: value for key, value in result.items() if key != "misses"} for half, result in malay_indonesian.items()}
                if malay_indonesian
                else None
            ),
            # texts per second on the same texts (every 4th development text)
            "language_against_langdetect": speeds,
            "duplicates": duplicates[2] if duplicates else None,
        },
        "elapsed_seconds": time.perf_counter() - started,
    }


@functools.lru_cache(maxsize=4)
def _cached_tune_cross_validation(path: str, modified_ns: int, size: int) -> dict:
    return cross_validate(split_halves(read_parallel_sentences(path))[TUNE])


@functools.lru_cache(maxsize=4)
def _cached_check_half(path: str, modified_ns: int, size: int) -> dict:
    return score_held_out(split_halves(read_parallel_sentences(path))[CHECK])


def _malay_indonesian_halves(path: Path, identifier=None) -> dict:
    """The language stage on the Malay/Indonesian parallel sentences, split by story block
    (`language_training`): the tune half cross-validated by story folds, the check half scored by
    the shipped model (trained on the tune half) or `identifier`; computed once per file and process."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if identifier is None:
        check = _cached_check_half(*key)
    else:
        check = score_held_out(split_halves(read_parallel_sentences(path))[CHECK], identifier)
    return {TUNE: _cached_tune_cross_validation(*key), CHECK: check}


def _page_detail(page: PageScore) -> dict:
    detail = asdict(page)
    detail["published_at"] = page.published_at.isoformat() if page.published_at else None
    return detail


def _field_detail(score: FieldScore) -> dict:
    return {
        "hits": score.hits,
        "total": score.total,
        "rate": score.rate,
        "labelled": list(score.labelled),
        "misses": [dict(zip(("page", "expected", "got"), miss)) for miss in score.misses],
    }


# ------------------------------------------------------------------ the quality gate


def gate_failures(scores: dict[str, float], baseline: dict[str, float], tolerance: float = GATE_TOLERANCE) -> list[str]:
    """One line for every baseline score that is missing or more than `tolerance` below its baseline."""
    failures = []
    for name, floor in sorted(baseline.items()):
        if name not in scores:
            failures.append(f"{name}: missing (baseline {floor:.3f})")
        elif scores[name] < floor - tolerance - 1e-9:
            failures.append(f"{name}: {scores[name]:.3f} is more than {tolerance} below the baseline {floor:.3f}")
    return failures


def baseline_from_scores(scores: dict[str, float]) -> dict[str, float]:
    """Scores rounded down to 3 decimals, as stored in the baseline file."""
    return {name: math.floor(value * 1000 + 1e-9) / 1000 for name, value in sorted(scores.items())}


def read_baseline(path: str | Path = BASELINE_PATH) -> tuple[dict[str, float], float]:
    """The stored headline scores and the tolerance the gate allows below them."""
    stored = json.loads(Path(path).read_text(encoding="utf-8"))
    return stored["scores"], stored.get("tolerance", GATE_TOLERANCE)


# ------------------------------------------------------------------ report


def format_evaluation(result: dict, baseline: dict[str, float] | None = None, tolerance: float = GATE_TOLERANCE) -> str:
    """The full report as plain text: headline scores (against `baseline` when given), pages,
    metadata misses, language identification and throughput."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None, force_terminal=False, highlight=False)
    details = result["details"]
    console.print(_headline_table(result["scores"], baseline, tolerance, result.get("tune_scores", {})))
    console.print(_pages_table(details))
    for path in ("html", "dump"):
        by_name = {p["name"]: p for p in details["pages"][path]}
        worst = ", ".join(f"{n} ({by_name[n]['f1']:.3f})" for n in details["worst"][path])
        console.print(f"worst {path} pages by F1: {worst}")
    if "extraction" in details:
        from workbench.extraction_eval import subsets_table

        console.print(subsets_table(details["extraction"]["subsets"]))
        if "dump_languages" in details["extraction"]:
            from workbench.extraction_eval import dump_languages_table

            console.print(dump_languages_table(details["extraction"]["dump_languages"]))
    console.print(_metadata_misses_table(details["metadata"]))
    console.print(langid_table(details["langid_sets"]) if "dev50" in details.get("langid_sets", {}) else _langid_table(details["langid"]))
    if details["malay_indonesian"]:  # absent only from a development set without the Malay/Indonesian file
        console.print(_malay_indonesian_table(details["malay_indonesian"]))
    if details.get("duplicates"):
        console.print(duplicates_table(details["duplicates"]))
    console.print(_throughput_table(result["throughput"], details["language_against_langdetect"]))
    console.print(f"devdata: {result['devdata']}   evaluation took {result['elapsed_seconds']:.1f} s")
    return buffer.getvalue().rstrip() + "\n"


def _headline_table(
    scores: dict[str, float], baseline: dict[str, float] | None, tolerance: float, tune_scores: dict[str, float]
):
    from rich.table import Table

    headline = Table(title="Headline scores (check half, gated; the tune half beside them)", title_justify="left")
    headline.add_column("score")
    headline.add_column("tune", justify="right")
    headline.add_column("check", justify="right")
    if baseline:
        headline.add_column("baseline", justify="right")
        headline.add_column("gate")
    for name, value in scores.items():
        tuned = tune_scores.get(name)
        row = [name, "-" if tuned is None else f"{tuned:.3f}", f"{value:.3f}"]
        if baseline:
            floor = baseline.get(name)
            failed = bool(gate_failures({name: value}, {name: floor}, tolerance)) if floor is not None else False
            row += ["-" if floor is None else f"{floor:.3f}", "FAIL" if failed else "ok"]
        headline.add_row(*row)
    return headline


def _pages_table(details: dict):
    from rich.table import Table

    pages = Table(title="Extraction per page (token P / R / F1; title, author, date: + hit, - miss, . no label)", title_justify="left")
    pages.add_column("page")
    for path in ("html", "dump"):
        for column in ("P", "R", "F1"):
            pages.add_column(f"{path} {column}", justify="right")
        pages.add_column(f"{path} t/a/d", justify="center")
    by_path = {path: {p["name"]: p for p in rows} for path, rows in details["pages"].items()}
    metadata = details["metadata"]
    for name in by_path["html"]:
        row = [name]
        for path in ("html", "dump"):
            page = by_path[path][name]
            row += [f"{page['precision']:.3f}", f"{page['recall']:.3f}", f"{page['f1']:.3f}"]
            row.append("".join(_mark(name, metadata[path][field_name]) for field_name in ("title", "author", "date")))
        pages.add_row(*row)
    return pages


def _metadata_misses_table(metadata: dict):
    from rich.table import Table

    misses = Table(title="Metadata misses", title_justify="left")
    for column in ("path", "field", "page", "expected", "got"):
        misses.add_column(column, overflow="fold")
    for path, fields in metadata.items():
        for field_name, info in fields.items():
            for miss in info["misses"]:
                misses.add_row(path, field_name, miss["page"], miss["expected"], miss["got"])
    return misses


def _langid_table(langid: dict):
    from rich.table import Table

    kinds = sorted(langid["per_kind"])
    language = Table(title=f"Language identification ({langid['count']} texts)", title_justify="left")
    language.add_column("language")
    for kind in kinds:
        language.add_column(kind, justify="right")
    language.add_column("all", justify="right")
    for lang, accuracy in langid["per_language"].items():
        cells = [langid["per_language_kind"].get(f"{lang}/{kind}") for kind in kinds]
        language.add_row(lang, *("-" if c is None else f"{c:.3f}" for c in cells), f"{accuracy:.3f}")
    language.add_row("all", *(f"{langid['per_kind'][kind]:.3f}" for kind in kinds), f"{langid['accuracy']:.3f}")
    return language


def _malay_indonesian_table(halves: dict):
    from rich.table import Table

    classes = [name for _, name in LENGTH_CLASSES]
    tune, check = halves[TUNE], halves[CHECK]
    related = Table(
        title=(
            f"Malay / Indonesian (NTREX by story block): check half {check['count']} sentences, {check['how']}; "
            f"tune half {tune['count']}, {tune['how']}"
        ),
        title_justify="left",
    )
    related.add_column("language")
    related.add_column("half")
    for name in classes:
        related.add_column(name, justify="right")
    related.add_column("all", justify="right")
    related.add_column("model alone", justify="right")
    for lang in check["per_language"]:
        for half, result in ((TUNE, tune), (CHECK, check)):
            cells = [result["per_length"].get(f"{lang} {name}") for name in classes]
            counts = [result["length_counts"].get(f"{lang} {name}") for name in classes]
            related.add_row(
                lang,
                half,
                *("-" if c is None else f"{c:.3f} ({n})" for c, n in zip(cells, counts)),
                f"{result['per_language'][lang]:.3f}",
                f"{result['model_alone'][lang]:.3f}",
            )
    return related


def _throughput_table(throughput: dict[str, float], against_langdetect: dict[str, float]):
    from rich.table import Table

    speed = Table(title="Throughput (not gated)", title_justify="left")
    speed.add_column("stage")
    speed.add_column("per second", justify="right")
    for name, value in throughput.items():
        speed.add_row(name, f"{value:.1f}")
    for name, value in against_langdetect.items():
        speed.add_row(f"{name}.texts_per_second (every 4th langid text, same for both)", f"{value:.1f}")
    return speed


def _mark(page: str, field_detail: dict) -> str:
    if page not in field_detail["labelled"]:
        return "."
    return "-" if any(miss["page"] == page for miss in field_detail["misses"]) else "+"


def eval_command(devdata: Path | None = None, output_json: Path | None = None) -> int:
    """`newsflow eval`: print the report; 0 when every headline score holds its baseline,
    1 when the gate fails, 2 when the development data is missing."""
    try:
        result = run_evaluation(devdata)
    except DevDataMissing as error:
        print(f"newsflow eval: {error}")
        return 2
    baseline, tolerance = read_baseline() if BASELINE_PATH.exists() else ({}, GATE_TOLERANCE)
    print(format_evaluation(result, baseline or None, tolerance), end="")
    from workbench.duplicates_eval import DuplicateLabelsMissing, format_tune_sweep, tune_sweep

    try:
        if result["details"]["duplicates"]:  # a development set without the real duplicate pairs has no sweep
            result["duplicates_tune_sweep"] = tune_sweep()
            print(format_tune_sweep(result["duplicates_tune_sweep"]), end="")
    except DuplicateLabelsMissing as error:
        print(f"duplicate detection: not tuned ({error})")
    if output_json:
        Path(output_json).write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    failures = gate_failures(result["scores"], baseline, tolerance) if baseline else []
    from workbench.extraction_eval import PAGE_BASELINE_PATH, dump_recall_failures, page_floor_failures, read_page_baseline

    if PAGE_BASELINE_PATH.exists():  # the per-page floor: no page's F1 may fall more than 0.05
        failures += page_floor_failures(result["details"]["extraction"], read_page_baseline())
    failures += dump_recall_failures(result["details"]["extraction"])  # no check page loses half its article
    for failure in failures:
        print(f"below baseline: {failure}")
    return 1 if failures else 0
