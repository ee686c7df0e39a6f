"""Score duplicate detection on real pages: the same story in different renderings and edits, and
different stories from one site or on one topic.

The stories are the development data's own (nothing is stored here but the labels in
`workbench/data/duplicates/labels.json`):

- the 23 newspaper4k pages (`devdata/extraction/NAME.html` with the article text `NAME.txt`),
- the 56 readability pages (`devdata/extraction/readability-news-pages.tar.xz`, read in place:
  `source.html` with the article `expected.html`),
- the five seeds (`tests/data/seeds`: plain-text page dumps, five different stories about
  Indonesia and North Korea).

Each story gives these documents (a document identical to an earlier one of its story is left out):

- `article`: the article text as another site carries it (NAME.txt; expected.html flattened; a
  seed cleaned by the text-dump cleaner),
- `page`: the whole page as a user saves it, flattened to a text dump and cleaned by the pipeline's
  text-dump cleaner as an ingest cleans it (for a seed: the saved file itself, menus included),
- edits a syndicating site makes to the article: `headline` (a new headline line above it), `cut`
  (only the first 60% of its paragraphs, as wire copy is cut from the bottom), `reordered` (its
  second half of paragraphs moved in front of the first), `boilerplate` (wrapped in the menus and
  footer of the next page in its half from another site: the short lines around that page's
  body, left in as a cleaner that missed them would leave them; so different stories of one site
  carried in one other site's chrome share it, as an aggregator's copies do), `edited` (cut, new
  headline and that boilerplate together), `quote` (the longest paragraph of the story before it
  in its half, from another site, inserted after its second paragraph: its own story, and a hard
  negative for the quoted one).

Pairs of one story's documents are duplicates; pairs across stories are not, except the stories
`labels.json` lists as one (`same_story`: the same article saved twice). Hard negatives are the
pairs across stories of one site (cnn_*, nytimes-1..5, yahoo-1..4, the seeds ...) and each `quote`
copy against the story it quotes. No cross-language pair is made: a synonym-swapped copy is not a
translation, and the dictionary test model's word-by-word output is not one either, so
cross-language recall is not measured here.

Split by site (`site_of`: the labelled sites, else the page name without a trailing `-N`/`_NNN`):
the sites sorted by name alternate, the first to the tune half, the second to the check half, and
so on; a story and all its documents, and every story of one site, are in one half. The threshold
and shingle size are chosen on the tune half (`tune_sweep`, printed by `newsflow eval`); the gate
guards the check half (`duplicates.precision` / `duplicates.recall` of `run_evaluation`).

Documents arrive in a fixed shuffled order (`arrival_order`), so an edited copy is as often the
first-seen article of its cluster as the article itself. Scores are pairwise: a predicted pair is
two documents in one cluster of `find_duplicates` (the clustering `refresh_duplicates` runs).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from pipeline.duplicates import (
    MIN_SIMILARITY,
    SHINGLE_WORDS,
    compared_article,
    find_duplicates,
    similarity,
)
from workbench import CHECKOUT_ROOT, DATA_DIR

LABELS_PATH = DATA_DIR / "duplicates" / "labels.json"
DEVDATA_EXTRACTION = DATA_DIR / "devdata" / "extraction"
READABILITY_ARCHIVE = "readability-news-pages.tar.xz"
SEEDS_DIR = CHECKOUT_ROOT / "tests" / "data" / "seeds"
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SHINGLE_SIZES = (2, 3, 4, 5)
EDITS = ("headline", "cut", "reordered", "boilerplate", "edited", "quote")
HALVES = ("tune", "check")


class DuplicateLabelsMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Story:
    name: str
    site: str
    title: str
    article: str  # the article text
    page: str  # the page's rendering as an ingest keeps it
    dump: str  # the page's whole text dump (menus and footer: another story's boilerplate)


@dataclass(frozen=True)
class LabelledDocument:
    name: str  # "<story page>~<kind>"
    story: str
    site: str
    kind: str  # article, page, or an edit
    text: str
    quotes: str | None = None  # the story a `quote` copy quotes


# --- the stories --------------------------------------------------------------------------------


def site_of(name: str, sites: dict[str, str]) -> str:
    """A page's site: labelled, else its name without a trailing -N or _NNN (nytimes-3 -> nytimes)."""
    return sites.get(name) or re.sub(r"[-_]\d+$", "", name)


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_stories(extraction_dir: Path, seeds_dir: Path, sites: dict[str, str]) -> list[Story]:
    from pipeline.extract import clean_text_dump, html_to_text_dump

    stories = []
    for html_path in sorted(extraction_dir.glob("*.html")):
        text_path = html_path.with_suffix(".txt")
        if not text_path.exists():
            continue
        dump = html_to_text_dump(html_path.read_text(encoding="utf-8", errors="replace"))
        page = clean_text_dump(dump)
        article = text_path.read_text(encoding="utf-8", errors="replace")
        stories.append(Story(html_path.stem, site_of(html_path.stem, sites), page.title or "", article, page.text, dump))
    archive = extraction_dir / READABILITY_ARCHIVE
    if archive.exists():
        with tarfile.open(archive) as tar:  # read front to back once: seeking back in xz decompresses again
            files = {member.name: tar.extractfile(member).read() for member in tar if member.isfile()}

        def read(name: str) -> str:
            return files[name].decode("utf-8", errors="replace")

        for folder in sorted({name.rsplit("/", 1)[0] for name in files if name.endswith("/source.html")}):
            name = folder.rsplit("/", 1)[1]
            dump = html_to_text_dump(read(f"{folder}/source.html"))
            article = html_to_text_dump(read(f"{folder}/expected.html"))
            metadata = json.loads(read(f"{folder}/expected-metadata.json"))
            page = clean_text_dump(dump)
            stories.append(Story(name, site_of(name, sites), metadata.get("title") or page.title or "", article, page.text, dump))
    for seed in sorted(seeds_dir.glob("*.txt")):
        name = f"seed_{seed.name[:3]}"
        raw = seed.read_text(encoding="utf-8", errors="replace")
        cleaned = clean_text_dump(raw)
        stories.append(Story(name, site_of(name, sites), cleaned.title or "", cleaned.text, raw, raw))
    return stories


