"""The ceiling for HTML pages: `trafilatura.extract` alone over the benchmark corpus's HTML pages, in
as many processes as newsflow's workers (bench.scale_bench's part 3 without the rest of it).

    python -m bench.html_ceiling_bench [--count 2300] [--processes 2] [--rounds 3]

Compare with `python -m bench.ab_bench --count 2300 --html-only ...`, which runs `newsflow ingest`
over the same pages (its wall time includes start-up; this map's does not).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.corpus import build_corpus
from bench.scale_bench import trafilatura_ceiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2300, help="corpus documents to take the HTML pages of (2300: 591 pages)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsflow-html-ceiling-") as work:
        build_corpus(Path(work) / "corpus", args.count)
        pages = sorted(path for path in (Path(work) / "corpus").iterdir() if path.suffix == ".html")
        times = [trafilatura_ceiling(pages, args.processes)[0] for _ in range(args.rounds)]
    print(f"{len(pages)} HTML pages, trafilatura.extract alone in {args.processes} processes: "
          f"{' / '.join(f'{t:.1f}' for t in times)} s, median {statistics.median(times):.1f} s")


if __name__ == "__main__":
    main()
