"""Train the Malay/Indonesian model of the language stage, and measure it on stories it never saw.

    python -m workbench.language_training            # tune-half cross-validation, train, write, score the check half
    python -m workbench.language_training --check    # the same figures; write nothing
    python -m workbench.language_training --prior-ratios   # tune-half cross-validation per Malay:Indonesian prior
    python -m workbench.language_training --no-cross-validation --output /tmp/model.json.gz
        # train only (a few seconds): the file is byte for byte the shipped
        # pipeline/language_data/malay_indonesian_model.json.gz (tests/workbench/test_language_training.py checks it)

The data is `workbench/data/devdata/langid/ntrex_ms_id.tsv`: professional translations of the same
news sentences into Malay and Indonesian (`lang<TAB>line<TAB>text`, one line id per pair). NTREX is
whole news documents in consecutive lines, so a sentence's story (names, places, topic words) is
in the lines around it. The file is cut at story starts into the 17 blocks of STORY_BLOCKS (50-75
lines each, whole stories; the last ends where the file does, inside the Zinke story): the 1st,
3rd, ... 17th block are the TUNE half (531 lines), the 2nd, 4th, ... 16th the CHECK half (469
lines). A story that NTREX tells twice mostly falls in one half (Macedonia's vote, 17 and 488;
Livingston-Rangers, 303 and 791; Trump's West Virginia rally, 543 and 691), not always (the
Sulawesi tsunami, Kanye West, North Korea, Kavanaugh are in both: a topic, not the same text).

Everything is chosen on the tune half, by folds of whole story blocks (leave one block out): the
smoothing, the feature kinds, the word-frequency floor, the scales, and the Malay:Indonesian prior
of pipeline/language.py (`--prior-ratios`). The shipped model is trained on the tune half only, and
the check half is scored with it: sentences of stories the model never saw (`newsflow eval` shows
both, `langid.ntrex.ms` / `langid.ntrex.id`).

The model is binarised naive Bayes over `language.malay_indonesian_features` (words, word pairs,
letter 2-4-grams): each feature's weight is log P(feature | ms) - log P(feature | id), with additive
smoothing, plus, for each word, the log-ratio of its frequency in Malay and in Indonesian in
wordfreq's lists (workbench/data/wordfreq: Wikipedia, subtitles and web text, about 30,000 words
each), which knows the many everyday words that 500 news lines never show. The three kinds (words
and word pairs, letter n-grams, word frequencies) are scaled by one factor each, fitted on held-out
scores (each story block scored by the others): naive Bayes counts overlapping features as
independent, so its raw sums are too sure, and a word's many overlapping letter n-grams far more
than the word itself. The scaled weights go to `pipeline/language_data/malay_indonesian_model.json.gz`,
which ships in the package (the same data, the same bytes: no timestamp, sorted weights).

A sentence and its translation share a line id and so a block: the model is never tested on the
content it was trained on in the other language.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np

from pipeline.language import (
    MALAY_INDONESIAN_MODEL,
    LanguageIdentifier,
    MalayIndonesianModel,
    malay_indonesian_features,
)
from workbench import DATA_DIR

PARALLEL_SENTENCES = DATA_DIR / "devdata" / "langid" / "ntrex_ms_id.tsv"
WORD_FREQUENCIES = {language: DATA_DIR / "wordfreq" / f"small_{language}.msgpack.gz" for language in ("ms", "id")}
# NTREX lines 1-1000 cut at story starts (first, last line): whole stories, at least 50 lines a block.
STORY_BLOCKS = (
    (1, 57),  # Welsh Assembly name, Macedonia's referendum, Harlem churches, shark attack
    (58, 113),  # Sainsbury's beauty, Holly Willoughby, Trump on Kim
    (114, 177),  # Sulawesi tsunami, Sturridge, tsunami toll, Birkenhead murder, Cromwell statue
    (178, 252),  # killer pig, storm Rosa, Kavanaugh hearing ratings
    (253, 302),  # May on Brexit, Wayde Sims, Popocatepetl, Catalonia, Londonderry
    (303, 356),  # Livingston-Rangers, Erdogan in Cologne, Deptford crash, Long Lartin prison
    (357, 422),  # storm Rosa, Midsomer Norton, Trump on Kavanaugh, tsunami
    (423, 487),  # tsunami toll, Newport robbery, Kanye West renamed, AMLO, AI funding
    (488, 542),  # Macedonia votes, Aguero, Scherzer
    (543, 597),  # Trump in West Virginia, Chris Leslie on Labour, Ayr-Melrose
    (598, 652),  # Still Game star, Bolivia's sea, North Korea, Paris hats
    (653, 705),  # languages in Scottish schools, LeBron, Trump's West Virginia rally
    (706, 769),  # Ryder Cup (two stories), North Korea at the UN
    (770, 821),  # Harvard sleep course, Livingston-Rangers, Geiger counter
    (822, 882),  # cancer vaccine, Kanye West on SNL, Belfast stabbing, Kit Harington
    (883, 941),  # HIV in China, Maxine Waters, Johnny English review
    (942, 1000),  # four-day week, Graham and Kennedy, Global Citizen, Zinke
)
TUNE, CHECK = "tune", "check"
SMOOTHING = 0.1  # added to every feature count, per language
# A word missing from one language's wordfreq list is taken as this frequent there: a tenth of
# the lists' floor of one in a million (chosen on the tune half: 1e-6 and 3e-6 lost Malay sentences).
WORD_FREQUENCY_FLOOR = 1e-7
MIN_WEIGHT = 0.05  # after scaling: lighter weights are dropped from the committed file
# Weights are scaled per kind: a word of n letters brings about 3n letter n-grams, each far from
# independent of the others and of the word itself, so a letter n-gram's naive-Bayes weight says
# much less than a word's; the word-frequency lexicon is a third, independent source.
FEATURE_KINDS = ("words", "letters", "lexicon")
WEIGHT_DECIMALS = 3
# Malay:Indonesian prior ratios tried by `--prior-ratios` (pipeline/language.py's MALAY_TO_INDONESIAN_PRIOR holds the chosen one).
PRIOR_RATIOS = (0.2, 0.25, 0.35, 0.5, 0.7, 1.0)
# Length classes of the report, by words in the sentence.
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


def story_block(line: int) -> int:
    """The position in STORY_BLOCKS of the block holding an NTREX line (the last block for lines past it)."""
    return next((i for i, (_, last) in enumerate(STORY_BLOCKS) if line <= last), len(STORY_BLOCKS) - 1)


def half_of(line: int) -> str:
    return TUNE if story_block(line) % 2 == 0 else CHECK


def split_halves(sentences: list[ParallelSentence]) -> dict[str, list[ParallelSentence]]:
    """The tune and the check half, by story block (module docstring)."""
    halves: dict[str, list[ParallelSentence]] = {TUNE: [], CHECK: []}
    for sentence in sentences:
        halves[half_of(sentence.line)].append(sentence)
    return halves


def read_word_frequencies(path: str | Path) -> dict[str, float]:
    """word -> frequency from a wordfreq "cBpack" file (a header, then the words at 0, -1, -2 ... centibels)."""
    header, *buckets = msgpack.unpackb(gzip.decompress(Path(path).read_bytes()), raw=False)
    if header != {"format": "cB", "version": 1}:
        raise ValueError(f"{path}: not a wordfreq cBpack file ({header!r})")
    return {word: 10.0 ** (-centibels / 100) for centibels, words in enumerate(buckets) for word in words}


def word_frequency_log_odds(paths: dict[str, Path] = WORD_FREQUENCIES) -> dict[str, float]:
    """Per word feature ("w ..."), log of its frequency in Malay over its frequency in Indonesian."""
    malay, indonesian = (read_word_frequencies(paths[language]) for language in ("ms", "id"))
    floor = WORD_FREQUENCY_FLOOR
    return {
        f"w {word}": math.log((malay.get(word, 0.0) + floor) / (indonesian.get(word, 0.0) + floor))
        for word in sorted(malay.keys() | indonesian.keys())
    }


def _counts(examples: list[tuple[str, set[str]]]) -> dict[str, Counter]:
    counts = {"ms": Counter(), "id": Counter()}
    for language, features in examples:
        counts[language].update(features)
    return counts


def naive_bayes_weights(examples: list[tuple[str, set[str]]]) -> dict[str, float]:
    """Unscaled log-odds of Malay over Indonesian per feature, from (language, feature set) pairs."""
    return _weights_from_counts(_counts(examples))


def _weights_from_counts(counts: dict[str, Counter]) -> dict[str, float]:
    malay, indonesian = counts["ms"], counts["id"]
    vocabulary = malay.keys() | indonesian.keys()
    totals = {language: sum(counts[language].values()) + SMOOTHING * len(vocabulary) for language in counts}
    log_ratio_of_totals = math.log(totals["id"] / totals["ms"])
    return {
        feature: math.log((malay.get(feature, 0) + SMOOTHING) / (indonesian.get(feature, 0) + SMOOTHING)) + log_ratio_of_totals
        for feature in vocabulary
    }


def feature_kind(feature: str) -> str:
    """Letters ("c ...") or words (a word "w ..." or a word pair "p ..."): the two are scaled apart."""
    return "letters" if feature.startswith("c ") else "words"


def _raw_scores(weights: dict[str, float], features: set[str], lexicon: dict[str, float] | None = None) -> dict[str, float]:
    """A text's unscaled log-odds of Malay, summed apart for word, letter and word-frequency features."""
    sums: dict[str, list[float]] = {kind: [] for kind in FEATURE_KINDS}
    words, letters = sums["words"], sums["letters"]
    for feature in features:
        weight = weights.get(feature)
        if weight is not None:
            (letters if feature[0] == "c" else words).append(weight)  # feature_kind, inline: this loop is the training's hot path
    if lexicon is not None:
        sums["lexicon"] = [lexicon[feature] for feature in features if feature in lexicon]
    return {kind: math.fsum(values) for kind, values in sums.items()}


