"""How a run's files are cut into batches (full ones, then smaller toward the end, so the workers finish together),
and how batches that come back together are written."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import duckdb
import pytest

from flows.ingest_batches import BATCHES_PER_WORKER, batches_of, guided_batch_size
from bench.corpus import build_corpus
from tests.conftest import PROJECT_ROOT, newsflow, newsflow_env


@pytest.mark.parametrize(
    ("items", "size", "workers", "sizes"),
    [
        # the run: 588 pages on 2 workers were 5 batches of 128 and 102, split 3:2
        (588, 128, 2, [128, 115, 87, 65, 49, 36, 27, 21, 16, 16, 16, 12]),
        (600, 128, 1, [128, 128, 128, 128, 88]),  # one worker waits on no other: full batches
        (600, 128, 0, [128, 128, 128, 128, 88]),  # in-process
        (2000, 128, 2, [128] * 12 + [116, 87, 66, 49, 37, 28, 21, 16, 16, 16, 12]),
        (512, 128, 4, [64, 56, 49, 43, 38, 33, 29, 25, 22, 20, 17] + [16] * 7 + [4]),
        (100, 128, 2, [25, 19, 16, 16, 16, 8]),  # a run smaller than a batch still uses both workers
        (80, 32, 2, [20, 16, 16, 16, 12]),
        (40, 8, 2, [8, 8, 8, 8, 8]),  # a batch size below the smallest: never larger than asked
        (3, 128, 4, [3]),
        (0, 128, 2, []),
    ],
)
def test_batches_shrink_toward_the_end_of_a_run(items, size, workers, sizes):
    batches = list(batches_of(iter(range(items)), size, workers=workers))
    assert [len(batch) for batch in batches] == sizes
    assert [item for batch in batches for item in batch] == list(range(items)), "every item once, in order"


def test_batch_sizes_follow_from_what_is_left_and_the_workers():
    assert guided_batch_size(588, 2, 128) == 128  # a quarter of it is more than a full batch
    assert guided_batch_size(460, 2, 128) == 115
    assert guided_batch_size(460, 4, 128) == 58  # more workers: smaller shares
    assert guided_batch_size(40, 2, 128) == 16  # never below the smallest...
    assert guided_batch_size(9, 2, 128) == 9  # ...unless that is all that is left
    assert guided_batch_size(460, 1, 128) == 128


def test_batches_read_only_as_far_ahead_as_the_sizes_need():
    """A run lists its files as it goes: the first batch is cut before the whole list is read."""
    read = []

    def listed(count):
        for item in range(count):
            read.append(item)
            yield item

    first = next(batches_of(listed(100_000), 128, workers=2))
    assert len(first) == 128
    assert len(read) == 128 * BATCHES_PER_WORKER * 2 + 1


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


def test_a_run_on_two_workers_ends_in_small_batches_on_both(prefect_server, tmp_path):
    """80 documents, `--workers 2 --batch-size 32`: the run is cut as `batches_of` says (20, 16,
    16, 16, 12: five batches, not the three of 32, 24 and 24 it was), and both workers take them."""
    drop = tmp_path / "drop"
    build_corpus(drop, 80)
    env = newsflow_env(prefect_server.api_url, tmp_path)
    env.pop("NEWSFLOW_WORKERS")
    result = newsflow(["ingest", str(drop), "--warehouse", str(tmp_path / "news.duckdb"), "--workers", "2", "--batch-size", "32"], env)
    by_worker = {int(pid): int(n) for pid, n in re.findall(r":(\d+) (\d+) batches", result.stdout)}
    # no translation model is installed: each batch is one task, on one worker
    assert sum(by_worker.values()) == len(list(batches_of(range(80), 32, workers=2))) == 5, result.stdout
    assert len(by_worker) == 2, result.stdout
    with duckdb.connect(str(tmp_path / "news.duckdb"), read_only=True) as db:
        stored = db.execute("SELECT (SELECT count(*) FROM articles) + (SELECT count(*) FROM rejected_files)").fetchone()[0]
    assert stored == 80
