"""Duplicate detection: edited copies and translations linked to the first-seen article, distinct stories never."""

from __future__ import annotations

import json
import random
import re
import tracemalloc
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

import pipeline.duplicates
from bench.large_file_bench import short_lines_text
from pipeline.duplicates import (
    MAX_SHINGLES,
    refresh_duplicates,
    shingle_hashes,
    sign_document,
    store_signatures,
    text_signature,
)
from pipeline.extract import clean_text_dump
from pipeline.warehouse import schema_sql
from pipeline.warehouse.changes import note_changed_articles
from tests.conftest import SEEDS_DIR, copy_of_seeds_warehouse, newsflow

SEED_NAMES = sorted(path.name for path in SEEDS_DIR.glob("*.txt"))
START = datetime(2025, 10, 11, 8, 0)
MB = 1024 * 1024


def seed_text(name: str) -> str:
    return (SEEDS_DIR / name).read_text(encoding="utf-8")


def edited_copy_of_seed_001() -> str:
    """Seed 001 as another site would carry it: its own menu and footer, a new headline, a paragraph cut."""
    lines = seed_text("001_f168b2729dee8f19.txt").splitlines()
    assert lines[0].startswith("HomeAsia") and lines[2] == "Jakarta gambles on embracing North Korea"
    body_end = lines.index("LEAVE A REPLY")
    body = [line for line in lines[3:body_end] if not line.startswith("Engaging Pyongyang, a state under heavy UN sanctions")]
    assert len(body) == len(lines[3:body_end]) - 1
    menu = ["Menu", "News", "World", "Asia-Pacific", "Opinion", "Subscribe", "Sign in", ""]
    footer = ["", "Share this article", "Facebook", "Twitter", "WhatsApp", "© 2025 The Southeast Asia Review. All rights reserved.", "Privacy policy | Terms of use"]
    return "\n".join(menu + ["Indonesia's quiet bet on Pyongyang", ""] + body + footer) + "\n"