def _raw_score(weights: dict[str, float], features: set[str]) -> float:
    return math.fsum(_raw_scores(weights, features).values())


def fit_scales(scored: list[tuple[str, dict[str, float]]]) -> dict[str, float]:
    """The factors on held-out raw scores, one per feature kind, that make sigmoid(sum of factor *
    score) the best probability of Malay: a logistic regression without intercept (the two
    languages are equally many here; how common each is in news is the language stage's prior),
    fitted by Newton's method."""
    kinds = tuple(scored[0][1])
    labels = np.array([language == "ms" for language, _ in scored], dtype=np.float64)
    scores = np.array([[score[kind] for kind in kinds] for _, score in scored], dtype=np.float64)
    factors = np.zeros(len(kinds))
    for _ in range(100):
        malay = 1.0 / (1.0 + np.exp(-(scores @ factors)))
        gradient = scores.T @ (labels - malay)
        hessian = (scores * (malay * (1.0 - malay))[:, None]).T @ scores + 1e-9 * np.eye(len(kinds))
        step = np.linalg.solve(hessian, gradient)
        factors += step
        if np.abs(step).max() < 1e-9:
            break
    return {kind: float(factor) for kind, factor in zip(kinds, factors)}


def train_model(
    examples: list[tuple[str, set[str]]], blocks: list[int], lexicon: dict[str, float] | None = None
) -> MalayIndonesianModel:
    """Naive-Bayes weights from all examples plus the word-frequency log-odds (`lexicon`, default
    wordfreq's), each kind scaled by a factor fitted on held-out scores: each story block (`blocks`,
    one per example) scored by a model of the other blocks."""
    lexicon = word_frequency_log_odds() if lexicon is None else lexicon
    by_block: dict[int, list[int]] = defaultdict(list)
    for position, block in enumerate(blocks):
        by_block[block].append(position)
    all_counts = _counts(examples)
    held_out = []
    for block, positions in sorted(by_block.items()):
        block_counts = _counts([examples[i] for i in positions])
        # Counter subtraction keeps positive counts only: a feature seen only in this block is unseen
        weights = _weights_from_counts({language: all_counts[language] - block_counts[language] for language in all_counts})
        held_out += [(examples[i][0], _raw_scores(weights, examples[i][1], lexicon)) for i in positions]
    scales = fit_scales(held_out)
    scaled: dict[str, float] = defaultdict(float)
    for feature, weight in _weights_from_counts(all_counts).items():
        scaled[feature] += weight * scales[feature_kind(feature)]
    for feature, weight in lexicon.items():
        scaled[feature] += weight * scales["lexicon"]
    rounded = {feature: round(weight, WEIGHT_DECIMALS) for feature, weight in scaled.items()}
    return MalayIndonesianModel({f: w for f, w in sorted(rounded.items()) if abs(w) >= MIN_WEIGHT})


