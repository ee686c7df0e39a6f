from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.extract.article import ExtractedArticle
from workbench.evaluation import (
    LABELS_PATH,
    DEVDATA_PATH,
    DevDataMissing,
    PageLabel,
    author_matches,
    author_names,
    baseline_from_scores,
    date_matches,
    default_devdata,
    eval_command,
    evaluate_html_extraction,
    evaluate_text_dumps,
    format_evaluation,
    gate_failures,
    read_labels,
    run_evaluation,
    score_metadata,
    title_matches,
    token_scores,
    tokens,
)

BODY = [
    "The city council approved a new flood barrier along the harbour on Tuesday evening after a long debate.",
    "Residents who live near the river said the project was overdue and asked for work to start this year.",
    "The mayor said construction would begin in the spring and take about two years to finish.",
]
PAGE = """<html><head><title>Council approves flood barrier | Harbour Times</title>
<meta property="og:title" content="Council approves flood barrier">
<meta name="author" content="Jane Smith">
<meta property="article:published_time" content="2024-03-05T18:30:00+00:00"></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<article><h1>Council approves flood barrier</h1><p class="byline">By Jane Smith</p>
{paragraphs}</article>
<footer><p>Contact us</p><p>Privacy policy</p><p>Copyright 2024 Harbour Times</p></footer></body></html>"""
LANGID_TSV = "lang\tkind\ttext\nen\tsentences\tThe minister said the new budget would be presented to parliament next week.\nen\tword-pairs\tthe government\n"


def write_devdata(root: Path, pages: int = 2) -> Path:
    extraction = root / "extraction"
    extraction.mkdir(parents=True)
    for number in range(pages):
        paragraphs = "".join(f"<p>{p}</p>" for p in BODY)
        (extraction / f"page{number}.html").write_text(PAGE.format(paragraphs=paragraphs), encoding="utf-8")
        (extraction / f"page{number}.txt").write_text("\n\n".join(BODY), encoding="utf-8")
    (extraction / "orphan.html").write_text("<p>no expected text beside me</p>", encoding="utf-8")
    (root / "langid").mkdir()
    (root / "langid" / "dev.tsv").write_text(LANGID_TSV, encoding="utf-8")
    return root


def write_labels(path: Path) -> Path:
    label = {"title": "Council approves flood barrier", "authors": ["Jane Smith"], "published": "2024-03-05T18:30:00+00:00"}
    path.write_text(json.dumps({"pages": {"page0": label, "page1": {**label, "authors": None}}}), encoding="utf-8")
    return path


# ------------------------------------------------------------------ tokens and token scores