def _squash(text: str) -> str:
    return " ".join(text.split())


def _chrome(story: Story) -> tuple[list[str], list[str]]:
    """A page's boilerplate: up to 25 short lines (menus, bylines, share and copyright lines) of its
    dump before its article and 25 after (long lines after it are readers' comments, not chrome)."""
    lines = story.dump.splitlines()
    paragraphs = [p for p in _paragraphs(story.article) if len(_squash(p)) >= 20]
    if not paragraphs:
        return [], []

    def where(paragraph: str) -> int | None:
        snippet = _squash(paragraph)[:30]
        return next((i for i, line in enumerate(lines) if snippet in _squash(line)), None)

    first, last = where(paragraphs[0]), where(paragraphs[-1])
    if first is None or last is None or last < first:
        return [], []
    short = [i for i, line in enumerate(lines) if line.strip() and len(line) <= 100]
    return [lines[i] for i in short if i < first][-25:], [lines[i] for i in short if i > last][:25]


def _edit(story: Story, kind: str, *, headline_prefix: str, chrome: tuple[list[str], list[str]], quoted: str) -> str:
    paragraphs = _paragraphs(story.article)
    half = (len(paragraphs) + 1) // 2
    if kind == "headline":
        paragraphs = [headline_prefix + (story.title or _squash(story.article)[:60])] + paragraphs
    elif kind == "cut":
        paragraphs = paragraphs[: max(1, round(len(paragraphs) * 0.6))]
    elif kind == "reordered":
        paragraphs = paragraphs[half:] + paragraphs[:half]
    elif kind == "boilerplate":
        paragraphs = chrome[0] + paragraphs + chrome[1]
    elif kind == "edited":
        body = paragraphs[: max(1, round(len(paragraphs) * 0.6))]
        paragraphs = chrome[0] + [headline_prefix + (story.title or _squash(story.article)[:60])] + body + chrome[1]
    elif kind == "quote":
        paragraphs = paragraphs[:2] + [quoted] + paragraphs[2:]
    return "\n\n".join(paragraphs)


def _labels(labels_path: Path) -> dict:
    if not Path(labels_path).exists():
        raise DuplicateLabelsMissing(f"duplicate labels not found at {labels_path}: run from a newsflow checkout")
    return json.loads(Path(labels_path).read_text(encoding="utf-8"))


def half_of_sites(sites: Sequence[str]) -> dict[str, str]:
    """Sites sorted by name alternate between the tune and the check half, the first to tune."""
    return {site: HALVES[index % 2] for index, site in enumerate(sorted(set(sites)))}


