"""Author and title of the development pages flattened to text dumps, hit by hit, per half.

    python -m workbench.dump_metadata_check [--misses]

Every page (the 23 newspaper4k pages and the 56 Readability pages) is flattened with the project's
flattener (`html_to_text_dump`) and cleaned by `clean_text_dump`; its author and title are scored
with the quality gate's own matchers (`extraction_eval._field_hits`: Readability's `byline` and
`title`, the newspaper4k pages' hand-checked labels), per half of the sites (`half_of`). The
gate already guards the check half's totals (`author.dump`, `title.dump`); this prints them by
subset, and with `--misses` what was found on each tune-half page missed (never the check half's,
which nothing is chosen on). About 3 seconds.
"""

from __future__ import annotations

import argparse

from pipeline.extract import clean_text_dump
from workbench.evaluation import default_devdata, read_labels
from workbench.extraction_eval import HALVES, SUBSETS, _field_hits, read_labelled_pages, score_pages, text_dump


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the tune half's missed pages")
    args = parser.parse_args(argv)
    pages = read_labelled_pages(default_devdata() / "extraction")
    scored = score_pages(pages, "dump", lambda page: clean_text_dump(text_dump(page.html)))
    labels = read_labels()
    for field_name in ("author", "title"):
        for half in HALVES:
            for subset in SUBSETS:
                items = [s for s in scored if s.page.half == half and s.page.subset == subset]
                hits, total, missed = _field_hits(items, labels, field_name)
                print(f"{field_name:6} {half:5} {subset:11} {hits}/{total}")
                if args.misses and half == "tune":
                    for item in items:
                        if item.page.name in missed:
                            print(f"    missed {item.page.name}: {getattr(item.article, field_name)!r}")


if __name__ == "__main__":
    main()
