from __future__ import annotations

from datetime import datetime

import lxml.html
import pytest

from pipeline.extract.metadata import (
    author_from_text,
    clean_title,
    date_from_text,
    html_metadata,
    site_name_from_dateline,
    site_name_from_url,
    source_url_line,
)


@pytest.mark.parametrize(
    ("title", "sites", "expected"),
    [
        ("Takeaways from the trial | CNN Politics", ["CNN", "https://www.cnn.com/x"], "Takeaways from the trial"),
        ("Jakarta gambles on North Korea - The Jakarta Post", ["The Jakarta Post"], "Jakarta gambles on North Korea"),
        ("Le Monde - Le gouvernement présente son budget", ["Le Monde"], "Le gouvernement présente son budget"),
        ("Anticorrupción decidirá en Madrid » Local » Noticias » Ultima Hora Mallorca", [None], "Anticorrupción decidirá en Madrid"),
        ("短缺药品保供稳价 全力保障临床用药需求-新华网", ["新华网"], "短缺药品保供稳价 全力保障临床用药需求"),
        ("米朝首脳直通電話 習氏に挑むトランプ戦術の成否（写真＝ロイター）", [], "米朝首脳直通電話 習氏に挑むトランプ戦術の成否"),
        ("A title with no site", ["Example"], "A title with no site"),
        (None, [], None),
    ],
)
def test_clean_title(title, sites, expected):
    assert clean_title(title, sites) == expected


def test_source_url_line():
    assert source_url_line("Source: https://jakartaglobe.id/news/a-b") == "https://jakartaglobe.id/news/a-b"
    assert source_url_line("Sumber: https://example.co.id/berita/1.") == "https://example.co.id/berita/1"
    assert source_url_line("https://example.org/story") == "https://example.org/story"
    assert source_url_line("Read the full report at https://example.org/story for details") is None


def test_site_name_from_url():
    assert site_name_from_url("https://www.jakartaglobe.id/news/x") == "jakartaglobe.id"
    assert site_name_from_url("https://m.example.co.uk") == "example.co.uk"
    assert site_name_from_url(None) is None


def test_site_name_from_dateline():
    assert site_name_from_dateline("Jakarta, IDN Times - Presiden Rusia bertemu") == "IDN Times"
    assert site_name_from_dateline("WASHINGTON (Reuters) - The Senate voted") == "Reuters"
    assert site_name_from_dateline("The Senate voted on Monday - again") is None


def test_author_from_text():
    assert author_from_text(["By Maria Lopez"], []) == "Maria Lopez"
    assert author_from_text(["Penulis: Budi Santoso"], []) == "Budi Santoso"
    assert author_from_text([], ["Jayanty Nada Shofa, Jakarta – Indonesia and North Korea agreed"]) == "Jayanty Nada Shofa"
    assert author_from_text([], ["JAKARTA, KOMPAS.com - Pemerintah menyatakan"]) is None
    assert author_from_text(["Home", "News"], ["Nothing here."]) is None


def test_date_from_text_prefers_the_line_nearest_the_body():
    head = ["jueves, 09 enero 2014 - 10:21 h", "Ana García | Madrid | 08/01/2014"]
    assert date_from_text(head, ["Texto."]) == datetime(2014, 1, 8)
    assert date_from_text([], ["Putin bertemu Choe, Selasa (27/10/2025). Pertemuan itu"]) == datetime(2025, 10, 27)
    assert date_from_text([], ["No date at all."]) is None