def warehouse_with(articles: list[dict]) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse (the real schema) with these articles, ingested one minute apart in list order."""
    connection = duckdb.connect()
    connection.execute(schema_sql())
    for offset, article in enumerate(articles):
        insert(connection, article, START + timedelta(minutes=offset))
    return connection


def insert(connection: duckdb.DuckDBPyConnection, article: dict, ingested_at: datetime) -> None:
    language = article.get("language", "en")
    text_en = article.get("text_en", article["text"] if language == "en" else None)
    row = pa.table(
        {
            "article_id": [article["id"]],
            "source_path": [f"seeds/{article['id']}.txt"],
            "content_sha256": [article["id"]],
            "title": [article.get("title")],
            "language": [language],
            "text": [article["text"]],
            "text_en": pa.array([text_en], pa.string()),
            "translation_status": ["not_needed" if language == "en" else "translated" if text_en else "missing_model"],
            "ingested_at": [ingested_at],
            "run_id": ["test"],
        }
    )
    connection.register("new_article", row)
    connection.execute(f"INSERT INTO articles ({', '.join(row.column_names)}) SELECT * FROM new_article")
    connection.unregister("new_article")
    note_changed_articles(connection, [article["id"]])  # what the warehouse's write path notes


def links(connection) -> dict[str, tuple[str, float, str]]:
    rows = connection.execute("SELECT article_id, duplicate_of, similarity, method FROM duplicates").fetchall()
    return {article_id: (duplicate_of, similarity, method) for article_id, duplicate_of, similarity, method in rows}


def cleaned(raw: str) -> str:
    return clean_text_dump(raw).text


def test_an_edited_copy_links_to_its_seed_and_no_two_seeds_link():
    articles = [{"id": name[:3], "text": cleaned(seed_text(name))} for name in SEED_NAMES]
    articles.append({"id": "copy", "text": cleaned(edited_copy_of_seed_001())})
    connection = warehouse_with(articles)

    refresh = refresh_duplicates(connection)

    found = links(connection)
    assert set(found) == {"copy"}
    duplicate_of, similarity, method = found["copy"]
    assert (duplicate_of, method) == ("001", "near_copy")
    assert similarity >= 0.9
    assert (refresh.articles, refresh.signatures_computed, refresh.clusters, refresh.duplicates) == (6, 6, 1, 1)


def test_a_translation_links_through_its_english_text_and_an_untranslated_one_does_not():
    english = cleaned(seed_text("000_c9229e0b42640eea.txt"))
    # What an id->en model gives back: the same story, some words and word order changed.
    translated_back = english.replace("agreed to explore", "agreed to look into").replace("said that", "stated that").replace(
        "chief diplomats met", "top diplomats met"
    )
    connection = warehouse_with(
        [
            {"id": "en-original", "text": english},
            {"id": "id-translated", "language": "id", "text": "Indonesia dan Korea Utara sepakat ...", "text_en": translated_back},
            {"id": "id-untranslated", "language": "id", "text": cleaned(seed_text("004_2d2b0ea8dc19c5b8.txt")), "text_en": None},
        ]
    )
    refresh_duplicates(connection)
    found = links(connection)
    assert set(found) == {"id-translated"}
    assert found["id-translated"][0] == "en-original" and found["id-translated"][2] == "translation"


def test_a_translation_identical_to_the_original_in_english_is_still_a_translation():
    english = cleaned(seed_text("000_c9229e0b42640eea.txt"))
    connection = warehouse_with([{"id": "en", "text": english}, {"id": "id", "language": "id", "text": "Indonesia dan Korea Utara ...", "text_en": english}])
    refresh_duplicates(connection)
    assert links(connection) == {"id": ("en", 1.0, "translation")}


def test_the_cluster_points_at_its_earliest_ingested_article_not_the_first_id():
    text = cleaned(seed_text("002_c6f1a40e5c75d036.txt"))
    connection = warehouse_with([{"id": "zzz-first", "text": text}, {"id": "aaa-later", "text": text + "\n\nA closing line added by the second site."}])
    refresh_duplicates(connection)
    assert links(connection) == {"aaa-later": ("zzz-first", 1.0, "near_copy")}


def test_a_copy_quoting_a_short_earlier_story_joins_its_own_story_and_keeps_the_two_apart():
    brief_paragraphs = cleaned(seed_text("000_c9229e0b42640eea.txt")).split("\n\n")[:3]
    brief = "\n\n".join(brief_paragraphs)
    quoted = max(brief_paragraphs, key=len)
    story = cleaned(seed_text("002_c6f1a40e5c75d036.txt")).split("\n\n")
    copy_quoting_the_brief = "\n\n".join(story[:2] + [quoted] + story[2:])
    connection = warehouse_with(
        [{"id": "brief", "text": brief}, {"id": "story", "text": "\n\n".join(story)}, {"id": "copy", "text": copy_quoting_the_brief}]
    )
    refresh_duplicates(connection)
    # The copy shares two thirds of the brief's shingles, but it is the story's copy: it joins the
    # story, and the brief stays a story of its own.
    found = links(connection)
    assert set(found) == {"copy"}
    assert found["copy"][0] == "story" and found["copy"][1] > 0.95


def test_refresh_computes_signatures_only_for_new_or_changed_texts_and_forgets_deleted_articles():
    texts = {name[:3]: cleaned(seed_text(name)) for name in SEED_NAMES}
    connection = warehouse_with([{"id": key, "text": value} for key, value in texts.items()])
    assert refresh_duplicates(connection).signatures_computed == 5
    assert refresh_duplicates(connection).signatures_computed == 0

    insert(connection, {"id": "copy", "text": texts["003"]}, START + timedelta(hours=1))
    second = refresh_duplicates(connection)
    assert second.signatures_computed == 1
    assert links(connection) == {"copy": ("003", 1.0, "same_text")}

    # A translation arriving later changes the text compared: the signature is recomputed.
    connection.execute("UPDATE articles SET text_en = ? WHERE article_id = '004'", [texts["000"]])
    note_changed_articles(connection, ["004"])
    assert refresh_duplicates(connection).signatures_computed == 1
    assert links(connection)["004"][0] == "000"

    connection.execute("DELETE FROM articles WHERE article_id IN ('003', '004')")
    note_changed_articles(connection, ["003", "004"])
    last = refresh_duplicates(connection)
    assert last.signatures_dropped == 2 and last.signatures_computed == 0
    assert links(connection) == {}
    assert connection.execute("SELECT count(*) FROM article_signatures").fetchone() == (4,)


def test_signatures_made_with_the_text_are_stored_only_for_the_text_the_article_holds(tmp_path):
    """The workers sign each text as they make it; the writer keeps a signature only where it is of
    the text stored, and the refresh after the run signs what is left and clusters as from scratch."""
    from pipeline.extract import extract_document
    from pipeline.language import detect_language
    from pipeline.sources import load_document
    from pipeline.warehouse import Warehouse

    docs = [
        sign_document(detect_language(extract_document(load_document(path, drop_folder=SEEDS_DIR, max_bytes=20_000_000))))
        for path in sorted(SEEDS_DIR.glob("*.txt"))
    ]
    assert all(doc.text_signature is not None for doc in docs)
    assert sign_document(docs[0]) is docs[0], "a text signed already is not signed again"
    copy = sign_document(docs[3].replace(source_path="elsewhere/copy.txt", content_sha256="copy", text=docs[3].text + "\n\nOne more line of the copy."))
    assert copy.text_signature != docs[3].text_signature, "a changed text is signed again"
    stale = docs[1].replace(text_signature=docs[0].text_signature)  # signed before its text changed
    with Warehouse.open(tmp_path / "news.duckdb") as store:
        batch = [docs[0], stale, docs[2], docs[4], copy]
        store.write_batch(batch, run_id="test", ingested_at=datetime.now())
        assert store_signatures(store.connection, batch) == 4
        refreshed = refresh_duplicates(store.connection)
        assert (refreshed.signatures_computed, refreshed.articles) == (1, 5), "only the stale one is signed after the run"
        store.write_batch([docs[3]], run_id="test", ingested_at=datetime.now() + timedelta(minutes=1))
        store_signatures(store.connection, [docs[3]])
        after = refresh_duplicates(store.connection)
        assert after.signatures_computed == 0
        found = links(store.connection)
        store.connection.execute("DELETE FROM article_signatures")
        assert refresh_duplicates(store.connection, rebuild=True).signatures_computed == 6
        assert links(store.connection) == found and len(found) == 1, "the copy and its seed, as a refresh from scratch finds"


def test_texts_too_short_to_compare_are_never_linked():
    connection = warehouse_with([{"id": "a", "text": "Pyongyang, Saturday."}, {"id": "b", "text": "Pyongyang, Saturday."}])
    refresh = refresh_duplicates(connection)
    assert refresh.too_short == 2 and links(connection) == {}


def test_refresh_creates_its_tables_on_an_empty_warehouse():
    connection = warehouse_with([])
    refresh = refresh_duplicates(connection)
    assert refresh.articles == 0 and links(connection) == {}


@pytest.mark.server
def test_ingested_edited_copy_is_listed_as_a_duplicate_of_its_seed(prefect_env, seeds_warehouse, tmp_path):
    warehouse = copy_of_seeds_warehouse(seeds_warehouse, tmp_path / "news.duckdb")  # the seeds' real ingest
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "jakarta-quiet-bet.txt").write_text(edited_copy_of_seed_001(), encoding="utf-8")
    newsflow(["ingest", str(elsewhere), "--warehouse", str(warehouse)], prefect_env)
    with duckdb.connect(str(warehouse)) as connection:  # what the flow does at the end of a run
        refresh_duplicates(connection)

    listing = json.loads(newsflow(["duplicates", "--warehouse", str(warehouse), "--format", "json"], prefect_env).stdout)

    assert len(listing) == 1
    cluster = listing[0]
    assert cluster["duplicate_of"]["source_path"].endswith("seeds/001_f168b2729dee8f19.txt")
    assert cluster["duplicate_of"]["title"] == "Jakarta gambles on embracing North Korea"
    (copy,) = cluster["duplicates"]
    assert copy["source_path"].endswith("jakarta-quiet-bet.txt")
    assert copy["method"] == "near_copy" and copy["similarity"] >= 0.9

    table = newsflow(["duplicates", "--warehouse", str(warehouse)], prefect_env).stdout
    assert "Jakarta gambles on embracing North Korea" in table and "jakarta-quiet-bet.txt" in table
    assert "1 cluster, 1 duplicate" in table


def test_duplicates_on_a_warehouse_without_the_table_says_what_to_run(tmp_path):
    warehouse = tmp_path / "old.duckdb"
    with duckdb.connect(str(warehouse)) as connection:  # made by a newsflow from before duplicate detection
        connection.execute(schema_sql())
        connection.execute("DROP TABLE duplicates; DROP TABLE article_signatures")
    result = newsflow(["duplicates", "--warehouse", str(warehouse)], None, check=False)
    assert result.returncode == 1
    assert "newsflow ingest" in result.stderr and "Traceback" not in result.stderr


def test_listing_leaves_out_duplicates_below_the_minimum_similarity():
    from pipeline.duplicates import duplicate_clusters

    english = cleaned(seed_text("000_c9229e0b42640eea.txt"))
    other = cleaned(seed_text("003_6fb78f9f111f2625.txt"))
    paragraphs = other.split("\n\n")
    connection = warehouse_with(
        [
            {"id": "wire", "text": english, "title": "Indonesia, North Korea agree to explore partnership"},
            {"id": "reprint", "text": english},
            {"id": "history", "text": other, "title": "Indonesia–North Korea relations"},
            # The same history with a third of its paragraphs replaced by another story's: a weaker link.
            {"id": "rewrite", "text": "\n\n".join(paragraphs[: 2 * len(paragraphs) // 3] + [cleaned(seed_text("002_c6f1a40e5c75d036.txt"))])},
        ]
    )
    refresh_duplicates(connection)

    def query(sql):
        result = connection.execute(sql)
        return [c[0] for c in result.description], result.fetchall()

    everything = duplicate_clusters(query)
    assert {(c.representative.article_id, tuple(d.article_id for d in c.duplicates)) for c in everything} == {
        ("history", ("rewrite",)), ("wire", ("reprint",))
    }
    assert 0.4 <= next(c for c in everything if c.representative.article_id == "history").duplicates[0].similarity < 0.95
    strict = duplicate_clusters(query, min_similarity=0.95)
    assert [(c.representative.title, [d.article_id for d in c.duplicates]) for c in strict] == [
        ("Indonesia, North Korea agree to explore partnership", ["reprint"])
    ]


def test_signing_a_long_text_holds_a_bounded_multiple_of_its_size():
    """A text of short lines has as many distinct shingles as words; signing it reads it a piece at
    a time and keeps a bounded sample, instead of holding every shingle through MinHash at once
    (275 times the text before: 5.4 GB for 20 MB)."""
    text = short_lines_text(8 * MB)
    tracemalloc.start()
    try:
        text_signature(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(text), f"signing took {peak / len(text):.1f} times the text"


def test_a_text_with_more_shingles_than_kept_is_compared_by_a_repeatable_sample():
    long_text = short_lines_text(1 * MB)  # 137,000 shingles: more than the 100,000 kept
    signed = text_signature(long_text)
    assert len(signed.shingles) // 4 == MAX_SHINGLES < signed.shingle_count
    assert 0.9 < signed.shingle_count / len(shingle_hashes(long_text)) < 1.1, "shingle_count estimates all of them"
    assert text_signature(long_text) == signed, "the same text, the same sample"

    lines = long_text.splitlines()
    tenth = len(lines) // 10
    with_a_note = "\n".join(lines[:tenth] + ["An editor's note the copy added halfway through."] + lines[tenth:])
    cut_short = "\n".join(lines[: 9 * tenth])
    connection = warehouse_with(
        [
            {"id": "long", "text": long_text},
            {"id": "copy", "text": long_text},
            {"id": "with-a-note", "text": with_a_note},
            {"id": "cut-short", "text": cut_short},
            {"id": "seed", "text": cleaned(seed_text(SEED_NAMES[2]))},
            {"id": "another-long", "text": short_lines_text(1 * MB, seed=1)},
        ]
    )
    refresh_duplicates(connection)
    found = links(connection)
    assert set(found) == {"copy", "with-a-note", "cut-short"}, found
    assert found["copy"] == ("long", 1.0, "same_text")
    assert found["with-a-note"][0] == "long" and found["with-a-note"][1] > 0.99
    assert found["cut-short"] == ("long", 1.0, "near_copy"), "a part of a long text is contained in it, sample or not"


def _shingles_at_once(text: str) -> set[str]:
    """The definition of a text's shingles, read whole."""
    words = pipeline.duplicates._TOKEN.findall(text.lower())
    size = min(3, len(words))
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)} if words else set()