def train_on(sentences: list[ParallelSentence], lexicon: dict[str, float] | None = None) -> MalayIndonesianModel:
    return train_model(
        [(s.language, malay_indonesian_features(s.text)) for s in sentences], [story_block(s.line) for s in sentences], lexicon
    )


def fold_split(sentences: list[ParallelSentence]) -> list[tuple[list[int], list[int]]]:
    """(training, tested) sentence positions per fold, one fold per story block: a story, and a
    line's two translations, are always on one side."""
    blocks = [story_block(s.line) for s in sentences]
    return [
        ([i for i, b in enumerate(blocks) if b != block], [i for i, b in enumerate(blocks) if b == block])
        for block in sorted(set(blocks))
    ]


def length_class(text: str) -> str:
    words = len(text.split())
    return next(name for limit, name in LENGTH_CLASSES if words <= limit)


def prior_with_ratio(ratio: float) -> dict[str, float]:
    """The language stage's prior with Malay at `ratio` times Indonesian."""
    prior = dict(LanguageIdentifier().prior)
    prior["ms"] = prior.get("id", 1.0) * ratio
    return prior


class _Tally:
    """Accuracy of the whole language stage (`identify`) per language and length class, and of the
    Malay/Indonesian model alone between the two."""

    def __init__(self):
        self.hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.by_length: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.model_alone: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.misses: list[dict] = []

    def add(self, sentence: ParallelSentence, guess: str, malay_log_odds: float) -> None:
        hit = guess == sentence.language
        for table, key in ((self.hits, sentence.language), (self.by_length, f"{sentence.language} {length_class(sentence.text)}")):
            table[key][0] += hit
            table[key][1] += 1
        alone = "ms" if malay_log_odds > 0 else "id"
        self.model_alone[sentence.language][0] += alone == sentence.language
        self.model_alone[sentence.language][1] += 1
        if not hit:
            self.misses.append({"expected": sentence.language, "got": guess, "line": sentence.line, "text": sentence.text})

    def result(self, how: str) -> dict:
        count = sum(total for _, total in self.hits.values())
        return {
            "how": how,
            "count": count,
            "accuracy": _rate(sum(h for h, _ in self.hits.values()), count),
            "per_language": {language: _rate(*counts) for language, counts in sorted(self.hits.items())},
            "per_length": {key: _rate(*counts) for key, counts in sorted(self.by_length.items())},
            "length_counts": {key: counts[1] for key, counts in sorted(self.by_length.items())},
            "model_alone": {language: _rate(*counts) for language, counts in sorted(self.model_alone.items())},
            "misses": sorted(self.misses, key=lambda miss: (miss["line"], miss["expected"])),
        }


