from pathlib import Path

import pytest

from pipeline.language import LanguageIdentifier
from workbench.evaluation import BASELINE_PATH, default_devdata, gate_failures, read_baseline
from workbench.langid_eval import (
    evaluate_langid,
    evaluate_langid_sets,
    format_report,
    langid_scores,
    read_labelled_texts,
    select_half,
    speed_against_langdetect,
    weakest_against,
)

LABELLED = """lang\tkind\ttext
en\tsentences\tThe minister said the new budget would be presented to parliament next week.
en\tsentences\tHeavy rain caused flooding in several districts of the capital on Sunday.
id\tsentences\tPemerintah akan memberikan bantuan kepada warga yang terdampak banjir.
de\tsentences\tThe committee approved the proposal after a long debate on Thursday evening.
en\tword-pairs\tthe government
"""


@pytest.fixture
def labelled_tsv(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.tsv"
    path.write_text(LABELLED, encoding="utf-8")
    return path


def test_reads_labelled_lines_and_skips_the_header(labelled_tsv):
    texts = read_labelled_texts(labelled_tsv)
    assert [(t.language, t.kind) for t in texts] == [
        ("en", "sentences"), ("en", "sentences"), ("id", "sentences"), ("de", "sentences"), ("en", "word-pairs")
    ]


def test_scores_overall_per_language_and_per_kind(labelled_tsv):
    result = evaluate_langid(labelled_tsv)
    assert result["count"] == 5
    # the "de" line is English text: the one miss
    assert result["accuracy"] == 0.8
    assert result["per_language"] == {"de": 0.0, "en": 1.0, "id": 1.0}
    assert result["per_kind"] == {"sentences": 0.75, "word-pairs": 1.0}
    assert result["misses"] == [{"expected": "de", "got": "en", "kind": "sentences", "text": LABELLED.splitlines()[4].split("\t")[2]}]
    assert result["texts_per_second"] > 0
    assert set(result["mean_confidence_per_kind"]) == {"sentences", "word-pairs"}
    assert all(0 < c <= 1 for c in result["mean_confidence_per_kind"].values())
    report = format_report(result)
    assert "accuracy=0.8000" in report and "de" in report


def test_halves_split_every_group_and_do_not_overlap(labelled_tsv):
    texts = read_labelled_texts(labelled_tsv)
    tune, check = select_half(texts, "tune"), select_half(texts, "check")
    assert len(tune) + len(check) == len(texts)
    assert not set(tune) & set(check)
    assert [t.text for t in tune if t.language == "en" and t.kind == "sentences"] == [texts[0].text]
    with pytest.raises(ValueError):
        select_half(texts, "first")


def test_halves_are_the_first_and_second_half_of_each_language_file_group():
    texts = read_labelled_texts(default_devdata() / "langid" / "dev50.tsv")
    tune, check = select_half(texts, "tune"), select_half(texts, "check")
    sv_pairs = [t.text for t in texts if t.language == "sv" and t.kind == "pair"]
    assert [t.text for t in tune if t.language == "sv" and t.kind == "pair"] == sv_pairs[:15]
    assert [t.text for t in check if t.language == "sv" and t.kind == "pair"] == sv_pairs[15:]


@pytest.fixture(scope="module")
def langid_sets() -> dict:
    return evaluate_langid_sets(default_devdata() / "langid")


def test_no_language_loses_more_than_one_fragment_to_langdetect_alone_on_the_check_half(langid_sets):
    """The issue's target is "no worse than langdetect in every language"; with a uniform prior and
    langdetect's own profiles one language still loses one fragment of its 15 (0.067): the gate
    holds it there (langid.dev50.fragments_vs_langdetect) and docs/quality.md says so."""
    margin, languages = weakest_against(langid_sets["dev50"]["check"], langid_sets["dev50"]["langdetect"]["check"], "pair")
    assert margin >= -0.067, languages  # one text of 15 (margins are rounded to 4 places)
    assert langid_sets["dev50"]["check"]["per_kind"]["sentence"] >= 0.985
    assert langid_sets["dev"]["check"]["per_kind"]["sentences"] >= 0.99


# The prior newsflow had before issue 24 (relative to 1 for every other language): 20-80x for the
# languages of dev.tsv, fitted to the development data.
DEVELOPMENT_LANGUAGE_PRIOR = {
    "en": 80.0,
    **dict.fromkeys(("es", "fr", "de", "ru", "pt", "it", "ar", "zh", "ja", "hi", "id"), 40.0),
    **dict.fromkeys(("nl", "tr", "pl", "fa", "ko", "vi", "uk", "th", "ro", "el", "cs", "sv", "hu", "he", "bn", "ur", "tl"), 20.0),
    "ms": 10.0,
}


def test_a_prior_biased_to_the_development_languages_fails_the_gate():
    stored, tolerance = read_baseline(BASELINE_PATH)
    biased = LanguageIdentifier(prior=DEVELOPMENT_LANGUAGE_PRIOR)
    scores = langid_scores(evaluate_langid_sets(default_devdata() / "langid", biased), "check")
    failed = {f.split(":")[0] for f in gate_failures(scores, {k: v for k, v in stored.items() if k in scores}, tolerance)}
    assert {"langid.dev50.fragments", "langid.dev50.fragments_vs_langdetect"} <= failed


def test_speed_is_measured_against_langdetect_on_the_same_texts(labelled_tsv):
    texts = [item.text for item in read_labelled_texts(labelled_tsv)]
    speeds = speed_against_langdetect(texts)
    assert set(speeds) == {"language", "langdetect"}
    assert all(value > 0 for value in speeds.values())


def test_the_stored_langdetect_answers_are_langdetects_own_on_every_development_text():
    from workbench.langid_eval import LANGDETECT_REFERENCE, LangdetectAlone, _stored_langdetect_answers, _text_key

    stored = _stored_langdetect_answers()
    assert stored, f"{LANGDETECT_REFERENCE} is missing or from another langdetect: python -m workbench.langid_eval --write-langdetect-reference"
    texts = [item.text for name in ("dev50.tsv", "dev.tsv") for item in read_labelled_texts(default_devdata() / "langid" / name)]
    assert all(_text_key(text) in stored for text in texts)
    for text in texts[::97]:  # a spread sample, scored by langdetect itself
        assert LangdetectAlone.identify_live(text) == LangdetectAlone().identify(text)
