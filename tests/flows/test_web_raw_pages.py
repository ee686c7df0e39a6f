"""The raw pages kept for `newsflow reextract` (`<state>/web`), as a user sees them: WARC files
that standard tools read, packed on disk, let go of when no stored article uses them (superseded
fetches, pages that gave no article, pages of pruned articles), bounded by
NEWSFLOW_RAW_PAGES_MAX_MB, shown by `newsflow status`, and migrated from the first layout."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
from datetime import datetime, timezone

import duckdb
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import PROJECT_ROOT, newsflow
from tests.flows.test_web_ingest import rows, site, web_env  # noqa: F401 (fixtures)
from workbench.news_site import FEED_ARTICLES, PAGES_DIR

assert site and web_env  # the fixtures, used by name below


def warcs(tmp_path) -> list:
    return sorted((tmp_path / "state" / "web").glob("newsflow-*.warc.gz"))


def kept(tmp_path) -> dict[str, int]:
    """The pages in the WARC files on disk, as warcio reads them: the sha256 of each 200 response's
    body -> the size of its record on disk."""
    pages = {}
    for path in warcs(tmp_path):
        with open(path, "rb") as stream:
            records = ArchiveIterator(stream)
            for record in records:
                if record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                    body = record.content_stream().read()
                    records.read_to_end(record)
                    pages[sha(body)] = records.get_record_length()
    return pages


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetched_pages_are_kept_in_warc_files_standard_tools_read_a_store_of_the_first_layout_is_migrated_and_status_shows_it(
    site, web_env, tmp_path
):
    warehouse = tmp_path / "news.duckdb"
    started = datetime.now(timezone.utc)
    newsflow(["ingest", site.url("/feed.xml")], web_env)
    finished = datetime.now(timezone.utc)
    served = {name: (PAGES_DIR / f"{name}.html").read_bytes() for name in FEED_ARTICLES}
    # warcio reads the file record for record: a request and a response per page, the body byte for byte
    [warc] = warcs(tmp_path)
    with open(warc, "rb") as stream:
        records = [(record.rec_type, record.rec_headers.get_header("WARC-Target-URI"), record.rec_headers.get_header("WARC-Date"),
                    record.http_headers, record.content_stream().read()) for record in ArchiveIterator(stream)]
    pages = {site.url(f"/articles/{name}.html"): name for name in FEED_ARTICLES}
    assert records[0][0] == "warcinfo" and sorted(uri for kind, uri, *_ in records if kind == "response") == sorted(pages)
    assert [(kind, uri) for kind, uri, *_ in records[1:]] == [(kind, uri) for uri in [u for k, u, *_ in records if k == "response"]
                                                             for kind in ("response", "request")]
    for kind, uri, date, http, body in records[1:]:
        assert started <= datetime.fromisoformat(date.replace("Z", "+00:00")) <= finished
        if kind == "response":
            assert http.get_statuscode() == "200" and http.get_header("Content-Type").startswith("text/html") and body == served[pages[uri]]
        else:
            assert http.protocol == "GET" and http.statusline.startswith(uri.split(str(site.port), 1)[1])
            assert http.get_header("User-Agent").startswith("newsflow/")
    subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "warcio"), "check", str(warc)], check=True)  # block and payload digests
    # webrecorder's cdxj-indexer finds each page where newsflow's own index says it is
    indexed = subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "cdxj-indexer"), str(warc)], capture_output=True, text=True, check=True)
    theirs = {fields["url"]: fields for fields in (json.loads(line.split(" ", 2)[2]) for line in indexed.stdout.splitlines())}
    ours = [json.loads(line.split(" ", 2)[2]) for line in warc.with_name(warc.name.replace(".warc.gz", ".cdxj")).read_text().splitlines()]
    assert sorted(fields["url"] for fields in ours) == sorted(pages)
    assert all((theirs[f["url"]]["offset"], theirs[f["url"]]["length"], theirs[f["url"]]["digest"]) == (f["offset"], f["length"], f["digest"])
               for f in ours)
    on_disk = kept(tmp_path)
    assert sorted(on_disk) == sorted(sha(data) for data in served.values())
    assert [path.name for path in (tmp_path / "state" / "web").iterdir() if not path.name.startswith(".")] != []
    assert all(re.fullmatch(r"newsflow-\d{14}-\d{5}\.(warc\.gz|cdxj)", path.name)
               for path in (tmp_path / "state" / "web").iterdir() if not path.name.startswith("."))
    assert sum(on_disk.values()) < sum(len(data) for data in served.values()) / 2

    # The store as the first versions of newsflow left it: each page packed under its sha256, with its sidecar.
    texts = dict(rows(warehouse, "select source_url, text from articles"))
    web = tmp_path / "state" / "web"
    shutil.rmtree(web)
    for n, (url, name) in enumerate(sorted(pages.items())):
        old = web / sha(served[name])[:2] / f"{sha(served[name])}.html.gz"
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_bytes(gzip.compress(served[name]))
        old.with_name(f"{sha(served[name])}.json").write_text(json.dumps({
            "url": url, "fetched_url": url, "content_type": "text/html", "charset": None,
            "fetched_at": f"2026-11-2{n}T08:00:00.000001+00:00", "warehouses": [str(warehouse.resolve())],
        }))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update articles set text = 'damaged'")
    site.log.clear()
    newsflow(["reextract"], web_env)  # migrates the store first, then reads it back
    assert site.log.paths() == []
    assert dict(rows(warehouse, "select source_url, text from articles")) == texts
    assert not list(web.glob("??"))  # the old files are gone
    [warc] = warcs(tmp_path)
    with open(warc, "rb") as stream:
        migrated = [(r.rec_headers.get_header("WARC-Target-URI"), r.rec_headers.get_header("WARC-Date"), r.content_stream().read())
                    for r in ArchiveIterator(stream) if r.rec_type == "response"]
    assert migrated == [(url, f"2026-11-2{n}T08:00:00.000001Z", served[name]) for n, (url, name) in enumerate(sorted(pages.items()))]

    status = " ".join(newsflow(["status"], web_env).stdout.split())
    assert f"Raw web pages {tmp_path / 'state' / 'web'}: 4 pages," in status and "(bound 1024.0 MB, NEWSFLOW_RAW_PAGES_MAX_MB)" in status


def test_a_superseded_fetch_and_a_page_that_gave_no_article_are_let_go_and_reextract_uses_the_latest(site, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    story, menu = site.url("/live/story.html"), site.url("/sjis/menu.html")
    output = " ".join(newsflow(["ingest", story, menu], web_env).stdout.split())
    assert rows(warehouse, "select path, reason from rejected_files") == [(menu, "no_article")]
    assert list(kept(tmp_path)) == [sha(site.live_story())]
    assert "raw web pages: removed 1 (" in output and "1 used by no stored article" in output

    first = site.live_story()
    site.live_version = 2
    output = " ".join(newsflow(["ingest", "--refresh", story], web_env).stdout.split())
    assert list(kept(tmp_path)) == [sha(site.live_story())] and sha(first) != sha(site.live_story())  # the first fetch is gone
    assert "1 superseded by a newer fetch" in output

    with duckdb.connect(str(warehouse)) as con:
        con.execute("update articles set text = 'damaged'")
    site.log.clear()
    output = newsflow(["reextract"], web_env).stdout
    assert site.log.paths() == []
    [(text,)] = rows(warehouse, "select text from articles")
    assert "Atjaunināts 2. reizi." in text


def test_prune_lets_go_of_the_pages_of_the_articles_it_deletes_and_a_dry_run_says_what_it_would_free(site, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    newsflow(["ingest", site.url("/feed.xml")], web_env)
    spanish = site.url("/articles/spanish_article.html")
    spanish_page = sha((PAGES_DIR / "spanish_article.html").read_bytes())
    before = kept(tmp_path)
    assert len(before) == 4 and spanish_page in before
    with duckdb.connect(str(warehouse)) as con:  # its place is gone, as a deleted file's is after a run over its folder
        con.execute("update article_sources set present = false where source_path = ?", [spanish])

    dry = " ".join(newsflow(["prune", "--dry-run"], web_env).stdout.split())
    assert "would delete 1 article" in dry
    assert f"raw web pages: would remove 1 ({before[spanish_page] / 1024 / 1024:.1f} MB: 1 used by no stored article); would keep 3 pages" in dry
    assert kept(tmp_path) == before

    pruned = " ".join(newsflow(["prune"], web_env).stdout.split())
    assert "deleted 1 article" in pruned and "raw web pages: removed 1 (" in pruned
    assert sorted(kept(tmp_path)) == sorted(set(before) - {spanish_page})
    assert "web: 3 pages," in " ".join(newsflow(["status"], web_env).stdout.split())


def test_the_store_keeps_within_its_bound_by_letting_the_oldest_fetch_go_and_reextract_works_on_what_is_left(site, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    names = ("spanish_article", "arabic_article", "latvian_article")
    for name in names[:2]:
        newsflow(["ingest", site.url(f"/articles/{name}.html")], web_env)
    sizes = kept(tmp_path)
    page = {name: sha((PAGES_DIR / f"{name}.html").read_bytes()) for name in names}
    latvian_packed = len(gzip.compress((PAGES_DIR / "latvian_article.html").read_bytes(), compresslevel=1, mtime=0))
    # Room for the two newest pages and their sidecars, not for the oldest too.
    bound = sizes[page["arabic_article"]] + latvian_packed + 4096
    assert bound < sum(sizes.values()) + latvian_packed
    env = {**web_env, "NEWSFLOW_RAW_PAGES_MAX_MB": str(bound / 1024 / 1024)}
    output = " ".join(newsflow(["ingest", site.url("/articles/latvian_article.html")], env).stdout.split())
    assert sorted(kept(tmp_path)) == sorted([page["arabic_article"], page["latvian_article"]])
    assert "1 oldest over the" in output and "bound (NEWSFLOW_RAW_PAGES_MAX_MB)" in output
    assert "`newsflow reextract` no longer sees the evicted ones (their articles stay" in output

    with duckdb.connect(str(warehouse)) as con:
        con.execute("update articles set text = 'damaged'")
    site.log.clear()
    newsflow(["reextract"], env)
    assert site.log.paths() == []
    texts = dict(rows(warehouse, "select source_url, text from articles"))
    assert len(texts) == 3  # the evicted page's article stays, as it was
    assert texts[site.url("/articles/spanish_article.html")] == "damaged"
    assert all(texts[site.url(f"/articles/{name}.html")] != "damaged" for name in names[1:])