def test_shingles_read_a_piece_at_a_time_are_those_of_the_whole_text(monkeypatch):
    from datasketch.hashfunc import sha1_hash32

    rng = random.Random(5)
    pieces = ["a", "b", "Zé", " ", "\n", "日本", "ไทย", "x_y", "İ", "ΟΔΟΣ", ".", "12", "ß", "'"]
    texts = ["", "one", "one two", "one two three"] + ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    monkeypatch.setattr(pipeline.duplicates, "SHINGLED_AT_ONCE", 7)
    for text in texts:
        expected = sorted({sha1_hash32(shingle.encode("utf-8")) for shingle in _shingles_at_once(text)})
        assert shingle_hashes(text).tolist() == expected, repr(text)


# --- incremental clustering equals a rebuild ---------------------------------------------------


def test_lsh_bands_are_those_minhashlsh_makes_of_the_settings():
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=pipeline.duplicates.LSH_THRESHOLD, num_perm=pipeline.duplicates.NUM_PERM)
    assert (lsh.b, lsh.r) == (pipeline.duplicates.BANDS, pipeline.duplicates.BAND_ROWS)


def _story_texts(rng: random.Random, stories: int = 6, sentences: int = 14) -> list[list[str]]:
    """Stories as lists of sentences of random words: variants of one story share many shingles, of two stories few."""
    vocabulary = [f"w{n}" for n in range(400)]
    return [[" ".join(rng.choices(vocabulary, k=9)) + "." for _ in range(sentences)] for _ in range(stories)]