def cross_validate(
    sentences: list[ParallelSentence] | None = None,
    identifier_options: dict | None = None,
    lexicon: dict[str, float] | None = None,
) -> dict:
    """The language stage on every sentence, each scored by a Malay/Indonesian model trained
    without its story block (default: the tune half, one fold per block)."""
    sentences = split_halves(read_parallel_sentences())[TUNE] if sentences is None else sentences
    lexicon = word_frequency_log_odds() if lexicon is None else lexicon
    tally = _Tally()
    folds = fold_split(sentences)
    for training, tested in folds:
        model = train_on([sentences[i] for i in training], lexicon)
        identifier = LanguageIdentifier(malay_indonesian=model, **(identifier_options or {}))
        for sentence in (sentences[i] for i in tested):
            tally.add(sentence, identifier.identify(sentence.text).language, model.malay_log_odds(sentence.text))
    return tally.result(f"{len(folds)}-fold cross-validation by story block")


def score_held_out(sentences: list[ParallelSentence], identifier: LanguageIdentifier | None = None) -> dict:
    """The language stage as shipped (or `identifier`) on sentences its model was not trained on (the check half)."""
    identifier = identifier or LanguageIdentifier()
    model = getattr(identifier, "malay_indonesian", None)
    tally = _Tally()
    for sentence in sentences:
        tally.add(sentence, identifier.identify(sentence.text).language, model.malay_log_odds(sentence.text) if model else 0.0)
    return tally.result("the shipped model, trained on the tune half")


