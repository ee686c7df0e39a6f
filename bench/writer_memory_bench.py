"""How much writer memory (NEWSFLOW_WAREHOUSE_MEMORY_LIMIT) storing one long article needs.

    python -m bench.writer_memory_bench [--sizes 1,4,10,20] [--output bench/results/writer_memory.json]

For each size S (MB of a text of short lines, as the extract stage makes it: paragraphs of 100
characters and more, English, so its text is stored twice: text and text_en), the smallest limit
at which a fresh warehouse stores the article and then replaces it with a changed version (the
next run after the file changed), found by bisection, each try in a fresh process. The linear fit
of those limits is what `pipeline.warehouse.storable.oversized_reason` checks against (WRITER_BASE_BYTES,
WRITER_BYTES_PER_TEXT_BYTE).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.corpus import PROJECT_ROOT
from bench.large_file_bench import machine_and_commit

MB = 10**6

TRY = """
import os, sys
from datetime import datetime
from pathlib import Path
from bench.large_file_bench import short_lines_text
from pipeline.extract import clean_text_dump
from pipeline.record import Document
import pipeline.warehouse as warehouse
import pipeline.warehouse.storable as storable
storable.WRITER_BASE_BYTES = 0  # measure what DuckDB needs, not what the check allows
storable.WRITER_BYTES_PER_TEXT_BYTE = 0
megabytes, path = float(sys.argv[1]), Path(sys.argv[2])
text = clean_text_dump(short_lines_text(int(megabytes * 1024 * 1024))).text
first = Document(source_path="long.txt", content_sha256="v1", text=text, title="Short lines", language="en")
changed = first.replace(content_sha256="v2", text=text + "\\n\\nOne more line.")
for doc in (first, changed):
    with warehouse.Warehouse.open(path, threads=1) as store:
        store.write_batch([doc], run_id=doc.content_sha256, ingested_at=datetime.now())
print(len(text.encode()) * 2)
"""


def fits(megabytes: float, limit_mb: int, work: Path) -> tuple[bool, int | None]:
    path = work / f"try-{megabytes:g}-{limit_mb}.duckdb"
    env = {**os.environ, "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT": f"{limit_mb}MB"}
    result = subprocess.run([sys.executable, "-c", TRY, str(megabytes), str(path)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    for leftover in work.glob(path.name + "*"):
        leftover.unlink()
    if result.returncode == 0:
        return True, int(result.stdout.split()[-1])
    if "out of the memory" not in result.stderr and "Out of Memory" not in result.stderr:
        raise SystemExit(f"the try failed otherwise:\n{result.stderr}")
    return False, None


def smallest_limit(megabytes: float, work: Path, low: int = 4, high: int = 1024, step: int = 2) -> tuple[int, int]:
    """(the smallest limit in MB, within `step`, at which the article is stored and replaced; its stored bytes)."""
    stored = None
    while high - low > step:
        middle = (low + high) // 2
        ok, size = fits(megabytes, middle, work)
        if ok:
            high, stored = middle, size
        else:
            low = middle
    if stored is None:
        _, stored = fits(megabytes, high, work)
    return high, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4,10,20", help="MB of text, comma-separated")
    parser.add_argument("--output", help="write the figures as JSON here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="newsflow-writer-memory-") as work:
        for megabytes in (float(size) for size in args.sizes.split(",")):
            limit_mb, stored = smallest_limit(megabytes, Path(work))
            rows.append({"text_mb": megabytes, "stored_mb": round(stored / MB, 2), "smallest_limit_mb": limit_mb})
            print(f"{megabytes:>5g} MB of text ({stored / MB:6.1f} MB stored with text_en): stored and replaced from a limit of {limit_mb} MB")
    # least squares: limit = base + slope * stored
    xs, ys = [row["stored_mb"] for row in rows], [row["smallest_limit_mb"] for row in rows]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    fit = {"base_mb": round(mean_y - slope * mean_x, 1), "mb_per_stored_mb": round(slope, 2)}
    print(f"fit: limit = {fit['base_mb']} MB + {fit['mb_per_stored_mb']} x stored")
    if args.output:
        Path(args.output).write_text(json.dumps({**machine_and_commit(), "rows": rows, "fit": fit}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