def _variant(rng: random.Random, stories: list[list[str]]) -> str:
    """A story with some sentences dropped and some of another story added: near copies, partial
    quotes and unrelated texts, with similarities around the threshold."""
    story = rng.choice(stories)
    drop = rng.choice((0.0, 0.1, 0.3, 0.6))
    kept = [sentence for sentence in story if rng.random() >= drop]
    other = rng.choice(stories)
    kept += rng.sample(other, rng.choice((0, 0, 2, 6)))
    return "\n\n".join(kept or story[:3])


def _doc(path: str, sha: str, text: str, published_at: datetime | None, language: str = "en", text_en: str | None = None):
    from pipeline.record import Document, ParagraphLanguage

    english = language == "en"
    return Document(
        source_path=path,
        content_sha256=sha,
        title="t",
        published_at=published_at,
        source_url=f"https://example.com/{path}/{sha}",
        text=text,
        language=language,
        language_confidence=0.9,
        paragraph_languages=tuple(ParagraphLanguage(language, 0.9) for _ in text.split("\n\n")),
        text_en=text if english else text_en,
        translation_status="not_needed" if english else ("translated" if text_en else "missing_model"),
    )


def stored_links(connection) -> dict[str, tuple[str, float, str]]:
    return {row[0]: row[1:] for row in connection.execute("SELECT article_id, duplicate_of, similarity, method FROM duplicates").fetchall()}


