"""The five seeds' author and headline as a person reading each dump gives them.

Read through `extract_document`, the stage that fills the warehouse's `title` and `author`.
Where a seed shows no author or no headline, the expected value is None and the reason is said.
"""

from __future__ import annotations

import pytest

from pipeline.extract import extract_document
from pipeline.record import Document
from tests.conftest import SEEDS_DIR

SEEDS = {
    # Jakarta Globe news story: the reporter's name opens the dateline ("Jayanty Nada Shofa,
    # Jakarta – ..."); the dump starts with the body, so no headline is shown.
    "000": ("Jayanty Nada Shofa", None),
    # Op-ed: the headline is printed after the breadcrumb that repeats it; the author is named only
    # in the note that closes it ("Aniello Iannone is a lecturer in Southeast Asian Politics, ...").
    "001": ("Aniello Iannone", "Jakarta gambles on embracing North Korea"),
    # A first-person explainer whose dump starts with its summary sentence (a standfirst, not a
    # headline) and ends with an office's contact block: no author, no headline.
    "002": (None, None),
    # Wikipedia paragraphs ("Indonesia–North Korea relations"), without the page title: no author,
    # no headline.
    "003": (None, None),
    # IDN Times story: the headline stands above the summary box; the only name shown is the
    # editor's ("Editorial Team", "EditorDwi Agustiar"), and an editor is not the author.
    "004": (None, "Trump ke Jepang, Putin Bertemu Menlu Korea Utara di Istananya"),
}


@pytest.mark.parametrize("prefix", sorted(SEEDS))
def test_seed_author_and_headline_are_what_a_reader_sees(prefix):
    (path,) = SEEDS_DIR.glob(f"{prefix}_*.txt")
    doc = Document(source_path=f"seeds/{path.name}", raw_text=path.read_text(encoding="utf-8"), content_format="text")
    article = extract_document(doc)
    assert not article.rejected
    assert (article.author, article.title) == SEEDS[prefix]
