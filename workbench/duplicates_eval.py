"""Score duplicate detection on a labelled set made from real pages (`workbench/data/duplicates/labels.json`).

The originals are real pages: the five seeds (all about Indonesia and North Korea, all different
stories) and the development pages. Each original gets near-copies made by deterministic,
realistic edits of its page, each then cleaned by the pipeline's own text-dump cleaner as an ingest
would: a changed headline, a paragraph dropped, a paragraph added, the longest paragraph of the
previous original quoted (a copy of one story that must not join the other), the body wrapped in
another site's boilerplate, headline, dropped paragraph and boilerplate together, and a translated
copy (another language, with an English text that differs from the original's by synonyms and
swapped word pairs, as a machine translation back to English would). Pairs of one original's
documents are duplicates; pairs across originals are not, except the `same_story` pairs the data
itself holds.

Scores are pairwise: a predicted pair is two documents in one cluster.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.duplicates import MIN_SIMILARITY, compared_article, compared_text, find_duplicates, refresh_duplicates

from workbench import CHECKOUT_ROOT, DATA_DIR

LABELS_PATH = DATA_DIR / "duplicates" / "labels.json"
SWEEP = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)


class DuplicateLabelsMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class LabelledDocument:
    name: str  # "<original>" or "<original>~<edit>"
    story: str  # the original it was made from (or the story it shares, for `same_story` pages)
    language: str
    title: str | None
    text: str
    text_en: str | None


# --- deterministic edits on a page's text dump ------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(text.split())


def _line_index(lines: list[str], paragraph: str) -> int | None:
    """The first line of `lines` holding the start (else the end) of `paragraph`."""
    flat = _squash(re.sub(r"\[[^\]]{1,20}\]", "", paragraph))
    for snippet in (flat[:30], flat[-30:]):
        if len(snippet) < 10:
            continue
        for index, line in enumerate(lines):
            if snippet in _squash(re.sub(r"\[[^\]]{1,20}\]", "", line)):
                return index
    return None


def _body_span(lines: list[str], paragraphs: list[str]) -> tuple[int, int] | None:
    """(first, last) line of the article body in a page dump, found from its cleaned paragraphs."""
    first = _line_index(lines, paragraphs[0])
    last = _line_index(lines, paragraphs[-1])
    if first is None or last is None or last < first:
        return None
    return first, last


def _paragraph_to_drop(paragraphs: list[str]) -> str:
    middle = [p for p in paragraphs[1:-1] if len(p) >= 80] or paragraphs[1:] or paragraphs
    return middle[len(middle) // 2]


def _boilerplate(lines: list[str], paragraphs: list[str]) -> tuple[list[str], list[str]]:
    """A page's chrome: up to 25 short lines (menus, bylines, share and copyright lines) before its
    body and 25 after. Long lines are left out: after the body they are readers' comments, which are
    not boilerplate but another text."""
    span = _body_span(lines, paragraphs)
    if span is None:
        return [], []
    first, last = span
    short = [index for index, line in enumerate(lines) if len(line) <= 100]
    before = [lines[i] for i in short if i < first][-25:]
    after = [lines[i] for i in short if i > last][:25]
    return before, after


# A translated copy's English text differs from the original's in words and in word order, as a
# machine translation back to English would: synonyms, and every ninth pair of words swapped.
_TRANSLATION_WORDS = {
    "said": "stated", "says": "states", "also": "additionally", "however": "but", "meeting": "encounter",
    "visit": "trip", "country": "nation", "countries": "nations", "government": "administration",
    "minister": "secretary", "relations": "ties", "first": "initial", "people": "persons", "new": "fresh",
    "between": "among", "many": "numerous", "while": "whereas", "because": "since", "would": "will",
}


def _machine_translated(text: str) -> str:
    def swap(match: re.Match) -> str:
        word = match.group(0)
        replacement = _TRANSLATION_WORDS.get(word.lower())
        if replacement is None:
            return word
        return replacement.capitalize() if word[0].isupper() else replacement

    words = re.sub(r"\b\w+\b", swap, text).split(" ")
    for index in range(4, len(words) - 1, 9):
        words[index], words[index + 1] = words[index + 1], words[index]
    return " ".join(words)


def _edited_page(raw: str, paragraphs: list[str], edits: list[str], *, headline: str, added: str, other_chrome) -> str:
    lines = raw.splitlines()
    if "paragraph_dropped" in edits and len(paragraphs) > 1:
        dropped = _squash(_paragraph_to_drop(paragraphs))
        lines = [line for line in lines if not (len(_squash(line)) >= 20 and _squash(line) in dropped)]
    if "paragraph_added" in edits:
        anchor = _line_index(lines, paragraphs[min(1, len(paragraphs) - 1)])
        at = len(lines) if anchor is None else anchor + 1
        lines[at:at] = ["", added, ""]
    if "boilerplate" in edits:
        span = _body_span(lines, [p for p in paragraphs if _line_index(lines, p) is not None] or paragraphs)
        if span is not None:
            header, footer = other_chrome
            lines = header + lines[span[0] : span[1] + 1] + footer
    if "headline" in edits:
        lines = [headline, ""] + lines
    return "\n".join(lines) + "\n"


# --- the labelled set -------------------------------------------------------------------------


def _read_page(path: Path) -> str:
    from pipeline.extract import html_to_text_dump

    raw = path.read_text(encoding="utf-8", errors="replace")
    return html_to_text_dump(raw) if path.suffix == ".html" else raw


def labelled_documents(labels_path: Path = LABELS_PATH, root: Path = CHECKOUT_ROOT) -> list[LabelledDocument]:
    """The originals and their edited copies, cleaned as an ingest would clean them (deterministic)."""
    from pipeline.extract import clean_text_dump
    from pipeline.language import shared_identifier

    if not Path(labels_path).exists():
        raise DuplicateLabelsMissing(f"duplicate labels not found at {labels_path}: run from a newsflow checkout")
    labels = json.loads(Path(labels_path).read_text(encoding="utf-8"))
    missing = [o["page"] for o in labels["originals"] if not (root / o["page"]).exists()]
    if missing:
        raise DuplicateLabelsMissing(f"pages of the duplicate labels are missing: {', '.join(missing)}")
    story_of = {b: a for a, b in labels["same_story"]}
    identifier = shared_identifier()
    raws = [_read_page(root / o["page"]) for o in labels["originals"]]
    cleaned = [clean_text_dump(raw) for raw in raws]
    paragraphs = [[p for p in article.text.split("\n\n") if p.strip()] for article in cleaned]
    chrome = [_boilerplate(raw.splitlines(), paras) for raw, paras in zip(raws, paragraphs)]

    documents = []
    count = len(labels["originals"])
    for index, original in enumerate(labels["originals"]):
        name, article = original["name"], cleaned[index]
        story = story_of.get(name, name)
        language = identifier.identify(article.text).language
        english = article.text if language == "en" else None
        documents.append(LabelledDocument(name, story, language, article.title, article.text, english))
        # The chrome of the next original that has some: deterministic, and from another site.
        other = next((chrome[(index + step) % count] for step in range(1, count) if any(chrome[(index + step) % count])), ([], []))
        for number, edit in enumerate(labels["copies"]):
            copy_name = f"{name}~{edit}"
            if edit == "translated":
                other_language = "id" if language != "id" else "en"
                translated = _machine_translated(english if english is not None else article.text)
                documents.append(LabelledDocument(copy_name, story, other_language, article.title, translated, translated))
                continue
            prefixes, additions = labels["new_headline_prefixes"], labels["added_paragraphs"]
            headline = prefixes[(index + number) % len(prefixes)] + (article.title or _squash(article.text)[:60])
            added = additions[(index + number) % len(additions)]
            if edit == "quote_from_other_story":  # a hard negative for the other story: its longest paragraph quoted here
                added = max(paragraphs[index - 1], key=len)
            page = _edited_page(
                raws[index], paragraphs[index], ["paragraph_added"] if edit == "quote_from_other_story" else edit.split("+"),
                headline=headline, added=added, other_chrome=other,
            )
            copy = clean_text_dump(page)
            documents.append(
                LabelledDocument(copy_name, story, language, copy.title, copy.text, copy.text if language == "en" else None)
            )
    return documents


def _true_pairs(documents: list[LabelledDocument]) -> set[frozenset[str]]:
    by_story: dict[str, list[str]] = {}
    for doc in documents:
        by_story.setdefault(doc.story, []).append(doc.name)
    return {frozenset(pair) for names in by_story.values() for pair in combinations(names, 2)}


def _predicted_pairs(links: list[tuple[str, str]]) -> set[frozenset[str]]:
    clusters: dict[str, list[str]] = {}
    for article_id, duplicate_of in links:
        clusters.setdefault(duplicate_of, [duplicate_of]).append(article_id)
    return {frozenset(pair) for names in clusters.values() for pair in combinations(names, 2)}


def _scores(true: set, predicted: set) -> dict:
    hits = len(true & predicted)
    return {
        "precision": round(hits / len(predicted), 4) if predicted else 1.0,
        "recall": round(hits / len(true), 4) if true else 1.0,
        "true_pairs": len(true),
        "predicted_pairs": len(predicted),
    }


def _warehouse_with(documents: list[LabelledDocument]) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse (the real schema) holding the documents as articles, in label order."""
    from datetime import datetime, timedelta

    from pipeline.warehouse import schema_sql

    connection = duckdb.connect()
    connection.execute(schema_sql())
    start = datetime(2025, 10, 1)
    rows = pa.table(
        {
            "article_id": [doc.name for doc in documents],
            "source_path": [f"duplicates/{doc.name}.txt" for doc in documents],
            "content_sha256": [doc.name for doc in documents],
            "title": [doc.title for doc in documents],
            "language": [doc.language for doc in documents],
            "text": [doc.text for doc in documents],
            "text_en": [doc.text_en for doc in documents],
            "translation_status": ["not_needed" if doc.language == "en" else "translated" if doc.text_en else "missing_model" for doc in documents],
            "ingested_at": [start + timedelta(minutes=i) for i in range(len(documents))],
            "run_id": ["duplicates-eval"] * len(documents),
        }
    )
    connection.register("labelled_articles", rows)
    columns = ", ".join(rows.column_names)
    connection.execute(f"INSERT INTO articles ({columns}) SELECT {columns} FROM labelled_articles")
    connection.unregister("labelled_articles")
    return connection