@pytest.mark.parametrize("seed, read_at_once", [(1, 1000), (2, 3)])
def test_incremental_clusters_equal_a_rebuild_after_every_kind_of_change(tmp_path, monkeypatch, seed, read_at_once):
    """Inserts, text updates, re-ordering (a new published date), deletes (prune), translations
    arriving and faces moving to another place: after each step the incrementally kept clusters
    are those a rebuild makes of the same articles (also when the refresh reads the articles it
    compares in chunks of `read_at_once`, through a temporary table)."""
    import pipeline.duplicates as duplicates
    from pipeline.duplicates import clusters_from_scratch
    from pipeline.warehouse import Warehouse

    monkeypatch.setattr(duplicates, "SIGNATURE_CHUNK", read_at_once)
    rng = random.Random(seed)
    stories = _story_texts(rng)
    dates = [None, datetime(2025, 1, 1), datetime(2025, 1, 2), datetime(2025, 1, 3)]
    paths: dict[str, str] = {}  # path -> its text, of the places written
    untranslated: list[str] = []
    clock = START
    kinds_seen: set[str] = set()
    kinds = ["insert", "update", "reorder", "delete", "translate", "face", "insert"]
    rng.shuffle(kinds)
    with Warehouse.open(tmp_path / "news.duckdb") as store:
        connection = store.connection

        def write(docs):
            nonlocal clock
            clock += timedelta(minutes=1)
            store.write_batch(docs, run_id="test", ingested_at=clock)

        for step in range(28):
            kind = "insert" if step < 3 else kinds[step % len(kinds)]
            if kind == "insert":
                docs = []
                for _ in range(rng.randint(2, 6)):
                    path = f"f{len(paths)}/a.txt"
                    text = _variant(rng, stories)
                    if rng.random() < 0.25:
                        docs.append(_doc(path, f"s{step}{path}", f"Teks {len(paths)} " + text, rng.choice(dates), language="id"))
                        untranslated.append(path)
                    else:
                        docs.append(_doc(path, f"s{step}{path}", text, rng.choice(dates)))
                    paths[path] = text
                write(docs)
            elif kind in ("update", "reorder"):
                path = rng.choice(sorted(paths))
                text = paths[path] if kind == "reorder" else _variant(rng, stories)
                paths[path] = text
                write([_doc(path, f"s{step}{path}", text, rng.choice(dates))])
            elif kind == "delete":
                path = rng.choice(sorted(paths))
                store.mark_missing([path.split("/")[0]], seen_since=clock + timedelta(days=1))
                store.prune()
                del paths[path]
            elif kind == "translate" and untranslated:
                path = untranslated.pop(rng.randrange(len(untranslated)))
                if path in paths:
                    doc = _doc(path, "x", "Teks", None, language="id", text_en=_variant(rng, stories))
                    store.update_translations([doc])
            elif kind == "face":
                # the same text at a second place joins the article; then the face's file goes
                path = rng.choice(sorted(paths))
                folder = path.split("/")[0]
                write([_doc(f"{folder}/b.txt", f"s{step}b", paths[path].upper(), rng.choice(dates))])
                store.mark_missing([folder], seen_since=clock)  # a.txt was seen before this write, b.txt now
                paths[f"{folder}/b.txt"] = paths.pop(path)
            kinds_seen.add(kind)
            refresh = refresh_duplicates(connection)
            assert refresh.rebuilt == (step == 0)
            expected = {link.article_id: (link.duplicate_of, link.similarity, link.method) for link in clusters_from_scratch(connection).values()}
            assert stored_links(connection) == expected, f"step {step} ({kind})"
        assert kinds_seen == set(kinds)
        assert len(expected) >= 5, "the corpus makes clusters"