def labelled_documents(
    labels_path: Path = LABELS_PATH, extraction_dir: Path = DEVDATA_EXTRACTION, seeds_dir: Path = SEEDS_DIR
) -> dict[str, tuple[LabelledDocument, ...]]:
    """The labelled documents of each half ({"tune": [...], "check": [...]}), deterministic."""
    labels = _labels(labels_path)
    if not any(Path(extraction_dir).glob("*.html")):
        raise DuplicateLabelsMissing(f"development pages not found under {extraction_dir}")
    return _cached_documents(str(labels_path), str(extraction_dir), str(seeds_dir), json.dumps(labels, sort_keys=True))


@functools.lru_cache(maxsize=2)
def _cached_documents(labels_path: str, extraction_dir: str, seeds_dir: str, labels_json: str) -> dict[str, tuple[LabelledDocument, ...]]:
    labels = json.loads(labels_json)
    stories = _read_stories(Path(extraction_dir), Path(seeds_dir), labels["sites"])
    story_of = {page: pages[0] for pages in labels["same_story"] for page in pages}
    halves = half_of_sites([story.site for story in stories])
    prefixes = labels["new_headline_prefixes"]
    documents: dict[str, list[LabelledDocument]] = {half: [] for half in HALVES}
    seen_in_story: dict[str, set[str]] = {}  # the texts each story has already: none is kept twice
    for half in HALVES:
        in_half = [story for story in stories if halves[story.site] == half]
        for index, story in enumerate(in_half):
            # another site's chrome: the next story of the half that has some and is on another site
            others = [in_half[(index + step) % len(in_half)] for step in range(1, len(in_half))]
            chrome = next((c for c in (_chrome(o) for o in others if o.site != story.site) if any(c)), ([], []))
            quoted_story = next((o for o in reversed(in_half[:index] + in_half[index + 1 :]) if o.site != story.site), story)
            quoted = max(_paragraphs(quoted_story.article) or [""], key=len)
            texts = {"article": story.article, "page": story.page}
            for kind in EDITS:
                texts[kind] = _edit(
                    story, kind, headline_prefix=prefixes[index % len(prefixes)], chrome=chrome, quoted=quoted
                )
            seen = seen_in_story.setdefault(story_of.get(story.name, story.name), set())
            for kind, text in texts.items():
                key = _squash(text)
                if not key or key in seen:
                    continue
                seen.add(key)
                documents[half].append(
                    LabelledDocument(
                        f"{story.name}~{kind}", story_of.get(story.name, story.name), story.site, kind, text,
                        story_of.get(quoted_story.name, quoted_story.name) if kind == "quote" else None,
                    )
                )
    return {half: tuple(docs) for half, docs in documents.items()}


# --- scoring ------------------------------------------------------------------------------------


def _true_pairs(documents: Sequence[LabelledDocument]) -> set[frozenset[str]]:
    by_story: dict[str, list[str]] = {}
    for doc in documents:
        by_story.setdefault(doc.story, []).append(doc.name)
    return {frozenset(pair) for names in by_story.values() for pair in combinations(names, 2)}


def _predicted_pairs(links) -> set[frozenset[str]]:
    clusters: dict[str, list[str]] = {}
    for link in links:
        clusters.setdefault(link.duplicate_of, [link.duplicate_of]).append(link.article_id)
    return {frozenset(pair) for names in clusters.values() for pair in combinations(names, 2)}


def _scores(true: set, predicted: set) -> dict:
    hits = len(true & predicted)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "true_pairs": len(true),
        "predicted_pairs": len(predicted),
    }


@functools.lru_cache(maxsize=16)
def _compared(documents: tuple[LabelledDocument, ...], words: int) -> list:
    """The documents' shingles and signatures (as the pipeline computes them), once per process."""
    return [
        compared_article(doc.name, "en", doc.text, order=(arrival_order(doc.name),), words_per_shingle=words)
        for doc in documents
    ]


