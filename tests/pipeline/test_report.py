"""`newsflow report`: the page an editor opens, checked in a real headless Chromium against the warehouse it shows."""

from __future__ import annotations

import os
import sys
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipeline.record import Document, ParagraphLanguage
from pipeline.report import VEGA_BUNDLE, VEGA_NOTICE, read_report_data, write_report
from pipeline.warehouse import Warehouse
from tests.browser import CHROMIUM, chromium, processes_using, visit
from tests.conftest import NEWSFLOW, PROJECT_ROOT, SEEDS_DIR, newsflow, newsflow_env

CHARTS_DRAWN = "document.body.dataset.chartsRendered !== undefined"
CHARTS = ("per-period", "translation", "sites", "rejections", "runs")

# A page whose site name tries to break out of the report's HTML and its <script> block.
HOSTILE_SITE_NAME = """</script><img src=x onerror="document.title='hijacked'"> Coast News"""
HOSTILE_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<title>Harbour reopens after storm</title>
<meta property="og:site_name" content="&lt;/script&gt;&lt;img src=x onerror=&quot;document.title='hijacked'&quot;&gt; Coast News">
<meta property="article:published_time" content="2025-10-28T09:30:00Z">
</head><body><article>
<h1>Harbour reopens after storm</h1>
<p>The harbour reopened on Tuesday morning after three days of closure, the port authority said, as crews cleared debris left by the storm that hit the coast at the weekend.</p>
<p>Fishing boats returned to their moorings before noon, and the first ferry of the day left for the islands with a full load of passengers and supplies.</p>
<p>Officials said the breakwater had held, but two cranes would stay out of service until engineers could inspect their foundations later this week.</p>
</article></body></html>
"""


def generated_archive(path: Path, days: list, languages: tuple[str, ...] = ("en", "id", "fr")) -> Path:
    """A warehouse of one distinct article a day in `days` (a date, or None: undated), stored by
    the warehouse's own write path, the languages taken in turn."""
    from datetime import datetime, time, timezone

    docs = []
    for i, day in enumerate(days):
        language = languages[i % len(languages)]
        paragraphs = (f"Article {i} of a generated archive, in {language}, seen on {day}.", f"Its own number is {i * 7919 % 100003}.")
        text = "\n\n".join(paragraphs)
        docs.append(Document(
            source_path=f"/archive/{i:06d}.txt", content_sha256=f"{i:064x}", content_format="text", title=f"Article {i}",
            site_name=f"site{i % 40}.example", published_at=datetime.combine(day, time(9, 30)) if day else None,
            text=text, language=language, language_confidence=0.99,
            paragraph_languages=tuple(ParagraphLanguage(language, 0.99) for _ in paragraphs),
            text_en=text if language == "en" else None, translation_status="not_needed" if language == "en" else "missing_model",
        ))
    with Warehouse.open(path) as store:
        for start in range(0, len(docs), 1000):
            store.write_batch(docs[start : start + 1000], run_id=f"generated-{start}", ingested_at=datetime.now(timezone.utc))
    return path


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def ingested(prefect_server, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A warehouse made by a real `newsflow ingest` of the five seeds, one HTML page and three files it rejects."""
    root = tmp_path_factory.mktemp("report")
    inbox = root / "inbox"
    shutil.copytree(SEEDS_DIR, inbox)
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "blank.txt").write_text("   \n\n", encoding="utf-8")
    (inbox / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    (inbox / "harbour.html").write_text(HOSTILE_PAGE, encoding="utf-8")
    env = newsflow_env(prefect_server.api_url, root, NEWSFLOW_HOME=str(root / "home"))
    warehouse = root / "news.duckdb"
    newsflow(["ingest", str(inbox), "--warehouse", str(warehouse)], env)
    return warehouse, env


@pytest.fixture(scope="module")
def report_page(ingested, tmp_path_factory) -> Path:
    warehouse, env = ingested
    output = tmp_path_factory.mktemp("report-page") / "report.html"
    printed = newsflow(["report", "--warehouse", str(warehouse), "--output", str(output)], env)
    assert f"wrote {output}" in printed.stdout
    return output


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: install Debian's chromium package (`make test` does, as root) to check the report in a browser")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with chromium(profile) as context:
        running = processes_using(profile)
        assert running, "the browser should be running with its own profile"
        assert all(os.path.realpath(f"/proc/{pid}/exe").startswith("/usr/lib/chromium/") for pid in running), "Debian's Chromium"
        yield context
    assert processes_using(profile) == [], "the browser left processes behind"


def cells(page, key: str) -> list[list[str]]:
    """The rows of the numbers table under chart `key`, as text."""
    return page.eval_on_selector_all(
        f'table[data-numbers="{key}"] tbody tr', "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def bars(page, key: str) -> int:
    """How many bars chart `key` drew (Vega's SVG renderer: one <path> per rect mark item)."""
    return page.eval_on_selector_all(f'[data-chart="{key}"] svg g.mark-rect path', "paths => paths.length")


@pytest.mark.server
def test_the_page_opens_offline_and_draws_every_chart(report_page, browser, tmp_path):
    page, seen = visit(browser, report_page.as_uri(), ready=CHARTS_DRAWN)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    assert seen.errors == []
    assert seen.requests == [report_page.as_uri()], "the page must load nothing but itself"
    assert page.title().startswith("newsflow report")  # the hostile site name did not run
    charts = page.eval_on_selector_all("[data-chart]", "nodes => nodes.map(n => n.dataset.chart)")
    assert [key for key in charts if key != "duplicates"] == list(CHARTS)  # duplicates: only once clusters exist
    assert page.evaluate("document.body.dataset.chartsRendered") == str(len(charts))
    for key in charts:
        assert page.locator(f'[data-chart="{key}"] svg').count() == 1, key
        assert bars(page, key) > 0, f"chart {key} has no bars"
    for section in page.locator("section").all():
        assert "?" in section.locator("p.question").inner_text(), "every section asks the question its chart answers"
    assert (tmp_path / "report.png").stat().st_size > 10_000
    page.close()


@pytest.mark.server
def test_the_numbers_shown_are_the_warehouse_numbers(ingested, report_page, browser):
    warehouse, _ = ingested
    page, seen = visit(browser, report_page.as_uri(), ready=CHARTS_DRAWN)
    assert seen.errors == []

    (articles,) = query(warehouse, "SELECT count(*) FROM articles")[0]
    assert articles == 6
    assert page.get_attribute("p.headline", "data-articles") == "6"

    per_day = query(warehouse, "SELECT CAST(published_at AS DATE)::VARCHAR, language, count(*) FROM articles WHERE published_at IS NOT NULL GROUP BY ALL ORDER BY 1, 2")
    assert page.get_attribute("[data-unit]", "data-unit") == "day"  # the seeds span days, not months
    languages = page.eval_on_selector_all('table[data-numbers="per-period"] th', "cells => cells.map(c => c.textContent)")[1:]
    shown = [(row[0], language, int(n)) for row in cells(page, "per-period") for language, n in zip(languages, row[1:]) if n != "0"]
    assert shown == per_day
    assert len(per_day) == 2 and bars(page, "per-period") == len(per_day)
    (undated,) = query(warehouse, "SELECT count(*) FROM articles WHERE published_at IS NULL")[0]
    assert page.get_attribute("[data-undated]", "data-undated") == str(undated)

    coverage = {
        language: [str(n) for n in counts]
        for language, *counts in query(
            warehouse,
            """SELECT language, count(*) FILTER (translation_status = 'translated'), count(*) FILTER (translation_status = 'not_needed'),
                      count(*) FILTER (translation_status = 'missing_model'), count(*) FILTER (translation_status = 'failed'), count(*)
               FROM articles GROUP BY language""",
        )
    }
    assert {row[0]: row[1:] for row in cells(page, "translation")} == coverage
    assert coverage["id"][2] == "1" and coverage["en"][1] == "5"  # missing_model; not_needed
    assert bars(page, "translation") == query(warehouse, "SELECT count(DISTINCT (language, translation_status)) FROM articles")[0][0]

    sites = query(warehouse, "SELECT coalesce(site_name, '(no site name)'), count(*) FROM articles GROUP BY 1 ORDER BY 2 DESC, 1")
    assert cells(page, "sites") == [[site, str(n)] for site, n in sites]
    assert HOSTILE_SITE_NAME in [site for site, _ in sites]  # shown as text, not run
    assert bars(page, "sites") == len(sites)

    rejections = query(warehouse, "SELECT reason, count(DISTINCT path) FROM rejected_files GROUP BY 1 ORDER BY 2 DESC, 1")
    assert rejections == [("empty_file", 2), ("binary_file", 1)]
    assert [row[:2] for row in cells(page, "rejections")] == [[reason, str(n)] for reason, n in rejections]
    assert bars(page, "rejections") == 2

    runs = query(warehouse, "SELECT status, files_seen, inserted, updated, unchanged, rejected FROM ingest_runs ORDER BY started_at DESC")
    assert [row[1:2] + row[3:] for row in cells(page, "runs")] == [[status, *map(str, counts)] for status, *counts in runs]
    assert bars(page, "runs") == 2  # inserted and rejected: the zero counts draw nothing

    has_duplicates_table = query(warehouse, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'duplicates'")[0][0]
    clusters = query(warehouse, "SELECT count(DISTINCT duplicate_of) FROM duplicates WHERE article_id <> duplicate_of")[0][0] if has_duplicates_table else 0
    assert len(cells(page, "duplicates")) == min(clusters, 15)
    assert bars(page, "duplicates") == min(clusters, 15)
    page.close()


@pytest.mark.server
def test_duplicate_clusters_are_listed_once_detection_has_run(ingested, browser, tmp_path):
    warehouse, env = ingested
    copy = tmp_path / "news.duckdb"
    shutil.copy(warehouse, copy)
    ids = [article_id for (article_id,) in query(copy, "SELECT article_id FROM articles ORDER BY ingested_at, source_path")]
    with duckdb.connect(str(copy)) as connection:  # a warehouse from before duplicate detection
        connection.execute("DROP TABLE IF EXISTS duplicates")
    output = tmp_path / "before.html"
    newsflow(["report", "--warehouse", str(copy), "--output", str(output)], env)
    page, seen = visit(browser, output.as_uri(), ready=CHARTS_DRAWN)
    assert seen.errors == []
    duplicates = page.locator('section[data-section="duplicates"]')
    assert "No duplicate detection yet" in duplicates.inner_text() and duplicates.locator("[data-chart]").count() == 0
    page.close()

    with duckdb.connect(str(copy)) as connection:  # the table duplicate detection writes
        connection.execute("CREATE TABLE duplicates (article_id VARCHAR, duplicate_of VARCHAR, similarity DOUBLE, method VARCHAR)")
        connection.executemany(
            "INSERT INTO duplicates VALUES (?, ?, ?, ?)",
            [(ids[1], ids[0], 0.91, "near_copy"), (ids[2], ids[0], 0.85, "translation"), (ids[4], ids[3], 1.0, "same_text")],
        )
    output = tmp_path / "report.html"
    newsflow(["report", "--warehouse", str(copy), "--output", str(output)], env)

    page, seen = visit(browser, output.as_uri(), ready=CHARTS_DRAWN)
    assert seen.errors == [] and seen.requests == [output.as_uri()]
    rows = cells(page, "duplicates")
    languages = dict(query(copy, "SELECT article_id, language FROM articles"))
    expected_languages = [", ".join(sorted({languages[ids[i]] for i in members})) for members in ((0, 1, 2), (3, 4))]
    assert [row[:1] + row[3:] for row in rows] == [
        [ids[0], "3", expected_languages[0], "near_copy, translation", "0.85"],
        [ids[3], "2", expected_languages[1], "same_text", "1.00"],
    ]
    assert "2 clusters; 3 articles are duplicates of another." in page.locator('section[data-section="duplicates"]').inner_text()
    assert bars(page, "duplicates") == 2
    page.close()


def test_an_empty_warehouse_makes_a_page_that_says_so(browser, tmp_path):
    warehouse = tmp_path / "empty.duckdb"
    Warehouse.open(warehouse).close()  # the schema, no rows
    output = tmp_path / "report.html"
    env = dict(os.environ, NEWSFLOW_HOME=str(tmp_path / "home"))
    printed = newsflow(["report", "--warehouse", str(warehouse), "--output", str(output)], env)
    assert "0 articles, 0 charts" in printed.stdout

    page, seen = visit(browser, output.as_uri(), ready=CHARTS_DRAWN)
    assert seen.errors == [] and seen.requests == [output.as_uri()]
    assert "This warehouse has no articles yet" in page.locator("p.headline").inner_text()
    assert page.locator("[data-chart]").count() == 0
    assert page.evaluate("document.body.dataset.chartsRendered") == "0"
    duplicates = page.locator('section[data-section="duplicates"]')
    assert duplicates.locator("p.empty").count() == 1 and duplicates.locator("[data-chart]").count() == 0
    page.screenshot(path=str(tmp_path / "empty.png"), full_page=True)
    page.close()


@pytest.mark.server
def test_the_report_opens_the_warehouse_read_only(ingested, tmp_path):
    """Making a report while nothing else runs leaves the file as it was; the front door's settings apply."""
    warehouse, env = ingested
    before = warehouse.stat().st_mtime_ns, warehouse.read_bytes()
    newsflow(["report", "--warehouse", str(warehouse), "--output", str(tmp_path / "r.html")], env)
    assert (warehouse.stat().st_mtime_ns, warehouse.read_bytes()) == before
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-null"])
def test_report_refuses_to_replace_anything_but_a_regular_file(ingested, tmp_path, kind):
    """Issue 22, item 7: `report --output` wrote beside the target and renamed over it, whatever it was."""
    from tests.pipeline.test_export import special_file

    warehouse, env = ingested
    target, unchanged = special_file(kind, tmp_path)
    result = subprocess.run(
        NEWSFLOW + ["report", "--warehouse", str(warehouse), "--output", str(target)], env=env, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {target} is ") and "only regular files" in line
    assert unchanged() and list(tmp_path.iterdir()) == [target]


def test_report_output_dash_writes_the_page_to_stdout(ingested, report_page):
    warehouse, env = ingested
    printed = newsflow(["report", "--warehouse", str(warehouse), "--output", "-"], env)
    assert printed.stdout.startswith("<!DOCTYPE html>") and printed.stdout.rstrip().endswith("</html>")
    assert "wrote the report to stdout" in printed.stderr
    assert len(printed.stdout) > 0.9 * len(report_page.read_text(encoding="utf-8"))


@pytest.mark.server
def test_the_report_is_written_and_drawn_without_vl_convert(ingested, browser, tmp_path):
    """vl-convert-python (84 MB) is a dev dependency only: the page inlines the bundle newsflow ships."""
    warehouse, env = ingested
    output = tmp_path / "report.html"
    without_vl_convert = "import sys; sys.modules['vl_convert'] = None; from flows.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", without_vl_convert, "report", "--warehouse", str(warehouse), "--output", str(output)],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page, seen = visit(browser, output.as_uri(), ready=CHARTS_DRAWN)
    assert seen.errors == [] and seen.requests == [output.as_uri()]
    charts = page.eval_on_selector_all("[data-chart]", "nodes => nodes.map(n => n.dataset.chart)")
    assert len(charts) >= len(CHARTS) and page.evaluate("document.body.dataset.chartsRendered") == str(len(charts))
    assert all(bars(page, key) > 0 for key in charts)
    page.close()


def test_the_shipped_vega_bundle_is_what_its_command_builds():
    """pipeline/report_assets/ holds what `python -m workbench.vega_bundle` builds from the installed
    altair and vl-convert-python, byte for byte: after upgrading either, run it again."""
    from workbench.vega_bundle import build_bundle, notice

    assert build_bundle() == VEGA_BUNDLE.read_bytes(), "run `python -m workbench.vega_bundle`"
    assert notice() == VEGA_NOTICE.read_text(encoding="utf-8"), "run `python -m workbench.vega_bundle`"


@pytest.mark.parametrize(
    ("span_days", "unit", "label"),
    [(60, "day", "%Y-%m-%d"), (400, "week", "%Y-%m-%d"), (3650, "month", "%Y-%m"), (30 * 365, "year", "%Y")],
)
def test_the_chart_of_a_long_archive_counts_weeks_months_or_years(browser, tmp_path, span_days, unit, label):
    """A year of news is not 365 bars, nor ten years 3,650: the unit comes from the span, and says so."""
    from datetime import date, timedelta

    first = date(2015, 1, 1)
    step = max(1, span_days // 150)
    days = [first + timedelta(days=offset) for offset in range(0, span_days + 1, step)] + [None] * 3
    warehouse = generated_archive(tmp_path / "news.duckdb", days, languages=("en", "id"))
    output = tmp_path / "report.html"
    write_report(warehouse, output)  # what `newsflow report` writes (the command itself: the tests above)

    page, seen = visit(browser, output.as_uri(), ready=CHARTS_DRAWN)
    assert seen.errors == [] and seen.requests == [output.as_uri()]
    section = page.locator('section[data-section="per-period"]')
    assert section.locator("h2").inner_text() == f"Articles per {unit}, by language"
    assert page.get_attribute("[data-unit]", "data-unit") == unit
    axis_titles = page.eval_on_selector_all('[data-chart="per-period"] svg g.role-axis-title text', "nodes => nodes.map(n => n.textContent)")
    assert f"publication {unit} (UTC)" in axis_titles
    expected = query(
        warehouse,
        f"""SELECT strftime(date_trunc('{unit}', published_at), '{label}'), language, count(*) FROM articles
            WHERE published_at IS NOT NULL GROUP BY ALL ORDER BY 1, 2""",
    )
    languages = page.eval_on_selector_all('table[data-numbers="per-period"] th', "cells => cells.map(c => c.textContent)")[1:]
    shown = [(row[0], language, int(n)) for row in cells(page, "per-period") for language, n in zip(languages, row[1:]) if n != "0"]
    assert shown == expected
    assert bars(page, "per-period") == len(expected)
    assert len({period for period, _, _ in expected}) <= 240, "the unit keeps the bars few (PERIOD_UNITS)"
    page.screenshot(path=str(tmp_path / "per-period.png"), full_page=False)
    assert page.get_attribute("[data-undated]", "data-undated") == "3"
    page.close()


def rows_fetched(monkeypatch, read) -> tuple[object, int]:
    """`read()`'s result and how many rows its warehouse queries brought into Python."""
    fetched = [0]
    query = Warehouse.query

    def counting(self, sql):
        columns, rows = query(self, sql)
        fetched[0] += len(rows)
        return columns, rows

    monkeypatch.setattr(Warehouse, "query", counting)
    try:
        return read(), fetched[0]
    finally:
        monkeypatch.setattr(Warehouse, "query", query)


def test_the_report_reads_as_many_rows_from_five_times_the_articles(monkeypatch, tmp_path):
    """The report aggregates in SQL: N and 5N articles over the same three years and twelve
    languages bring the same number of rows into Python, and the right totals."""
    from datetime import date

    languages = ("en", "id", "fr", "de", "es", "it", "nl", "pt", "sv", "pl", "tr", "vi")
    fetched = {}
    for n in (900, 4500):
        # Article i: language i % 12, month (i // 12) % 36 of 2023-2025: every (month, language) has articles.
        days = [None if i % 10 == 0 else date(2023 + (i // 12) % 36 // 12, (i // 12) % 12 + 1, 1 + i % 28) for i in range(n)]
        warehouse = generated_archive(tmp_path / f"news-{n}.duckdb", days, languages=languages)
        output = tmp_path / f"report-{n}.html"
        result, fetched[n] = rows_fetched(monkeypatch, lambda: write_report(warehouse, output))
        assert result.articles == n and f'data-articles="{n}"' in output.read_text(encoding="utf-8")
        with Warehouse.open(warehouse, read_only=True) as store:
            data = read_report_data(store)
        assert data.undated_articles == n // 10
        assert sum(count for _, _, count in data.articles_per_period) == n - n // 10
        assert (data.period_unit, data.dated_languages) == ("month", 12)
        top = query(warehouse, "SELECT language FROM articles WHERE published_at IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 9")
        assert {language for _, language, _ in data.articles_per_period} == {language for (language,) in top} | {"other languages"}
        assert len(data.articles_per_period) == 36 * 10
        assert sum(n for _, _, n in data.translation_coverage) == n
    assert fetched[900] == fetched[4500], fetched


def test_served_runs_a_minute_apart_have_labels_of_their_own(tmp_path):
    """Prefect's flow run ids (UUIDv7) begin with their time: runs started within a minute or so
    share their first 8 characters. Each run's label is its start time and the part of its id
    that tells it apart."""
    import re
    from datetime import datetime

    warehouse = generated_archive(tmp_path / "news.duckdb", [None])
    served = [
        ("01a24688-0864-7fb7-bf09-211d7531ecf9", datetime(2026, 12, 5, 14, 11, 43)),
        ("01a24688-2af1-7664-9857-cb66f24c2bab", datetime(2026, 12, 5, 14, 11, 54)),
        ("01a24688-4231-77d8-a4b8-b6393d4f7d21", datetime(2026, 12, 5, 14, 12, 14)),
    ]
    with duckdb.connect(str(warehouse)) as con:
        con.executemany(
            "INSERT INTO ingest_runs (run_id, flow_run_id, started_at, finished_at, files_seen, inserted, status) VALUES (?, ?, ?, ?, 1, 1, 'completed')",
            [(run_id, run_id, started, started) for run_id, started in served],
        )
    output = tmp_path / "report.html"
    write_report(warehouse, output)

    table = re.search(r'<table class="numbers" data-numbers="runs">.*?</table>', output.read_text(), re.S).group(0)
    labels = re.findall(r"<tr><td>([^<]*)</td>", table)
    assert len(labels) == 3 and len({label.rsplit("(", 1)[1] for label in labels}) == 3, labels  # ids shown that tell them apart
    for run_id, started in served:
        (label,) = [label for label in labels if label.startswith(f"{started:%Y-%m-%d %H:%M:%S} (")]
        assert label.endswith(f"({run_id[-8:]})"), label
