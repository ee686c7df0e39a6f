from __future__ import annotations

from pipeline.extract.flatten import html_to_text_dump


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
