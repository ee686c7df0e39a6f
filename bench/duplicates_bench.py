"""Duplicate-detection benchmark: `refresh_duplicates` on the benchmark corpus.

    python -m bench.duplicates_bench [--docs 2000 20000] [--json bench/results/duplicates.json]

The documents are copies of 51 texts (bench/corpus.py's source_documents, not yet its news
corpus: the seeds and the development data's pages, each copy with its own closing line). Each distinct source goes through the real stages
once (load, extract, language) and its copies differ by that closing paragraph, so the warehouse
holds what an ingest of the corpus would store (English text for English pages, none for the
others: no translation model), without paying for the ingest. Every copy of a source is a near-
duplicate of the others, so this is the heavy case: almost every article lands in a cluster.

For each size:
- first: a refresh on a warehouse without signatures (every signature computed, then detection);
- unchanged: the next refresh, nothing changed (what each ingest run pays when no file changed);
- +1% new: a refresh after 1% more articles arrived (their signatures only, then detection).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from bench.corpus import document_copies, staged_sources
from pipeline.duplicates import refresh_duplicates
from pipeline.record import Document
from pipeline.warehouse import Warehouse


def write(path: Path, docs: list[Document], at: datetime) -> None:
    with Warehouse.open(path) as store:
        for offset in range(0, len(docs), 1000):
            store.write_batch(docs[offset : offset + 1000], run_id=f"bench-{at:%H%M%S}", ingested_at=at)


def timed_refresh(path: Path):
    with duckdb.connect(str(path)) as connection:
        started = time.perf_counter()
        refresh = refresh_duplicates(connection)
        return time.perf_counter() - started, refresh


def bench_size(sources: list[tuple[str, Document]], count: int, folder: Path) -> list[dict]:
    path = folder / f"duplicates-{count}.duckdb"
    start = datetime(2025, 10, 1)
    write(path, document_copies(sources, count), start)
    rows = []
    for label in ("first", "unchanged"):
        seconds, refresh = timed_refresh(path)
        rows.append({"docs": count, "refresh": label, "seconds": seconds, **vars(refresh)})
    added = max(1, count // 100)
    write(path, document_copies(sources, added, start=count), start + timedelta(hours=1))
    seconds, refresh = timed_refresh(path)
    rows.append({"docs": count + added, "refresh": "+1% new", "seconds": seconds, **vars(refresh)})
    path.unlink()
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'docs':>6}  {'refresh':<10} {'seconds':>8} {'docs/s':>8} {'signed':>7} {'checked':>8} {'clusters':>8} {'duplicates':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['docs']:>6}  {row['refresh']:<10} {row['seconds']:>8.2f} {row['docs'] / row['seconds']:>8.0f} "
            f"{row['signatures_computed']:>7} {row['pairs_checked']:>8} "
            f"{row['clusters']:>8} {row['duplicates']:>10}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--json", type=Path, help="Also write the rows here.")
    args = parser.parse_args(argv)
    sources = staged_sources()
    print(f"duplicate detection on the benchmark corpus ({len(sources)} distinct sources, copies with their own closing line)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="newsflow-duplicates-bench-") as folder:
        for count in args.docs:
            rows.extend(bench_size(sources, count, Path(folder)))
    print_table(rows)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
