"""A/B of code trees on the scale benchmark's corpus: is a change faster, and by how much?

    git worktree add /tmp/before HEAD~1 && git worktree add /tmp/after HEAD
    python -m bench.ab_bench --rounds 5 before=/tmp/before,workers=2 after=/tmp/after,workers=2 after-1=/tmp/after,workers=1

Each variant is NAME=TREE[,workers=N][,ENV_NAME=VALUE...]: `newsflow ingest` run from that code tree
(its own Python files, this environment's packages), with that worker count and those extra
environment variables. The variants run one after another in each round (every other round in
reverse order), and the rounds repeat, so the machine's slow spells fall on every variant alike;
medians are reported. Each run is the real command line on a fresh warehouse, as
`bench.scale_bench` runs it, on one shared Prefect server: wall seconds from process start to
exit, CPU seconds of the flow process, of the worker processes and of the Prefect server, and the
run's own time-by-stage line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import psutil

from bench.corpus import build_corpus
from bench.processes import cpu_seconds
from bench.record import header
from bench.scale_bench import content_difference, differs, isolated_environment, newsflow, run_ingest, trafilatura_ceiling


def parse_variant(text: str) -> tuple[str, Path, int | None, dict[str, str]]:
    name, _, rest = text.partition("=")
    tree, *options = rest.split(",")
    settings = dict(option.split("=", 1) for option in options)
    workers = settings.pop("workers", None)
    if not name or not any(Path(tree, "flows", cli).exists() for cli in ("cli.py", "cli")):  # a module before issue 23, a package since
        raise SystemExit(f"{text!r}: expected NAME=TREE[,workers=N][,ENV=VALUE...], TREE a newsflow checkout")
    return name, Path(tree), int(workers) if workers else None, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help="NAME=TREE[,workers=N][,ENV=VALUE...]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=2000, help="documents (default 2000, the scale benchmark's corpus)")
    parser.add_argument("--html-only", action="store_true", help="only the HTML pages among those documents (2300: 591 pages)")
    parser.add_argument("--ceiling", type=int, metavar="PROCESSES",
                        help="each round also times trafilatura.extract alone over the same HTML pages in PROCESSES processes "
                             "(bench.scale_bench's ceiling), and each variant's HTML pages/s is given as a share of it")
    parser.add_argument("--json", type=Path, help="also write the medians and every round here")
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variants]
    # command, commit, date, machine and load at the start, as bench.record writes them
    recorded = dict(line.split(": ", 1) for line in header(["python", "-m", "bench.ab_bench", *sys.argv[1:]]).splitlines())

    from flows.server import start_local_server
    from workbench.translate.build_package import build_tiny_package

    work = Path(tempfile.mkdtemp(prefix="newsflow-ab-"))
    server = start_local_server(work / "prefect-server", ui=False)
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name, *_ in variants}
    ceiling: list[float] = []
    try:
        env = isolated_environment(work, server.api_url)
        newsflow(env, "models", "install", "id", "--file", str(build_tiny_package(work / "model")))
        corpus = work / "corpus"
        build_corpus(corpus, args.count)
        if args.html_only:
            for other in [path for path in corpus.iterdir() if path.suffix != ".html"]:
                other.unlink()
        for round_number in range(args.rounds):
            # every other round in the other order, so that no variant always runs first or after the same one
            for name, tree, workers, settings in variants[:: -1 if round_number % 2 else 1]:
                for stale in work.glob(f"ab-{name}.duckdb*"):  # the file, its run lock, and DuckDB's spill folder
                    shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
                server_before = cpu_seconds(psutil.Process(server.process.pid), with_descendants=True)
                run = run_ingest({**env, **settings}, name, corpus, work / f"ab-{name}.duckdb", work / f"{name}-{round_number}.log", workers=workers, cwd=tree)
                server_cpu = cpu_seconds(psutil.Process(server.process.pid), with_descendants=True) - server_before
                results[name].append((run.seconds, run.flow_cpu_seconds, run.worker_cpu_seconds, server_cpu))
                print(f"round {round_number} {name}: {run.summary_line}", flush=True)
            if args.ceiling:
                pages = sorted(path for path in corpus.iterdir() if path.suffix == ".html")
                ceiling.append(trafilatura_ceiling(pages, args.ceiling)[0])
                print(f"round {round_number} trafilatura.extract alone, {args.ceiling} processes: {len(pages)} pages in {ceiling[-1]:.1f} s", flush=True)
        # Each variant's last warehouse against the first's: the same articles and rejections?
        contents = {name: content_difference(work / f"ab-{variants[0][0]}.duckdb", work / f"ab-{name}.duckdb") for name, *_ in variants[1:]}
    finally:
        server.stop()

    first = variants[0][0]
    baseline = statistics.median(seconds for seconds, *_ in results[first])
    documents = "HTML pages of " if args.html_only else ""
    print(f"\nmedians of {args.rounds} interleaved rounds, {documents}{args.count} documents")
    print(f"{'variant':<16} {'wall s':>8} {'flow CPU':>9} {'worker CPU':>11} {'server CPU':>11} {'vs ' + first:>12}   rounds (wall s)")
    for name, *_ in variants:
        walls, flows, workers, servers = zip(*results[name])
        wall = statistics.median(walls)
        print(
            f"{name:<16} {wall:8.1f} {statistics.median(flows):9.1f} {statistics.median(workers):11.1f} "
            f"{statistics.median(servers):11.1f} {baseline / wall:11.2f}x   {' / '.join(f'{w:.1f}' for w in walls)}"
        )
    for name, difference in contents.items():
        verdict = "DIFFERENT content" if differs(difference) else "identical content"
        print(f"{name} against {first}: {verdict} ({difference['articles']} articles, {difference['rejections']} rejections; {difference})")
    shares = {}
    if ceiling:
        # Both sides over the same HTML pages: the ratio of their times is the ratio of their pages/s.
        print(f"trafilatura.extract alone in {args.ceiling} processes: median {statistics.median(ceiling):.1f} s "
              f"({' / '.join(f'{c:.1f}' for c in ceiling)}; its pool start not timed, newsflow's whole command is)")
        for name, *_ in variants:
            shares[name] = statistics.median(ceiling) / statistics.median(seconds for seconds, *_ in results[name])
            print(f"{name}: HTML pages/s {shares[name]:.2f}x of trafilatura.extract alone")
    if args.json:
        args.json.write_text(json.dumps({
            **recorded, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rounds": args.rounds, "count": args.count, "html_only": args.html_only,
            "seconds": {name: [r[0] for r in runs] for name, runs in results.items()},
            "median_seconds": {name: statistics.median(r[0] for r in runs) for name, runs in results.items()},
            "trafilatura_alone_processes": args.ceiling, "trafilatura_alone_seconds": ceiling, "share_of_trafilatura_alone": shares,
            "content": {name: {"identical": not differs(d), **d} for name, d in contents.items()},
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