def test_html_metadata_reads_json_ld_and_meta():
    tree = lxml.html.document_fromstring(
        """<html><head><title>Ignored | Site</title>
        <meta property="og:title" content="Floods hit the north | Example Times">
        <meta property="og:site_name" content="Example Times">
        <script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
          {"@type": "NewsArticle", "headline": "Floods hit the north",
           "datePublished": "2024-02-01T09:00:00-05:00", "author": [{"name": "Ann Lee"}, {"name": "Bo Chan"}],
           "publisher": {"name": "Example Times"}}]}</script>
        <link rel="canonical" href="https://example.com/floods"></head>
        <body><h1>Floods hit the north</h1></body></html>"""
    )
    meta = html_metadata(tree)
    assert meta.title == "Floods hit the north | Example Times"
    assert meta.headline == "Floods hit the north"
    assert meta.author == "Ann Lee, Bo Chan"
    assert meta.published_at == datetime(2024, 2, 1, 14, 0)
    assert meta.site_name == "Example Times"
    assert meta.url == "https://example.com/floods"


def test_html_metadata_tolerates_broken_json_ld_and_missing_tags():
    tree = lxml.html.document_fromstring(
        '<html><head><script type="application/ld+json">{not json</script></head><body><p>x</p></body></html>'
    )
    meta = html_metadata(tree)
    assert meta.title is None and meta.published_at is None and meta.url is None


@pytest.mark.parametrize(
    ("head", "paragraphs", "tail", "expected"),
    [
        # a byline that goes on with a date, a time or a handle
        (["By JEFFREY GETTLEMAN JAN. 13, 2017"], [], [], "Jeffrey Gettleman"),
        (["By Erin Cunningham March 18 at 3:57 PM Follow @erinmcunningham"], [], [], "Erin Cunningham"),
        (["by Steven Musil January 18, 2017 11:00 PM PST"], [], [], "Steven Musil"),
        (['By Amanda "Tania Mae" Tan November 19, 2023 7:18 pm'], [], [], 'Amanda "Tania Mae" Tan'),
        (["Por Steven Lee Myers, Keith Bradsher y Tariq Panja"], [], [], "Steven Lee Myers, Keith Bradsher, Tariq Panja"),
        (["By Ann Lee and Bo Chan, CNN"], [], [], "Ann Lee, Bo Chan"),
        (["By Maria Lopez, staff writer"], [], [], "Maria Lopez"),
        (["Written by Patrick Allan"], [], [], "Patrick Allan"),
        (["Ditulis oleh Budi Santoso"], [], [], "Budi Santoso"),
        (["Written by", "John C. Welch"], [], [], "John C. Welch"),
        # a name alone beside the date line
        (["Samantha and The Great Big Lie", "John C. Welch", "Oct 15, 2015 · 18 min read"], [], [], "John C. Welch"),
        # the note that closes an op-ed, in the last paragraphs or just after them
        ([], ["Body.", "Aniello Iannone is a lecturer in Southeast Asian Politics, Universitas Diponegoro (UNDIP), Indonesia"], [], "Aniello Iannone"),
        ([], ["Body."], ["Share", "Steven Mufson covers the White House. Since joining The Post, he has covered economics."], "Steven Mufson"),
        ([], ["Isi artikel.", "Budi Santoso adalah dosen Hubungan Internasional di Universitas Indonesia."], [], "Budi Santoso"),
        ([], ["Isi artikel.", "Siti Rahmawati merupakan peneliti di Badan Riset dan Inovasi Nasional (BRIN)."], [], "Siti Rahmawati"),
        ([], ["Body."], ["Written by", "John C. Welch", "More From Medium"], "John C. Welch"),
        # not bylines
        (["Di Jakarta, pemerintah menyatakan bahwa harga beras naik"], [], [], None),
        (["By the way, this is not a byline"], [], [], None),
        (["Authors Guild Sues OpenAI Over Training Data"], [], [], None),
        (["Tech Industry", "Share this story"], [], [], None),
        ([], ["The President is a lawyer by training and said so on Monday."], [], None),
        ([], ["Body."], ["Editorial Team", "Dwi Agustiar", "EditorDwi Agustiar"], None),
        ([], ["Body."], ["By Someone Else"], None),  # a bare "By" after the article heads a teaser
    ],
)
def test_author_from_text_reads_bylines_datelines_and_closing_notes(head, paragraphs, tail, expected):
    assert author_from_text(head, paragraphs, tail) == expected
