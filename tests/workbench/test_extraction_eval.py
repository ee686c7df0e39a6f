"""The extraction evaluation's split, readability metadata matching and per-page floor."""

from __future__ import annotations

from datetime import datetime

from workbench.evaluation import DEVDATA_PATH
from workbench.extraction_eval import (
    below_trafilatura,
    half_of,
    page_floor_failures,
    read_labelled_pages,
    readability_author_matches,
    readability_date_matches,
    readability_title_matches,
    site_of,
)


def test_pages_are_split_by_site_and_no_site_is_on_both_sides():
    pages = read_labelled_pages(DEVDATA_PATH / "extraction")
    assert sum(p.subset == "newspaper4k" for p in pages) == 23 and sum(p.subset == "readability" for p in pages) == 56
    halves_of_site: dict[str, set[str]] = {}
    for page in pages:
        halves_of_site.setdefault(page.site, set()).add(page.half)
    assert all(len(halves) == 1 for halves in halves_of_site.values())
    assert {site_of(f"readability/nytimes-{n}") for n in range(1, 6)} == {"nytimes"}
    assert site_of("cnn_001") == site_of("readability/cnn") == site_of("arabic_article") == "cnn"
    assert site_of("readability/lifehacker-working") == site_of("readability/lifehacker-post-comment-load")
    by_half = {half: sum(p.half == half for p in pages) for half in ("tune", "check")}
    assert by_half == {"tune": 35, "check": 44}  # the sha1 rule is fixed: a change here moves pages between halves
    assert half_of("nytimes") == half_of("nytimes")


def test_readability_pages_have_text_and_metadata():
    webmd = next(p for p in read_labelled_pages(DEVDATA_PATH / "extraction") if p.name == "readability/webmd-1")
    assert len(webmd.expected.split()) > 300 and "<p>" not in webmd.expected
    assert webmd.metadata["byline"].startswith("By")


def test_readability_metadata_matching():
    metadata = {"title": "Ancient  Maya ‘city’ found", "byline": "By\n\t\tScott Cunningham and Jo Lee", "publishedTime": "2021-11-01T00:52:50+0100"}
    assert readability_title_matches("Ancient Maya 'city' found", metadata)
    assert not readability_title_matches("Ancient Maya city found - Site", metadata)
    assert readability_author_matches("Scott Cunningham", metadata)
    assert readability_author_matches("Scott Cunningham, Jo Lee", metadata)
    assert not readability_author_matches("Scott Cunningham, Ann Other", metadata)
    assert not readability_author_matches(None, metadata)
    # the page's own day and its UTC day both count
    assert readability_date_matches(datetime(2021, 11, 1, 9), metadata)
    assert readability_date_matches(datetime(2021, 10, 31, 23), metadata)
    assert not readability_date_matches(datetime(2021, 11, 2), metadata)
    assert not readability_date_matches(None, metadata)


def _extraction(f1_by_page: dict[str, float], trafilatura: dict[str, float]) -> dict:
    def pages(figures):
        return {name: {"f1": f1, "half": "check", "subset": "readability"} for name, f1 in figures.items()}

    return {
        "pages": {"html": pages(f1_by_page), "dump": {}, "trafilatura": pages(trafilatura)},
        "scores": {
            "html.readability.f1": sum(f1_by_page.values()) / len(f1_by_page),
            "html.readability.trafilatura_f1": sum(trafilatura.values()) / len(trafilatura),
            "html.newspaper4k.f1": 0.9,
            "html.newspaper4k.trafilatura_f1": 0.9,
        },
    }


def test_the_page_floor_names_each_page_that_fell_more_than_the_allowed_drop():
    stored = {"html": {"a": 0.95, "b": 0.95, "gone": 0.9}}
    now = _extraction({"a": 0.90, "b": 0.899}, {"a": 0.9, "b": 0.9})
    failures = page_floor_failures(now, stored)
    assert failures == [
        "html b: F1 0.899 is more than 0.05 below its stored 0.950",
        "html gone: missing (stored F1 0.900)",
    ]


def test_the_targets_against_trafilatura_alone():
    assert below_trafilatura(_extraction({"a": 0.95, "b": 0.9}, {"a": 0.9, "b": 0.9})) == []
    problems = below_trafilatura(_extraction({"a": 0.95, "b": 0.45}, {"a": 0.9, "b": 0.85}))
    assert problems == [
        "html.readability.f1 0.700 is below trafilatura alone's 0.875",
        "html b: F1 0.450, trafilatura alone 0.850",
    ]


def test_a_readability_title_may_carry_the_site_name_newsflow_drops():
    ehow = {"title": "How to Build a Terrarium | eHow", "siteName": "eHow"}
    assert readability_title_matches("How to Build a Terrarium", ehow, "ehow")
    tumblr = {"title": "Minecraft 1.8 - The Bountiful Update", "siteName": "Minecraft Update News"}
    assert not readability_title_matches("Minecraft 1.8", tumblr, "tumblr")  # a cut subtitle is a miss
