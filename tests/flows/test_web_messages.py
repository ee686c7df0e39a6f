"""What newsflow says about hostile or odd answers from the web, as a user reads it: the
rejected_files rows, the run summary (the CLI's and the Prefect artifact) and `sources list`."""

from __future__ import annotations

import httpx

from tests.conftest import newsflow
from tests.flows.test_web_ingest import rows, site, web_env  # noqa: F401 (fixtures)
from workbench.news_site import FEED_ARTICLES, HUGE_ROBOTS, MANY_PAGES

assert site and web_env  # the fixtures, used by name below


def flat(text: str) -> str:
    return " ".join(text.split())


def test_an_oversized_robots_txt_is_read_to_500_kib_and_named_where_it_decides(site, web_env, tmp_path):
    site.robots = HUGE_ROBOTS  # 12 MB, over the 10 MB body limit; its Disallow: /articles/ lies past 500 KiB
    warehouse = tmp_path / "news.duckdb"
    newsflow(["ingest", site.url("/feed.xml")], web_env)
    assert {url for (url,) in rows(warehouse, "select source_url from articles")} == {site.url(f"/articles/{n}.html") for n in FEED_ARTICLES}
    [(reason, detail)] = rows(warehouse, f"select reason, detail from rejected_files where path = '{site.url('/private/secret.html')}'")
    assert reason == "robots_disallowed"
    assert f"{site.base}/robots.txt does not allow crawlers" in detail
    assert "its robots.txt is over 500 KiB: newsflow read the rules in its first 500 KiB and ignored the rest, as RFC 9309 allows" in detail


def test_gzip_bombs_are_too_large_and_say_what_unpacks_past_which_limit(site, web_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    sitemap, feed = site.url("/bomb-sitemap.xml.gz"), site.url("/bomb-feed.xml")
    output = flat(newsflow(["ingest", sitemap, feed], web_env).stdout)
    rejected = {path: (reason, detail) for path, reason, detail in rows(warehouse, "select path, reason, detail from rejected_files")}
    assert rejected[sitemap][0] == "too_large"
    assert f"{sitemap} is gzipped and unpacks to more than 52,428,800 bytes (50 MB" in rejected[sitemap][1]
    assert rejected[feed][0] == "too_large"
    assert f"{feed} is over the 10,485,760-byte limit (it unpacks to more than that, sent with Content-Encoding: gzip)" in rejected[feed][1]
    assert "too_large" in output and "not_html" not in output

    added = newsflow(["sources", "add", sitemap], web_env, check=False)
    assert added.returncode != 0 and "unpacks to more than 52,428,800 bytes" in flat(added.stdout + added.stderr)


def test_the_page_cap_is_reported_in_the_summary_and_the_artifact_and_the_pages_left_come_next_run(
    prefect_server, site, web_env, tmp_path
):
    warehouse = tmp_path / "news.duckdb"
    sitemap = site.url("/many-pages.xml?missing=1")  # 1,200 pages that are not there: rejections, no stages
    note = ("The addresses given list 1,200 pages not stored yet: fetched the first 1,000, the most newsflow fetches from one "
            "source in a poll; the other 200 are left: run the same `newsflow ingest` again to fetch them.")
    output = flat(newsflow(["ingest", sitemap], web_env).stdout)
    assert note in output
    first = {r.path for r in site.log.requests if r.path.startswith("/missing/")}
    assert len(first) == 1000

    [(run_id,)] = rows(warehouse, "select run_id from ingest_runs")
    with httpx.Client(base_url=prefect_server.api_url, timeout=10) as api:
        artifacts = api.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}).json()
    [summary] = [artifact for artifact in artifacts if artifact["key"] == "ingest-summary"]
    assert note in flat(summary["data"])

    site.log.clear()
    newsflow(["ingest", sitemap], web_env)
    second = {r.path for r in site.log.requests if r.path.startswith("/missing/")}
    assert second >= {f"/missing/{i}.html" for i in range(MANY_PAGES)} - first  # those left are fetched first


def test_a_shift_jis_page_labelled_latin_1_is_read_as_shift_jis_and_a_page_without_article_says_how_it_was_read(
    site, web_env, tmp_path
):
    warehouse = tmp_path / "news.duckdb"
    pages = [site.url(path) for path in ("/sjis/article.html", "/sjis/no-meta.html", "/sjis/menu.html")]
    newsflow(["ingest", *pages], web_env)
    stored = dict(rows(warehouse, "select source_url, language from articles"))
    assert stored == {pages[0]: "ja", pages[1]: "ja"}
    texts = [text for (text,) in rows(warehouse, "select text from articles")]
    assert all("月" in text and sum("\u3040" <= char <= "\u30ff" for char in text) > 100 for text in texts)  # kana, not mojibake
    [(reason, detail)] = rows(warehouse, "select reason, detail from rejected_files")
    assert reason == "no_article"
    assert "decoded as cp932 (detected from its bytes; the server's Content-Type said charset=iso-8859-1)" in detail