def evaluate_duplicates(
    labels_path: Path = LABELS_PATH, min_similarity: float = MIN_SIMILARITY, sweep: Sequence[float] = SWEEP
) -> dict:
    """Pairwise precision and recall of `refresh_duplicates` on the labelled set, recall per edit,
    the wrong links, and precision/recall over a sweep of thresholds (how MIN_SIMILARITY was chosen)."""
    started = time.perf_counter()
    documents = labelled_documents(labels_path)
    true = _true_pairs(documents)
    connection = _warehouse_with(documents)
    try:
        refresh = refresh_duplicates(connection, min_similarity=min_similarity)
        links = connection.execute("SELECT article_id, duplicate_of FROM duplicates").fetchall()
    finally:
        connection.close()
    predicted = _predicted_pairs(links)
    result = {"min_similarity": min_similarity, "documents": len(documents), **_scores(true, predicted)}

    cluster_of = {article_id: duplicate_of for article_id, duplicate_of in links}
    recall_by_edit: dict[str, list[int]] = {}
    for doc in documents:
        if "~" not in doc.name:
            continue
        edit = doc.name.split("~", 1)[1]
        original = doc.name.split("~", 1)[0]
        linked = cluster_of.get(doc.name, doc.name) == cluster_of.get(original, original)
        hits = recall_by_edit.setdefault(edit, [0, 0])
        hits[0] += linked
        hits[1] += 1
    result["recall_by_edit"] = {edit: round(h / n, 4) for edit, (h, n) in recall_by_edit.items()}
    result["missed"] = sorted(
        " & ".join(sorted(pair)) for pair in true - predicted
    )[:20]
    result["wrong_links"] = sorted(" & ".join(sorted(pair)) for pair in predicted - true)
    distinct = set(json.loads(Path(labels_path).read_text(encoding="utf-8"))["same_topic_distinct"])
    result["seed_pairs_linked"] = sorted(" & ".join(sorted(pair)) for pair in predicted if pair <= distinct)

    compared = [] if not sweep else [
        compared_article(doc.name, doc.language, compared_text(doc.text, doc.text_en), order=(i,)) for i, doc in enumerate(documents)
    ]
    result["sweep"] = {
        f"{threshold:.2f}": _scores(
            true, _predicted_pairs([(l.article_id, l.duplicate_of) for l in find_duplicates(compared, min_similarity=threshold).links])
        )
        for threshold in sweep
    }
    result["pairs_checked"] = refresh.pairs_checked
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def format_duplicates_evaluation(result: dict) -> str:
    lines = [
        f"Duplicate detection ({result['documents']} documents, threshold {result['min_similarity']}): "
        f"precision {result['precision']:.3f}, recall {result['recall']:.3f} "
        f"({result['predicted_pairs']} pairs linked, {result['true_pairs']} true)",
        "  recall by edit: " + ", ".join(f"{edit} {value:.2f}" for edit, value in result["recall_by_edit"].items()),
    ]
    if result["sweep"]:
        lines.append(
            "  threshold sweep (precision/recall): "
            + ", ".join(f"{t} {s['precision']:.2f}/{s['recall']:.2f}" for t, s in result["sweep"].items())
        )
    if result["wrong_links"]:
        lines.append("  wrong links: " + "; ".join(result["wrong_links"][:10]))
    return "\n".join(lines) + "\n"
