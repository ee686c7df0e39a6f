"""The archive report: one self-contained HTML page that shows what the warehouse holds.

`read_report_data` reads the numbers on a read-only connection, `render_report` turns them into
HTML (pure: data in, text out), `write_report` does both and writes the file. The page carries
Vega, Vega-Lite and Vega-Embed inline (the bundle shipped in report_assets/), the chart specs and their data, and
a Content-Security-Policy that forbids any request: it opens the same with or without a network,
and titles or site names taken from scraped pages cannot make it load anything.
"""

from __future__ import annotations

import dataclasses
import gzip
import html
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import altair as alt

from pipeline.outputs import STDOUT, StdoutClosed, check_replaceable, is_stdout, new_partial_file, replace_with
from pipeline.warehouse import Warehouse

TRANSLATION_STATUSES = ("translated", "not_needed", "missing_model", "failed")
_STATUS_COLOURS = ("#2e7d32", "#90a4ae", "#ef6c00", "#c62828")
_RUN_COUNTS = ("inserted", "updated", "unchanged", "rejected")
_RUN_COLOURS = ("#2e7d32", "#1565c0", "#b0bec5", "#c62828")
TOP_SITES = 15
TOP_CLUSTERS = 15
LAST_RUNS = 10
# The articles-per-period chart's unit, from the span of publication dates (first to last day): a
# bar a day up to 90 days, a week (Monday to Sunday) up to two years, a month up to 20 years, else
# a year; so the chart has at most ~240 bars however many days the archive covers.
PERIOD_UNITS = ((90, "day"), (731, "week"), (20 * 366, "month"))  # (longest span in days, unit)
LONGEST_PERIOD = "year"
# The chart colours this many languages (Vega's 10 colours); beyond, the most frequent 9 keep
# theirs and the rest are counted together.
CHART_LANGUAGES = 10
OTHER_LANGUAGES = "other languages"
UNKNOWN_SITE = "(no site name)"
_CHART_WIDTH = 640
# vl-convert's bundle of Vega, Vega-Lite and Vega-Embed, built by `python -m workbench.vega_bundle`
# (licences in report_assets/NOTICE.txt): 0.3 MB shipped instead of vl-convert's 84 MB at run time.
VEGA_BUNDLE = Path(__file__).resolve().parent / "report_assets" / "vega.js.gz"
VEGA_NOTICE = VEGA_BUNDLE.with_name("NOTICE.txt")

_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:"
)


@dataclass(frozen=True)
class DuplicateCluster:
    representative_id: str
    title: str
    site_name: str
    articles: int  # the representative and its duplicates
    languages: str
    methods: str
    lowest_similarity: float | None


@dataclass(frozen=True)
class RejectionReason:
    reason: str
    files: int
    latest_path: str
    latest_detail: str


@dataclass(frozen=True)
class RunLine:
    run_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    files_seen: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int


@dataclass(frozen=True)
class ReportData:
    warehouse: str
    generated_at: datetime
    articles: int = 0
    undated_articles: int = 0
    articles_per_period: list[tuple[date, str, int]] = field(default_factory=list)  # period's first day, language, articles
    period_unit: str = "day"  # day | week | month | year (period_unit())
    dated_span: tuple[date, date] | None = None  # the first and last publication day
    dated_languages: int = 0  # languages of the dated articles (beyond CHART_LANGUAGES, some are OTHER_LANGUAGES)
    translation_coverage: list[tuple[str, str, int]] = field(default_factory=list)  # language, status, articles
    sites: int = 0
    top_sites: list[tuple[str, int]] = field(default_factory=list)
    duplicate_clusters: list[DuplicateCluster] | None = None  # None: no duplicate detection has run
    duplicate_cluster_count: int = 0
    duplicate_articles: int = 0
    rejections: list[RejectionReason] = field(default_factory=list)
    runs: int = 0
    last_runs: list[RunLine] = field(default_factory=list)

    @property
    def languages(self) -> int:
        return len({language for language, _, _ in self.translation_coverage})

    @property
    def with_english(self) -> int:
        return sum(n for _, status, n in self.translation_coverage if status in ("translated", "not_needed"))

    @property
    def rejected_files(self) -> int:
        return sum(r.files for r in self.rejections)


@dataclass(frozen=True)
class ReportResult:
    path: Path
    articles: int
    charts: int


# --- reading (read-only) ----------------------------------------------------------------------