def prior_ratio_table(sentences: list[ParallelSentence], ratios=PRIOR_RATIOS) -> dict[float, dict[str, float]]:
    """Tune-half cross-validated accuracy per language for each Malay:Indonesian prior ratio."""
    lexicon = word_frequency_log_odds()
    tallies = {ratio: _Tally() for ratio in ratios}
    for training, tested in fold_split(sentences):
        model = train_on([sentences[i] for i in training], lexicon)
        for ratio in ratios:
            identifier = LanguageIdentifier(prior=prior_with_ratio(ratio), malay_indonesian=model)
            for sentence in (sentences[i] for i in tested):
                tallies[ratio].add(sentence, identifier.identify(sentence.text).language, 0.0)
    return {ratio: tally.result("")["per_language"] for ratio, tally in tallies.items()}


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def write_model(model: MalayIndonesianModel, path: Path = MALAY_INDONESIAN_MODEL) -> None:
    about = (
        "Log-odds of Malay (ms) over Indonesian (id) per feature of pipeline.language.malay_indonesian_features "
        "(w = word, p = word pair, c = letters of a word, space-padded), calibrated; a text's log-odds is the sum over "
        "the features it contains. Written by `python -m workbench.language_training` from the tune half of "
        "workbench/data/devdata/langid/ntrex_ms_id.tsv (NTREX-128, CC BY-SA 4.0) and wordfreq's Malay and "
        "Indonesian word frequencies (workbench/data/wordfreq, CC BY-SA 4.0); do not edit by hand."
    )
    payload = {"about": about, "weights": model.weights}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))  # mtime=0: the same weights, the same bytes


def format_result(result: dict, half: str) -> str:
    lines = [
        f"{half} half, {result['how']}, {result['count']} sentences: accuracy {result['accuracy']:.4f}",
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
    parser.add_argument("--check", action="store_true", help="measure only (tune-half cross-validation, check half); write nothing")
    parser.add_argument("--no-cross-validation", action="store_true", help="train on the tune half and write only")
    parser.add_argument("--prior-ratios", action="store_true", help="tune-half cross-validation per Malay:Indonesian prior ratio")
    parser.add_argument("--misses", action="store_true", help="print every miss")
    arguments = parser.parse_args(argv)
    halves = split_halves(read_parallel_sentences(arguments.data))
    if arguments.prior_ratios:
        for ratio, per_language in prior_ratio_table(halves[TUNE]).items():
            print(f"ms:id prior {ratio:<5} " + ", ".join(f"{k}={v:.4f}" for k, v in per_language.items()))
        return
    results = []
    if not arguments.no_cross_validation:
        results.append((TUNE, cross_validate(halves[TUNE])))
    model = train_on(halves[TUNE])
    if not arguments.check:
        write_model(model, arguments.output)
        print(f"wrote {len(model.weights)} weights to {arguments.output}")
    if not arguments.no_cross_validation:
        results.append((CHECK, score_held_out(halves[CHECK], LanguageIdentifier(malay_indonesian=model))))
    for half, result in results:
        print(format_result(result, half))
        if arguments.misses:
            for miss in result["misses"]:
                print(f"  {miss['expected']}->{miss['got']} [{miss['line']}] {miss['text']}")


if __name__ == "__main__":
    main()
