"""`newsflow prune` says which articles it deletes, or would (run as a user runs it: a subprocess)."""

from __future__ import annotations

import os

import duckdb

from pipeline.warehouse import Warehouse
from tests.conftest import newsflow
from tests.pipeline.warehouse.conftest import T0, english_doc


def test_prune_dry_run_lists_the_articles_it_would_delete_by_title_and_last_place(tmp_path):
    warehouse = tmp_path / "news.duckdb"
    with Warehouse.open(warehouse) as store:
        docs = [english_doc(f"seeds/story-{n:02d}.txt", f"sha-{n}").replace(title=f"Story {n:02d}") for n in range(23)]
        store.write_batch(docs, run_id="r1", ingested_at=T0)
        store.connection.execute("UPDATE article_sources SET present = false WHERE source_path <> 'seeds/story-22.txt'")  # as a run over seeds/ marks them
    env = dict(os.environ, NEWSFLOW_HOME=str(tmp_path / "home"), NEWSFLOW_WAREHOUSE=str(warehouse))

    lines = newsflow(["prune", "--dry-run"], env=env).stdout.splitlines()

    assert lines[0] == "would delete 22 articles with no file left, and 22 places of files that are gone"
    assert lines[1:21] == [f"  Story {n:02d} — last at seeds/story-{n:02d}.txt" for n in range(20)]
    assert lines[21] == "  … and 2 more"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from articles").fetchone() == (23,), "a dry run deletes nothing"