def read_report_data(store: Warehouse) -> ReportData:
    """Every number the report shows, from a (read-only) warehouse. Missing tables read as empty."""
    relations = set(store.relation_names())
    generated_at = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
    data = ReportData(warehouse=str(store.path), generated_at=generated_at)
    values: dict = {}
    if "articles" in relations:
        values.update(_article_numbers(store))
    if "duplicates" in relations:
        values.update(_duplicate_numbers(store, title_column=_title_column(store)))
    if "rejected_files" in relations:
        values["rejections"] = _rejections(store)
    if "ingest_runs" in relations:
        values.update(_runs(store))
    return dataclasses.replace(data, **values)


def _rows(store: Warehouse, sql: str) -> list[tuple]:
    return store.query(sql)[1]


def _article_numbers(store: Warehouse) -> dict:
    (articles, undated), = _rows(store, "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM articles")
    coverage = _rows(
        store,
        "SELECT language, translation_status, count(*) FROM articles GROUP BY ALL ORDER BY language, translation_status",
    )
    (sites,), = _rows(store, "SELECT count(DISTINCT site_name) FROM articles")
    top_sites = _rows(
        store,
        f"""
        SELECT coalesce(site_name, '{UNKNOWN_SITE}') AS site, count(*) AS articles
        FROM articles GROUP BY ALL ORDER BY articles DESC, site LIMIT {TOP_SITES}
        """,
    )
    return {
        "articles": articles,
        "undated_articles": undated,
        **_articles_per_period(store),
        "translation_coverage": [tuple(row) for row in coverage],
        "sites": sites,
        "top_sites": [tuple(row) for row in top_sites],
    }


def period_unit(first: date, last: date) -> str:
    """The chart's unit for publication days from `first` to `last` (PERIOD_UNITS)."""
    span = (last - first).days
    return next((unit for longest, unit in PERIOD_UNITS if span <= longest), LONGEST_PERIOD)


def period_end(start: date, unit: str) -> date:
    """The day after the period that starts on `start`."""
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "week":
        return start + timedelta(days=7)
    if unit == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def period_label(start: date, unit: str) -> str:
    return {"month": f"{start:%Y-%m}", "year": f"{start:%Y}"}.get(unit, start.isoformat())


def _articles_per_period(store: Warehouse) -> dict:
    """Dated articles counted per period and language in SQL: one row per (period, shown language),
    at most ~240 periods (PERIOD_UNITS) by CHART_LANGUAGES, whatever the archive holds."""
    (first, last, languages), = _rows(
        store,
        "SELECT CAST(min(published_at) AS DATE), CAST(max(published_at) AS DATE), count(DISTINCT language) "
        "FROM articles WHERE published_at IS NOT NULL",
    )
    if first is None:
        return {}
    unit = period_unit(first, last)
    shown = CHART_LANGUAGES if languages <= CHART_LANGUAGES else CHART_LANGUAGES - 1
    per_period = _rows(
        store,
        f"""
        WITH shown AS (
            SELECT language FROM articles WHERE published_at IS NOT NULL
            GROUP BY language ORDER BY count(*) DESC, language LIMIT {shown}
        )
        SELECT CAST(date_trunc('{unit}', published_at) AS DATE) AS period,
               CASE WHEN language IN (SELECT language FROM shown) THEN language ELSE '{OTHER_LANGUAGES}' END AS shown_language,
               count(*)
        FROM articles WHERE published_at IS NOT NULL
        GROUP BY ALL ORDER BY period, shown_language
        """,
    )
    return {
        "articles_per_period": [tuple(row) for row in per_period],
        "period_unit": unit,
        "dated_span": (first, last),
        "dated_languages": languages,
    }