@pytest.mark.parametrize("at_once", [1, 3, 1000])
def test_a_rebuild_decided_a_slice_of_the_order_at_a_time_makes_the_clusters_of_one_pass(tmp_path, monkeypatch, at_once):
    """Clustering from scratch reads each signature once, decides only the articles sharing a band
    key with another, and writes REBUILT_AT_ONCE articles at a time (so a million articles do not
    sit in memory at once): whatever the slice, the clusters, heads and band keys are those of one
    pass over all."""
    import pipeline.duplicates as duplicates
    from pipeline.warehouse import Warehouse

    monkeypatch.setattr(duplicates, "REBUILT_AT_ONCE", at_once)
    rng = random.Random(5)
    stories = _story_texts(rng)
    dates = [None, datetime(2025, 1, 1), datetime(2025, 1, 2)]
    with Warehouse.open(tmp_path / "news.duckdb") as store:
        for batch in range(4):
            docs = [_doc(f"f{batch}-{i}/a.txt", f"s{batch}-{i}", _variant(rng, stories), rng.choice(dates)) for i in range(6)]
            store.write_batch(docs, run_id="t", ingested_at=START + timedelta(minutes=batch))
        refresh = refresh_duplicates(store.connection, rebuild=True)
        (articles,) = store.connection.execute("SELECT count(*) FROM articles").fetchone()
        assert refresh.rebuilt and refresh.articles == articles > 20
        expected = {link.article_id: (link.duplicate_of, link.similarity, link.method) for link in duplicates.clusters_from_scratch(store.connection).values()}
        assert stored_links(store.connection) == expected
        assert len(expected) >= 5, "the corpus makes clusters"
        (members,) = store.connection.execute("SELECT count(*) FROM duplicate_members").fetchone()
        (bands,) = store.connection.execute("SELECT count(*) FROM duplicate_bands").fetchone()
        assert (members, bands) == (articles, articles * duplicates.BANDS)
        one_pass, keys_of, _ = duplicates._cluster_everything(store.connection, duplicates.MIN_SIMILARITY)
        stored = store.connection.execute("SELECT article_id, representative, band_keys FROM duplicate_members").fetchall()
        assert {a: (r, tuple(k)) for a, r, k in stored} == {a: (r, tuple(keys_of[a].tolist())) for a, (_, r) in one_pass.members.items()}


