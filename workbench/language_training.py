"""Train the Malay/Indonesian model of the language stage, and measure it by cross-validation.

    python -m workbench.language_training            # cross-validate, then train on all and write the weights
    python -m workbench.language_training --check    # cross-validate only
    python -m workbench.language_training --no-cross-validation --output /tmp/model.json.gz
        # train only (about 2 s): the file is byte for byte the shipped
        # pipeline/language_data/malay_indonesian_model.json.gz (tests/workbench/test_language_training.py checks it)

The data is `workbench/data/devdata/langid/ntrex_ms_id.tsv`: professional translations of the same
news sentences into Malay and Indonesian (`lang<TAB>line<TAB>text`, one line id per pair). The
model is binarised naive Bayes over `language.malay_indonesian_features` (words, word pairs,
letter 2-4-grams): each feature's weight is log P(feature | ms) - log P(feature | id), with
additive smoothing. The weights are scaled by two factors, one for words and word pairs and one
for letter n-grams, fitted on held-out scores: naive Bayes counts overlapping features as
independent, so its raw sums are too sure, and a word's many overlapping letter n-grams far more
than the word itself. The scaled weights go to `pipeline/language_data/malay_indonesian_model.json.gz`, which
ships in the package (the same data, the same bytes: no timestamp, sorted weights).

Cross-validation splits by line id: a sentence and its translation are always on the same side,
so the model is never tested on the content it was trained on in the other language. Every fold's
scales are fitted inside its own training part (two halves scoring each other), never on the fold.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.language import (
    MALAY_INDONESIAN_MODEL,
    LanguageIdentifier,
    MalayIndonesianModel,
    malay_indonesian_features,
)
from workbench import DATA_DIR

PARALLEL_SENTENCES = DATA_DIR / "devdata" / "langid" / "ntrex_ms_id.tsv"
FOLDS = 10
SMOOTHING = 0.1  # added to every feature count, per language
MIN_WEIGHT = 0.05  # after scaling: lighter weights are dropped from the committed file
# Weights are scaled per kind: a word of n letters brings about 3n letter n-grams, each far from
# independent of the others and of the word itself, so a letter n-gram's naive-Bayes weight says
# much less than a word's (held out, a unit of letter log-odds is worth about a sixth of a word's).
FEATURE_KINDS = ("words", "letters")
WEIGHT_DECIMALS = 3
# Length classes of the cross-validated report, by words in the sentence.
LENGTH_CLASSES = ((10, "short (<=10 words)"), (25, "medium (11-25 words)"), (math.inf, "long (>25 words)"))


@dataclass(frozen=True)
class ParallelSentence:
    language: str
    line: int
    text: str


def read_parallel_sentences(path: str | Path = PARALLEL_SENTENCES) -> list[ParallelSentence]:
    sentences = []
    for row in Path(path).read_text(encoding="utf-8").splitlines():
        fields = row.split("\t", 2)
        if len(fields) == 3 and fields[1].isdigit():
            sentences.append(ParallelSentence(fields[0], int(fields[1]), fields[2].strip()))
    return sentences


def naive_bayes_weights(examples: list[tuple[str, set[str]]]) -> dict[str, float]:
    """Unscaled log-odds of Malay over Indonesian per feature, from (language, feature set) pairs."""
    counts = {"ms": Counter(), "id": Counter()}
    for language, features in examples:
        counts[language].update(features)
    seen = counts["ms"] + counts["id"]
    vocabulary = list(seen)
    totals = {
        language: sum(counts[language][f] for f in vocabulary) + SMOOTHING * len(vocabulary) for language in counts
    }
    log_ratio_of_totals = math.log(totals["id"] / totals["ms"])
    return {
        feature: math.log((counts["ms"][feature] + SMOOTHING) / (counts["id"][feature] + SMOOTHING)) + log_ratio_of_totals
        for feature in vocabulary
    }


def feature_kind(feature: str) -> str:
    """Letters ("c ...") or words (a word "w ..." or a word pair "p ..."): the two are scaled apart."""
    return "letters" if feature.startswith("c ") else "words"


def _raw_scores(weights: dict[str, float], features: set[str]) -> dict[str, float]:
    """A text's unscaled log-odds of Malay, summed apart for word and for letter features."""
    sums: dict[str, list[float]] = {kind: [] for kind in FEATURE_KINDS}
    for feature in features:
        weight = weights.get(feature)
        if weight is not None:
            sums[feature_kind(feature)].append(weight)
    return {kind: math.fsum(values) for kind, values in sums.items()}


