"""How a run's files are cut into batches (full batches, then the end shared among the workers),
and how batches that come back together are written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flows.ingest_batches import batches_of
from tests.conftest import PROJECT_ROOT, newsflow_env


@pytest.mark.parametrize(
    ("items", "size", "workers", "sizes"),
    [
        (600, 128, 1, [128, 128, 128, 108, 108]),  # the last full batch and the rest, evened out
        (600, 128, 2, [128, 128, 128, 108, 108]),
        (512, 128, 2, [128, 128, 128, 64, 64]),  # the last batch alone would keep one worker busy
        (512, 128, 4, [128, 128, 128, 32, 32, 32, 32]),
        (100, 128, 2, [50, 50]),  # a run smaller than a batch still uses both workers
        (3, 128, 4, [1, 1, 1]),
        (0, 128, 2, []),
    ],
)
def test_the_end_of_a_run_is_shared_among_the_workers(items, size, workers, sizes):
    batches = list(batches_of(iter(range(items)), size, last_parts=workers))
    assert [len(batch) for batch in batches] == sizes
    assert [item for batch in batches for item in batch] == list(range(items)), "every item once, in order"


RETRIED_WRITE = """
import json, sys
from pathlib import Path

import duckdb

from flows.ingest_stages import detect_languages, extract_articles, load_files, sign_texts
from flows.ingest_warehouse import BatchWrite, write_batches
from tests.conftest import SEEDS_DIR

seeds = sorted(SEEDS_DIR.glob("*.txt"))
first, second = (sign_texts(detect_languages(extract_articles(load_files(part, SEEDS_DIR, 10**7, [], {})))) for part in (seeds[:3], seeds[3:]))


class FailsOnce:
    \"\"\"The second batch's new translations: reading them fails the first time (a passing fault).\"\"\"

    failed = False

    def new_pairs(self):
        if not self.failed:
            self.failed = True
            raise OSError("a passing fault")
        return {}


writes = [BatchWrite(first, None, []), BatchWrite(second, FailsOnce(), [])]
write_batches.with_options(retry_delay_seconds=0)(writes, Path(sys.argv[1]), "run")
with duckdb.connect(sys.argv[1], read_only=True) as db:
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
print(json.dumps({"inserted": [write.counts.inserted for write in writes], "unchanged": [write.counts.unchanged for write in writes], "articles": articles}))
"""


def test_batches_written_together_are_each_stored_once_when_the_write_is_retried(prefect_server, tmp_path):
    """Batches that come back from the workers together are written in one open of the warehouse;
    a passing fault after the first is stored retries the write, which stores the second only."""
    env = newsflow_env(prefect_server.api_url, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", RETRIED_WRITE, str(tmp_path / "news.duckdb")], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"inserted": [3, 2], "unchanged": [0, 0], "articles": 5}
