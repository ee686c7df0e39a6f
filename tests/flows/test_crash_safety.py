"""Crash safety: `newsflow ingest` and `newsflow translate --pending` SIGKILLed at random points.

After every kill the warehouse opens, and a re-run leaves every document there exactly once,
with no half-written row and no orphan paragraph, and no run left marked `running`.
"""

from __future__ import annotations

import random
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import httpx
import pytest

from workbench.translate.build_package import build_tiny_package
from tests.conftest import NEWSFLOW, PROJECT_ROOT, SEEDS_DIR, newsflow
from tests.flows.processes import wait_for

pytestmark = pytest.mark.server

DOCUMENTS = 80


def kill_while_translating(args: list[str], env: dict[str, str]) -> bool:
    """Start newsflow, SIGKILL it once Prefect reports that its translate task started (the event,
    not a fixed time; 240 s: a safety net); True when it was still running then."""
    since = datetime.now(timezone.utc).isoformat()
    process = subprocess.Popen(NEWSFLOW + args, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    query = {"task_runs": {"name": {"like_": "translate-"}, "start_time": {"after_": since}}}
    try:
        with httpx.Client(base_url=env["PREFECT_API_URL"], timeout=30) as api:
            wait_for(lambda: process.poll() is not None or api.post("/task_runs/filter", json=query).json(), 240)
        killed = process.poll() is None
        process.kill()
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    return killed


def kill_when(args: list[str], env: dict[str, str], warehouse: Path, revision: int, written: int) -> tuple[int, bool]:
    """Start newsflow ingest and SIGKILL it once `written` documents of `revision` are stored;
    returns how many were stored when it died, and whether the kill found it still running."""
    process = subprocess.Popen(NEWSFLOW + args, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline:
            if stored_revision(warehouse, revision) >= written:
                break
            time.sleep(0.02)
        killed = process.poll() is None
        process.kill()
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    return stored_revision(warehouse, revision), killed


def stored_revision(warehouse: Path, revision: int) -> int:
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(
                "select count(*) from articles where text like ? or text like ?", [f"%revision {revision})%", f"%revisi {revision})%"]
            ).fetchone()[0]
    except (duckdb.Error, OSError):  # not created yet, or the run holds the file right now
        return 0


def write_corpus(folder: Path, revision: int) -> None:
    english = (SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8")
    indonesian = (SEEDS_DIR / "004_2d2b0ea8dc19c5b8.txt").read_text(encoding="utf-8")
    for index in range(DOCUMENTS):
        if index % 4 == 0:  # the marker goes into an article paragraph, where the cleaner keeps it
            text = indonesian.replace("Pemimpin Kim Jong Un", f"Pemimpin Kim Jong Un (berkas {index}, revisi {revision})", 1)
        else:
            text = english.replace("tale of unlikely friends", f"tale of unlikely friends (file {index}, revision {revision})", 1)
        (folder / f"doc_{index:03d}.txt").write_text(text, encoding="utf-8")


def check_consistent(warehouse: Path, revision: int) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*), count(distinct source_path), count(distinct article_id) from articles").fetchone() == (DOCUMENTS,) * 3
        marker_rows = con.execute(
            "select count(*) from articles where text like ? or text like ?", [f"%revision {revision})%", f"%revisi {revision})%"]
        ).fetchone()[0]
        assert marker_rows == DOCUMENTS, "every document holds its latest content"
        assert con.execute("select count(*) from paragraphs p anti join articles a using (article_id)").fetchone() == (0,)
        mismatched = con.execute(
            """
            select count(*) from articles a
            where (select count(*) from paragraphs p where p.article_id = a.article_id) != len(string_split(a.text, chr(10) || chr(10)))
            """
        ).fetchone()[0]
        assert mismatched == 0, "each article's paragraphs are those of its own text"
        assert con.execute("select count(*) from ingest_runs where status = 'running'").fetchone() == (0,)
        assert con.execute("select count(*) from rejected_files").fetchone() == (0,)


def test_ingest_killed_at_random_points_loses_and_duplicates_nothing(prefect_env, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    warehouse = tmp_path / "crash.duckdb"
    rng = random.Random(20261128)
    stored_at_kill = []
    # Many small batches (the kill lands between many commits) and two large ones (inside a batch
    # that holds half the corpus): a third round in batches of 12 was the first case again.
    for trial, batch_size in enumerate([3, 40]):
        args = ["ingest", str(drop), "--warehouse", str(warehouse), "--batch-size", str(batch_size)]
        # The test sees what is stored only between the run's writes, and batches stream, so a run
        # of few batches can finish before the test sees its mark: then it tries a new revision.
        for attempt in range(4):
            revision = trial + 10 * attempt
            write_corpus(drop, revision=revision)
            stored, killed = kill_when(args, prefect_env, warehouse, revision, written=rng.randint(1, DOCUMENTS - batch_size - 1))
            rerun = newsflow(args, prefect_env)
            check_consistent(warehouse, revision=revision)
            if killed and 0 < stored < DOCUMENTS:  # killed mid-run, not after its last write
                break
        stored_at_kill.append(stored)
        summary = " ".join(rerun.stdout.split())  # the console may wrap the note anywhere
        assert "did not finish" in summary and "interrupted" in summary, (stored, killed, rerun.stdout)
    assert all(0 < stored < DOCUMENTS for stored in stored_at_kill), stored_at_kill


def test_translate_pending_killed_midway_then_resumed_translates_each_article_once(prefect_env, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    warehouse = tmp_path / "pending.duckdb"
    write_corpus(drop, revision=0)
    newsflow(["ingest", str(drop), "--warehouse", str(warehouse)], prefect_env)
    newsflow(["models", "install", "--file", str(build_tiny_package(tmp_path / "pkg"))], prefect_env)

    args = ["translate", "--pending", "--warehouse", str(warehouse)]
    assert kill_while_translating(args, prefect_env), "the kill must land while translating"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        half = con.execute("select count(*) from articles where translation_status = 'translated'").fetchone()[0]
    newsflow(args, prefect_env)

    check_consistent(warehouse, revision=0)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        statuses = dict(con.execute("select translation_status, count(*) from articles group by 1").fetchall())
        assert statuses == {"translated": DOCUMENTS // 4, "not_needed": DOCUMENTS - DOCUMENTS // 4}
        assert con.execute("select count(*) from articles where translation_status = 'translated' and (text_en is null or translation_model is null)").fetchone() == (0,)
    assert half < DOCUMENTS // 4 or half == DOCUMENTS // 4  # however far the killed run got, the re-run completed it
