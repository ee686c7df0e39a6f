"""`make bench`: what Dask's monitoring costs a local cluster, idle and at work.

    python -m bench.cluster_idle_bench [--rounds 5] [--idle-seconds 5] [--passes 4]

A 2-worker LocalCluster, started by `flows.task_runners.start_local_cluster` as
`newsflow ingest` starts one, with Dask's defaults for its event-loop latency check, system and
memory monitors, work stealing and cluster-info sync, or with newsflow's
(`flows.task_runners.QUIET_MONITORS`). Each round, for each in turn, a new cluster: the CPU seconds per
second of this process (the scheduler and the client live here, as in the flow process) and of
each worker while idle, then HTML extraction of the development pages on both workers at once,
timed (wall) with the CPU seconds of the workers and of this process. Medians are printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import psutil

from bench.processes import cpu_seconds
from bench.worker_heap_bench import extract_pages


def start_cluster(quiet: bool):
    """newsflow's LocalCluster of two workers; with `quiet` False, Dask's defaults for the monitors."""
    import dask

    from flows.task_runners import QUIET_MONITORS, start_local_cluster

    return start_local_cluster(2, monitors=QUIET_MONITORS if quiet else {name: dask.config.get(name) for name in QUIET_MONITORS})


def measure(client, idle_seconds: float, passes: int) -> dict[str, float]:
    this = psutil.Process()
    workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
    before = [cpu_seconds(process) for process in workers], cpu_seconds(this)
    time.sleep(idle_seconds)
    after = [cpu_seconds(process) for process in workers], cpu_seconds(this)
    idle_workers = (sum(after[0]) - sum(before[0])) / idle_seconds / len(workers)
    idle_here = (after[1] - before[1]) / idle_seconds
    addresses = list(client.scheduler_info()["workers"])
    started = time.perf_counter()
    client.gather([client.submit(extract_pages, passes, pure=False, workers=[address]) for address in addresses])
    wall = time.perf_counter() - started
    busy = [cpu_seconds(process) for process in workers], cpu_seconds(this)
    return {
        "idle worker CPU s/s (each)": idle_workers,
        "idle scheduler process CPU s/s": idle_here,
        "extraction wall s": wall,
        "extraction worker CPU s": sum(busy[0]) - sum(after[0]),
        "extraction scheduler process CPU s": busy[1] - after[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--passes", type=int, default=4, help="extractions of every development page per worker and round")
    args = parser.parse_args()

    from distributed import Client

    from flows.task_runners import start_worker_forkserver

    start_worker_forkserver()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    variants = {"Dask's defaults": False, "newsflow's (quiet monitors)": True}
    results: dict[str, list[dict[str, float]]] = {label: [] for label in variants}
    for round_ in range(args.rounds):
        for label in list(variants)[:: -1 if round_ % 2 else 1]:
            # one cluster at a time: this process hosts its scheduler and is measured
            with start_cluster(variants[label]) as cluster, Client(cluster) as client:
                client.gather([client.submit(extract_pages, 1, pure=False, workers=[address]) for address in client.scheduler_info()["workers"]])
                results[label].append(measure(client, args.idle_seconds, args.passes))
            print(f"round {round_} {label}: " + ", ".join(f"{name} {value:.3f}" for name, value in results[label][-1].items()), flush=True)

    first = next(iter(variants))
    print(f"\nmedians of {args.rounds} interleaved rounds; 2 workers, {args.passes} passes over the development pages each")
    for name in results[first][0]:
        line = f"  {name:38}"
        for label in variants:
            line += f" {label}: {statistics.median(r[name] for r in results[label]):7.3f}"
        print(line)


if __name__ == "__main__":
    main()
