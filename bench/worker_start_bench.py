"""`make bench`: what starting and stopping local workers costs, spawned or forked.

    python -m bench.worker_start_bench [--rounds 5]

Each measurement is a new process that does what `newsflow ingest` does before its first batch:
import the flow, start a 2-worker LocalCluster and have each worker run a first piece of work
(import the ingest flow's module, identify one text's language); then it closes the cluster.
Two ways of starting workers, rounds interleaved:
- Dask's default: each worker a spawned interpreter that imports everything itself;
- newsflow's: workers forked from the forkserver `flows.task_runners.start_worker_forkserver`
  starts (before the flow is imported, as the CLI does), which loaded the stages once.
Printed: seconds from process start until both workers have done their first work, seconds to
close, and the CPU seconds of every process the measurement started (workers, forkserver);
medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import psutil

from bench.corpus import PROJECT_ROOT

VARIANTS = {"spawned (Dask's default)": "spawn", "forked (newsflow's)": "forkserver"}


def first_work(_: int) -> int:
    from flows.ingest_stages import prepare_batch  # noqa: F401  what a first batch imports
    from pipeline.language import shared_identifier

    shared_identifier().probabilities("Pemerintah mengumumkan kebijakan baru untuk sekolah.")
    return os.getpid()


def measure(method: str) -> dict[str, float]:
    """In this (new) process: start, first work on both workers, close."""
    started = psutil.Process().create_time()
    if method == "forkserver":
        from flows.task_runners import start_worker_forkserver

        start_worker_forkserver()
    import flows.ingest  # noqa: F401  what the CLI imports meanwhile

    cpu: dict[int, float] = {}
    stop = threading.Event()

    def poll() -> None:  # the CPU time of each process this one started, until it is gone
        while not stop.is_set():
            for child in psutil.Process().children(recursive=True):
                try:
                    times = child.cpu_times()
                    cpu[child.pid] = times.user + times.system
                except psutil.Error:
                    pass
            stop.wait(0.01)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    import dask
    from distributed import Client

    from flows.task_runners import start_local_cluster, worker_environment

    if method == "spawn":
        settings = {"distributed.nanny.pre-spawn-environ": worker_environment(), "distributed.worker.multiprocessing-method": "spawn"}
        with dask.config.set(settings):
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    else:
        cluster = start_local_cluster(2)
    client = Client(cluster)
    futures = [client.submit(first_work, index, pure=False, workers=[address]) for index, address in enumerate(cluster.scheduler_info["workers"])]
    pids = {future.result() for future in futures}
    ready = time.time() - started
    closing = time.time()
    client.close()
    cluster.close()
    closed = time.time() - closing
    time.sleep(0.5)  # the poller's last look at the exiting workers
    stop.set()
    watcher.join()
    assert len(pids) == 2
    return {"ready_s": ready, "close_s": closed, "cpu_s": sum(cpu.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--measure", choices=sorted(VARIANTS.values()), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return

    results: dict[str, list[dict[str, float]]] = {label: [] for label in VARIANTS}
    for _ in range(args.rounds):
        for label, method in VARIANTS.items():
            run = subprocess.run(
                [sys.executable, "-m", "bench.worker_start_bench", "--measure", method],
                cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
            )
            if run.returncode != 0:
                raise SystemExit(f"{label}: exit {run.returncode}\n{run.stderr[-3000:]}")
            results[label].append(json.loads(run.stdout.strip().splitlines()[-1]))

    print(f"Starting 2 local workers and their first work, then closing them (median of {args.rounds} rounds, interleaved):")
    print(f"  {'':28} {'ready (s)':>10} {'close (s)':>10} {'CPU (s)':>9}")
    medians = {label: {key: statistics.median(run[key] for run in runs) for key in runs[0]} for label, runs in results.items()}
    for label, median in medians.items():
        print(f"  {label:28} {median['ready_s']:10.2f} {median['close_s']:10.2f} {median['cpu_s']:9.2f}")
    spawned, forked = medians.values()
    print(
        f"  forked / spawned: ready {forked['ready_s'] / spawned['ready_s']:.2f}x, close {forked['close_s'] / spawned['close_s']:.2f}x, "
        f"CPU {forked['cpu_s'] / spawned['cpu_s']:.2f}x"
    )


if __name__ == "__main__":
    main()