def _title_column(store: Warehouse) -> str:
    """`coalesce(title_en, title)` where the warehouse has English titles, else `title`."""
    columns = {name for (name,) in _rows(store, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'articles'")}
    return "coalesce(a.title_en, a.title)" if "title_en" in columns else "a.title"


def _duplicate_numbers(store: Warehouse, *, title_column: str) -> dict:
    # A cluster is its representative (duplicate_of) and every article marked as its duplicate.
    clusters_sql = """
        WITH members AS (
            SELECT duplicate_of AS cluster, duplicate_of AS article_id FROM duplicates
            UNION
            SELECT duplicate_of, article_id FROM duplicates
        ),
        sizes AS (
            SELECT m.cluster, count(*) AS articles, string_agg(DISTINCT a.language, ', ' ORDER BY a.language) AS languages
            FROM members m LEFT JOIN articles a USING (article_id) GROUP BY m.cluster
        ),
        links AS (
            SELECT duplicate_of AS cluster, string_agg(DISTINCT method, ', ' ORDER BY method) AS methods,
                   min(similarity) AS lowest_similarity
            FROM duplicates GROUP BY duplicate_of
        )
        SELECT * FROM sizes JOIN links USING (cluster) WHERE articles > 1
    """
    (clusters, duplicate_articles), = _rows(store, f"SELECT count(*), coalesce(sum(articles - 1), 0) FROM ({clusters_sql})")
    largest = _rows(
        store,
        f"""
        SELECT c.cluster, coalesce({title_column}, regexp_extract(a.source_path, '[^/]*$'), c.cluster),
               coalesce(a.site_name, '{UNKNOWN_SITE}'),
               c.articles, coalesce(c.languages, ''), c.methods, c.lowest_similarity
        FROM ({clusters_sql}) c LEFT JOIN articles a ON a.article_id = c.cluster
        ORDER BY c.articles DESC, c.cluster LIMIT {TOP_CLUSTERS}
        """,
    )
    return {
        "duplicate_clusters": [DuplicateCluster(*row) for row in largest],
        "duplicate_cluster_count": clusters,
        "duplicate_articles": int(duplicate_articles),
    }


def _rejections(store: Warehouse) -> list[RejectionReason]:
    rows = _rows(
        store,
        """
        SELECT reason, count(DISTINCT path) AS files, arg_max(path, rejected_at), arg_max(detail, rejected_at)
        FROM rejected_files GROUP BY reason ORDER BY files DESC, reason
        """,
    )
    return [RejectionReason(*row) for row in rows]


def _runs(store: Warehouse) -> dict:
    (runs,), = _rows(store, "SELECT count(*) FROM ingest_runs")
    rows = _rows(
        store,
        f"""
        SELECT run_id, started_at, finished_at, status, files_seen, inserted, updated, unchanged, rejected
        FROM ingest_runs ORDER BY started_at DESC, run_id LIMIT {LAST_RUNS}
        """,
    )
    return {"runs": runs, "last_runs": [RunLine(*row) for row in rows]}


# --- charts (Vega-Lite specs built with Altair) -------------------------------------------------


def articles_per_period_chart(data: ReportData) -> dict:
    """One bar a period (from its first day to the next period's), stacked by language."""
    unit = data.period_unit
    values = [
        {"start": start.isoformat(), "end": period_end(start, unit).isoformat(), "period": period_label(start, unit), "language": language, "articles": n}
        for start, language, n in data.articles_per_period
    ]
    return (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            x=alt.X("start:T", title=f"publication {unit} (UTC)", scale=alt.Scale(type="utc", domain=_day_domain(data))),
            x2="end:T",
            y=alt.Y("sum(articles):Q", title="articles", axis=_count_axis(_largest_total((d, n) for d, _, n in data.articles_per_period))),
            color=alt.Color("language:N", title="language"),
            tooltip=[alt.Tooltip("period:N", title=unit), "language:N", alt.Tooltip("sum(articles):Q", title="articles")],
        )
        .properties(width=_CHART_WIDTH, height=220)
        .to_dict()
    )


def _day_domain(data: ReportData) -> list[alt.DateTime] | alt.UndefinedType:
    """At least a week around the days shown, so one day is one bar, not the whole width."""
    days = [day for day, _, _ in data.articles_per_period]
    if data.period_unit != "day" or not days or (max(days) - min(days)).days >= 7:
        return alt.Undefined
    first = min(days) - timedelta(days=3)
    last = max(days) + timedelta(days=4)
    return [alt.DateTime(year=d.year, month=d.month, date=d.day, utc=True) for d in (first, last)]


def translation_coverage_chart(data: ReportData) -> dict:
    values = [{"language": language, "status": status, "articles": n} for language, status, n in data.translation_coverage]
    return (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            y=alt.Y("language:N", title="language", sort="-x"),
            x=alt.X("sum(articles):Q", title="articles", axis=_count_axis(_largest_total((lang, n) for lang, _, n in data.translation_coverage))),
            color=alt.Color(
                "status:N",
                title="translation_status",
                scale=alt.Scale(domain=list(TRANSLATION_STATUSES), range=list(_STATUS_COLOURS)),
            ),
            order=alt.Order("status_rank:Q"),
            tooltip=["language:N", "status:N", alt.Tooltip("sum(articles):Q", title="articles")],
        )
        .transform_calculate(status_rank=f"indexof({json.dumps(list(TRANSLATION_STATUSES))}, datum.status)")
        .properties(width=_CHART_WIDTH)
        .to_dict()
    )