def _raw_score(weights: dict[str, float], features: set[str]) -> float:
    return math.fsum(_raw_scores(weights, features).values())


def fit_scales(scored: list[tuple[str, dict[str, float]]]) -> dict[str, float]:
    """The factors on held-out raw scores, one per feature kind, that make sigmoid(sum of factor *
    score) the best probability of Malay: a logistic regression without intercept (the two
    languages are equally many here; how common each is in news is the language stage's prior),
    fitted by Newton's method."""
    labels = np.array([language == "ms" for language, _ in scored], dtype=np.float64)
    scores = np.array([[score[kind] for kind in FEATURE_KINDS] for _, score in scored], dtype=np.float64)
    factors = np.zeros(len(FEATURE_KINDS))
    for _ in range(100):
        malay = 1.0 / (1.0 + np.exp(-(scores @ factors)))
        gradient = scores.T @ (labels - malay)
        hessian = (scores * (malay * (1.0 - malay))[:, None]).T @ scores + 1e-9 * np.eye(len(FEATURE_KINDS))
        step = np.linalg.solve(hessian, gradient)
        factors += step
        if np.abs(step).max() < 1e-9:
            break
    return {kind: float(factor) for kind, factor in zip(FEATURE_KINDS, factors)}


def train_model(examples: list[tuple[str, set[str]]], lines: list[int]) -> MalayIndonesianModel:
    """Weights from all examples, each kind scaled by a factor fitted with two halves (by line id)
    scoring each other."""
    halves = [[i for i, line in enumerate(lines) if line % 2 == half] for half in (0, 1)]
    held_out = []
    for trained, scored in (halves, halves[::-1]):
        weights = naive_bayes_weights([examples[i] for i in trained])
        held_out += [(examples[i][0], _raw_scores(weights, examples[i][1])) for i in scored]
    scales = fit_scales(held_out)
    weights = naive_bayes_weights(examples)
    scaled = {feature: round(w * scales[feature_kind(feature)], WEIGHT_DECIMALS) for feature, w in weights.items()}
    return MalayIndonesianModel({f: w for f, w in sorted(scaled.items()) if abs(w) >= MIN_WEIGHT})


def fold_split(sentences: list[ParallelSentence], folds: int) -> list[tuple[list[int], list[int]]]:
    """(training, tested) sentence positions per fold, by line id: a line's two translations
    are always on the same side."""
    return [
        (
            [i for i, s in enumerate(sentences) if s.line % folds != fold],
            [i for i, s in enumerate(sentences) if s.line % folds == fold],
        )
        for fold in range(folds)
    ]


def length_class(text: str) -> str:
    words = len(text.split())
    return next(name for limit, name in LENGTH_CLASSES if words <= limit)


