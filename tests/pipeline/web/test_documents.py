"""Fetched pages as Documents: how their bytes are decoded, and what a page that gives no article says about it."""

from __future__ import annotations

import pytest

from pipeline.extract import extract_document
from pipeline.web.documents import decode_page
from workbench.news_site import PAGES_DIR, SHIFT_JIS_MENU, shift_jis_page


@pytest.mark.parametrize("page, origin", [
    (shift_jis_page("japanese_article.html", meta=True), "named by the page's own <meta charset=shift_jis>"),
    (shift_jis_page("japanese_article2.html", meta=False), "detected from its bytes"),
])
def test_a_shift_jis_page_labelled_latin_1_by_its_server_is_read_as_shift_jis(page, origin):
    text, encoding, said = decode_page(page, "iso-8859-1")
    assert encoding == "cp932" and "6月" in text
    assert said.startswith(origin) and "the server's Content-Type said charset=iso-8859-1" in said


def test_a_latin_1_page_labelled_latin_1_stays_latin_1_and_a_real_label_wins():
    spanish = (PAGES_DIR / "spanish_article.html").read_text(encoding="utf-8").encode("latin-1", errors="xmlcharrefreplace")
    text, encoding, said = decode_page(spanish, "ISO-8859-1")
    assert encoding == "cp1252" and "imputación" in text and "do not contradict" in said
    text, encoding, said = decode_page(shift_jis_page("japanese_article.html", meta=False), "Shift_JIS")
    assert encoding == "cp932" and said == "named by the server's Content-Type header, charset=Shift_JIS"


def test_a_page_that_gives_no_article_says_how_its_bytes_were_read():
    from pipeline.record import Document

    text, encoding, origin = decode_page(SHIFT_JIS_MENU, "iso-8859-1")
    doc = extract_document(Document(source_path="http://127.0.0.1/menu", raw_text=text, encoding=encoding, encoding_origin=origin,
                                    content_format="html"))
    assert doc.rejection.reason == "no_article"
    assert "decoded as cp932 (detected from its bytes; the server's Content-Type said charset=iso-8859-1)" in doc.rejection.detail