def top_sites_chart(data: ReportData) -> dict:
    values = [{"site": site, "articles": n} for site, n in data.top_sites]
    return (
        alt.Chart(alt.Data(values=values))
        .mark_bar(color="#1565c0")
        .encode(
            y=alt.Y("site:N", title=None, sort="-x", axis=alt.Axis(labelLimit=260)),
            x=alt.X("articles:Q", title="articles", axis=_count_axis(max((n for _, n in data.top_sites), default=1))),
            tooltip=["site:N", "articles:Q"],
        )
        .properties(width=_CHART_WIDTH - 200)
        .to_dict()
    )


def duplicate_clusters_chart(data: ReportData) -> dict:
    values = [
        {"cluster": f"{_shorten(c.title, 60)} [{c.representative_id}]", "articles": c.articles}
        for c in data.duplicate_clusters or []
    ]
    return (
        alt.Chart(alt.Data(values=values))
        .mark_bar(color="#6a1b9a")
        .encode(
            y=alt.Y("cluster:N", title=None, sort="-x", axis=alt.Axis(labelLimit=320)),
            x=alt.X("articles:Q", title="articles in the cluster", axis=_count_axis(max((c.articles for c in data.duplicate_clusters or []), default=1))),
            tooltip=["cluster:N", "articles:Q"],
        )
        .properties(width=_CHART_WIDTH - 260)
        .to_dict()
    )


def rejections_chart(data: ReportData) -> dict:
    values = [{"reason": r.reason, "files": r.files} for r in data.rejections]
    return (
        alt.Chart(alt.Data(values=values))
        .mark_bar(color="#c62828")
        .encode(
            y=alt.Y("reason:N", title=None, sort="-x"),
            x=alt.X("files:Q", title="files", axis=_count_axis(max((r.files for r in data.rejections), default=1))),
            tooltip=["reason:N", "files:Q"],
        )
        .properties(width=_CHART_WIDTH - 160)
        .to_dict()
    )


def runs_chart(data: ReportData) -> dict:
    values = [
        {"run": _run_label(run), "count": name, "files": getattr(run, name), "rank": rank}
        for run in data.last_runs
        for rank, name in enumerate(_RUN_COUNTS)
        if getattr(run, name)
    ]
    return (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            y=alt.Y("run:N", title="run started (UTC)", sort="descending"),
            x=alt.X("sum(files):Q", title="files", axis=_count_axis(_largest_total((v["run"], v["files"]) for v in values))),
            color=alt.Color("count:N", title="outcome", scale=alt.Scale(domain=list(_RUN_COUNTS), range=list(_RUN_COLOURS))),
            order=alt.Order("rank:Q"),
            tooltip=["run:N", "count:N", alt.Tooltip("sum(files):Q", title="files")],
        )
        .properties(width=_CHART_WIDTH - 160)
        .to_dict()
    )


def _count_axis(largest: int, **properties) -> alt.Axis:
    """An axis of whole numbers: no 0.5-article ticks when the counts are small."""
    return alt.Axis(format="d", tickMinStep=1, tickCount=max(1, min(int(largest), 10)), **properties)


def _largest_total(pairs) -> int:
    """The longest stacked bar: the largest sum of counts over one key, from (key, count) pairs."""
    totals: dict = {}
    for key, n in pairs:
        totals[key] = totals.get(key, 0) + n
    return max(totals.values(), default=1)


def _run_label(run: RunLine) -> str:
    """Its start time, and the end of its id: a Prefect flow run id (UUIDv7) begins with its time,
    so runs a minute apart share their first characters, never their last."""
    return f"{run.started_at:%Y-%m-%d %H:%M:%S} ({run.run_id[-8:]})"


