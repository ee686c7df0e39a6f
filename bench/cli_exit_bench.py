"""`make bench`: how long `newsflow ingest` takes to exit once it has printed its summary.

    python -m bench.cli_exit_bench [--rounds 7] [--compare OTHER_TREE]

A command has done all its work when it prints its last line; what follows is the interpreter's
teardown, which the user waits for too. Each round runs `newsflow ingest` on the five seeds (in
the flow's own process) against a Prefect server started for the benchmark, and measures the
seconds from the last line of output to the process's exit, and from start to exit. With
`--compare`, the same command also runs from another checkout (for example the commit before a
change), rounds interleaved, in turn first and second; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.corpus import PROJECT_ROOT, SEEDS_DIR


def run_once(env: dict[str, str], tree: Path, corpus: Path, warehouse: Path) -> tuple[float, float]:
    """(seconds from the last line of output to exit, seconds from start to exit)."""
    command = [sys.executable, "-m", "flows.cli", "ingest", str(corpus), "--warehouse", str(warehouse)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env={**env, "PYTHONUNBUFFERED": "1"}, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    last_line = [started]
    lines: list[bytes] = []

    def read() -> None:
        for line in child.stdout:
            last_line[0] = time.perf_counter()
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    child.wait()
    exited = time.perf_counter()
    reader.join(timeout=10)
    if child.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` in {tree} failed (exit {child.returncode}):\n{b''.join(lines).decode()[-2000:]}")
    return exited - last_line[0], exited - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another checkout of newsflow to run the same command from")
    args = parser.parse_args()

    from bench.scale_bench import isolated_environment
    from flows.server import start_local_server

    trees = {"this checkout": PROJECT_ROOT}
    if args.compare:
        trees[f"{args.compare}"] = args.compare.resolve()
    work = Path(tempfile.mkdtemp(prefix="newsflow-cli-exit-"))
    server = start_local_server(work / "prefect-server", ui=False)
    try:
        env = isolated_environment(work, server.api_url)
        corpus = work / "seeds"
        shutil.copytree(SEEDS_DIR, corpus)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for round_ in range(args.rounds + 1):  # round 0 warms the server and the file cache: not counted
            # every other round in the other order: the Prefect server's periodic work favours a place in the round
            for name, tree in list(trees.items())[:: 1 if round_ % 2 else -1]:
                measured = run_once(env, tree, corpus, work / f"{round_}-{len(results[name])}-{os.getpid()}.duckdb")
                if round_:
                    results[name].append(measured)
                    print(f"round {round_} {name}: {measured[0]:.2f} s from the last line to exit, {measured[1]:.2f} s in all", flush=True)
        print(f"\nmedians of {args.rounds} rounds, `newsflow ingest` of the five seeds")
        print(f"{'checkout':40} {'last line to exit s':>20} {'start to exit s':>16}")
        for name, measured in results.items():
            print(f"{name:40} {statistics.median(m[0] for m in measured):20.2f} {statistics.median(m[1] for m in measured):16.2f}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
