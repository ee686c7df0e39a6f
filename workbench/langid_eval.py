"""Score the language stage on a labelled TSV: `lang<TAB>kind<TAB>text`, one text a line.

A header line (`lang kind text`) is skipped. `kind` is free text, e.g. `sentences` or
`word-pairs`; accuracy is reported overall, per language and per kind, with the speed.
`half` picks a deterministic half of every (language, kind) group — "tune" the even lines,
"check" the odd ones — so a change can be tuned on one half and checked on the other.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.language import LanguageIdentifier, shared_identifier

HALVES = ("all", "tune", "check")


@dataclass(frozen=True)
class LabelledText:
    language: str
    kind: str
    text: str


def read_labelled_texts(tsv_path: str | Path) -> list[LabelledText]:
    texts = []
    for line in Path(tsv_path).read_text(encoding="utf-8").splitlines():
        fields = line.split("\t", 2)
        if len(fields) != 3 or fields[:2] == ["lang", "kind"]:
            continue
        texts.append(LabelledText(*(f.strip() for f in fields)))
    return texts


def select_half(texts: list[LabelledText], half: str) -> list[LabelledText]:
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, not {half!r}")
    if half == "all":
        return list(texts)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    selected = []
    for item in texts:
        position = seen[(item.language, item.kind)]
        seen[(item.language, item.kind)] += 1
        if (position % 2 == 0) == (half == "tune"):
            selected.append(item)
    return selected


def _accuracy(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def evaluate_langid(
    tsv_path: str | Path, half: str = "all", identifier: LanguageIdentifier | None = None
) -> dict:
    """Accuracy overall, per language and per kind, the misses, and texts per second."""
    identifier = identifier or shared_identifier()
    texts = select_half(read_labelled_texts(tsv_path), half)
    started = time.perf_counter()
    guesses = [identifier.identify(item.text) for item in texts]
    elapsed = time.perf_counter() - started

    hits_by: dict[str, dict[str, list[int]]] = {
        "language": defaultdict(lambda: [0, 0]),
        "kind": defaultdict(lambda: [0, 0]),
    }
    misses = []
    for item, guess in zip(texts, guesses):
        hit = guess.language == item.language
        for key, value in (("language", item.language), ("kind", item.kind)):
            hits_by[key][value][0] += hit
            hits_by[key][value][1] += 1
        if not hit:
            misses.append({"expected": item.language, "got": guess.language, "kind": item.kind, "text": item.text})
    total_hits = sum(h for h, _ in hits_by["kind"].values())
    return {
        "half": half,
        "count": len(texts),
        "accuracy": _accuracy(total_hits, len(texts)),
        "per_language": {lang: _accuracy(*counts) for lang, counts in sorted(hits_by["language"].items())},
        "per_kind": {kind: _accuracy(*counts) for kind, counts in sorted(hits_by["kind"].items())},
        "mean_confidence_per_kind": _mean_confidence_per_kind(texts, guesses),
        "per_language_kind": {
            f"{item_lang}/{kind}": _accuracy(*counts)
            for (item_lang, kind), counts in sorted(_group_counts(texts, guesses).items())
        },
        "texts_per_second": round(len(texts) / elapsed, 1) if elapsed > 0 else float("inf"),
        "misses": misses,
    }


def speed_against_langdetect(texts: list[str], identifier: LanguageIdentifier | None = None) -> dict[str, float]:
    """Texts per second of the language stage and of langdetect itself (seeded, `detect`) on the same texts."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    identifier = identifier or shared_identifier()

    def langdetect_one(text: str) -> None:
        DetectorFactory.seed = 0
        try:
            detect(text)
        except LangDetectException:  # no features in the text: langdetect's own "und"
            pass

    speeds = {}
    for name, identify in (("language", identifier.identify), ("langdetect", langdetect_one)):
        if texts:
            identify(texts[0])  # loads the profiles outside the timing
        started = time.perf_counter()
        for text in texts:
            identify(text)
        elapsed = time.perf_counter() - started
        speeds[name] = round(len(texts) / elapsed, 1) if elapsed > 0 else float("inf")
    return speeds


def _mean_confidence_per_kind(texts: list[LabelledText], guesses) -> dict[str, float]:
    """Set beside the accuracy per kind: an honest detector's mean confidence is close to it."""
    confidences: dict[str, list[float]] = defaultdict(list)
    for item, guess in zip(texts, guesses):
        confidences[item.kind].append(guess.confidence)
    return {kind: round(sum(values) / len(values), 4) for kind, values in sorted(confidences.items())}


def _group_counts(texts: list[LabelledText], guesses) -> dict[tuple[str, str], list[int]]:
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for item, guess in zip(texts, guesses):
        counts[(item.language, item.kind)][0] += guess.language == item.language
        counts[(item.language, item.kind)][1] += 1
    return counts


def format_report(result: dict) -> str:
    lines = [
        f"half={result['half']} texts={result['count']} accuracy={result['accuracy']:.4f} "
        f"texts/s={result['texts_per_second']}",
        "per kind: "
        + ", ".join(
            f"{k}={v:.4f} (mean confidence {result['mean_confidence_per_kind'][k]:.2f})"
            for k, v in result["per_kind"].items()
        ),
        "language  " + "  ".join(f"{k.split('/')[1][:9]:>9}" for k in _kinds(result)),
    ]
    kinds = [k.split("/")[1] for k in _kinds(result)]
    for language in result["per_language"]:
        cells = [result["per_language_kind"].get(f"{language}/{kind}") for kind in kinds]
        lines.append(f"{language:<8}  " + "  ".join(f"{c:>9.2f}" if c is not None else f"{'-':>9}" for c in cells))
    return "\n".join(lines)


def _kinds(result: dict) -> list[str]:
    kinds = sorted({key.split("/")[1] for key in result["per_language_kind"]})
    return [f"_/{kind}" for kind in kinds]


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tsv_path")
    parser.add_argument("--half", choices=HALVES, default="all")
    parser.add_argument("--misses", action="store_true", help="print every misidentified text")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--langdetect", action="store_true", help="also time langdetect on the same texts")
    arguments = parser.parse_args()
    report = evaluate_langid(arguments.tsv_path, half=arguments.half)
    if arguments.langdetect:
        texts = [item.text for item in select_half(read_labelled_texts(arguments.tsv_path), arguments.half)]
        report["speed_against_langdetect"] = speed_against_langdetect(texts)
    if arguments.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(format_report(report))
        if arguments.langdetect:
            speeds = report["speed_against_langdetect"]
            print(f"same texts: language stage {speeds['language']} texts/s, langdetect {speeds['langdetect']} texts/s")
        if arguments.misses:
            for miss in report["misses"]:
                print(f"  {miss['expected']}->{miss['got']} [{miss['kind']}] {miss['text']}")
