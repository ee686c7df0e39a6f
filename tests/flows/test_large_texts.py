"""One huge or repetitive text file must not take the machine or poison the warehouse (issue 22,
items 2 and 3): its run ends with it stored or rejected with a reason, and the next runs into the
same warehouse work and find what they stored.

The writer's memory limit is scaled down with the text, so that the tests run in seconds; the
texts at full size (20 and 50 MB) are in `python -m bench.large_file_bench --hostile`.
"""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from bench.large_file_bench import low_vocabulary_text, short_lines_text
from tests.conftest import SEEDS_DIR, newsflow

pytestmark = pytest.mark.server

MB = 1024 * 1024
SMALL_STORY = SEEDS_DIR / "002_c6f1a40e5c75d036.txt"


def _inputs_accounted_for(warehouse) -> dict[str, str]:
    """source path (its file name) -> "article" or the rejection reason."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = {path.rsplit("/", 1)[-1]: "article" for (path,) in con.execute("select source_path from article_sources").fetchall()}
        rejected = {path.rsplit("/", 1)[-1]: reason for path, reason in con.execute("select path, reason from rejected_files").fetchall()}
    return {**rejected, **stored}


def _big_and_small(tmp_path, name: str, text: str):
    """Two folders: `big` holding `name` (the text), `small` a short story."""
    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    small.mkdir()
    (big / name).write_text(text, encoding="utf-8")
    (small / "story.txt").write_text(SMALL_STORY.read_text(encoding="utf-8"), encoding="utf-8")
    return big, small


def test_a_long_text_is_stored_replaced_when_it_changes_and_the_next_run_works(prefect_env, tmp_path):
    """7 MB of short lines under a 48 MB writer limit (as 20 MB under the default 128 MB): stored,
    stored again once the file changed (DuckDB's UPDATE of it ran out of memory, and so did every
    run after), and a small file after it is stored and found."""
    env = {**prefect_env, "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT": "48MB"}
    warehouse = tmp_path / "news.duckdb"
    big, small = _big_and_small(tmp_path, "short-lines.txt", short_lines_text(7 * MB))

    first = newsflow(["ingest", str(big), "--warehouse", str(warehouse)], env, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _inputs_accounted_for(warehouse) == {"short-lines.txt": "article"}
    with (big / "short-lines.txt").open("a", encoding="utf-8") as text:  # the file changes: its article is replaced
        text.write("Zanzibar trade talks\n")
    changed = newsflow(["ingest", str(big), "--warehouse", str(warehouse)], env, check=False)
    assert changed.returncode == 0, changed.stdout + changed.stderr

    newsflow(["ingest", str(small), "--warehouse", str(warehouse)], env)
    found = newsflow(["search", "Pyongyang", "--warehouse", str(warehouse), "--format", "json"], env)
    assert "story.txt" in found.stdout
    assert "note:" not in found.stderr, found.stderr  # the index is current: nothing is left for a later run
    changed_sha256 = hashlib.sha256((big / "short-lines.txt").read_bytes()).hexdigest()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*), count(*) filter (where content_sha256 = ?) from articles", [changed_sha256]).fetchone() == (2, 1)


def test_a_repetitive_text_ends_its_run_with_a_reason_and_the_next_run_works(prefect_env, tmp_path):
    """6 MB of a 20-word vocabulary under a 32 MB writer limit (as 25 MB under 128 MB): indexing it
    for search ran the writer out of memory at the end of its run and of every run after."""
    env = {**prefect_env, "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT": "32MB"}
    warehouse = tmp_path / "news.duckdb"
    big, small = _big_and_small(tmp_path, "twenty-words.txt", low_vocabulary_text(6 * MB))

    first = newsflow(["ingest", str(big), "--warehouse", str(warehouse)], env, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _inputs_accounted_for(warehouse) == {"twenty-words.txt": "too_large_for_warehouse"}

    newsflow(["ingest", str(small), "--warehouse", str(warehouse)], env)
    found = newsflow(["search", "Pyongyang", "--warehouse", str(warehouse), "--format", "json"], env)
    assert "story.txt" in found.stdout and "note:" not in found.stderr, found.stdout + found.stderr


def test_a_text_longer_than_the_writer_may_hold_is_rejected_with_what_to_do_and_the_rest_is_stored(prefect_env, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    # 3 MB: past what a 16 MB writer may hold (13 MB + 1.8 x the text), well within the default.
    (drop / "short-lines.txt").write_text(short_lines_text(3 * MB), encoding="utf-8")
    (drop / "story.txt").write_text(SMALL_STORY.read_text(encoding="utf-8"), encoding="utf-8")
    warehouse = tmp_path / "news.duckdb"
    command = ["ingest", str(drop), "--warehouse", str(warehouse)]

    starved = newsflow(command, {**prefect_env, "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT": "16MB"}, check=False)

    assert starved.returncode == 0, starved.stdout + starved.stderr
    assert _inputs_accounted_for(warehouse) == {"short-lines.txt": "too_large_for_warehouse", "story.txt": "article"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (detail,) = con.execute("select detail from rejected_files where reason = 'too_large_for_warehouse'").fetchone()
    assert "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT=16MB" in detail and "set NEWSFLOW_WAREHOUSE_MEMORY_LIMIT" in detail, detail
    assert "too_large_for_warehouse" in starved.stdout  # the summary lists the rejection

    newsflow(command, prefect_env)  # the default limit: the same file now fits
    assert _inputs_accounted_for(warehouse) == {"short-lines.txt": "article", "story.txt": "article"}
