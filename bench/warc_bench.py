"""`make bench`: ingesting a WARC against ingesting the same pages as files, and what reading a WARC costs.

    python -m bench.warc_bench [--repeat 3] [--copies 20] [--json bench/results/warc.json]

The development pages (workbench/data/devdata: 23 newspaper pages and 56 Readability test pages)
are written once as HTML files in a folder and once as a gzipped WARC (a request and a response
record each, as a crawler writes them). Both go through the real `newsflow ingest` on a local
Prefect server into fresh warehouses, alternately, `--repeat` times: medians of records/s (WARC)
and pages/s (files), and their ratio, measured in the same run.

Reading alone: a WARC of `--copies` copies of the pages (or `--warc`) is read record by record, payloads
decompressed, with warcio (what newsflow uses) and, when it is importable, with fastwarc
(resiliparse); and listed as the flow lists it (`pipeline.warc.list_warc_records`). fastwarc is
not a dependency: run this module with a scratch venv's Python that has it to compare
(`--reading-only`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.record import commit, machine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="newsflow-warc-bench-"))


def build_inputs(folder: Path, copies: int = 1) -> tuple[Path, Path, int]:
    """The development pages as files in `folder`/pages and as `folder`/pages.warc.gz (and, with
    `copies` > 1, the WARC only, that many times over)."""
    from bench.corpus import real_pages
    from workbench.evaluation import default_devdata
    from workbench.warc_files import ArchivedPage, write_warc

    pages_dir = folder / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    archived = []
    for name, _, html, _ in real_pages(default_devdata()):
        body = html.encode("utf-8")
        if copies == 1:
            (pages_dir / f"{name}.html").write_bytes(body)
        for copy in range(copies):
            archived.append(ArchivedPage(f"https://bench.example/{copy}/{name}", body))
    warc = folder / ("pages.warc.gz" if copies == 1 else f"pages-x{copies}.warc.gz")
    write_warc(warc, archived)
    return pages_dir, warc, len(archived)


def read_with_warcio(path: Path) -> int:
    from warcio.archiveiterator import ArchiveIterator

    records = 0
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                record.content_stream().read()
                records += 1
    return records


def read_with_fastwarc(path: Path) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType  # fastwarc 2.0: the stream's compression is detected

    records = 0
    for record in ArchiveIterator(str(path), record_types=WarcRecordType.response, parse_http=True, auto_decode="all"):
        record.reader.read()
        records += 1
    return records


def list_as_the_flow_does(path: Path) -> int:
    from pipeline.warc import list_warc_records

    return sum(1 for _ in list_warc_records(path))


def bench_reading(warc: Path, repeat: int) -> list[dict]:
    readers = {"warcio (read + decompress)": read_with_warcio}
    try:
        import pipeline.warc  # noqa: F401  (not in a scratch venv that holds only the WARC libraries)

        readers["newsflow listing (warcio, headers only)"] = list_as_the_flow_does
    except ImportError:
        pass
    try:
        import fastwarc  # noqa: F401

        readers["fastwarc (read + decompress)"] = read_with_fastwarc
    except ImportError:
        print("fastwarc is not installed here: only warcio is measured")
    rows = []
    for name, reader in readers.items():
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            records = reader(warc)
            seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        rows.append({"reader": name, "records": records, "median_s": round(median, 4), "records_per_s": round(records / median, 1)})
        print(f"{name:<44}{records:>7} records {median:>8.3f} s {records / median:>10.0f} records/s")
    return rows


def bench_ingest(pages_dir: Path, warc: Path, pages: int, repeat: int) -> dict:
    from flows.server import start_local_server
    from pipeline.warehouse import Warehouse

    server = start_local_server(WORK / "prefect-server", ui=False)
    timings: dict[str, list[float]] = {"files": [], "warc": []}
    articles: dict[str, int] = {}
    try:
        env = dict(os.environ, PREFECT_API_URL=server.api_url, PREFECT_HOME=str(WORK / "prefect-client"),
                   NEWSFLOW_HOME=str(WORK), NEWSFLOW_SEEDS=str(WORK / "seeds"))
        for round_ in range(repeat):
            for kind, target in (("files", pages_dir), ("warc", warc)):
                warehouse = WORK / f"{kind}-{round_}.duckdb"
                started = time.perf_counter()
                result = subprocess.run([sys.executable, "-m", "flows.cli", "ingest", str(target), "--warehouse", str(warehouse)],
                                        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                if result.returncode != 0:
                    raise SystemExit(f"ingest {target} failed:\n{result.stdout}\n{result.stderr}")
                timings[kind].append(seconds)
                with Warehouse.open(warehouse, read_only=True) as store:
                    articles[kind] = store.query("select count(*) from articles")[1][0][0]
                print(f"round {round_ + 1}: {kind:<6} {seconds:7.2f} s, {articles[kind]} articles")
    finally:
        server.stop()
    files_s, warc_s = statistics.median(timings["files"]), statistics.median(timings["warc"])
    return {
        "pages": pages,
        "articles": articles,
        "files_median_s": round(files_s, 2),
        "warc_median_s": round(warc_s, 2),
        "files_pages_per_s": round(pages / files_s, 2),
        "warc_records_per_s": round(pages / warc_s, 2),
        "warc_over_files_time": round(warc_s / files_s, 3),
        "seconds": {kind: [round(s, 2) for s in values] for kind, values in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=20, help="copies of the pages in the WARC that is only read")
    parser.add_argument("--reading-only", action="store_true", help="skip the ingest runs (for a scratch venv with fastwarc)")
    parser.add_argument("--warc", type=Path, help="read this WARC instead of building one (with --reading-only)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    big_warc = args.warc or build_inputs(WORK / "read", copies=args.copies)[1]
    print(f"reading {big_warc.name} ({big_warc.stat().st_size / 2**20:.1f} MB), median of {args.repeat}:")
    reading = bench_reading(big_warc, args.repeat)
    results = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit(), "machine": machine(),
               "reading": reading}
    if not args.reading_only:
        pages_dir, warc, pages = build_inputs(WORK / "ingest")
        print(f"\n`newsflow ingest` of {pages} pages as files and as {warc.name}, alternately, {args.repeat} rounds:")
        ingest = bench_ingest(pages_dir, warc, pages, args.repeat)
        results["ingest"] = ingest
        print(f"files: {ingest['files_pages_per_s']} pages/s (median {ingest['files_median_s']} s); "
              f"WARC: {ingest['warc_records_per_s']} records/s (median {ingest['warc_median_s']} s); "
              f"WARC time / files time = {ingest['warc_over_files_time']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