def test_a_deleted_representative_hands_its_place_on_down_a_chain_of_partial_copies(tmp_path):
    """A = X+Y, B = Y+Z joins A, C = Z+W shares nothing with A and starts its own cluster. Once A is
    gone, B is a representative, and C, which only B's change reaches, joins B."""
    from pipeline.duplicates import clusters_from_scratch
    from pipeline.warehouse import Warehouse

    x, y, z, w = _story_texts(random.Random(7), stories=4, sentences=6)
    texts = {"a": x + y, "b": y + z, "c": z + w}
    with Warehouse.open(tmp_path / "news.duckdb") as store:
        for minute, (name, sentences) in enumerate(texts.items()):
            store.write_batch([_doc(f"{name}/a.txt", name, "\n\n".join(sentences), None)], run_id="t", ingested_at=START + timedelta(minutes=minute))
        refresh_duplicates(store.connection)
        ids = dict(store.connection.execute("SELECT split_part(source_path, '/', 1), article_id FROM articles").fetchall())
        assert {article: target for article, (target, *_) in stored_links(store.connection).items()} == {ids["b"]: ids["a"]}

        store.mark_missing(["a"], seen_since=START + timedelta(days=1))
        store.prune()
        refresh = refresh_duplicates(store.connection)
        assert not refresh.rebuilt and refresh.redecided == 2
        assert {article: target for article, (target, *_) in stored_links(store.connection).items()} == {ids["c"]: ids["b"]}
        assert set(clusters_from_scratch(store.connection)) == {ids["c"]}


def _archive(path, articles: int):
    """A warehouse of `articles` distinct stories, clustered and indexed; returns the first story's text."""
    from flows.ingest_warehouse import refresh_derived_tables
    from pipeline.warehouse import Warehouse

    stories = _story_texts(random.Random(articles), stories=articles, sentences=8)
    with Warehouse.open(path) as store:
        store.write_batch(
            [_doc(f"f{n}/a.txt", f"s{n}", "\n\n".join(story), None) for n, story in enumerate(stories)], run_id="base", ingested_at=START
        )
        refresh_derived_tables(store)
    return "\n\n".join(stories[0])


def _statements_reading_articles(connection) -> list[str]:
    return [message for (message,) in connection.execute("SELECT message FROM duckdb_logs WHERE type = 'QueryLog'").fetchall() if re.search(r"(FROM|JOIN)\s+articles\b", message)]


