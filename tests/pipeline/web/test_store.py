"""The raw page store on disk, as WARC files with a CDXJ index: which warehouse's tidying removes
what, the first layout migrated, rotation, the bound, a record cut off by a crash, two writers at once."""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import random
import re

import surt
from warcio.archiveiterator import ArchiveIterator

from pipeline.web.documents import stored_pages
from pipeline.web.store import (
    RawPageInfo,
    apply_raw_store_cleanup,
    index_path,
    plan_raw_store_cleanup,
    read_raw_page,
    store_raw_page,
    stored_raw_pages,
    surt_key,
    warc_files,
)

A, B = "/data/a.duckdb", "/data/b.duckdb"


def info(url: str, when: str, *warehouses: str) -> RawPageInfo:
    return RawPageInfo(url=url, fetched_url=url, content_type="text/html", charset=None, fetched_at=when, warehouses=warehouses)


def tidy(state, warehouse, needed=(), max_bytes=10**9):
    plan = plan_raw_store_cleanup(state, warehouse=warehouse, needed=set(needed), max_bytes=max_bytes)
    apply_raw_store_cleanup(plan, warehouse=warehouse)
    return plan


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def warc_records(state) -> list[tuple[str, str | None, bytes]]:
    """Every record of every WARC file, read whole by warcio: (type, target URI, payload)."""
    records = []
    for path in warc_files(state / "web"):
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                records.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read()))
    return records


def test_each_warehouses_fetch_stays_until_that_warehouse_no_longer_uses_it_and_another_warehouses_page_is_left_alone(tmp_path):
    state = tmp_path / "state"
    store_raw_page(state, b"<html>shared</html>", info("http://x/1", "2026-11-01T00:00:00", A))
    store_raw_page(state, b"<html>shared</html>", info("http://x/1", "2026-11-02T00:00:00", B))
    store_raw_page(state, b"<html>b only</html>", info("http://x/2", "2026-11-01T00:00:00", B))

    plan = tidy(state, A)  # A stores no article from either: only A's fetch goes
    assert [(page.info.url, page.info.warehouses) for page in plan.removed] == [("http://x/1", (A,))]
    assert [page.url for page in stored_pages(state, warehouse=A)] == []
    assert sorted(page.url for page in stored_pages(state, warehouse=B)) == ["http://x/1", "http://x/2"]

    plan = tidy(state, B, needed={sha(b"<html>b only</html>")})
    assert [page.info.url for page in plan.unused] == ["http://x/1"]
    [left] = stored_raw_pages(state)
    assert read_raw_page(left.path, left.offset, left.length) == b"<html>b only</html>"
    assert [(kind, uri, body) for kind, uri, body in warc_records(state) if kind == "response"] == [("response", "http://x/2", b"<html>b only</html>")]


def test_the_first_layout_is_migrated_once_into_warc_and_a_page_two_warehouses_fetched_stays_until_neither_uses_it(tmp_path):
    state = tmp_path / "state"
    old = {b"<html>stored before packing</html>": ".html", b"<html>stored packed</html>": ".html.gz"}
    for n, (body, suffix) in enumerate(old.items()):
        path = state / "web" / sha(body)[:2] / f"{sha(body)}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(body) if suffix.endswith(".gz") else body)
        (path.parent / f"{sha(body)}.json").write_text(json.dumps({
            "url": f"http://x/old{n}", "fetched_url": f"http://x/old{n}?from=feed", "content_type": "text/html", "charset": "utf-8",
            "fetched_at": f"2026-11-0{n + 1}T00:00:00.250000+00:00", "warehouses": [A, B] if n else [],
        }))
    orphan = state / "web" / "ff" / ("f" * 64 + ".html.gz")  # its sidecar is lost: its URL is unknown
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(gzip.compress(b"<html>orphan</html>"))

    pages = {page.url: page for page in stored_pages(state, warehouse=A)}
    assert sorted(pages) == ["http://x/old0", "http://x/old1"]
    for n, body in enumerate(old):
        page = pages[f"http://x/old{n}"]
        assert read_raw_page(page.raw_path, page.raw_offset, page.raw_length) == body and page.charset == "utf-8"
        assert page.fetched_url == f"http://x/old{n}?from=feed"
    assert not list((state / "web").glob("??/*.json")) and sorted(p.name for p in (state / "web").glob("??/*")) == [orphan.name]
    [warc] = warc_files(state / "web")
    with open(warc, "rb") as stream:
        responses = [(r.rec_headers.get_header("WARC-Target-URI"), r.rec_headers.get_header("WARC-Date"))
                     for r in ArchiveIterator(stream) if r.rec_type == "response"]
    assert responses == [("http://x/old0?from=feed", "2026-11-01T00:00:00.250000Z"), ("http://x/old1?from=feed", "2026-11-02T00:00:00.250000Z")]

    shared = sha(b"<html>stored packed</html>")
    plan = tidy(state, A, needed={sha(b"<html>stored before packing</html>")})  # the page A and B fetched: A lets go of it
    assert plan.removed == [] and [page.sha256 for page in plan.released] == [shared]
    assert [page.url for page in stored_pages(state, warehouse=A)] == ["http://x/old0"]
    assert sorted(page.url for page in stored_pages(state, warehouse=B)) == ["http://x/old0", "http://x/old1"]
    plan = tidy(state, B, needed={sha(b"<html>stored before packing</html>")})
    assert [page.sha256 for page in plan.unused] == [shared] and [page.sha256 for page in stored_raw_pages(state)] == [sha(b"<html>stored before packing</html>")]


