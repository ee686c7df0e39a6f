"""`make bench`: what a Dask worker's C heap settings cost the stages.

    python -m bench.worker_heap_bench [--rounds 8]

Dask's nannies start every worker with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's
mmap threshold, so each buffer of 128 KB or more is a fresh mmap; and Dask's statistical profiler
samples each worker's stack every 10 ms. This measures the CPU seconds HTML extraction of the
development pages takes in this process, in a LocalCluster worker started with Dask's
environment, in one started with newsflow's settings (`flows.task_runners.worker_environment`,
the profiler off), and in one with newsflow's environment and the profiler on, all in one run,
rounds interleaved; medians and ratios are printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

from workbench import DATA_DIR

PAGES = DATA_DIR / "devdata" / "extraction"


def extract_pages(passes: int) -> float:
    """CPU seconds for `passes` extractions of every development page, in the calling process."""
    from pipeline.extract.html import extract_html

    pages = [page.read_text(encoding="utf-8", errors="replace") for page in sorted(Path(PAGES).glob("*.html"))]
    started = time.process_time()
    for _ in range(passes):
        for html in pages:
            extract_html(html)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--passes", type=int, default=2, help="extractions of every page per measurement")
    args = parser.parse_args()

    import dask
    from distributed import Client, LocalCluster

    from flows.task_runners import worker_environment

    # newsflow's first: a nanny also copies its environment into this process's (distributed's
    # nanny.py), so a worker started after Dask's would inherit MALLOC_TRIM_THRESHOLD_ from here.
    newsflows = {"distributed.nanny.pre-spawn-environ": worker_environment(), "distributed.worker.profile.enabled": False}
    environments = {
        "newsflow's worker settings": newsflows,
        "newsflow's, Dask's profiler on": {**newsflows, "distributed.worker.profile.enabled": True},
        "Dask's worker environment": {"distributed.nanny.pre-spawn-environ": dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))},
    }
    clients, clusters = {}, []
    try:
        for label, settings in environments.items():
            with dask.config.set(settings):
                cluster = LocalCluster(
                    n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL
                )
            clusters.append(cluster)
            clients[label] = Client(cluster)
            (seen,) = clients[label].run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()
            print(f"{label}: the worker runs with MALLOC_TRIM_THRESHOLD_={seen}")
            clients[label].submit(extract_pages, 1, pure=False).result()  # imports and warm-up, not timed
        extract_pages(1)
        seconds: dict[str, list[float]] = {"this process": [], **{label: [] for label in clients}}
        for _ in range(args.rounds):  # one worker busy at a time, so they do not share the cores
            seconds["this process"].append(extract_pages(args.passes))
            for label, client in clients.items():
                seconds[label].append(client.submit(extract_pages, args.passes, pure=False).result())
    finally:
        for client in clients.values():
            client.close()
        for cluster in clusters:
            cluster.close()

    pages = len(list(Path(PAGES).glob("*.html"))) * args.passes
    baseline = statistics.median(seconds["this process"])
    print(f"HTML extraction of the development pages, CPU ms per page (median of {args.rounds} rounds, interleaved):")
    for label, values in seconds.items():
        median = statistics.median(values)
        print(f"  {label:32} {1000 * median / pages:6.1f} ms   {median / baseline:.2f}x of this process")


if __name__ == "__main__":
    main()