def test_space_delimited_scripts_are_tokenised_by_word():
    assert tokens("The Cat's  hat, 2024!") == ["the", "cat", "s", "hat", "2024"]
    assert tokens("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # vowel signs stay inside the word
    assert tokens("북한 신문이 비난") == ["북한", "신문이", "비난"]  # Hangul is written with spaces


def test_unspaced_scripts_are_tokenised_by_character_with_their_marks():
    assert tokens("中美合作。") == ["中", "美", "合", "作"]
    assert tokens("トランプ戦術") == ["ト", "ラ", "ン", "プ", "戦", "術"]
    assert tokens("ยืนยัน") == ["ยื", "น", "ยั", "น"]
    assert tokens("DNA ยืนยัน") == ["dna", "ยื", "น", "ยั", "น"]


def test_token_scores_count_repeated_tokens():
    score = token_scores("a b c d", "a b c e e")
    assert (score.precision, score.recall) == (0.75, 0.6)
    assert score.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    repeated = token_scores("the the the", "the")
    assert (repeated.precision, repeated.recall) == (pytest.approx(1 / 3), 1.0)


def test_token_scores_of_empty_texts():
    assert token_scores("", "").f1 == 1.0
    assert token_scores("", "some text").f1 == 0.0
    assert token_scores("nothing shared", "other words").f1 == 0.0


# ------------------------------------------------------------------ extraction scores


def test_html_extraction_scores_every_page_with_an_expected_text(tmp_path):
    pages_dir = write_devdata(tmp_path / "devdata") / "extraction"
    scores = evaluate_html_extraction(pages_dir)
    assert [p.name for p in scores.pages] == ["page0", "page1"]  # the orphan page has no .txt
    assert scores.f1 > 0.9
    assert scores.pages[0].title == "Council approves flood barrier"
    assert scores.pages_per_second > 0


def test_html_extraction_uses_the_given_extractor(tmp_path):
    pages_dir = write_devdata(tmp_path / "devdata") / "extraction"
    half = evaluate_html_extraction(pages_dir, lambda html: ExtractedArticle(text=BODY[0]))
    assert half.precision == 1.0
    assert half.recall < 0.5
    assert half.f1 == pytest.approx(half.pages[0].f1)
    assert [p.name for p in half.worst] == ["page0", "page1"]


def test_text_dumps_hold_the_whole_page_and_the_cleaner_removes_the_chrome(tmp_path):
    pages_dir = write_devdata(tmp_path / "devdata") / "extraction"
    uncleaned = evaluate_text_dumps(pages_dir, cleaner=lambda dump: ExtractedArticle(text=dump))
    assert uncleaned.recall == 1.0
    assert uncleaned.precision < 0.85  # menu, byline and footer lines are in the dump
    cleaned = evaluate_text_dumps(pages_dir)
    assert cleaned.precision > uncleaned.precision
    assert cleaned.f1 > 0.9


# ------------------------------------------------------------------ metadata


def test_title_match_ignores_whitespace_and_quote_style():
    label = PageLabel(title="Gates on Russia: ‘Being friendly doesn’t make you friends’", authors=None)
    assert title_matches("Gates on Russia:  'Being friendly doesn't make you friends'", label)
    assert not title_matches("Gates on Russia", label)
    assert not title_matches(None, label)


def test_author_names_split_a_byline_and_drop_the_outlet():
    assert author_names("By Jeremy Herb, Lauren del Valle and Kara Scannell, CNN", ("CNN",)) == {
        "jeremy herb", "lauren del valle", "kara scannell"
    }
    assert author_names("Analysis by Joan Biskupic") == {"joan biskupic"}
    assert author_names(None) == frozenset()


def test_author_match_needs_every_name_and_accepts_an_alternative_byline():
    label = PageLabel(title=None, authors=("Leigh Ann Caldwell",), also_authors=(("CNN Wire",),), affiliations=("CNN",))
    assert author_matches("Leigh Ann Caldwell, CNN", label)
    assert author_matches("CNN Wire", label)
    assert not author_matches("Leigh Ann Caldwell, Jane Doe", label)
    assert not author_matches(None, label)


def test_date_match_compares_the_local_or_utc_calendar_day():
    label = PageLabel(title=None, authors=None, published="2018-06-19T05:50:00+09:00")
    assert date_matches(datetime(2018, 6, 18, 20, 50), label)  # UTC day
    assert date_matches(datetime(2018, 6, 19), label)  # the day printed on the page
    assert not date_matches(datetime(2018, 6, 20), label)
    assert not date_matches(None, label)
    assert date_matches(datetime(2014, 1, 8, 23, 59), PageLabel(title=None, authors=None, published="2014-01-08"))


def test_metadata_rates_count_only_labelled_fields(tmp_path):
    pages_dir = write_devdata(tmp_path / "devdata") / "extraction"
    labels = read_labels(write_labels(tmp_path / "labels.json"))
    fields = score_metadata(evaluate_html_extraction(pages_dir), labels)
    assert (fields["title"].hits, fields["title"].total) == (2, 2)
    assert fields["author"].total == 1  # page1 carries no author label
    assert fields["author"].rate == 1.0
    assert fields["date"].rate == 1.0
    wrong = score_metadata(evaluate_html_extraction(pages_dir, lambda html: ExtractedArticle(text="", title="Other")), labels)
    assert wrong["title"].rate == 0.0
    assert wrong["title"].misses[0] == ("page0", "Council approves flood barrier", "Other")


def test_the_labels_file_names_every_development_page_and_parses():
    labels = read_labels(LABELS_PATH)
    assert len(labels) == 23
    for label in labels.values():
        assert label.title
        assert label.published is None or datetime.fromisoformat(label.published)
    assert set(labels) == {p.stem for p in (default_devdata() / "extraction").glob("*.html")}


# ------------------------------------------------------------------ gate arithmetic


def test_gate_lists_every_score_that_fell_more_than_the_tolerance():
    baseline = {"html.f1": 0.950, "dump.f1": 0.900, "langid.overall": 0.960, "title.html": 0.900}
    scores = {"html.f1": 0.930, "dump.f1": 0.891, "langid.overall": 0.990}
    failures = gate_failures(scores, baseline, tolerance=0.01)
    assert [f.split(":")[0] for f in failures] == ["html.f1", "title.html"]
    assert "missing" in failures[1]
    assert gate_failures({"a": 0.89}, {"a": 0.90}) == []  # exactly at the tolerance still passes


def test_baseline_rounds_down_to_three_decimals():
    assert baseline_from_scores({"b": 0.96789, "a": 0.8, "c": 1.0}) == {"a": 0.8, "b": 0.967, "c": 1.0}


# ------------------------------------------------------------------ the whole evaluation


def test_run_evaluation_on_a_small_devdata(tmp_path):
    devdata = write_devdata(tmp_path / "devdata")
    result = run_evaluation(devdata, labels_path=write_labels(tmp_path / "labels.json"))
    scores, tuned = result["scores"], result["tune_scores"]
    # both pages' sites (page0, page1) fall in the tune half: their figures are tune_scores only
    assert set(tuned) == {
        "html.precision", "html.recall", "html.f1", "dump.precision", "dump.recall", "dump.f1",
        "html.newspaper4k.f1", "dump.newspaper4k.f1", "html.newspaper4k.trafilatura_f1",
        "title.html", "title.dump", "author.html", "author.dump", "date.html", "date.dump",
        # the same pages saved as text the way a browser does (workbench/browser_text.py)
        "dump_browser.precision", "dump_browser.recall", "dump_browser.f1", "dump_browser.newspaper4k.f1",
        "title.dump_browser", "author.dump_browser", "date.dump_browser",
        "dump.en.f1", "dump.min_recall", "dump_browser.en.f1", "dump_browser.min_recall",
    }
    assert set(scores) == {"langid.dev.sentences", "langid.dev.fragments"}
    assert tuned["title.html"] == 1.0
    assert scores["langid.dev.sentences"] == 1.0  # a group of one text is in the check half
    assert set(result["throughput"]) == {
        "extract.html.pages_per_second", "extract.dump.pages_per_second", "extract.dump_browser.pages_per_second",
        "language.texts_per_second",
    }
    json.dumps(result, default=str)  # the details are plain data
    report = format_evaluation(result, baseline={"langid.dev.sentences": 1.01}, tolerance=0.0)
    assert "page0" in report and "langid.dev.fragments" in report
    assert "+.+" in report  # page1: title and date right, no author label
    assert "FAIL" in report  # langid.dev.sentences < 1.01


def test_run_evaluation_says_when_devdata_is_missing(tmp_path):
    with pytest.raises(DevDataMissing, match="NEWSFLOW_DEVDATA"):
        run_evaluation(tmp_path)


def test_devdata_location_can_be_overridden(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSFLOW_DEVDATA", str(tmp_path))
    assert default_devdata() == tmp_path
    monkeypatch.delenv("NEWSFLOW_DEVDATA")
    assert default_devdata() == DEVDATA_PATH


def test_the_development_data_is_in_the_repository_with_its_licences():
    """What the gate scores ships with every clone, each part with its licence and source."""
    pages = sorted((DEVDATA_PATH / "extraction").glob("*.html"))
    assert len(pages) == 23 and all(page.with_suffix(".txt").is_file() for page in pages)
    langid = DEVDATA_PATH / "langid"
    assert (langid / "dev.tsv").is_file() and (langid / "ntrex_ms_id.tsv").is_file()
    readme = (DEVDATA_PATH / "README.md").read_text(encoding="utf-8")
    for licence in ("extraction/LICENSE", "langid/LICENSE.lingua-py", "langid/LICENSE.ntrex.md"):
        assert (DEVDATA_PATH / licence).is_file() and f"`{licence}`" in readme
    assert "MIT" in readme and "Apache-2.0" in readme and "CC BY-SA 4.0" in readme


def test_eval_command_exit_codes(tmp_path, capsys):
    assert eval_command(tmp_path / "nowhere") == 2
    assert "development data not found" in capsys.readouterr().out
    devdata = write_devdata(tmp_path / "devdata")
    output = tmp_path / "eval.json"
    # two tiny pages without labels score 0 on title/author/date: far below the stored baseline
    assert eval_command(devdata, output) == 1
    printed = capsys.readouterr().out
    assert "Headline scores" in printed and "below baseline: author.html" in printed
    assert json.loads(output.read_text(encoding="utf-8"))["tune_scores"]["html.f1"] > 0.9


def test_newsflow_eval_exits_with_the_gates_code(tmp_path):
    """`make eval` and CI rely on the exit code: 2 without data, 1 when a score falls below the baseline."""
    newsflow_eval = [sys.executable, "-m", "flows.cli", "eval", "--devdata"]
    missing = subprocess.run(newsflow_eval + [str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "development data not found" in missing.stdout
    worse = subprocess.run(newsflow_eval + [str(write_devdata(tmp_path / "devdata"))], capture_output=True, text=True, timeout=120)
    assert worse.returncode == 1 and "below baseline: author.html" in worse.stdout