def test_the_bound_lets_the_oldest_fetch_go_first_and_the_warc_file_shrinks(tmp_path):
    state = tmp_path / "state"
    bodies = [random.Random(n).randbytes(10_000) for n in range(3)]  # not packable: 10 KB each
    for n, body in enumerate(bodies):
        store_raw_page(state, body, info(f"http://x/{n}", f"2026-11-0{n + 1}T00:00:00", A))
    needed = {sha(body) for body in bodies}
    [warc] = warc_files(state / "web")
    before = warc.stat().st_size
    one = stored_raw_pages(state)[0].disk_bytes
    plan = tidy(state, A, needed=needed, max_bytes=int(2.5 * one))
    assert [page.info.url for page in plan.evicted] == ["http://x/0"]
    assert [page.info.url for page in stored_raw_pages(state)] == ["http://x/1", "http://x/2"]
    [warc] = warc_files(state / "web")
    assert warc.stat().st_size < before - 10_000
    assert [uri for kind, uri, _ in warc_records(state) if kind == "response"] == ["http://x/1", "http://x/2"]
    assert all(read_raw_page(page.path, page.offset, page.length) == body for page, body in zip(stored_raw_pages(state), bodies[1:]))
    assert "1 oldest over the" in plan.describe()


def test_files_rotate_at_their_size_and_each_is_named_and_indexed(tmp_path):
    state = tmp_path / "state"
    bodies = [random.Random(n).randbytes(5_000) for n in range(6)]  # 5 KB packed each
    for n, body in enumerate(bodies):
        store_raw_page(state, body, info(f"http://x/{n}", f"2026-11-01T00:00:0{n}", A), max_file_bytes=12_000)
    files = warc_files(state / "web")
    assert len(files) == 3 and all(re.fullmatch(r"newsflow-\d{14}-\d{5}\.warc\.gz", path.name) for path in files)
    assert all(path.stat().st_size <= 12_000 for path in files)
    assert all(len(index_path(path).read_text().splitlines()) == 2 for path in files)
    assert [body for kind, _, body in warc_records(state) if kind == "response"] == bodies


def test_a_record_cut_off_by_a_crash_breaks_no_other_and_the_next_fetch_cuts_it_away(tmp_path):
    state = tmp_path / "state"
    first, _ = store_raw_page(state, b"<html>first</html>", info("http://x/1", "2026-11-01T00:00:00", A))
    second, _ = store_raw_page(state, b"<html>second</html>", info("http://x/2", "2026-11-01T00:00:01", A))
    whole = first.path.read_bytes()
    with open(first.path, "ab") as out:  # a writer killed halfway through its records ...
        out.write(whole[second.span_offset: second.span_offset + second.span_length // 2])
    with open(index_path(first.path), "ab") as out:  # ... or through its index line
        out.write(b'com,x)/4 20261101000003 {"url": "http://x/4", "sha2')
    assert read_raw_page(first.path, first.offset, first.length) == b"<html>first</html>"
    assert [page.info.url for page in stored_raw_pages(state)] == ["http://x/1", "http://x/2"]

    third, _ = store_raw_page(state, b"<html>third</html>", info("http://x/3", "2026-11-01T00:00:02", A))
    assert third.span_offset == len(whole)
    assert [page.info.url for page in stored_raw_pages(state)] == ["http://x/1", "http://x/2", "http://x/3"]
    assert [(uri, body) for kind, uri, body in warc_records(state) if kind == "response"] == [
        ("http://x/1", b"<html>first</html>"), ("http://x/2", b"<html>second</html>"), ("http://x/3", b"<html>third</html>")]


def _write_pages(state, writer: int) -> None:
    for n in range(15):
        store_raw_page(state, f"<html>writer {writer} page {n}</html>".encode() * 50,
                       info(f"http://x/{writer}/{n}", f"2026-11-01T00:00:{n:02d}", A), max_file_bytes=4_000)


def test_two_processes_writing_at_once_corrupt_no_file(tmp_path):
    state = tmp_path / "state"
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_pages, args=(state, writer)) for writer in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [process.exitcode for process in writers] == [0, 0]
    responses = {uri: body for kind, uri, body in warc_records(state) if kind == "response"}
    assert len(responses) == 30 and len(warc_files(state / "web")) > 2
    pages = stored_raw_pages(state)
    assert sorted(page.info.url for page in pages) == sorted(responses)
    assert all(read_raw_page(page.path, page.offset, page.length) == responses[page.info.url] for page in pages)


def test_the_index_keys_are_the_surt_form_cdxj_indexers_use():
    for url in ("http://127.0.0.1:8080/a", "https://www.Example.com/News/A.html?b=2&a=1", "https://sub.example.co.uk/x", "http://example.com"):
        assert surt_key(url) == surt.surt(url)
