"""`make bench`: documents per second per stage and end to end, and peak memory.

    python -m bench.ingest_bench [--count 2000] [--repeat 3]

Stages are timed in-process on the same generated corpus (median of --repeat runs); the
end-to-end figure is the real `newsflow ingest` command against a real local Prefect server,
into a fresh warehouse. Translation uses the small test package the tests build (random
weights, tiny architecture), so its figure measures the plumbing, not a real model's cost.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="newsflow-bench-"))
# argostranslate reads its folders when first imported: keep the benchmark's models out of the user's.
os.environ.setdefault("ARGOS_PACKAGES_DIR", str(WORK / "argos-packages"))
for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
    os.environ[variable] = str(WORK / variable.lower())

from bench.corpus import PROJECT_ROOT, build_corpus, news_articles, print_shares  # noqa: E402
from pipeline.extract import extract_document  # noqa: E402
from pipeline.language import detect_language  # noqa: E402
from pipeline.settings import DEFAULT_MAX_FILE_BYTES  # noqa: E402
from pipeline.sources import discover_files, load_document  # noqa: E402
from pipeline.translate import install_package_file, translate_documents  # noqa: E402
from workbench.translate.build_package import build_tiny_package  # noqa: E402
from pipeline.warehouse import Warehouse  # noqa: E402


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def timed(fn, repeat: int):
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def batches(items, size=256):
    return [items[i : i + size] for i in range(0, len(items), size)]


def bench_stages(corpus_dir: Path, repeat: int) -> tuple[list[tuple[str, int, float]], int]:
    rows = []
    paths = discover_files([corpus_dir])
    t, docs = timed(lambda: [load_document(p, drop_folder=PROJECT_ROOT, max_bytes=DEFAULT_MAX_FILE_BYTES) for p in paths], repeat)
    rows.append(("sources", len(paths), t))
    t, docs = timed(lambda: [extract_document(d) for d in docs], repeat)
    rows.append(("extract", len(docs), t))
    t, docs = timed(lambda: [detect_language(d) for d in docs], repeat)
    rows.append(("language", len(docs), t))
    t, docs = timed(lambda: [d for batch in batches(docs) for d in translate_documents(batch)], repeat)
    translated = sum(d.translation_status == "translated" for d in docs)
    rows.append((f"translate ({translated} docs, tiny random test model)", len(docs), t))

    def load_warehouse():
        target = WORK / f"stage-{time.monotonic_ns()}.duckdb"
        with Warehouse.open(target) as warehouse:
            for batch in batches(docs):
                warehouse.write_batch(batch, run_id="bench", ingested_at=_now())

    t, _ = timed(load_warehouse, repeat)
    rows.append(("warehouse", len(docs), t))
    rejected = sum(d.rejected for d in docs)
    return rows, rejected


def _now():
    from datetime import datetime

    return datetime.now()


def bench_end_to_end(corpus_dir: Path) -> tuple[int, float, float, str]:
    from flows.server import start_local_server

    server = start_local_server(WORK / "prefect-server", ui=False)
    try:
        env = dict(os.environ, PREFECT_API_URL=server.api_url, PREFECT_HOME=str(WORK / "prefect-client"))
        warehouse = WORK / "end-to-end.duckdb"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "flows.cli", "ingest", str(corpus_dir), "--warehouse", str(warehouse)],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"end-to-end ingest failed:\n{result.stdout}\n{result.stderr}")
        child_peak = peak_rss_mb(resource.RUSAGE_CHILDREN)
        with Warehouse.open(warehouse, read_only=True) as store:
            _, rows = store.query("select count(*) from articles")
        last_line = result.stdout.strip().splitlines()[-1]
        return rows[0][0], seconds, child_peak, last_line
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    corpus_dir = PROJECT_ROOT / "bench" / ".corpus"
    build_corpus(corpus_dir, args.count)
    print(f"corpus: {args.count} documents in {corpus_dir}")
    print_shares(news_articles()[: args.count])

    # The tests' tiny random-weight id->en package, so the Indonesian documents are translated
    # (its cost is not a real model's: `python -m bench.translate_bench` measures that).
    install_package_file(build_tiny_package(WORK / "model"))
    # End to end first, while this process is small: a child's peak RSS counts from the fork.
    articles, e2e_seconds, e2e_peak, summary = bench_end_to_end(corpus_dir)

    rows, rejected = bench_stages(corpus_dir, args.repeat)
    print(f"\nper stage, in-process, median of {args.repeat} runs ({rejected} documents rejected by extract)")
    print(f"{'stage':<58}{'docs':>7}{'seconds':>10}{'docs/s':>10}")
    for stage, n, seconds in rows:
        print(f"{stage:<58}{n:>7}{seconds:>10.3f}{n / seconds:>10.1f}")
    pipeline_seconds = sum(seconds for _, _, seconds in rows)
    print(f"{'all stages':<58}{args.count:>7}{pipeline_seconds:>10.3f}{args.count / pipeline_seconds:>10.1f}")
    print(f"peak memory of the in-process stages: {peak_rss_mb():.0f} MB RSS (all {args.count} documents held at once)")

    print(f"\nend to end: `newsflow ingest` on a local Prefect server: {articles} articles from {args.count} files "
          f"in {e2e_seconds:.2f} s = {args.count / e2e_seconds:.1f} docs/s (process start and Prefect included); "
          f"peak memory {e2e_peak:.0f} MB RSS")
    print(f"  {summary}")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
