"""Score the language stage on a labelled TSV: `lang<TAB>kind<TAB>text`, one text a line.

A header line (`lang kind text`) is skipped. `kind` is free text, e.g. `sentences` or
`word-pairs`; accuracy is reported overall, per language and per kind, with the speed.
`half` picks a deterministic half of every (language, kind) group by its position in the file:
"tune" the first half of the group's lines (the first 15 of dev50's 30 sentences and 30 pairs,
the first 15 sentences and 5 pairs of dev.tsv's), "check" the rest. Anything the language stage
chooses (its weights, thresholds, prior) is chosen on the tune half; the gate judges the check half.
`LangdetectAlone` is plain langdetect (seeded), scored on the same texts beside it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.language import LanguageGuess, LanguageIdentifier, shared_identifier
from workbench import DATA_DIR

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
    group_sizes: dict[tuple[str, str], int] = defaultdict(int)
    for item in texts:
        group_sizes[(item.language, item.kind)] += 1
    seen: dict[tuple[str, str], int] = defaultdict(int)
    selected = []
    for item in texts:
        group = (item.language, item.kind)
        position = seen[group]
        seen[group] += 1
        if (position < group_sizes[group] // 2) == (half == "tune"):
            selected.append(item)
    return selected


class LangdetectAlone:
    """Plain langdetect (`detect`, seeded before each text), as an identifier evaluate_langid can score.

    Its answers never change with newsflow's code, only with langdetect's version, so the answers
    on the development texts are stored (LANGDETECT_REFERENCE, ~8 s of langdetect a process
    otherwise) and used while the installed langdetect is the version that wrote them; a text
    without a stored answer is scored live. `python -m workbench.langid_eval --write-langdetect-reference`
    writes them again (tests/workbench/test_langid_eval.py checks a sample against langdetect itself)."""

    def identify(self, text: str) -> LanguageGuess:
        stored = _stored_langdetect_answers().get(_text_key(text))
        return LanguageGuess(*stored) if stored else self.identify_live(text)

    @staticmethod
    def identify_live(text: str) -> LanguageGuess:
        from langdetect import DetectorFactory, detect_langs
        from langdetect.lang_detect_exception import LangDetectException

        DetectorFactory.seed = 0
        try:
            best = detect_langs(text)[0]
        except LangDetectException:
            return LanguageGuess("und", 0.0)
        return LanguageGuess(best.lang.split("-")[0], round(best.prob, 4))


LANGDETECT_REFERENCE = DATA_DIR / "langdetect_reference.json"


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _langdetect_version() -> str:
    from importlib.metadata import version

    return version("langdetect")


@functools.lru_cache(maxsize=1)
def _stored_langdetect_answers() -> dict[str, tuple[str, float]]:
    if not LANGDETECT_REFERENCE.exists():
        return {}
    stored = json.loads(LANGDETECT_REFERENCE.read_text(encoding="utf-8"))
    if stored.get("langdetect") != _langdetect_version():
        return {}  # another langdetect may answer otherwise: score live
    return {key: (language, confidence) for key, (language, confidence) in stored["answers"].items()}


def write_langdetect_reference(langid_dir: Path = DATA_DIR / "devdata" / "langid") -> int:
    """Store plain langdetect's answer on every text of the gated sets; how many."""
    answers = {}
    for file_name in ("dev50.tsv", "dev.tsv"):
        for item in read_labelled_texts(langid_dir / file_name):
            guess = LangdetectAlone.identify_live(item.text)
            answers[_text_key(item.text)] = [guess.language, guess.confidence]
    document = {"about": "plain langdetect's answers on the language-ID development texts (workbench.langid_eval)",
                "langdetect": _langdetect_version(), "answers": dict(sorted(answers.items()))}
    LANGDETECT_REFERENCE.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    _stored_langdetect_answers.cache_clear()
    return len(answers)


def weakest_against(result: dict, reference: dict, kind: str) -> tuple[float, list[str]]:
    """The lowest per-language margin over `reference` on texts of `kind` (negative: a language
    where the reference does better), and the languages at that margin."""
    suffix = f"/{kind}"
    margins = {
        key[: -len(suffix)]: accuracy - reference["per_language_kind"].get(key, 0.0)
        for key, accuracy in result["per_language_kind"].items()
        if key.endswith(suffix)
    }
    if not margins:
        return 0.0, []
    lowest = min(margins.values())
    return round(lowest, 4), sorted(language for language, margin in margins.items() if margin == lowest)