def arrival_order(name: str) -> str:
    """The order documents arrive in: a fixed shuffle (by the sha256 of their names), so an edited
    copy in another site's chrome is as often first-seen as the article itself."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def score_half(
    documents: dict[str, tuple[LabelledDocument, ...]], half: str, min_similarity: float = MIN_SIMILARITY, words: int = SHINGLE_WORDS
) -> dict:
    """Pairwise precision and recall of `find_duplicates` on one half, recall per kind of document,
    the wrong links and the missed pairs."""
    docs = documents[half]
    true = _true_pairs(docs)
    links = find_duplicates(_compared(documents[half], words), min_similarity=min_similarity).links
    predicted = _predicted_pairs(links)
    result = {"half": half, "documents": len(docs), "stories": len({d.story for d in docs}), **_scores(true, predicted)}
    cluster_of = {link.article_id: link.duplicate_of for link in links}
    first_of_story: dict[str, str] = {}
    for doc in docs:
        first_of_story.setdefault(doc.story, doc.name)
    recall_by_kind: dict[str, list[int]] = {}
    for doc in docs:
        first = first_of_story[doc.story]
        if doc.name == first:
            continue
        hits = recall_by_kind.setdefault(doc.kind, [0, 0])
        hits[0] += cluster_of.get(doc.name, doc.name) == cluster_of.get(first, first)
        hits[1] += 1
    result["recall_by_kind"] = {kind: round(h / n, 4) for kind, (h, n) in sorted(recall_by_kind.items())}
    result["missed"] = sorted(" & ".join(sorted(pair)) for pair in true - predicted)
    result["wrong_links"] = sorted(" & ".join(sorted(pair)) for pair in predicted - true)
    return result


def similarity_distribution(documents: dict[str, tuple[LabelledDocument, ...]], half: str, words: int = SHINGLE_WORDS) -> dict:
    """Exact similarity of every true pair and every hard negative (pairs across stories of one site,
    and a `quote` copy against the story it quotes) of one half: quantiles, and each threshold's
    share of positives below it and of hard negatives at or above it."""
    docs = documents[half]
    compared = _compared(documents[half], words)
    positives, negatives = [], []
    for (doc_a, a), (doc_b, b) in combinations(zip(docs, compared), 2):
        if doc_a.story == doc_b.story:
            group = positives
        elif doc_a.site == doc_b.site or doc_b.story == doc_a.quotes or doc_a.story == doc_b.quotes:
            group = negatives
        else:
            continue
        score = similarity(a.shingles, b.shingles, a.hashes_below, b.hashes_below) if len(a.shingles) and len(b.shingles) else 0.0
        group.append(score)

    def quantiles(values: list[float]) -> dict:
        if not values:
            return {"count": 0}
        q = np.quantile(values, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
        return {"count": len(values), **{k: round(float(v), 3) for k, v in zip(("min", "p5", "p25", "median", "p75", "p95", "max"), q)}}

    return {
        "positives": quantiles(positives),
        "hard_negatives": quantiles(negatives),
        "by_threshold": {
            f"{t:.2f}": {
                "positives_below": round(sum(s < t for s in positives) / max(1, len(positives)), 3),
                "hard_negatives_at_or_above": round(sum(s >= t for s in negatives) / max(1, len(negatives)), 3),
            }
            for t in THRESHOLDS
        },
    }


def duplicate_scores(
    labels_path: Path = LABELS_PATH, extraction_dir: Path = DEVDATA_EXTRACTION
) -> tuple[dict[str, float], dict[str, float], dict]:
    """(check-half scores, tune-half scores, details) at the pipeline's defaults, for `run_evaluation`.
    The documents and their signatures are made once per process (about 8 s), a second call costs
    about a second."""
    started = time.perf_counter()
    documents = labelled_documents(labels_path, extraction_dir)
    halves = {half: score_half(documents, half) for half in HALVES}

    def keys(result: dict) -> dict[str, float]:
        return {"duplicates.precision": result["precision"], "duplicates.recall": result["recall"]}

    details = {
        "min_similarity": MIN_SIMILARITY,
        "shingle_words": SHINGLE_WORDS,
        **halves,
        "distribution": {half: similarity_distribution(documents, half) for half in HALVES},
        "seconds": round(time.perf_counter() - started, 2),
    }
    return keys(halves["check"]), keys(halves["tune"]), details


# A setting replaces the defaults only when it beats their tune-half F1 by more than this: less is
# a few pairs of one story, not a better setting.
MATERIAL_F1_GAIN = 0.005


def tune_sweep(
    labels_path: Path = LABELS_PATH, thresholds: Sequence[float] = THRESHOLDS, shingle_sizes: Sequence[int] = SHINGLE_SIZES
) -> dict:
    """Precision, recall and F1 on the tune half for every shingle size and threshold, the best by
    F1, and the setting chosen: the defaults unless the best beats them by more than
    MATERIAL_F1_GAIN. The check half is not looked at."""
    documents = labelled_documents(labels_path)
    sweep = {
        words: {f"{t:.2f}": _without_lists(score_half(documents, "tune", t, words)) for t in thresholds} for words in shingle_sizes
    }
    default = _without_lists(score_half(documents, "tune", MIN_SIMILARITY, SHINGLE_WORDS))
    best_words, best_threshold = max(
        ((words, t) for words, by_threshold in sweep.items() for t in by_threshold),
        key=lambda setting: (sweep[setting[0]][setting[1]]["f1"], setting[0] == SHINGLE_WORDS),
    )
    best = {"shingle_words": best_words, "min_similarity": float(best_threshold), **sweep[best_words][best_threshold]}
    keep = best["f1"] - default["f1"] <= MATERIAL_F1_GAIN
    chosen = {"shingle_words": SHINGLE_WORDS, "min_similarity": MIN_SIMILARITY, **default} if keep else best
    return {"sweep": sweep, "default": default, "best": best, "chosen": chosen}


def _without_lists(result: dict) -> dict:
    return {k: v for k, v in result.items() if k in ("precision", "recall", "f1", "predicted_pairs", "true_pairs")}


# --- report -------------------------------------------------------------------------------------


def duplicates_table(details: dict):
    """Both halves at the defaults: scores, and how far positives and hard negatives lie apart."""
    from rich.table import Table

    table = Table(
        title=(
            f"Duplicates on real pages (threshold {details['min_similarity']}, {details['shingle_words']}-word shingles; "
            "similarity p5/median of true pairs, p95/max of hard negatives; cross-language not measured)"
        ),
        title_justify="left",
    )
    for column in ("half", "stories", "documents", "precision", "recall", "true pairs", "linked", "true p5/med", "hard neg p95/max", "wrong links"):
        table.add_column(column, justify="left" if column == "half" else "right")
    for half in HALVES:
        result, distribution = details[half], details["distribution"][half]
        positives, negatives = distribution["positives"], distribution["hard_negatives"]
        table.add_row(
            half, str(result["stories"]), str(result["documents"]), f"{result['precision']:.3f}", f"{result['recall']:.3f}",
            str(result["true_pairs"]), str(result["predicted_pairs"]),
            f"{positives.get('p5', 0):.2f}/{positives.get('median', 0):.2f}", f"{negatives.get('p95', 0):.2f}/{negatives.get('max', 0):.2f}",
            str(len(result["wrong_links"])),
        )
    return table


def format_tune_sweep(sweep: dict) -> str:
    """The tune half's precision/recall for every shingle size and threshold, and what was chosen."""
    best, chosen = sweep["best"], sweep["chosen"]
    lines = [
        "Duplicates, tune half only: precision/recall by shingle size and threshold "
        f"(best F1 {best['f1']:.4f} at {best['shingle_words']} words, {best['min_similarity']:.2f}; "
        f"chosen {chosen['shingle_words']} words, {chosen['min_similarity']:.2f}, F1 {chosen['f1']:.4f}: "
        f"the defaults stay unless beaten by more than {MATERIAL_F1_GAIN})"
    ]
    for words, by_threshold in sweep["sweep"].items():
        lines.append(f"  {words}-word: " + ", ".join(f"{t} {s['precision']:.3f}/{s['recall']:.3f}" for t, s in by_threshold.items()))
    return "\n".join(lines) + "\n"


def main() -> int:
    """`python -m workbench.duplicates_eval`: both halves at the defaults, and the tune-half sweep."""
    from rich.console import Console

    _, _, details = duplicate_scores()
    Console(width=160, color_system=None, highlight=False).print(duplicates_table(details))
    for half in HALVES:
        result, distribution = details[half], details["distribution"][half]
        print(f"{half}: wrong links: " + ("; ".join(result["wrong_links"]) or "none"))
        print(f"{half}: recall by kind: " + ", ".join(f"{k} {v:.3f}" for k, v in result["recall_by_kind"].items()))
        for group in ("positives", "hard_negatives"):
            print(f"{half}: {group} similarity: " + ", ".join(f"{k} {v}" for k, v in distribution[group].items()))
        print(
            f"{half}: share of true pairs below / hard negatives at or above each threshold: "
            + ", ".join(f"{t} {s['positives_below']:.3f}/{s['hard_negatives_at_or_above']:.3f}" for t, s in distribution["by_threshold"].items())
        )
    print(format_tune_sweep(tune_sweep()), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
