"""One article, one row: a file's article survives renames, copies and mounts (run as a user runs it)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.conftest import SEEDS_DIR, newsflow, newsflow_env

SEED_NAMES = sorted(path.name for path in SEEDS_DIR.iterdir())


def rows(warehouse, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def project(prefect_server, tmp_path):
    """A project home with its own copy of the five seeds, as a fresh clone has them."""
    home = tmp_path / "project"
    shutil.copytree(SEEDS_DIR, home / "seeds")
    warehouse = tmp_path / "news.duckdb"
    env = newsflow_env(
        prefect_server.api_url, tmp_path, NEWSFLOW_HOME=str(home), NEWSFLOW_SEEDS=str(home / "seeds"), NEWSFLOW_WAREHOUSE=str(warehouse)
    )
    newsflow(["ingest", str(home / "seeds")], env)
    return home, warehouse, env


def test_renaming_copying_and_mounting_the_seeds_keeps_five_articles(project, tmp_path, prefect_server):
    home, warehouse, env = project
    assert rows(warehouse, "select count(*) from articles") == [(5,)]
    assert sorted(path for (path,) in rows(warehouse, "select source_path from articles")) == [f"seeds/{name}" for name in SEED_NAMES]

    renamed = home / "seeds" / "renamed-by-an-editor.txt"
    (home / "seeds" / SEED_NAMES[0]).rename(renamed)
    output = newsflow(["ingest", str(home / "seeds")], env).stdout
    assert rows(warehouse, "select count(*) from articles") == [(5,)]
    assert "1 file joined an article already stored under another path" in output
    assert f"gone: seeds/{SEED_NAMES[0]}" in output  # the old name is reported, not silently dropped
    (article_id,) = rows(warehouse, "select article_id from articles where source_path = 'seeds/renamed-by-an-editor.txt'")[0]
    assert rows(warehouse, f"select source_path, present from article_sources where article_id = '{article_id}' order by 1") == [
        (f"seeds/{SEED_NAMES[0]}", False),
        ("seeds/renamed-by-an-editor.txt", True),
    ]

    elsewhere = tmp_path / "a copy" / "seeds"
    shutil.copytree(home / "seeds", elsewhere)
    newsflow(["ingest", str(elsewhere)], env)
    assert rows(warehouse, "select count(*) from articles") == [(5,)]
    copies = rows(warehouse, f"select count(*) from article_sources where source_path like '{elsewhere.as_posix()}/%'")
    assert copies == [(5,)]  # stored with their absolute paths, each joined to its article
    assert rows(warehouse, "select count(distinct article_id) from article_sources") == [(5,)]

    # The same folder mounted somewhere else (the container's /data/seeds): same stored paths, nothing new.
    mounted = tmp_path / "data" / "seeds"
    shutil.copytree(home / "seeds", mounted)
    mount_env = dict(env, NEWSFLOW_SEEDS=str(mounted))
    output = newsflow(["ingest", str(mounted)], mount_env).stdout
    assert rows(warehouse, "select count(*) from articles") == [(5,)]
    assert rows(warehouse, f"select count(*) from article_sources where source_path like '{mounted.as_posix()}%'") == [(0,)]
    assert rows(warehouse, "select inserted, updated from ingest_runs order by started_at desc limit 1") == [(0, 0)]


def test_a_deleted_file_is_marked_and_reported_and_only_prune_removes_its_article(project):
    home, warehouse, env = project
    gone = home / "seeds" / SEED_NAMES[1]
    gone.unlink()
    output = newsflow(["ingest", str(home / "seeds")], env).stdout
    assert "1 file is gone from the scanned folders" in output and f"gone: seeds/{SEED_NAMES[1]}" in output
    assert rows(warehouse, "select count(*) from articles") == [(5,)]  # the article stays
    assert rows(warehouse, f"select present from article_sources where source_path = 'seeds/{SEED_NAMES[1]}'") == [(False,)]

    # A run over other files does not mark anything in the seeds folder.
    newsflow(["ingest", str(home / "seeds" / SEED_NAMES[2])], env)
    assert rows(warehouse, "select count(*) from article_sources where not present") == [(1,)]

    assert "would delete 1 article" in newsflow(["prune", "--dry-run"], env).stdout
    assert rows(warehouse, "select count(*) from articles") == [(5,)]
    assert "deleted 1 article" in newsflow(["prune"], env).stdout
    assert rows(warehouse, "select count(*) from articles") == [(4,)]
    assert rows(warehouse, f"select count(*) from article_sources where source_path = 'seeds/{SEED_NAMES[1]}'") == [(0,)]
    assert rows(warehouse, "select count(*) from paragraphs where article_id not in (select article_id from articles)") == [(0,)]

    # It comes back: read again, a new article with the same content.
    shutil.copy(SEEDS_DIR / SEED_NAMES[1], gone)
    newsflow(["ingest", str(home / "seeds")], env)
    assert rows(warehouse, "select count(*) from articles") == [(5,)]


def test_a_deleted_copy_gives_the_article_back_its_surviving_file(project):
    """Issue 22, item 13: a copy of seed 001 with only its headline changed joins 001's article and
    becomes its face; once the copy is deleted, ingested and pruned, the article is 001 again, in
    every column, in its paragraphs, its signature and in search."""
    import hashlib
    import json

    home, warehouse, env = project
    original = home / "seeds" / SEED_NAMES[1]
    headline = "Jakarta gambles on embracing North Korea"
    copied_headline = "Quokka headline written over a copied page"
    body = original.read_text(encoding="utf-8")
    assert body.count(headline) >= 2
    copy = home / "seeds" / "zz-copy-of-001.txt"
    copy.write_text(body.replace(headline, copied_headline), encoding="utf-8")
    face_columns = "source_path, title, title_en, content_sha256, text, text_en, language, translation_status"
    (before,) = rows(warehouse, f"select article_id, {face_columns} from articles where source_path = 'seeds/{SEED_NAMES[1]}'")
    article_id = before[0]
    paragraphs_before = rows(warehouse, f"select position, text, language from paragraphs where article_id = '{article_id}' order by 1")

    newsflow(["ingest", str(home / "seeds")], env)
    assert rows(warehouse, "select count(*) from articles") == [(5,)]  # the copy joined 001's article ...
    assert rows(warehouse, f"select source_path, title from articles where article_id = '{article_id}'") == [
        ("seeds/zz-copy-of-001.txt", copied_headline)  # ... and, as the latest place, became its face
    ]

    copy.unlink()
    newsflow(["ingest", str(home / "seeds")], env)
    face_after_ingest = rows(warehouse, f"select article_id, {face_columns} from articles where article_id = '{article_id}'")
    assert face_after_ingest == [before]  # the run that found the copy gone gave 001 its face back
    assert "deleted 0 articles" in newsflow(["prune"], env).stdout

    assert rows(warehouse, f"select article_id, {face_columns} from articles where article_id = '{article_id}'") == [before]
    assert before[4] == hashlib.sha256(original.read_bytes()).hexdigest()
    assert rows(warehouse, f"select source_path, present from article_sources where article_id = '{article_id}'") == [
        (f"seeds/{SEED_NAMES[1]}", True)
    ]
    assert rows(warehouse, f"select position, text, language from paragraphs where article_id = '{article_id}' order by 1") == paragraphs_before
    assert rows(warehouse, "select count(*) from articles where title like '%Quokka%' or text like '%Quokka%'") == [(0,)]
    # the duplicates signature is of 001's text again
    assert rows(
        warehouse,
        f"select s.text_sha256 = sha256(coalesce(nullif(a.text_en, ''), a.text)) from article_signatures s join articles a using (article_id) "
        f"where article_id = '{article_id}'",
    ) == [(True,)]

    hits = json.loads(newsflow(["search", "gambles embracing", "--format", "json"], env).stdout)
    assert [(hit["title"], hit["source_path"]) for hit in hits if hit["article_id"] == article_id] == [(headline, f"seeds/{SEED_NAMES[1]}")]
    assert json.loads(newsflow(["search", "quokka", "--format", "json"], env).stdout) == []
