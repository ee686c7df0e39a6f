"""Reading WARC files: which records are pages, and what a record the crawler cut short becomes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pipeline.warc import REJECT_WARC_DAMAGED, REJECT_WARC_TRUNCATED, SKIP_NOT_HTML, SKIP_NOT_OK, SKIP_NOT_RESPONSE, list_warc_records, load_warc_record, warc_records_of
from workbench.warc_files import ArchivedPage, write_revisit, write_warc

PAGE = b"<html><head><title>Harbour reopens</title></head><body><article><p>" + b"The harbour reopened on Monday. " * 20 + b"</p></article></body></html>"


def test_only_html_responses_are_listed_the_rest_counted_and_a_record_is_read_by_its_offset(tmp_path):
    warc = tmp_path / "crawl.warc.gz"
    offsets = write_warc(
        warc,
        [
            ArchivedPage("https://news.example/harbour?utm_source=feed#top", PAGE.replace(b"Monday", b"caf\xc3\xa9 day")),
            ArchivedPage("https://news.example/logo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png"),
            ArchivedPage("https://news.example/gone", PAGE, status="404 Not Found"),
            ArchivedPage("https://news.example/latin", PAGE.replace(b"Monday", b"caf\xe9 day"), content_type="text/html; charset=ISO-8859-15"),
        ],
    )
    write_revisit(warc, "https://news.example/harbour")
    skipped = Counter()
    records = list(list_warc_records(warc, skipped))
    assert [record.offset for record in records] == [offsets[0], offsets[3]]
    # warcinfo, four requests, the revisit; the image; the 404
    assert skipped == Counter({SKIP_NOT_RESPONSE: 6, SKIP_NOT_HTML: 1, SKIP_NOT_OK: 1})

    first, latin = (load_warc_record(record, drop_folder=tmp_path / "seeds", max_bytes=1 << 20) for record in records)
    assert not first.rejected and not latin.rejected
    assert first.source_path == f"{warc}#{offsets[0]}"
    assert first.source_url == "https://news.example/harbour"  # canonical, as a fetched page's address
    assert first.fetched_at == datetime(2026, 11, 2, 8, 15)
    assert "café day" in first.raw_text and "café day" in latin.raw_text  # the header's charset decodes it
    assert latin.encoding == "iso8859-15"


def test_a_record_the_crawler_truncated_or_too_large_for_the_limit_is_rejected_with_where_it_is(tmp_path):
    warc = tmp_path / "crawl.warc"
    write_warc(
        warc,
        [ArchivedPage("https://news.example/cut", PAGE[:60], extra_headers=(("WARC-Truncated", "length"),)), ArchivedPage("https://news.example/big", PAGE)],
        gzip=False,
    )
    cut, big = (load_warc_record(record, drop_folder=tmp_path / "seeds", max_bytes=100) for record in list_warc_records(warc))
    assert cut.rejection.reason == REJECT_WARC_TRUNCATED
    assert f"byte {cut.source_path.split('#')[1]} of {warc}" in cut.rejection.detail and "https://news.example/cut" in cut.rejection.detail
    assert big.rejection.reason == "too_large" and "NEWSFLOW_MAX_FILE_BYTES" in big.rejection.detail


def test_a_warc_cut_anywhere_lists_the_records_before_the_cut_and_one_damaged_record_from_there(tmp_path):
    pages = [ArchivedPage(f"https://news.example/{n}", PAGE + bytes(f"<!-- {n} -->", "ascii")) for n in range(3)]
    whole = tmp_path / "whole.warc.gz"
    offsets = write_warc(whole, pages, with_requests=False)
    data = whole.read_bytes()
    for cut_at in (offsets[2] + 40, len(data) - 30):  # in the record's header, in its payload
        cut = tmp_path / f"cut-{cut_at}.warc.gz"
        cut.write_bytes(data[:cut_at])
        records = list(list_warc_records(cut))
        assert [(record.offset, record.damage is None) for record in records] == [(offsets[0], True), (offsets[1], True), (offsets[2], False)], cut_at
        damaged = load_warc_record(records[-1], drop_folder=tmp_path / "seeds", max_bytes=1 << 20)
        assert damaged.rejection.reason == REJECT_WARC_DAMAGED and f"{cut} is damaged from byte {offsets[2]} on" in damaged.rejection.detail


def test_an_empty_warc_or_one_linking_out_of_its_folder_stays_a_file_for_the_loader_to_reject(tmp_path):
    folder, outside = tmp_path / "seeds", tmp_path / "elsewhere"
    folder.mkdir(), outside.mkdir()
    write_warc(outside / "crawl.warc.gz", [ArchivedPage("https://news.example/a", PAGE)])
    (folder / "linked.warc.gz").symlink_to(outside / "crawl.warc.gz")
    (folder / "empty.warc").write_bytes(b"")
    paths = [folder / "empty.warc", folder / "linked.warc.gz"]
    assert list(warc_records_of(paths, Counter(), [folder])) == paths
    assert [record.offset > 0 for record in warc_records_of([outside / "crawl.warc.gz"], Counter(), [folder])] == [True]
