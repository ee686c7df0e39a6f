"""Search benchmark: index build, index refresh and query times on the benchmark corpus.

    python -m bench.search_bench [--docs 2000 20000] [--queries 100] [--json bench/results/search.json]

The documents are copies of 51 texts (bench/corpus.py's source_documents, not yet its news
corpus: the seeds and the development data's pages, each copy with its own closing line). Each distinct source goes through the real stages
once (load, extract, language), and its copies differ by that closing paragraph, so the
warehouse holds what an ingest of the corpus would store, without paying for the ingest.

For each size and stemmer (porter, the one newsflow uses, and none):
- build: `refresh_search_index(rebuild=True)`: the whole index anew; and the extension's own
  `PRAGMA create_fts_index` of the same index, the baseline (skip with --no-extension-build);
- update: the refresh after 1% of the articles changed (what a run adding files pays);
- unchanged: `refresh_search_index` when nothing changed (the check each ingest run pays);
- query: median and 95th percentile of `search()` over `--queries` queries (a cycle through
  QUERIES), limit 20, snippets included, on a read-only connection as `newsflow search` opens it;
- hits: how many documents each stemmer finds for a few word forms, to show what stemming buys.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from bench.corpus import document_copies, staged_sources
from pipeline import search as search_module
from pipeline.record import Document
from pipeline.search import refresh_search_index, search, searched_columns
from pipeline.warehouse import Warehouse
from pipeline.warehouse.changes import note_changed_articles
from pipeline.warehouse.connection import READ_ONLY_CONFIG, load_search_extension

QUERIES = [
    "Pyongyang", "kim jong un", "Korea Utara", "North Korea", "diplomats", "Indonesia", "Putin", "Jakarta",
    "foreign minister", "sanctions", "artificial intelligence", "election", "president", "bertemu",
    "hubungan diplomatik", "Japan", "economy", "video", "storm", "climate change",
]
WORD_FORMS = ["diplomat", "diplomats", "diplomatic", "meeting", "meets", "Korea Utara", "bertemu", "pertemuan"]


def build_warehouse(path: Path, documents: list[Document]) -> None:
    with Warehouse.open(path) as store:
        for start in range(0, len(documents), 500):
            store.write_batch(documents[start : start + 500], run_id="search-bench", ingested_at=datetime.now(timezone.utc))


def read_only_connection(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection set up as newsflow's read-only opens are: fts loaded, then the front door's locks."""
    connection = duckdb.connect(str(path), read_only=True, config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    load_search_extension(connection)
    for name, value in READ_ONLY_CONFIG.items():
        connection.execute(f"SET {name} = {str(value).lower()}")
    return connection


def measure(path: Path, stemmer: str, queries: int, with_extension_build: bool) -> dict:
    search_module.STEMMER = stemmer
    with duckdb.connect(str(path)) as connection:
        build = refresh_search_index(connection, rebuild=True)
        unchanged = refresh_search_index(connection)
        assert build.rebuilt and not unchanged.changed
        extension_build_s = None
        if with_extension_build:  # the baseline: the extension's own build of the same index, from scratch
            started = time.perf_counter()
            fields = ", ".join(f"'{column}'" for column in searched_columns(connection))
            connection.execute(
                f"PRAGMA create_fts_index('articles', 'article_id', {fields}, stemmer = '{stemmer}', "
                f"ignore = '{search_module.TOKEN_SEPARATORS}', overwrite = 1)"
            )
            extension_build_s = round(time.perf_counter() - started, 3)
            connection.execute("PRAGMA drop_fts_index('articles')")
        connection.execute("UPDATE articles SET text = text || ' Updated.' WHERE hash(article_id) % 100 = 0")
        # plain SQL bypasses the write path, which notes what it changes for the refresh
        note_changed_articles(connection, "SELECT article_id FROM articles WHERE hash(article_id) % 100 = 0")
        update = refresh_search_index(connection)
        assert not update.rebuilt and update.reindexed == update.removed > 0
    connection = read_only_connection(path)
    try:
        for query in QUERIES:  # warm-up: the first queries read the index from disk
            search(connection, query)
        times = []
        for number in range(queries):
            started = time.perf_counter()
            search(connection, QUERIES[number % len(QUERIES)])
            times.append((time.perf_counter() - started) * 1000)
        hits = {
            form: connection.execute("SELECT count(*) FROM search_articles(?)", [form]).fetchone()[0] for form in WORD_FORMS
        }
    finally:
        connection.close()
    return {
        "stemmer": stemmer,
        "build_s": round(build.seconds, 3),
        "extension_build_s": extension_build_s,
        "unchanged_check_s": round(unchanged.seconds, 3),
        "update_s": round(update.seconds, 3),
        "update_articles": update.reindexed,
        "query_median_ms": round(statistics.median(times), 1),
        "query_p95_ms": round(sorted(times)[int(len(times) * 0.95) - 1], 1),
        "hits": hits,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--stemmers", nargs="+", default=["porter", "none"])
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument(
        "--no-extension-build", dest="extension_build", action="store_false",
        help="Skip timing the extension's own index build (the baseline; 3+ minutes at 20,000 documents).",
    )
    args = parser.parse_args(argv)

    sources = staged_sources()
    print(f"{len(sources)} distinct sources through the stages; {len(QUERIES)} queries cycled", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="newsflow-search-bench-") as folder:
        for count in args.docs:
            path = Path(folder) / f"bench-{count}.duckdb"
            build_warehouse(path, document_copies(sources, count))
            for stemmer in args.stemmers:
                result = {"docs": count, **measure(path, stemmer, args.queries, args.extension_build)}
                results.append(result)
                print(
                    f"{count:>6} docs, stemmer {stemmer:<6}: build {result['build_s']:.2f} s (the extension's own: "
                    f"{result['extension_build_s'] if result['extension_build_s'] is not None else '-'} s), update of {result['update_articles']} "
                    f"changed {result['update_s']:.2f} s, unchanged check "
                    f"{result['unchanged_check_s'] * 1000:.0f} ms, query median {result['query_median_ms']:.1f} ms "
                    f"(p95 {result['query_p95_ms']:.1f} ms) over {args.queries} queries; hits {result['hits']}",
                    flush=True,
                )
            path.unlink()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
