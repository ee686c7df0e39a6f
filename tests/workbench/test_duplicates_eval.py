"""The duplicate-detection set: real pages in several renderings and edits, split by site, gated on the check half."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.duplicates import MIN_SIMILARITY
from workbench.duplicates_eval import (
    EDITS,
    HALVES,
    duplicate_scores,
    labelled_documents,
    score_half,
)
from workbench.evaluation import gate_failures, read_baseline


@pytest.fixture(scope="module")
def documents():
    return labelled_documents()


@pytest.fixture(scope="module")
def scored():
    return duplicate_scores()


def test_the_set_is_made_of_real_pages_split_by_site(documents):
    sites = {half: {doc.site for doc in documents[half]} for half in HALVES}
    stories = {half: {doc.story for doc in documents[half]} for half in HALVES}
    assert not sites["tune"] & sites["check"] and not stories["tune"] & stories["check"]
    names = {doc.name.split("~")[0] for half in HALVES for doc in documents[half]}
    assert len(names) == 23 + 56 + 5  # the newspaper4k pages, the readability pages, the seeds
    for same_site in ({"nytimes-1", "nytimes-5"}, {"yahoo-1", "yahoo-4"}, {"cnn_001", "cnn_test_nlp"}, {"seed_000", "seed_004"}):
        assert any(same_site <= {doc.name.split("~")[0] for doc in documents[half]} for half in HALVES), same_site
    kinds = Counter(doc.kind for half in HALVES for doc in documents[half])
    assert set(kinds) == {"article", "page", *EDITS}  # no simulated translation among them
    for half in HALVES:  # no copy is byte-identical to another of its story
        texts = Counter((doc.story, " ".join(doc.text.split())) for doc in documents[half])
        assert max(texts.values()) == 1


def test_the_set_tells_thresholds_apart(scored):
    _, _, details = scored
    for half in HALVES:
        negatives = details["distribution"][half]["hard_negatives"]
        positives = details["distribution"][half]["positives"]
        assert negatives["count"] > 1000 and negatives["max"] > 0.5  # hard negatives reach into the thresholds
        assert positives["p5"] < 0.7  # and so do the weakest true pairs
    by_threshold = details["distribution"]["tune"]["by_threshold"]
    assert by_threshold["0.30"]["hard_negatives_at_or_above"] > by_threshold["0.60"]["hard_negatives_at_or_above"]
    assert by_threshold["0.80"]["positives_below"] > by_threshold["0.40"]["positives_below"]


def test_check_half_meets_the_targets_and_no_seed_joins_another(scored, documents):
    check, tune, details = scored
    assert check["duplicates.precision"] >= 0.95, details["check"]["wrong_links"]
    assert check["duplicates.recall"] >= 0.9, details["check"]["missed"][:20]
    assert details["min_similarity"] == MIN_SIMILARITY
    seeds_half = next(half for half in HALVES if any(doc.site == "seeds" for doc in documents[half]))
    seed_links = [pair for pair in details[seeds_half]["wrong_links"] if pair.count("seed_") == 2]
    assert seed_links == []


def test_the_gate_sees_a_worse_duplicate_detector(documents):
    stored, tolerance = read_baseline()
    stored = {name: value for name, value in stored.items() if name.startswith("duplicates.")}
    strict = score_half(documents, "check", min_similarity=0.95)  # a threshold that drops edited copies
    failures = gate_failures({"duplicates.precision": strict["precision"], "duplicates.recall": strict["recall"]}, stored, tolerance)
    assert [failure.split(":")[0] for failure in failures] == ["duplicates.recall"]
