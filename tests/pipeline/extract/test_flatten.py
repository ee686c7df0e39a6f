from __future__ import annotations

import pytest

from pipeline.extract import extract_document
from pipeline.extract.flatten import html_to_text_dump, markup_too_deep, shallow_markup
from pipeline.record import Document, split_paragraphs


def test_blocks_become_lines_inline_text_stays_together():
    html = """<html><head><title>T</title><style>p{}</style></head><body>
    <nav><ul><li>Home</li><li>News</li></ul></nav>
    <h1>Headline</h1><p>First <b>bold</b> paragraph<br>after a break.</p>
    <script>var x = 1;</script><div hidden>secret</div><p style="display: none">hidden too</p>
    <footer>© 2024</footer></body></html>"""
    assert html_to_text_dump(html).split("\n") == [
        "Home", "News", "Headline", "First bold paragraph", "after a break.", "© 2024",
    ]
    assert "\n\nHeadline\n\n" in html_to_text_dump(html, blank_lines=True)


def test_comments_are_skipped_but_their_tail_text_kept():
    assert html_to_text_dump("<p>a <!-- note --> b</p>") == "a b"


def test_bad_input_gives_empty_dump():
    assert html_to_text_dump("") == ""
    assert html_to_text_dump("   ") == ""
    assert isinstance(html_to_text_dump("<<<>>>"), str)


PARAGRAPH = (
    "<p>The minister met his counterpart in the capital on Saturday and discussed trade, security "
    "and the economy for several hours, officials said after the talks.</p>"
)


def deep_page(depth: int, tag: str = "div") -> str:
    return (
        "<html><head><title>Deep page</title></head><body>" + f"<{tag} class='wrap'>" * depth
        + "<h1>Deep page</h1>" + PARAGRAPH * 6 + f"</{tag}>" * depth + "</body></html>"
    )


@pytest.mark.parametrize("depth", [250, 260, 1000, 10000])
def test_a_page_nested_deeper_than_the_parser_builds_keeps_its_article(depth):
    document = extract_document(Document(source_path="deep.html", raw_text=deep_page(depth), content_format="html"))

    assert not document.rejected, document.rejection
    assert document.title == "Deep page"
    assert document.text.count("officials said after the talks.") == 6
    assert len(split_paragraphs(document.text)) == 6


def test_unclosed_inline_tags_by_the_thousand_keep_the_article():
    html = "<html><body>" + "<b>" * 5000 + PARAGRAPH * 6 + "</body></html>"
    document = extract_document(Document(source_path="bold.html", raw_text=html, content_format="html"))
    assert not document.rejected and document.text.count("officials said") == 6


def test_deep_markup_is_detected_and_made_shallow():
    assert markup_too_deep(deep_page(300)) and not markup_too_deep(deep_page(100))
    shallow = shallow_markup(deep_page(300))
    assert not markup_too_deep(shallow)
    assert html_to_text_dump(shallow) == html_to_text_dump(deep_page(100))


def test_shallow_markup_leaves_a_shallow_page_as_it_was():
    page = '<!DOCTYPE html><html><body><!-- c --><p class="x">a &amp; b &#233;<br/>c</p><img src="i.png"></body></html>'
    assert shallow_markup(page) == page