@pytest.mark.parametrize("size", [40, 400])
def test_a_run_adding_one_article_reads_the_same_few_signatures_whatever_the_archive_holds(tmp_path, size):
    """After a run that adds one copy of a stored story, the duplicates refresh reads two signatures
    (the copy's and its story's) and the search refresh tokenises one article, at 40 articles as at
    400; a run that changed nothing runs no statement over `articles`."""
    from pipeline.duplicates import refresh_duplicates
    from pipeline.search import refresh_search_index
    from pipeline.warehouse import Warehouse

    path = tmp_path / "news.duckdb"
    first_story = _archive(path, size)
    with Warehouse.open(path) as store:
        store.write_batch([_doc("copy/a.txt", "copy", first_story + "\n\nOne more line.", None)], run_id="run", ingested_at=START + timedelta(hours=1))
        duplicates = refresh_duplicates(store.connection)
        search = refresh_search_index(store.connection)
        assert (duplicates.rebuilt, duplicates.redecided, duplicates.signatures_read, duplicates.duplicates) == (False, 1, 2, 1)
        assert (search.rebuilt, search.reindexed, search.removed, search.articles) == (False, 1, 0, size + 1)
        assert duplicates.band_rows_read < 200, "the lookups return the copy's band rows and its story's, not the archive's"

        store.connection.execute("CALL enable_logging('QueryLog')")
        unchanged = (refresh_duplicates(store.connection), refresh_search_index(store.connection))
        assert unchanged[0].redecided == 0 and not unchanged[1].changed
        assert _statements_reading_articles(store.connection) == []


def test_a_warehouse_from_before_the_kept_clustering_catches_up_once_and_rebuild_lists_the_same_clusters(tmp_path):
    """A warehouse an older newsflow wrote (no clustering state, no change notes, an article changed
    meanwhile) is clustered from scratch by the next refresh, and its search index diffed whole once;
    `newsflow duplicates --rebuild` then lists the same clusters."""
    from flows.ingest_warehouse import refresh_derived_tables
    from pipeline.warehouse import Warehouse

    path = tmp_path / "news.duckdb"
    stories = _story_texts(random.Random(5), stories=6, sentences=8)
    texts = ["\n\n".join(story) for story in stories] + ["\n\n".join(story[:7]) for story in stories[:3]]
    with Warehouse.open(path) as store:
        store.write_batch([_doc(f"f{n}/a.txt", f"s{n}", text, None) for n, text in enumerate(texts)], run_id="base", ingested_at=START)
        refresh_derived_tables(store)
        assert len(stored_links(store.connection)) == 3
    with duckdb.connect(str(path)) as old:  # as the older newsflow left it, and a copy's text changed meanwhile
        old.execute("DROP TABLE duplicates_state; DROP TABLE duplicate_members; DROP TABLE duplicate_bands; DROP TABLE article_changes")
        old.execute("DROP TABLE schema_version; ALTER TABLE search_index_state DROP COLUMN follows_changes")
        old.execute("UPDATE articles SET text = ?, text_en = ? WHERE source_path = 'f6/a.txt'", [texts[4], texts[4]])

    with Warehouse.open(path) as store:
        notes = refresh_derived_tables(store)
        assert any("clustered from scratch" in note for note in notes) and any("1 (re)indexed, 1 removed" in note for note in notes), notes
        assert not any("clustered from scratch" in note for note in refresh_derived_tables(store))
    listing = json.loads(newsflow(["duplicates", "--warehouse", str(path), "--format", "json"], None).stdout)
    assert sorted(len(cluster["duplicates"]) for cluster in listing) == [1, 1, 1]
    assert {cluster["duplicate_of"]["source_path"] for cluster in listing} == {"f1/a.txt", "f2/a.txt", "f4/a.txt"}

    rebuilt = newsflow(["duplicates", "--rebuild", "--warehouse", str(path), "--format", "json"], None)
    assert json.loads(rebuilt.stdout) == listing
    assert "clustered from scratch: 3 articles in 3 clusters (9 compared" in rebuilt.stderr
