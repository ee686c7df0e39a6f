"""Which precision pass runs when: 46022a9's fast path, this rule, and the full pass always.

    python -m bench.extraction_passes_bench [--rounds 3]

Per page subset and half (workbench/extraction_eval.py): mean HTML token F1 and pages/s (sum of
each page's median time over the rounds) for each variant, and trafilatura alone. The variants
run page by page in turn, so the machine's load falls on all alike. Last, every page whose F1
differs from the fast path's.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pipeline.extract.html as extractor
from workbench.evaluation import DEVDATA_PATH, token_f1
from workbench.extraction_eval import HALVES, SUBSETS, read_labelled_pages, trafilatura_alone, trafilatura_seconds


def _always_full(page, url, **options):
    options.pop("fast", None)
    return _TEXT(page, url, **options)


_TEXT = extractor._trafilatura_text
VARIANTS = {
    "46022a9 fast path": (0.0, _TEXT),  # the full pass never runs
    "this rule": (extractor.FULL_PASS_SHARE, _TEXT),
    "full pass always": (0.0, _always_full),  # before 46022a9
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pages = read_labelled_pages(DEVDATA_PATH / "extraction")
    f1 = {name: {} for name in VARIANTS}
    seconds = {name: {} for name in VARIANTS}
    share = extractor.FULL_PASS_SHARE
    try:
        for _ in range(args.rounds):
            for page in pages:
                for name, (variant_share, text_pass) in VARIANTS.items():
                    extractor.FULL_PASS_SHARE, extractor._trafilatura_text = variant_share, text_pass
                    started = time.perf_counter()
                    article = extractor.extract_html(page.html)
                    seconds[name].setdefault(page.name, []).append(time.perf_counter() - started)
                    f1[name][page.name] = token_f1(article.text, page.expected)
    finally:
        extractor.FULL_PASS_SHARE, extractor._trafilatura_text = share, _TEXT
    f1["trafilatura alone"] = {p.name: token_f1(trafilatura_alone(p.html).text, p.expected) for p in pages}
    seconds["trafilatura alone"] = {p.name: [trafilatura_seconds(p.html)] for p in pages}
    print(f"{'variant':18s}" + "".join(f"{subset + ' ' + half:>30s}" for subset in SUBSETS for half in HALVES) + "   all pages/s")
    for name in f1:
        cells = []
        for subset in SUBSETS:
            for half in HALVES:
                names = [p.name for p in pages if p.subset == subset and p.half == half]
                speed = len(names) / sum(statistics.median(seconds[name][n]) for n in names)
                cells.append(f"F1 {sum(f1[name][n] for n in names) / len(names):.3f} {speed:5.1f} p/s (n={len(names)})")
        overall = len(pages) / sum(statistics.median(seconds[name][p.name]) for p in pages)
        print(f"{name:18s}" + "".join(f"{cell:>30s}" for cell in cells) + f"   {overall:.1f}")
    fast = f1["46022a9 fast path"]
    for name in ("this rule", "full pass always"):
        moved = sorted((f1[name][n] - fast[n], n) for n in fast if abs(f1[name][n] - fast[n]) > 1e-9)
        print(f"{name} against the fast path:", ", ".join(f"{n} {fast[n]:.3f} -> {f1[name][n]:.3f}" for _, n in moved) or "identical")


if __name__ == "__main__":
    main()