def cross_validate(
    sentences: list[ParallelSentence] | None = None, folds: int = FOLDS, identifier_options: dict | None = None
) -> dict:
    """Accuracy of the whole language stage (`identify`) on every sentence, each scored by a
    Malay/Indonesian model trained without its line: per language, per length class, and of
    the Malay/Indonesian model alone between the two."""
    sentences = read_parallel_sentences() if sentences is None else sentences
    features = [malay_indonesian_features(s.text) for s in sentences]
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_length: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    model_alone: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for training, tested in fold_split(sentences, folds):
        model = train_model(
            [(sentences[i].language, features[i]) for i in training], [sentences[i].line for i in training]
        )
        identifier = LanguageIdentifier(malay_indonesian=model, **(identifier_options or {}))
        for sentence, sentence_features in ((sentences[i], features[i]) for i in tested):
            guess = identifier.identify(sentence.text).language
            hit = guess == sentence.language
            for table, key in ((hits, sentence.language), (by_length, f"{sentence.language} {length_class(sentence.text)}")):
                table[key][0] += hit
                table[key][1] += 1
            alone = "ms" if _raw_score(model.weights, sentence_features) > 0 else "id"
            model_alone[sentence.language][0] += alone == sentence.language
            model_alone[sentence.language][1] += 1
            if not hit:
                misses.append({"expected": sentence.language, "got": guess, "line": sentence.line, "text": sentence.text})
    return {
        "folds": folds,
        "count": len(sentences),
        "accuracy": _rate(sum(h for h, _ in hits.values()), len(sentences)),
        "per_language": {language: _rate(*counts) for language, counts in sorted(hits.items())},
        "per_length": {key: _rate(*counts) for key, counts in sorted(by_length.items())},
        "length_counts": {key: counts[1] for key, counts in sorted(by_length.items())},
        "model_alone": {language: _rate(*counts) for language, counts in sorted(model_alone.items())},
        "misses": sorted(misses, key=lambda miss: (miss["line"], miss["expected"])),
    }


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def write_model(model: MalayIndonesianModel, path: Path = MALAY_INDONESIAN_MODEL) -> None:
    about = (
        "Log-odds of Malay (ms) over Indonesian (id) per feature of pipeline.language.malay_indonesian_features "
        "(w = word, p = word pair, c = letters of a word, space-padded), calibrated; a text's log-odds is the sum over "
        "the features it contains. Written by `python -m workbench.language_training` from "
        "workbench/data/devdata/langid/ntrex_ms_id.tsv (NTREX-128, CC BY-SA 4.0); do not edit by hand."
    )
    payload = {"about": about, "weights": model.weights}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))  # mtime=0: the same weights, the same bytes


def format_cross_validation(result: dict) -> str:
    lines = [
        f"{result['folds']}-fold cross-validation by line id, {result['count']} sentences: "
        f"accuracy {result['accuracy']:.4f}",
        "per language: " + ", ".join(f"{k}={v:.4f}" for k, v in result["per_language"].items()),
        "model alone (ms vs id only): " + ", ".join(f"{k}={v:.4f}" for k, v in result["model_alone"].items()),
    ]
    lines += [f"  {key:<28} {value:.4f}  ({result['length_counts'][key]} sentences)" for key, value in result["per_length"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=PARALLEL_SENTENCES)
    parser.add_argument("--output", type=Path, default=MALAY_INDONESIAN_MODEL, help="where to write the weights (default: the package's own file)")
    parser.add_argument("--check", action="store_true", help="cross-validate only; write nothing")
    parser.add_argument("--no-cross-validation", action="store_true", help="train and write only (about 2 s)")
    parser.add_argument("--misses", action="store_true", help="print every cross-validated miss")
    arguments = parser.parse_args(argv)
    sentences = read_parallel_sentences(arguments.data)
    if not arguments.no_cross_validation:
        result = cross_validate(sentences)
        print(format_cross_validation(result))
        if arguments.misses:
            for miss in result["misses"]:
                print(f"  {miss['expected']}->{miss['got']} [{miss['line']}] {miss['text']}")
    if not arguments.check:
        model = train_model(
            [(s.language, malay_indonesian_features(s.text)) for s in sentences], [s.line for s in sentences]
        )
        write_model(model, arguments.output)
        print(f"wrote {len(model.weights)} weights to {arguments.output}")


if __name__ == "__main__":
    main()
