"""The quality gate: headline scores on the development data must hold the stored baseline.

A score may fall at most the baseline's tolerance (0.01) below its stored value. After a
real improvement, raise workbench/data/quality_baseline.json (`baseline_from_scores`). The development
data is part of the repository (workbench/data/devdata): missing data fails the gate, never skips it.
"""

from __future__ import annotations

import pytest

from pipeline.extract import clean_text_dump
from pipeline.extract.article import ExtractedArticle
from workbench.evaluation import (
    BASELINE_PATH,
    format_evaluation,
    gate_failures,
    read_baseline,
    run_evaluation,
)
from workbench.extraction_eval import (
    below_trafilatura,
    dump_recall_failures,
    page_floor_failures,
    read_page_baseline,
    text_dump,
)


@pytest.fixture(scope="module")
def evaluation() -> dict:
    return run_evaluation()


@pytest.fixture(scope="module")
def baseline() -> tuple[dict[str, float], float]:
    return read_baseline(BASELINE_PATH)


def test_headline_scores_hold_the_baseline(evaluation, baseline):
    stored, tolerance = baseline
    failures = gate_failures(evaluation["scores"], stored, tolerance)
    assert not failures, "scores fell below workbench/data/quality_baseline.json:\n" + "\n".join(failures)


def test_every_headline_score_has_a_baseline(evaluation, baseline):
    stored, _ = baseline
    assert set(evaluation["scores"]) == set(stored)


def test_the_report_shows_every_score_against_its_baseline(evaluation, baseline):
    stored, tolerance = baseline
    report = format_evaluation(evaluation, stored, tolerance)
    for name in stored:
        assert name in report
    assert "FAIL" not in report
    assert "cnn_001" in report and "burmese_article" in report


def test_no_development_page_falls_below_its_stored_f1(evaluation):
    """The per-page floor: a change may not lower any page's F1 (either half, HTML or dump) by more than 0.05."""
    failures = page_floor_failures(evaluation["details"]["extraction"], read_page_baseline())
    assert not failures, "pages fell below workbench/data/extraction_page_baseline.json:\n" + "\n".join(failures)


def test_no_check_page_loses_half_its_article_in_a_dump(evaluation):
    """Issue 27's floor: on the check half, each page flattened by the project's flattener and by a
    browser's "save as text" keeps at least half its article's tokens through the dump cleaner."""
    assert dump_recall_failures(evaluation["details"]["extraction"]) == []
    report = format_evaluation(evaluation)
    assert "Text dumps by language" in report and "dump_browser" in report


def test_extraction_is_at_least_trafilatura_alone_on_every_subset(evaluation):
    """Check half: each subset's mean HTML F1 at least plain trafilatura.extract's, and no page
    below 0.5 that trafilatura alone keeps above 0.8."""
    assert below_trafilatura(evaluation["details"]["extraction"], "check") == []


def test_gate_fails_on_a_made_worse_score_dict(baseline):
    stored, tolerance = baseline
    worse = dict(stored)
    worse["html.f1"] -= 0.02
    worse["langid.dev50.fragments"] -= 0.011
    worse["dump.recall"] -= 0.009  # within the tolerance
    del worse["title.dump"]
    failures = gate_failures(worse, stored, tolerance)
    assert [f.split(":")[0] for f in failures] == ["html.f1", "langid.dev50.fragments", "title.dump"]


def _without_trafilatura(html: str) -> ExtractedArticle:
    """A crippled HTML extractor: only the last fallback (flatten, then the text-dump cleaner)."""
    return clean_text_dump(text_dump(html))  # the flattening the first run made, cached


def _no_cleaning(dump: str) -> ExtractedArticle:
    """A crippled text-dump cleaner: keeps every line, menus and footers included."""
    return ExtractedArticle(text=dump)


def test_gate_fails_when_the_pipeline_really_gets_worse(evaluation, baseline):
    stored, tolerance = baseline
    crippled = run_evaluation(html_extractor=_without_trafilatura, dump_cleaner=_no_cleaning)
    failed = {f.split(":")[0] for f in gate_failures(crippled["scores"], stored, tolerance)}
    assert {"html.f1", "dump.precision", "dump.f1", "author.html"} <= failed
    assert not {name for name in failed if name.startswith("langid.")}  # the language stage was not touched
    assert "FAIL" in format_evaluation(crippled, stored, tolerance)
    # the per-page floor names each page that fell, on both paths
    floor = page_floor_failures(crippled["details"]["extraction"], read_page_baseline())
    assert any(line.startswith("html readability/") for line in floor)
    assert any(line.startswith("dump ") for line in floor)


def test_malay_and_indonesian_are_scored_on_stories_the_model_never_saw(evaluation, baseline):
    stored, tolerance = baseline
    for language in ("ms", "id"):  # check half gated, tune half beside it
        assert f"langid.ntrex.{language}" in evaluation["scores"] and f"langid.ntrex.{language}" in evaluation["tune_scores"]
    halves = evaluation["details"]["malay_indonesian"]
    assert halves["check"]["count"] == 938 and halves["tune"]["count"] == 1062
    report = format_evaluation(evaluation, stored, tolerance)
    assert "Malay / Indonesian (NTREX by story block): check half 938 sentences" in report