def _accuracy(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def evaluate_langid(
    tsv_path: str | Path, half: str = "all", identifier: LanguageIdentifier | None = None, kinds: tuple[str, ...] = ()
) -> dict:
    """Accuracy overall, per language and per kind, the misses, and texts per second (texts of `kinds` only, if given)."""
    identifier = identifier or shared_identifier()
    texts = [item for item in select_half(read_labelled_texts(tsv_path), half) if not kinds or item.kind in kinds]
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


# The gated language-ID sets: their name in the score keys, and their `kind` values.
LANGID_SETS = {"dev50": "dev50.tsv", "dev": "dev.tsv"}
FRAGMENT_KINDS = ("pair", "word-pairs")
SENTENCE_KINDS = ("sentence", "sentences")


def evaluate_langid_sets(langid_dir: str | Path, identifier: LanguageIdentifier | None = None) -> dict:
    """Every gated set of `langid_dir` that exists, each half scored by the language stage and by
    plain langdetect: {set: {"tune": result, "check": result, "langdetect": {"tune": .., "check": ..}}}."""
    evaluations = {}
    for name, file_name in LANGID_SETS.items():
        path = Path(langid_dir) / file_name
        if path.exists():
            evaluations[name] = {half: evaluate_langid(path, half, identifier) for half in ("tune", "check")}
            # langdetect is slow on sentences (~4 ms each): on the tune half only the fragments the margin needs
            evaluations[name]["langdetect"] = {
                "tune": _langdetect_result(str(path), "tune", FRAGMENT_KINDS, *_stamp(path)),
                "check": _langdetect_result(str(path), "check", (), *_stamp(path)),
            }
    return evaluations


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=8)
def _langdetect_result(path: str, half: str, kinds: tuple[str, ...], modified_ns: int, size: int) -> dict:
    """langdetect alone never changes with newsflow's code: scored once per file, half and process."""
    return evaluate_langid(path, half, LangdetectAlone(), kinds)


def langid_scores(evaluations: dict, half: str) -> dict[str, float]:
    """The headline figures of one half: accuracy on fragments and sentences per set, and on dev50
    the lowest per-language margin over langdetect on fragments (below 0: a language langdetect
    alone gets more of)."""
    scores = {}
    for name, evaluation in evaluations.items():
        result = evaluation[half]
        for label, kinds in (("fragments", FRAGMENT_KINDS), ("sentences", SENTENCE_KINDS)):
            kind = next((k for k in kinds if k in result["per_kind"]), None)
            if kind is not None:
                scores[f"langid.{name}.{label}"] = result["per_kind"][kind]
        if name == "dev50":
            margin, _ = weakest_against(result, evaluation["langdetect"][half], "pair")
            scores["langid.dev50.fragments_vs_langdetect"] = margin
    return scores


def langid_table(evaluations: dict, name: str = "dev50"):
    """Per language: the stage's accuracy on the tune and check halves, and langdetect's on the
    check half beside it, for each kind; a weak language shows at a glance."""
    from rich.table import Table

    evaluation = evaluations[name]
    check, tune, alone = evaluation["check"], evaluation["tune"], evaluation["langdetect"]["check"]
    kinds = sorted(check["per_kind"])
    table = Table(
        title=f"Language identification, {name} ({tune['count']} tune + {check['count']} check texts;"
        " langdetect alone on the check half)",
        title_justify="left",
    )
    table.add_column("language")
    for kind in kinds:
        table.add_column(f"{kind} tune", justify="right")
        table.add_column(f"{kind} check", justify="right")
        table.add_column(f"{kind} langdetect", justify="right")
    languages = sorted(check["per_language"])
    for language in languages + ["all"]:
        cells = []
        for kind in kinds:
            for result in (tune, check, alone):
                value = result["per_kind"].get(kind) if language == "all" else result["per_language_kind"].get(f"{language}/{kind}")
                cells.append("-" if value is None else f"{value:.3f}")
        if language != "all" and any(
            check["per_language_kind"].get(f"{language}/{kind}", 0.0) < alone["per_language_kind"].get(f"{language}/{kind}", 0.0)
            for kind in kinds
        ):
            language = f"{language} (below langdetect)"
        table.add_row(language, *cells)
    return table


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
    import sys

    if sys.argv[1:] == ["--write-langdetect-reference"]:
        print(f"{LANGDETECT_REFERENCE}: {write_langdetect_reference()} answers")
        raise SystemExit(0)
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
