"""CPU a page of newsflow's worker stages against `trafilatura.extract` alone, in one process, on
the benchmark corpus's HTML pages (2300 documents: 591 pages), interleaved round by round.

    python -m bench.html_stage_costs [--count 2300] [--rounds 2]

Process time, so another process's load changes it little; the stages' own split (sources,
extract, language, duplicate signatures) is their wall time and is only a guide on a busy machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import trafilatura

from bench.corpus import build_corpus
from flows.ingest_stages import detect_languages, extract_articles, load_files, sign_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsflow-html-stages-") as work:
        corpus = Path(work) / "corpus"
        build_corpus(corpus, args.count)
        pages = sorted(path for path in corpus.iterdir() if path.suffix == ".html")
        raws = [page.read_text(encoding="utf-8", errors="replace") for page in pages]

        def stages():
            batch = load_files(pages, corpus, 10**9, [corpus], {})
            return sign_texts(detect_languages(extract_articles(batch)))

        stages()  # models loaded, caches warm: not timed
        for _ in range(args.rounds):
            started = time.process_time()
            for raw in raws:
                trafilatura.extract(raw, include_comments=False, include_tables=True)
            alone = time.process_time() - started
            started = time.process_time()
            batch = stages()
            ours = time.process_time() - started
            n = len(pages)
            print(f"{n} pages: trafilatura.extract alone {1000 * alone / n:.1f} ms/page; newsflow's stages "
                  f"{1000 * ours / n:.1f} ms/page ({ours / alone:.2f}x); their wall ms/page: "
                  + ", ".join(f"{stage} {1000 * seconds / n:.1f}" for stage, seconds in batch.stage_seconds.items()), flush=True)


if __name__ == "__main__":
    main()
