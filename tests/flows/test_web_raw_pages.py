"""The raw pages kept for `newsflow reextract` (`<state>/web`), as a user sees them: packed on
disk, let go of when no stored article uses them (superseded fetches, pages that gave no article,
pages of pruned articles), bounded by NEWSFLOW_RAW_PAGES_MAX_MB, and shown by `newsflow status`."""

from __future__ import annotations

import gzip
import hashlib

import duckdb

from tests.conftest import newsflow
from tests.flows.test_web_ingest import rows, site, web_env  # noqa: F401 (fixtures)
from workbench.news_site import FEED_ARTICLES, PAGES_DIR

assert site and web_env  # the fixtures, used by name below


def kept(tmp_path) -> dict[str, int]:
    """The raw pages on disk: the sha256 that names each -> its size on disk."""
    pages = (path for path in (tmp_path / "state" / "web").glob("??/*") if path.suffix != ".json")
    return {path.name.split(".", 1)[0]: path.stat().st_size for path in pages}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetched_pages_are_kept_packed_and_status_shows_the_store(site, web_env, tmp_path):
    newsflow(["ingest", site.url("/feed.xml")], web_env)
    served = {name: (PAGES_DIR / f"{name}.html").read_bytes() for name in FEED_ARTICLES}
    on_disk = kept(tmp_path)
    assert sorted(on_disk) == sorted(sha(data) for data in served.values())
    assert all(path.name.endswith(".html.gz") for path in (tmp_path / "state" / "web").glob("??/*.html*"))
    assert sum(on_disk.values()) < sum(len(data) for data in served.values()) / 2
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