def _shorten(text: str, length: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= length else text[: length - 1] + "…"


# --- the page (pure: ReportData in, HTML out) ---------------------------------------------------


@dataclass(frozen=True)
class _Section:
    key: str
    heading: str
    question: str  # the one sentence saying what the chart answers
    body: str  # HTML: a chart container and/or tables, or a sentence saying there is nothing yet
    spec: dict | None = None


def render_report(data: ReportData, javascript: str) -> str:
    """The whole page. `javascript` is the Vega/Vega-Lite/Vega-Embed bundle, inlined as is."""
    sections = _sections(data)
    specs = {section.key: section.spec for section in sections if section.spec is not None}
    body = "\n".join(_section_html(section) for section in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>newsflow report: {_text(Path(data.warehouse).name)}</title>
<style>{_STYLE}</style>
</head>
<body data-charts-expected="{len(specs)}">
<header>
<h1>What the news archive holds</h1>
<p class="meta">Warehouse <code>{_text(data.warehouse)}</code>, read {data.generated_at:%Y-%m-%d %H:%M:%S} UTC. Times are UTC.</p>
{_headline(data)}
</header>
<main>
{body}
</main>
<script>{javascript}</script>
<script>
const specs = {_script_json(specs)};
const embeds = Object.entries(specs).map(([key, spec]) =>
  vegaEmbed(`#chart-${{key}}`, spec, {{renderer: "svg", actions: false}}).catch((error) => {{
    document.getElementById(`chart-${{key}}`).textContent = `This chart could not be drawn: ${{error}}`;
    console.error(`chart ${{key}}:`, error);
    throw error;
  }})
);
Promise.allSettled(embeds).then((results) => {{
  document.body.dataset.chartsRendered = results.filter((r) => r.status === "fulfilled").length;
}});
</script>
</body>
</html>
"""


def _sections(data: ReportData) -> list[_Section]:
    return [
        _articles_per_period_section(data),
        _translation_section(data),
        _sites_section(data),
        _duplicates_section(data),
        _rejections_section(data),
        _runs_section(data),
    ]


def _headline(data: ReportData) -> str:
    if data.articles == 0:
        runs = f"{data.runs} ingest run{_s(data.runs)} so far" if data.runs else "no ingest run yet"
        return (
            f'<p class="empty headline" data-articles="0">This warehouse has no articles yet ({runs}). '
            "Put documents in <code>seeds/</code> and run <code>newsflow ingest</code>, then make this report again.</p>"
        )
    share = 100 * data.with_english / data.articles
    last = data.last_runs[0] if data.last_runs else None
    last_text = f"; last run {last.started_at:%Y-%m-%d %H:%M} UTC, {_text(last.status)}" if last else ""
    return (
        f'<p class="headline" data-articles="{data.articles}"><strong>{data.articles}</strong> article{_s(data.articles)} '
        f"in <strong>{data.languages}</strong> language{_s(data.languages)} from {data.sites} named site{_s(data.sites)}; "
        f"<strong>{share:.0f}%</strong> readable in English; {data.rejected_files} file{_s(data.rejected_files)} rejected{last_text}.</p>"
    )


_UNIT_NOTES = {
    "day": "one bar a day",
    "week": "one bar a week (weeks start on Monday)",
    "month": "one bar a month",
    "year": "one bar a year",
}


def _articles_per_period_section(data: ReportData) -> _Section:
    unit = data.period_unit
    question = f"How many articles were published each {unit}, and in which languages?"
    heading = f"Articles per {unit}, by language"
    if not data.articles_per_period:
        why = "there are no articles yet" if data.articles == 0 else f"none of the {data.articles} articles has a publication date"
        return _Section("per-period", heading, question, _nothing(f"No chart: {why}."))
    first, last = data.dated_span or (data.articles_per_period[0][0], data.articles_per_period[-1][0])
    span_days = (last - first).days + 1
    notes = [
        f'<p class="note" data-unit="{unit}">The dated articles span {span_days} day{_s(span_days)} ({first} to {last}): '
        f"{_UNIT_NOTES[unit]}.</p>"
    ]
    if data.dated_languages > CHART_LANGUAGES:
        others = data.dated_languages - (CHART_LANGUAGES - 1)
        notes.append(
            f'<p class="note" data-other-languages="{others}">The {others} languages beyond the {CHART_LANGUAGES - 1} '
            f"with the most dated articles are counted together as &ldquo;{OTHER_LANGUAGES}&rdquo;.</p>"
        )
    if data.undated_articles:
        notes.append(
            f'<p class="note" data-undated="{data.undated_articles}">{data.undated_articles} of {data.articles} articles '
            "have no publication date and are not in this chart.</p>"
        )
    languages = sorted({language for _, language, _ in data.articles_per_period}, key=lambda language: (language == OTHER_LANGUAGES, language))
    by_period: dict[date, dict[str, int]] = {}
    for start, language, n in data.articles_per_period:
        by_period.setdefault(start, {})[language] = n
    rows = [(period_label(start, unit), *(counts.get(language, 0) for language in languages)) for start, counts in sorted(by_period.items())]
    first_column = "week starting" if unit == "week" else unit
    numbers = _numbers("per-period", (first_column, *languages), rows)
    body = (
        _chart("per-period") + "".join(notes)
        + f"<details><summary>The numbers: {len(rows)} {unit}{_s(len(rows))} by language</summary>\n{numbers}\n</details>"
    )
    return _Section("per-period", heading, question, body, articles_per_period_chart(data))


def _translation_section(data: ReportData) -> _Section:
    question = (
        "Which languages can be read in English? translated: machine-translated; not_needed: written in English; "
        "missing_model: waiting for a translation model (<code>newsflow models install LANG</code>, then "
        "<code>newsflow translate --pending</code>); failed: the model failed on it."
    )
    heading = "Translation coverage, by language"
    if not data.translation_coverage:
        return _Section("translation", heading, question, _nothing("No chart: there are no articles yet."))
    by_language: dict[str, dict[str, int]] = {}
    for language, status, n in data.translation_coverage:
        by_language.setdefault(language, {})[status] = n
    rows = [
        (language, *(counts.get(status, 0) for status in TRANSLATION_STATUSES), sum(counts.values()))
        for language, counts in sorted(by_language.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    ]
    columns = ("language", *TRANSLATION_STATUSES, "articles")
    return _charted("translation", heading, question, columns, rows, translation_coverage_chart(data))


def _sites_section(data: ReportData) -> _Section:
    question = f"Which sites does the archive draw on most (the top {TOP_SITES} by number of articles)?"
    heading = "Top sites"
    if not data.top_sites:
        return _Section("sites", heading, question, _nothing("No chart: there are no articles yet."))
    return _charted("sites", heading, question, ("site", "articles"), data.top_sites, top_sites_chart(data))


def _duplicates_section(data: ReportData) -> _Section:
    question = (
        "Which stories does the archive hold more than once (copies, near-copies, translations), and how many times? "
        f"The {TOP_CLUSTERS} largest clusters; the rest: <code>newsflow duplicates</code>."
    )
    heading = "Duplicate clusters"
    if data.duplicate_clusters is None:
        return _Section(
            "duplicates",
            heading,
            question,
            _nothing("No duplicate detection yet: this warehouse has no <code>duplicates</code> table (the next <code>newsflow ingest</code> builds it)."),
        )
    if data.articles == 0:
        return _Section("duplicates", heading, question, _nothing("No chart: there are no articles yet."))
    if not data.duplicate_clusters:
        return _Section("duplicates", heading, question, _nothing("Duplicate detection found no duplicates."))
    summary = (
        f'<p class="note">{data.duplicate_cluster_count} cluster{_s(data.duplicate_cluster_count)}; '
        f"{data.duplicate_articles} article{_s(data.duplicate_articles)} are duplicates of another.</p>"
    )
    rows = [
        (
            c.representative_id,
            _shorten(c.title, 120),
            c.site_name,
            c.articles,
            c.languages,
            c.methods or "",
            "" if c.lowest_similarity is None else f"{c.lowest_similarity:.2f}",
        )
        for c in data.duplicate_clusters
    ]
    columns = ("representative article_id", "title", "site", "articles", "languages", "method", "lowest similarity")
    return _charted("duplicates", heading, question, columns, rows, duplicate_clusters_chart(data), before=summary)


def _rejections_section(data: ReportData) -> _Section:
    question = "Why were files turned away, and what can be done about them? (Full list: <code>SELECT * FROM rejected_files</code>.)"
    heading = "Rejected files, by reason"
    if not data.rejections:
        return _Section("rejections", heading, question, _nothing("No file has been rejected."))
    rows = [(r.reason, r.files, r.latest_path, r.latest_detail) for r in data.rejections]
    columns = ("reason", "files", "latest file", "what to do")
    return _charted("rejections", heading, question, columns, rows, rejections_chart(data))


def _runs_section(data: ReportData) -> _Section:
    question = f"What did the last {LAST_RUNS} ingest runs do, and did they finish?"
    heading = "Last runs"
    if not data.last_runs:
        return _Section("runs", heading, question, _nothing("No ingest run yet: <code>newsflow ingest</code> makes one."))
    rows = [
        (
            _run_label(run),
            run.status,
            _duration(run),
            run.files_seen,
            *(getattr(run, name) for name in _RUN_COUNTS),
        )
        for run in data.last_runs
    ]
    more = f'<p class="note">The last {len(data.last_runs)} of {data.runs} runs.</p>' if data.runs > len(data.last_runs) else ""
    chart = _chart("runs") if any(run.files_seen or run.rejected for run in data.last_runs) else ""
    body = chart + _numbers("runs", ("started (UTC)", "status", "took", "files seen", *_RUN_COUNTS), rows) + more
    return _Section("runs", heading, question, body, runs_chart(data) if chart else None)


def _duration(run: RunLine) -> str:
    if run.finished_at is None:
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _section_html(section: _Section) -> str:
    return (
        f'<section id="{section.key}" data-section="{section.key}">\n<h2>{section.heading}</h2>\n'
        f'<p class="question">{section.question}</p>\n{section.body}\n</section>'
    )


def _charted(key: str, heading: str, question: str, columns: tuple[str, ...], rows, spec: dict, *, before: str = "") -> _Section:
    """A section with its chart, then the chart's numbers as a table."""
    return _Section(key, heading, question, before + _chart(key) + _numbers(key, columns, rows), spec)


def _chart(key: str) -> str:
    return f'<div class="chart" id="chart-{key}" data-chart="{key}"></div>'


def _numbers(key: str, columns: tuple[str, ...], rows) -> str:
    head = "".join(f"<th>{_text(column)}</th>" for column in columns)
    body = "\n".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f'<table class="numbers" data-numbers="{key}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def _cell(value) -> str:
    if isinstance(value, (int, float)):
        return f'<td class="n">{value}</td>'
    return f"<td>{_text(value)}</td>"


def _nothing(sentence_html: str) -> str:
    return f'<p class="empty">{sentence_html}</p>'


def _text(value) -> str:
    return html.escape("" if value is None else str(value))


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _script_json(value) -> str:
    """JSON that is safe inside <script>: no `</script>`, `<!--` or `]]>` can end or change the block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 980px;
       padding: 1.5rem; color: #1b1b1b; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.meta, .note { color: #555; font-size: 0.92rem; }
.headline { font-size: 1.1rem; }
.question { font-style: italic; }
.empty { background: #f5f5f5; padding: 0.6rem 0.8rem; border-left: 4px solid #bbb; }
.chart { margin: 0.8rem 0; min-height: 40px; }
table.numbers { border-collapse: collapse; font-size: 0.88rem; margin-top: 0.6rem; }
table.numbers th, table.numbers td { border-bottom: 1px solid #e3e3e3; padding: 0.2rem 0.6rem; text-align: left;
       vertical-align: top; max-width: 36rem; overflow-wrap: break-word; }
table.numbers th, table.numbers td.n { white-space: nowrap; }
table.numbers td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""


# --- writing ------------------------------------------------------------------------------------


def vega_javascript() -> str:
    """Vega, Vega-Lite (the version Altair writes specs for) and Vega-Embed, as one inline script."""
    return gzip.decompress(VEGA_BUNDLE.read_bytes()).decode("utf-8")


def write_report(warehouse_path: Path, output: Path) -> ReportResult:
    """Read the warehouse (read-only) and write the report page to `output`, replacing it whole
    (a regular file or a new path only, see pipeline.outputs), or to stdout for `-`."""
    to_stdout = is_stdout(output)
    if not to_stdout:
        output = Path(output).expanduser()
        check_replaceable(output)
    with Warehouse.open(Path(warehouse_path), read_only=True) as store:
        data = read_report_data(store)
    page = render_report(data, vega_javascript())
    charts = page.count('class="chart"')
    if to_stdout:
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(page.encode("utf-8"))
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second failure at exit
            raise StdoutClosed("stdout was closed before the report was written") from None
        return ReportResult(path=Path(STDOUT), articles=data.articles, charts=charts)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = new_partial_file(output)
    try:
        partial.write_text(page, encoding="utf-8")
        replace_with(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return ReportResult(path=output, articles=data.articles, charts=charts)
