"""Full-text search: what a reader finds, in which order, with which snippet; the index follows the articles.

Most tests store the five seeds through the real stages (load, extract, language) in a temporary
warehouse; the last ones run the real `newsflow ingest`, `newsflow search` and `newsflow sql`.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

import pipeline.search
from pipeline.extract import extract_document
from pipeline.language import detect_language
from pipeline.record import Document
from pipeline.search import (
    TOKEN_SEPARATORS,
    SearchError,
    first_snippet,
    refresh_search_index,
    search,
    search_index_status,
    searched_columns,
    snippet,
)
from pipeline.sources import load_document
from pipeline.warehouse import Warehouse, WarehouseMemoryError
from pipeline.warehouse.changes import note_changed_articles
from tests.conftest import SEEDS_DIR, copy_of_seeds_warehouse, newsflow_env, newsflow

INDONESIAN_SEED = "seeds/004_2d2b0ea8dc19c5b8.txt"


def seed_documents() -> list[Document]:
    """The five seeds as the ingest stores them (no translation model here: the Indonesian one has no English text)."""
    return [
        detect_language(extract_document(load_document(path, drop_folder=SEEDS_DIR, max_bytes=20_000_000)))
        for path in sorted(SEEDS_DIR.glob("*.txt"))
    ]


def store_documents(path: Path, docs: list[Document]) -> None:
    with Warehouse.open(path) as store:
        store.write_batch(docs, run_id="test", ingested_at=datetime.now(timezone.utc))


@pytest.fixture(scope="module")
def seeds():
    return seed_documents()


@pytest.fixture
def warehouse(tmp_path, seeds):
    """A warehouse holding the five seeds, with its search index built; yields its writable connection."""
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds)
    with Warehouse.open(path) as store:
        refresh_search_index(store.connection)
        yield store.connection


def paths(hits) -> list[str]:
    return [hit.source_path for hit in hits]


def test_pyongyang_finds_all_five_seeds(warehouse):
    hits = search(warehouse, "Pyongyang")
    assert sorted(paths(hits)) == sorted(f"seeds/{p.name}" for p in SEEDS_DIR.glob("*.txt"))
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert all("pyongyang" in hit.snippet.lower() for hit in hits)


def test_indonesian_words_find_the_indonesian_article_by_its_original_text(warehouse):
    (text_en,) = warehouse.execute("SELECT text_en FROM articles WHERE source_path = ?", [INDONESIAN_SEED]).fetchone()
    assert text_en is None, "no translation model here: only the original words can find it"
    hits = search(warehouse, "Korea Utara")
    assert hits[0].source_path == INDONESIAN_SEED
    assert hits[0].language == "id"
    assert "Korea Utara" in hits[0].snippet
    assert paths(search(warehouse, "Korea Utara", all_words=True)) == [INDONESIAN_SEED]
    assert paths(search(warehouse, "bertemu")) == [INDONESIAN_SEED]


def test_english_word_forms_find_each_other(warehouse):
    """Porter stemming: the query "diplomats" finds "diplomatic" and "diplomat"."""
    assert len(search(warehouse, "diplomats")) == len(search(warehouse, "diplomatic")) >= 4


def test_language_since_and_limit_narrow_the_hits(warehouse):
    assert paths(search(warehouse, "Pyongyang", language="id")) == [INDONESIAN_SEED]
    assert search(warehouse, "Pyongyang", language="fr") == []
    dated = search(warehouse, "Pyongyang", since=date(2025, 10, 1))
    assert dated and all(hit.published_at >= datetime(2025, 10, 1) for hit in dated)
    assert len(dated) < 5, "undated seeds are left out of a --since search"
    assert paths(search(warehouse, "Pyongyang", limit=2)) == paths(search(warehouse, "Pyongyang"))[:2]


def test_the_sql_macro_ranks_like_search(warehouse):
    rows = warehouse.execute("SELECT source_path, score FROM search_articles('kim jong un')").fetchall()
    assert [path for path, _ in rows] == paths(search(warehouse, "kim jong un"))
    assert warehouse.execute("SELECT count(*) FROM search_articles('no such word anywhere')").fetchone() == (0,)


def test_refresh_reindexes_only_the_articles_that_changed(tmp_path, seeds):
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds[:4])
    with Warehouse.open(path) as store:
        first = refresh_search_index(store.connection)
        assert (first.rebuilt, first.reindexed, first.articles) == (True, 4, 4)
        assert not refresh_search_index(store.connection).changed
        assert search(store.connection, "Korea Utara", all_words=True) == []
    store_documents(path, seeds[4:])
    with Warehouse.open(path) as store:
        status = search_index_status(store.connection)
        assert status.exists and not status.current and status.articles_indexed == 4
        added = refresh_search_index(store.connection)
        assert (added.rebuilt, added.reindexed, added.removed, added.articles) == (False, 1, 0, 5)
        assert search_index_status(store.connection).current
        assert paths(search(store.connection, "Korea Utara", all_words=True)) == [INDONESIAN_SEED]
        (indonesian,) = store.connection.execute("SELECT article_id FROM articles WHERE source_path = ?", [INDONESIAN_SEED]).fetchone()
        store.connection.execute("UPDATE articles SET text_en = 'North Korea met Russia' WHERE source_path = ?", [INDONESIAN_SEED])
        note_changed_articles(store.connection, [indonesian])  # what the write path notes
        translated = refresh_search_index(store.connection)
        assert (translated.reindexed, translated.removed, translated.articles) == (1, 1, 5), "a new English text is searchable"
        assert INDONESIAN_SEED in paths(search(store.connection, "Russia"))
        store.connection.execute("DELETE FROM articles WHERE source_path = ?", [INDONESIAN_SEED])
        note_changed_articles(store.connection, [indonesian])
        pruned = refresh_search_index(store.connection)
        assert (pruned.reindexed, pruned.removed, pruned.articles) == (0, 1, 4)
        assert search(store.connection, "Korea Utara", all_words=True) == []


@pytest.mark.parametrize("tokenised_at_once", [1000, 1])
def test_updating_the_index_scores_as_a_fresh_build_does(tmp_path, seeds, monkeypatch, tokenised_at_once):
    """The index kept up to date article by article (or tokenised a slice of articles at a time)
    is the one the extension would build from scratch."""
    monkeypatch.setattr(pipeline.search, "TOKENISED_AT_ONCE", tokenised_at_once)
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds[:2])
    with Warehouse.open(path) as store:
        refresh_search_index(store.connection)
    store_documents(path, seeds[2:])
    with Warehouse.open(path) as store:
        (first,) = store.connection.execute("SELECT article_id FROM articles WHERE source_path = ?", [seeds[0].source_path]).fetchone()
        store.connection.execute("DELETE FROM articles WHERE source_path = ?", [seeds[0].source_path])
        note_changed_articles(store.connection, [first])
        refresh_search_index(store.connection)
        queries = ["Pyongyang", "kim jong un", "Korea Utara", "diplomats", "Jakarta Sukarno"]
        updated = {q: [(h.source_path, round(h.score, 9)) for h in search(store.connection, q)] for q in queries}
        assert refresh_search_index(store.connection, rebuild=True).rebuilt
        assert {q: [(h.source_path, round(h.score, 9)) for h in search(store.connection, q)] for q in queries} == updated
        fields = ", ".join(f"'{column}'" for column in searched_columns(store.connection))
        store.connection.execute(f"PRAGMA create_fts_index('articles', 'article_id', {fields}, ignore = '{TOKEN_SEPARATORS}')")
        extension_scores = dict(
            store.connection.execute(
                "SELECT source_path, round(fts_main_articles.match_bm25(article_id, 'kim jong un'), 9) AS s FROM articles WHERE s IS NOT NULL"
            ).fetchall()
        )
        assert dict(updated["kim jong un"]) == extension_scores


def test_a_warehouse_without_an_index_says_what_to_do(tmp_path, seeds):
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds)
    with Warehouse.open(path) as store:
        assert not search_index_status(store.connection).exists
        with pytest.raises(SearchError, match="newsflow ingest"):
            search(store.connection, "Pyongyang")


def test_an_empty_warehouse_gets_an_index_that_finds_nothing(tmp_path):
    with Warehouse.open(tmp_path / "news.duckdb") as store:
        assert refresh_search_index(store.connection).articles == 0
        assert search(store.connection, "Pyongyang") == []


def test_words_of_any_script_and_numbers_are_searchable(tmp_path, seeds):
    russian = seeds[0].replace(
        source_path="extra/ru.txt",
        content_sha256="f" * 64,
        language="ru",
        text="Путин встретился с министром иностранных дел КНДР в 2025 году.\n\nВстреча прошла в Кремле.",
        text_en=None,
        title="Встреча в Кремле",
        translation_status="missing_model",
        paragraph_languages=(),
    )
    path = tmp_path / "news.duckdb"
    store_documents(path, [*seeds, russian])
    with Warehouse.open(path) as store:
        refresh_search_index(store.connection)
        assert paths(search(store.connection, "Кремле")) == ["extra/ru.txt"]
        assert search(store.connection, "Кремле")[0].title == "Встреча в Кремле"
        assert "extra/ru.txt" in paths(search(store.connection, "2025"))


# --- snippets (pure) ---------------------------------------------------------------------------


def test_snippet_shows_the_words_around_the_hit():
    text = "Opening words. " * 30 + "The minister landed in Pyongyang on Saturday. " + "Closing words. " * 30
    found = snippet(text, [("pyongyang", "pyongyang")], width=80)
    assert "landed in Pyongyang on Saturday" in found
    assert found.startswith("…") and found.endswith("…") and len(found) <= 82


def test_snippet_prefers_the_place_with_the_most_query_words():
    text = "Kim visited. " + "Filler text here. " * 20 + "Leader Kim Jong Un spoke." + " More filler." * 20
    assert "Kim Jong Un" in snippet(text, [("kim", "kim"), ("jong", "jong"), ("un", "un")], width=60)


def test_snippet_matches_word_forms_but_not_other_words_sharing_a_short_start():
    stems = [("countries", "countri"), ("un", "un")]
    assert "country" in snippet("A unique story about one country.", stems)
    assert snippet("A unique and unusual story.", [("un", "un")]) is None


def test_snippet_ignores_accents_like_the_index():
    assert "Café" in snippet("We met at the Café de Flore.", [("cafe", "cafe")])


def test_a_hit_in_the_title_only_shows_the_start_of_the_text():
    assert first_snippet([None, "First words of the body. " * 20], [("absent", "absent")], width=40).startswith("First words")


# --- end to end: the real ingest, `newsflow search` and `newsflow sql` ----------------------------


@pytest.mark.server
def test_search_after_a_real_ingest_and_after_the_next_run(prefect_server, seeds_warehouse, tmp_path):
    env = newsflow_env(prefect_server.api_url, tmp_path, NEWSFLOW_WAREHOUSE=str(tmp_path / "data" / "news.duckdb"), HOME=str(tmp_path))
    copy_of_seeds_warehouse(seeds_warehouse, Path(env["NEWSFLOW_WAREHOUSE"]))  # the seeds' real ingest

    everywhere = json.loads(newsflow(["search", "Pyongyang", "--format", "json"], env).stdout)
    assert sorted(hit["source_path"] for hit in everywhere) == sorted(f"seeds/{p.name}" for p in SEEDS_DIR.glob("*.txt"))
    table = newsflow(["search", "Korea Utara", "--limit", "1"], env)
    assert "Trump ke Jepang, Putin Bertemu Menlu Korea Utara" in table.stdout and "1 article" in table.stdout
    assert table.stderr == "", "a current index: no note"

    # The front door: a read-only connection with its configuration locked still runs the macro.
    via_sql = newsflow(["sql", "select source_path from search_articles('Korea Utara') limit 1", "--format", "json"], env)
    assert json.loads(via_sql.stdout) == [{"source_path": INDONESIAN_SEED}]
    refused = newsflow(["sql", "LOAD fts"], env, check=False)
    assert refused.returncode == 1 and "refused" in refused.stderr

    # The next run's new article is searchable once that run ends.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "rason.txt").write_text(
        "Rason trade zone reopens\n\nThe Rason special economic zone reopened to Chinese traders on Monday, "
        "officials in Pyongyang said.\n",
        encoding="utf-8",
    )
    newsflow(["ingest", str(extra)], env)
    found = json.loads(newsflow(["search", "Rason", "--format", "json"], env).stdout)
    assert [Path(hit["source_path"]).name for hit in found] == ["rason.txt"]
    assert not list(Path(tmp_path).glob(".duckdb")), "DuckDB installed nothing in HOME"


def test_the_command_says_when_the_index_is_missing_or_behind(tmp_path, seeds):
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds[:4])
    env = dict(os.environ, NEWSFLOW_WAREHOUSE=str(path))
    missing = newsflow(["search", "Pyongyang"], env, check=False)
    assert missing.returncode == 1 and "no search index yet" in missing.stderr
    with Warehouse.open(path) as store:
        refresh_search_index(store.connection)
    store_documents(path, seeds[4:])
    behind = newsflow(["search", "Korea Utara", "--all-words", "--format", "json"], env)
    assert json.loads(behind.stdout) == [] and "the next `newsflow ingest` run brings it up to date" in behind.stderr


def test_a_long_repetitive_article_is_indexed_by_its_first_million_characters_within_a_small_writer_limit(tmp_path, monkeypatch):
    """A text of 20 words repeated for megabytes: indexed whole, one refresh held every token of it
    and ran the writer out of memory, on every run after. Its first INDEXED_CHARS are indexed."""
    from bench.large_file_bench import low_vocabulary_text

    text = low_vocabulary_text(6 * 1024 * 1024).replace("\n", "\n\n") + "\n\nZanzibar comes only at the very end."
    doc = Document(source_path="seeds/twenty-words.txt", content_sha256="x", text=text, title="Twenty words", language="en")
    path = tmp_path / "news.duckdb"
    store_documents(path, [doc, *seed_documents()[:1]])
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "32MB")  # 6 MB of text, as 24 MB under the default 128 MB
    with Warehouse.open(path) as store:
        refresh = refresh_search_index(store.connection)
        (longest,) = store.connection.execute(f"SELECT max(len) FROM {pipeline.search.INDEX_SCHEMA}.docs").fetchone()
        found = paths(search(store.connection, "jakarta minister"))
        past_the_indexed_part = search(store.connection, "zanzibar")
    assert refresh.reindexed == 2
    # text and text_en, each cut at INDEXED_CHARS: at most half as many tokens (a letter and a space each), and the title's
    assert longest <= 2 * (pipeline.search.INDEXED_CHARS // 2) + 10
    assert found[0] == "seeds/twenty-words.txt"
    assert past_the_indexed_part == []


def test_a_failed_refresh_is_told_by_search_with_what_to_do_not_as_one_the_next_run_fixes(tmp_path, seeds, monkeypatch):
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds[:4])
    with Warehouse.open(path) as store:
        refresh_search_index(store.connection)
    store_documents(path, seeds[4:])
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "8MB")
    with pytest.raises(WarehouseMemoryError), Warehouse.open(path) as store:
        refresh_search_index(store.connection)
    monkeypatch.delenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT")

    env = dict(os.environ, NEWSFLOW_WAREHOUSE=str(path))
    behind = newsflow(["search", "Korea Utara", "--all-words", "--format", "json"], env)
    assert json.loads(behind.stdout) == [], "the article written after the last refresh that worked is not found"
    note = " ".join(behind.stderr.split())
    assert "the next `newsflow ingest` run brings it up to date" not in note
    assert "failed" in note and "set NEWSFLOW_WAREHOUSE_MEMORY_LIMIT higher than 8MB" in note, note

    with Warehouse.open(path) as store:
        refresh_search_index(store.connection)
    current = newsflow(["search", "Korea Utara", "--all-words", "--format", "json"], env)
    assert [hit["source_path"] for hit in json.loads(current.stdout)] == [INDONESIAN_SEED] and current.stderr == ""


def test_a_refresh_stopped_by_an_interrupt_is_rolled_back_and_not_told_as_a_failure(tmp_path, seeds, monkeypatch):
    # A stop ends the statement running with connection.interrupt(): a stop, not a failure for
    # every later search to report (the run that was stopped says so, and the next one refreshes).
    import duckdb

    path = tmp_path / "news.duckdb"
    store_documents(path, seeds)

    def interrupted(connection, columns, only=None, after_each_slice=None):
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    monkeypatch.setattr(pipeline.search, "_update_index", interrupted)
    with pytest.raises(duckdb.InterruptException), Warehouse.open(path) as store:
        refresh_search_index(store.connection)
    with Warehouse.open(path, read_only=True) as store:
        _, failures = store.query("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'search_index_failure'")
    assert failures == [(0,)]


def test_a_build_cut_short_after_committed_slices_is_made_anew_by_the_next_refresh(tmp_path, seeds, monkeypatch):
    """A large refresh commits slice by slice (one transaction for all ran a 128 MB writer out of
    memory at 100,000 articles); a build that stops between slices leaves no state row, so the next
    refresh builds the whole index again instead of taking the part for the whole."""
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds)
    with Warehouse.open(path) as store:
        refresh_search_index(store.connection)  # a whole index, then a rebuild (as after new settings) cut short
    monkeypatch.setattr(pipeline.search, "TOKENISED_AT_ONCE", 2)
    index_slice, sliced = pipeline.search._index_slice, []

    def failing_second_slice(connection, columns, first, last):
        sliced.append(first)
        if len(sliced) == 2:
            raise RuntimeError("the machine went down")
        index_slice(connection, columns, first, last)

    monkeypatch.setattr(pipeline.search, "_index_slice", failing_second_slice)
    with pytest.raises(RuntimeError), Warehouse.open(path) as store:
        refresh_search_index(store.connection, rebuild=True)
    with Warehouse.open(path, read_only=True) as store:
        _, indexed = store.query(f"SELECT count(*) FROM {pipeline.search.INDEX_SCHEMA}.docs")
    assert indexed == [(2,)]  # the first slice was committed
    monkeypatch.setattr(pipeline.search, "_index_slice", index_slice)
    with Warehouse.open(path) as store:
        again = refresh_search_index(store.connection)
        assert again.rebuilt and again.articles == len(seeds)
        assert search(store.connection, "Korea Utara")


QUERIES = ["Pyongyang", "kim jong un", "Korea Utara", "diplomats", "Jakarta Sukarno", "the", "no such word"]


def _results(connection) -> dict:
    return {
        (query, all_words): [(h.source_path, round(h.score, 9)) for h in search(connection, query, all_words=all_words)]
        for query in QUERIES
        for all_words in (False, True)
    }


def test_search_scores_from_postings_as_the_extensions_match_bm25_and_keeps_its_terms_in_order(tmp_path, seeds, monkeypatch):
    """`search` and the `search_articles` macro score from the query's postings alone: the same
    scores, for any word or all of them, as the extension's own per-article match_bm25 over the
    same index; the terms are sorted by word once the rows appended out of order pass a quarter of
    the sorted ones, and sorting changes no result."""
    from pipeline.search import INDEX_SCHEMA, TERMS_SORTED_STATE

    monkeypatch.setattr(pipeline.search, "TERMS_LEFT_UNSORTED", 0)
    path = tmp_path / "news.duckdb"
    store_documents(path, seeds[:4])
    with Warehouse.open(path) as store:
        connection = store.connection
        refresh_search_index(connection)  # the first build: every row appended, none sorted, so sorted now
        terms = connection.execute(f"SELECT termid FROM {INDEX_SCHEMA}.terms ORDER BY rowid").fetchall()
        assert terms == sorted(terms) and len(terms) > 1000
        (sorted_rows,) = connection.execute(f"SELECT sorted_rows FROM {TERMS_SORTED_STATE}").fetchone()
        assert sorted_rows == len(terms)
        for query in QUERIES:
            for all_words in (False, True):
                macro = dict(connection.execute("SELECT article_id, round(score, 9) FROM search_articles(?, all_words := ?)", [query, all_words]).fetchall())
                extension = dict(
                    connection.execute(
                        f"SELECT article_id, round({INDEX_SCHEMA}.match_bm25(article_id, ?, conjunctive := ?), 9) AS s FROM articles WHERE s IS NOT NULL",
                        [query, all_words],
                    ).fetchall()
                )
                assert macro == extension, (query, all_words)
        assert _results(connection)[("kim jong un", False)], "the seeds are found"
    store_documents(path, seeds[4:])  # the fifth seed's rows are appended after the sorted ones
    with Warehouse.open(path) as store:
        connection = store.connection
        refresh_search_index(connection)
        (end,) = connection.execute(f"SELECT count(*) FROM {INDEX_SCHEMA}.terms").fetchone()
        appended = end - sorted_rows
        assert 0 < appended < 0.25 * sorted_rows, "a tail too short to sort"
        assert connection.execute(f"SELECT sorted_rows FROM {TERMS_SORTED_STATE}").fetchone() == (sorted_rows,)
        before = _results(connection)
        assert pipeline.search.keep_terms_sorted(connection, force=True)
        terms = connection.execute(f"SELECT termid FROM {INDEX_SCHEMA}.terms ORDER BY rowid").fetchall()
        assert terms == sorted(terms)
        assert _results(connection) == before
