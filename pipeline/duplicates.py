"""Duplicates and near-duplicates: the same story on two sites, or in two languages, linked, never deleted.

Each article is compared through its English text (`text_en`, else `text`, so an article without a
translation is still compared with others in its own language). Its body becomes a set of word
shingles (SHINGLE_WORDS consecutive words), hashed with datasketch's `sha1_hash32`, and a MinHash
signature of that set. MinHashLSH proposes candidate pairs without comparing every pair; each
candidate is then checked exactly on the stored shingle sets. Articles are taken earliest-ingested
first: each joins the most similar earlier representative reaching MIN_SIMILARITY, or becomes a
representative itself. Every article of a cluster but its representative gets a row in
`duplicates` pointing at it, with their similarity.

Similarity is the overlap coefficient |A ∩ B| / min(|A|, |B|): a copy with a paragraph dropped or
boilerplate added still scores near 1, where Jaccard would fall with every added line.
Titles are left out: a syndicated copy often gets a new headline.

Incremental: `article_signatures` keeps every article's shingles and signature, keyed by the sha256
of the text compared, so a refresh computes them only for new or changed articles (a translation
arriving later changes the text compared), and drops those of articles that no longer exist.

Bounded: a text is shingled a piece at a time and its MinHash updated a batch at a time, so
signing holds the text and a few MB besides whatever its size (a 20 MB text of short
lines took 5.4 GB when every shingle went through MinHash at once). A text with more than
MAX_SHINGLES distinct shingles (about 100,000 words; no news article comes near) keeps the
MAX_SHINGLES smallest hashes: a sample that is the same for the same text, and for two texts the
same shingles wherever both have them. Its `shingle_count` is then the estimated number of all its
shingles (more than it keeps), its MinHash is of the sample, and the exact check compares two
texts only on the hashes below the smaller of their samples' bounds (`similarity`).
"""

from __future__ import annotations

import hashlib
import heapq
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32

from pipeline.record import Document, TextSignature
from pipeline.warehouse.changes import consume_changes, pending_articles
from pipeline.warehouse.connection import keys_looked_up_by_scan, registered

# Three-word shingles: on the tune half of the real-pages set (workbench/duplicates_eval.py) they
# score F1 0.9727 at threshold 0.4 (best 2-word 0.966, 4-word 0.961, 5-word 0.9733 at 0.5: a
# difference of a few pairs, so the size stays), while different stories of one site share few.
SHINGLE_WORDS = 3
NUM_PERM = 256
MINHASH_SEED = 1
# LSH only proposes candidates, by estimated Jaccard similarity, and is set low: a copy with a
# paragraph dropped, or a translation, has a lower Jaccard similarity than overlap. With 256
# permutations this is 85 bands of 3 rows: a pair at Jaccard 0.3 becomes a candidate with
# probability 0.90, at 0.4 with 0.996, at 0.02 (unrelated articles) with 0.0007.
LSH_THRESHOLD = 0.2
# Chosen on the tune half of the real-pages set (`python -m workbench.duplicates_eval` prints the
# sweep): every threshold from 0.1 to 0.5 links the same pairs there (precision 0.987, recall 0.959:
# LSH_THRESHOLD keeps pairs that far apart from ever being checked, and each copy joins its most
# similar representative), 0.6 and up lose copies cut and wrapped in another site's chrome. Of the
# exact similarities, 1.2% of true pairs lie below 0.4 and 2.8% of hard negatives (different
# stories of one site) at or above it (0.5: 1.6% and 0.7%). 0.4 stays: no threshold does better
# on the linked pairs, and translations, which reword more and which the set cannot measure, need
# the lower one.
MIN_SIMILARITY = 0.4
# Texts shorter than this many shingles (about MIN_SHINGLES + 2 words) are not compared: a caption
# or a one-line stub would "contain" itself in any article that quotes it.
MIN_SHINGLES = 20
# Articles signed per step of a refresh: their texts are all that is held in memory at once.
SIGNATURE_CHUNK = 1000
ARTICLES_JOINED_AT_ONCE = 100_000
REBUILT_AT_ONCE = 10_000  # articles of the clustering order decided together when clustering from scratch  # a from-scratch refresh joins the articles to their signatures in hash slices of about this many
# A text with more distinct shingles keeps only the smallest this many hashes (400 KB); see above.
MAX_SHINGLES = 100_000
# Characters tokenised at a time, and shingles put through MinHash at a time (each costs NUM_PERM
# 64-bit values, 2 KB, while it is hashed): what signing holds besides the text is bounded by these.
SHINGLED_AT_ONCE = 250_000
MINHASHED_AT_ONCE = 4096
ALL_HASHES = 1 << 32  # the shingle hashes are 32-bit: a full set covers every value below this
# Stored signatures made with other settings are recomputed.
SIGNATURE_VERSION = f"words{SHINGLE_WORDS}-perm{NUM_PERM}-seed{MINHASH_SEED}-sha1_32"

SAME_TEXT, NEAR_COPY, TRANSLATION = "same_text", "near_copy", "translation"

# The tables (article_signatures, duplicates) are in warehouse/schema.sql.

# Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, Japanese kana, CJK
# ideographs): each character is a token there, so their shingles are character n-grams.
_UNSPACED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+")
# A text may be cut in front of any of these: no token goes on across them, and lower-casing gives
# the same either side (a Greek sigma in front of them ends its word whichever piece it is in).
_CUT = re.compile(rf"[\s{_UNSPACED}]")


@dataclass(frozen=True)
class DuplicateLink:
    article_id: str
    duplicate_of: str
    similarity: float
    method: str


@dataclass(frozen=True)
class ComparedArticle:
    """What duplicate detection needs of an article. `order` sorts the earliest-ingested first."""

    article_id: str
    language: str
    text_sha256: str
    shingles: np.ndarray
    signature: LeanMinHash | None  # None when the text is too short to compare
    order: tuple = ()
    sampled: bool = False  # `shingles` are the text's MAX_SHINGLES smallest hashes, not all of them

    @property
    def hashes_below(self) -> int:
        """The hash values `shingles` holds every one of the text's shingles for: all, or those below
        the sample's largest plus one."""
        return int(self.shingles[-1]) + 1 if self.sampled and len(self.shingles) else ALL_HASHES


@dataclass(frozen=True)
class DuplicateRefresh:
    articles: int
    signatures_computed: int
    signatures_dropped: int
    too_short: int
    pairs_checked: int  # exact similarity checks (LSH candidates)
    clusters: int
    duplicates: int
    seconds: float
    rebuilt: bool = True  # clustered from scratch (first time, new settings, or asked)
    redecided: int = 0  # articles whose decision was made again
    signatures_read: int = 0  # stored signatures read to decide them
    band_rows_read: int = 0  # duplicate_bands rows the lookups returned


# --- pure functions ---------------------------------------------------------------------------


def compared_text(text: str | None, text_en: str | None) -> str:
    """The text an article is compared by: English when it has it, else its own."""
    return text_en if text_en else (text or "")


def text_sha256(text: str) -> str:
    """sha256 of the text's UTF-8, encoded a piece at a time (whole, beyond Latin-1, it takes up
    to three bytes a character at once)."""
    digest = hashlib.sha256()
    for start in range(0, len(text), SHINGLED_AT_ONCE):
        digest.update(text[start : start + SHINGLED_AT_ONCE].encode("utf-8"))
    return digest.hexdigest()


def shingle_hashes(text: str, words_per_shingle: int = SHINGLE_WORDS) -> np.ndarray:
    """Sorted distinct 32-bit hashes of the text's shingles: n-grams of lowercased words (of
    characters in scripts written without spaces)."""
    hashes, _ = shingle_sample(text, words_per_shingle, keep=None)
    return hashes


def shingle_sample(text: str, words_per_shingle: int = SHINGLE_WORDS, keep: int | None = MAX_SHINGLES) -> tuple[np.ndarray, int]:
    """(the sorted distinct hashes of the text's shingles, or their `keep` smallest; how many
    distinct shingles the text has, estimated when it has more than `keep`). Read a piece at a
    time: memory stays bounded whatever the length of the text."""
    kept = np.empty(0, dtype=np.uint32)
    sampled = False
    carried: list[str] = []  # the last words of the piece before: shingles go on across pieces
    previous: set[str] = set()  # the piece before's shingles, hashed already (a repetitive text repeats them)
    words_seen = 0
    for piece in _pieces(text, SHINGLED_AT_ONCE):
        # lower() a piece at a time: for text beyond Latin-1 it asks for 12 bytes a character at once
        found = _TOKEN.findall(piece.lower())
        words_seen += len(found)
        words = carried + found
        shingles = {" ".join(words[i : i + words_per_shingle]) for i in range(len(words) - words_per_shingle + 1)}
        carried = words[len(words) - words_per_shingle + 1 :] if words_per_shingle > 1 else []
        new = shingles - previous
        previous = shingles
        hashes = np.fromiter((sha1_hash32(s.encode("utf-8")) for s in new), dtype=np.uint32, count=len(new))
        if sampled:
            hashes = hashes[hashes < kept[-1]]
        kept = np.union1d(kept, hashes)
        if keep is not None and len(kept) > keep:
            kept, sampled = kept[:keep], True
    if 0 < words_seen < words_per_shingle:  # fewer words than a shingle: the words are the one shingle
        kept = np.array([sha1_hash32(" ".join(carried).encode("utf-8"))], dtype=np.uint32)
    if not sampled:
        return kept, len(kept)
    # The k-th smallest of n uniform hashes lies near k/n of the range (the KMV estimate of n).
    estimated = (len(kept) - 1) * ALL_HASHES // (int(kept[-1]) + 1)
    return kept, min(max(estimated, len(kept) + 1), 2**31 - 1)


def _pieces(text: str, size: int) -> Iterator[str]:
    """`text` in pieces of about `size` characters, each cut in front of a space or a character of a
    script written without spaces, so the pieces' lower-cased tokens are the text's. (A text with
    neither is one piece.)"""
    start = 0
    while start < len(text):
        boundary = _CUT.search(text, start + size) if len(text) - start > size else None
        end = boundary.start() if boundary else len(text)
        yield text[start:end]
        start = end


def _already_hashed(value) -> int:
    return int(value)


_EMPTY_MINHASH = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, hashfunc=_already_hashed)


def signature(shingles: np.ndarray) -> LeanMinHash:
    """The MinHash signature of a shingle set (datasketch, over the already hashed shingles), a
    batch at a time: datasketch holds NUM_PERM values per shingle of a batch while it hashes."""
    minhash = _EMPTY_MINHASH.copy()
    for start in range(0, len(shingles), MINHASHED_AT_ONCE):
        minhash.update_batch(shingles[start : start + MINHASHED_AT_ONCE])
    return LeanMinHash(minhash)


def similarity(shingles_a: np.ndarray, shingles_b: np.ndarray, below_a: int = ALL_HASHES, below_b: int = ALL_HASHES) -> float:
    """Overlap coefficient of two shingle sets: shared shingles over those of the smaller set.
    A set that is a sample holds only its text's hashes below some value (`below_a`, `below_b`):
    both are then compared on the hashes below the smaller of the two, where both are whole."""
    below = min(below_a, below_b)
    if below < ALL_HASHES:
        shingles_a = shingles_a[: np.searchsorted(shingles_a, below)]
        shingles_b = shingles_b[: np.searchsorted(shingles_b, below)]
    smaller = min(len(shingles_a), len(shingles_b))
    if smaller == 0:
        return 0.0
    shared = len(np.intersect1d(shingles_a, shingles_b, assume_unique=True))
    return shared / smaller


def link_method(article: ComparedArticle, representative: ComparedArticle) -> str:
    """translation when the two are in different languages, else same_text or near_copy."""
    if len({article.language, representative.language} - {"und"}) > 1:
        return TRANSLATION
    return SAME_TEXT if article.text_sha256 == representative.text_sha256 else NEAR_COPY


@dataclass
class Detection:
    """What `find_duplicates` found: the links, and how many exact checks it took."""

    links: list[DuplicateLink] = field(default_factory=list)
    pairs_checked: int = 0


def find_duplicates(
    articles: Iterable[ComparedArticle],
    *,
    min_similarity: float = MIN_SIMILARITY,
    lsh_threshold: float = LSH_THRESHOLD,
    in_order: bool = False,
) -> Detection:
    """Group near-duplicates around their earliest article; one link per article that joins a group.

    Articles are taken in `order` (earliest first; `in_order`: they already come that way, as a
    stream). MinHashLSH holds the representatives found so far; an article is checked exactly
    against the representatives it shares a bucket with and joins the most similar one that
    reaches `min_similarity`, else becomes a representative itself. Every link is to a
    representative, never through a chain of links, so an article that quotes a paragraph of
    another story cannot pull two stories into one cluster, and a cluster of many copies costs
    about one check per copy. Only the representatives are kept: memory grows with the number of
    distinct stories, not of articles.
    """
    detection = Detection()
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=NUM_PERM)
    representatives: dict[str, tuple[int, ComparedArticle]] = {}  # article_id -> (rank, article)
    comparable = (a for a in articles if a.signature is not None)
    ordered = comparable if in_order else sorted(comparable, key=lambda a: (a.order, a.article_id))
    for rank, article in enumerate(ordered):
        best, best_score = None, min_similarity
        for candidate in sorted(lsh.query(article.signature), key=lambda found: representatives[found][0]):
            detection.pairs_checked += 1
            representative = representatives[candidate][1]
            score = similarity(article.shingles, representative.shingles, article.hashes_below, representative.hashes_below)
            if score > best_score or (best is None and score >= best_score):
                best, best_score = representative, score
        if best is None:
            representatives[article.article_id] = (rank, article)
            lsh.insert(article.article_id, article.signature, check_duplication=False)
        else:
            detection.links.append(
                DuplicateLink(article.article_id, best.article_id, round(best_score, 4), link_method(article, best))
            )
    return detection


def compared_article(
    article_id: str, language: str, text: str, order: tuple = (), words_per_shingle: int = SHINGLE_WORDS
) -> ComparedArticle:
    """Shingles and signature of one article's compared text (computed, not read from the warehouse)."""
    shingles, count = shingle_sample(text, words_per_shingle)
    return _compared(article_id, language, text_sha256(text), shingles, count, order)


def _compared(article_id: str, language: str, sha: str, shingles: np.ndarray, count: int, order: tuple = ()) -> ComparedArticle:
    return ComparedArticle(
        article_id=article_id,
        language=language,
        text_sha256=sha,
        shingles=shingles,
        signature=signature(shingles) if len(shingles) >= MIN_SHINGLES else None,
        order=order,
        sampled=count > len(shingles),
    )


def text_signature(text: str) -> TextSignature:
    """The shingles and signature of a compared text, as `article_signatures` stores them."""
    shingles, count = shingle_sample(text)
    article = _compared("", "", text_sha256(text), shingles, count)
    return TextSignature(
        text_sha256=article.text_sha256,
        shingle_count=count,
        shingles=article.shingles.astype("<u4").tobytes(),
        signature=_serialized(article.signature),
    )


def sign_document(doc: Document) -> Document:
    """`doc` with the signature of the text it is compared by (text_en, else text), made where the
    text is made: on a worker, in parallel, rather than in the flow's refresh. A signature of an
    older text is replaced; the warehouse stores only one that matches the stored text."""
    if doc.rejected or not doc.text:
        return doc
    text = compared_text(doc.text, doc.text_en)
    if doc.text_signature is not None and doc.text_signature.text_sha256 == text_sha256(text):
        return doc
    return doc.replace(text_signature=text_signature(text))


# --- the warehouse ----------------------------------------------------------------------------


def ensure_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """The warehouse schema (idempotent), for a connection that was not opened through `Warehouse`
    (one opened through it has it already: applying it again would read `articles`)."""
    from pipeline.warehouse import schema_sql

    (present,) = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name IN ('duplicates_state', 'article_changes')"
    ).fetchone()
    if present < 2:
        connection.execute(schema_sql())


def _has_column(connection: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    (found,) = connection.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ? AND column_name = ?",
        [table, column],
    ).fetchone()
    return bool(found)


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    (count,) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(count)


def _first_seen_sql(connection: duckdb.DuckDBPyConnection, sources: str = "article_sources") -> str:
    """When each article was first ingested: article_sources.first_seen (read from `sources`, a
    table or CTE of its rows) where that table exists (an update rewrites articles.ingested_at),
    else articles.ingested_at."""
    if _has_column(connection, "article_sources", "first_seen"):
        return (
            f"least(a.ingested_at, (SELECT min(s.first_seen) FROM {sources} s WHERE s.article_id = a.article_id))"
        )
    return "a.ingested_at"


_SIGNATURE_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("text_sha256", pa.string()),
        ("signature_version", pa.string()),
        ("shingle_count", pa.int32()),
        ("shingles", pa.binary()),
        ("signature", pa.binary()),
    ]
)


def _serialized(minhash: LeanMinHash | None) -> bytes:
    if minhash is None:
        return b""
    buffer = bytearray(minhash.bytesize(byteorder="<"))
    minhash.serialize(buffer, byteorder="<")
    return bytes(buffer)


def _deserialized(blob: bytes) -> LeanMinHash | None:
    return LeanMinHash.deserialize(blob, byteorder="<") if blob else None


def _update_signatures(connection: duckdb.DuckDBPyConnection, only: str | None = None) -> tuple[int, int]:
    """Sign new and changed articles, SIGNATURE_CHUNK at a time; forget deleted ones; with `only`
    (a registered table of article ids), look at those articles alone. (computed, dropped)"""
    # the articles are picked first, and only their texts hashed
    # (only the columns it compares: a scan that fetched every column of the matching rows took
    # 0.7 s at 300,000 articles)
    among = f"(SELECT article_id, text, text_en FROM articles WHERE article_id IN (SELECT article_id FROM {only}))" if only else "articles"
    gone = f"article_id IN (SELECT article_id FROM {only}) AND" if only else ""
    stale_ids: list[str] = []
    dropped = 0
    # All articles are compared a hash slice at a time: a join of every article with every
    # signature needed more than a writer's 128 MB at 1,000,000 articles.
    slices = 1 if only else 1 + _count(connection, "articles") // ARTICLES_JOINED_AT_ONCE
    for number in range(slices):
        in_slice = f"hash(article_id) % {slices} = {number}"
        stale_ids += [
            article_id
            for (article_id,) in connection.execute(
                f"""
                SELECT a.article_id
                FROM (SELECT article_id, text, text_en FROM {among} WHERE {in_slice}) a
                LEFT JOIN (SELECT article_id, signature_version, text_sha256 FROM article_signatures WHERE {in_slice}) s USING (article_id)
                WHERE s.article_id IS NULL
                   OR s.signature_version <> ?
                   OR s.text_sha256 <> sha256(coalesce(nullif(a.text_en, ''), a.text))
                """,
                [SIGNATURE_VERSION],
            ).fetchall()
        ]
        (deleted,) = connection.execute(
            f"DELETE FROM article_signatures WHERE {gone} {in_slice} AND article_id NOT IN (SELECT article_id FROM articles WHERE {in_slice})"
        ).fetchone()
        dropped += deleted
    for offset in range(0, len(stale_ids), SIGNATURE_CHUNK):
        chunk = pa.table({"article_id": pa.array(stale_ids[offset : offset + SIGNATURE_CHUNK], pa.string())})
        with registered(connection, stale_articles=chunk):
            texts = connection.execute(
                """
                SELECT article_id, coalesce(nullif(text_en, ''), text)
                FROM articles JOIN stale_articles USING (article_id)
                """
            ).fetchall()
        table = _signatures_table([(article_id, text_signature(text)) for article_id, text in texts])
        _replace_signatures(connection, table)
    return len(stale_ids), int(dropped)


def _signatures_table(signed: Sequence[tuple[str, TextSignature]]) -> pa.Table:
    return pa.table(
        {
            "article_id": [article_id for article_id, _ in signed],
            "text_sha256": [s.text_sha256 for _, s in signed],
            "signature_version": [SIGNATURE_VERSION] * len(signed),
            "shingle_count": [s.shingle_count for _, s in signed],
            "shingles": [s.shingles for _, s in signed],
            "signature": [s.signature for _, s in signed],
        },
        schema=_SIGNATURE_SCHEMA,
    )


def _replace_signatures(connection: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    with registered(connection, fresh_signatures=table):
        connection.execute("DELETE FROM article_signatures WHERE article_id IN (SELECT article_id FROM fresh_signatures)")
        connection.execute("INSERT INTO article_signatures SELECT * FROM fresh_signatures")


def store_signatures(connection: duckdb.DuckDBPyConnection, docs: Sequence[Document]) -> int:
    """Store the signatures the documents carry for the articles they were just written to, each
    only where it is of the text the article now holds (another copy may have won the batch); the
    refresh signs whatever is left. Returns the signatures stored. Run inside the write's transaction
    or right after it."""
    signed = [(doc.source_path, doc.text_signature) for doc in docs if doc.text_signature is not None and not doc.rejected]
    if not signed:
        return 0
    table = _signatures_table(signed).rename_columns(["source_path", *_SIGNATURE_SCHEMA.names[1:]])
    with registered(connection, signed_documents=table):
        # The articles of the batch are picked first and only their texts hashed: as a join
        # condition the hash was computed for every article (285 ms a batch at 20,000, 25 ms so).
        matching = connection.execute(
            """
            WITH signed AS (SELECT p.article_id, d.* FROM signed_documents d JOIN article_sources p USING (source_path))
            SELECT DISTINCT ON (a.article_id) a.article_id, d.text_sha256, d.signature_version, d.shingle_count, d.shingles, d.signature
            FROM signed d
            JOIN (
                SELECT article_id, sha256(coalesce(nullif(text_en, ''), text)) AS compared_sha256 FROM articles
                WHERE article_id IN (SELECT article_id FROM signed)
            ) a ON a.article_id = d.article_id AND a.compared_sha256 = d.text_sha256
            """
        ).fetch_arrow_table()
    _replace_signatures(connection, matching)
    return matching.num_rows


class _StoredArticles:
    """The signed articles, read from the warehouse a chunk at a time in clustering order (the
    order `find_duplicates` would sort them in), counted as they pass; with `only`, the name of a
    registered table of article ids, just those (in the same order)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, only: str | None = None):
        self.connection = connection
        self.only = only
        self.count = 0
        self.too_short = 0

    def __iter__(self) -> Iterator[ComparedArticle]:
        if self.only:
            yield from self._just_these()
            return
        # The order is sorted without the signatures (a sort of every article's blobs needs more
        # than a writer's 128 MB at 100,000 articles); they are read a chunk at a time in it.
        first_seen = _first_seen_sql(self.connection)
        wanted = f"WHERE a.article_id IN (SELECT article_id FROM {self.only})" if self.only else ""
        self.connection.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE clustering_order AS
            SELECT row_number() OVER (ORDER BY first_seen, published_at IS NULL, coalesce(published_at, first_seen), source_path, article_id) AS position,
                   article_id, language, first_seen, published_at, source_path
            FROM (SELECT a.article_id, a.language, {first_seen} AS first_seen, a.published_at, a.source_path
                  FROM articles a SEMI JOIN article_signatures s USING (article_id) {wanted})
            """
        )
        try:
            (total,) = self.connection.execute("SELECT count(*) FROM clustering_order").fetchone()
            for first in range(1, total + 1, SIGNATURE_CHUNK):
                rows = self.connection.execute(
                    """
                    SELECT o.article_id, o.language, s.text_sha256, s.shingles, s.signature, o.first_seen, o.published_at, o.source_path, s.shingle_count
                    FROM clustering_order o JOIN article_signatures s USING (article_id)
                    WHERE o.position BETWEEN ? AND ? ORDER BY o.position
                    """,
                    [first, first + SIGNATURE_CHUNK - 1],
                ).fetchall()
                yield from self._compared(rows)
        finally:
            self.connection.execute("DROP TABLE IF EXISTS clustering_order")

    def _just_these(self) -> Iterator[ComparedArticle]:
        """The articles of `only`, in one statement: each table's rows picked by id first, no
        clustering order to number."""
        yield from self._compared(self.connection.execute(self.just_these_sql(self.connection, self.only)).fetchall())

    @staticmethod
    def just_these_sql(connection: duckdb.DuckDBPyConnection, only: str) -> str:
        """The query of `_just_these`: the rows `_compared` takes, of the articles in table `only`."""
        first_seen = _first_seen_sql(connection, sources="wanted_sources")
        return f"""
            WITH wanted AS (SELECT DISTINCT article_id FROM {only}),
                 wanted_sources AS MATERIALIZED (SELECT article_id, first_seen FROM article_sources WHERE article_id IN (SELECT article_id FROM wanted)),
                 a AS MATERIALIZED (SELECT article_id, language, ingested_at, published_at, source_path FROM articles WHERE article_id IN (SELECT article_id FROM wanted)),
                 s AS MATERIALIZED (SELECT * FROM article_signatures WHERE article_id IN (SELECT article_id FROM wanted))
            SELECT a.article_id, a.language, s.text_sha256, s.shingles, s.signature, {first_seen}, a.published_at, a.source_path, s.shingle_count
            FROM a JOIN s USING (article_id)
            """

    def _compared(self, rows: list[tuple]) -> Iterator[ComparedArticle]:
        for article_id, language, sha, shingles, blob, first_seen, published_at, source_path, count in rows:
            self.count += 1
            if not blob:
                self.too_short += 1
            hashes = np.frombuffer(shingles, dtype="<u4")
            yield ComparedArticle(
                article_id=article_id,
                language=language,
                text_sha256=sha,
                shingles=hashes,
                signature=_deserialized(blob),
                order=(first_seen, published_at is None, published_at or first_seen, source_path),
                sampled=count > len(hashes),
            )


# --- the clustering kept in the warehouse -----------------------------------------------------
#
# The clustering is the one `find_duplicates` makes, kept between runs: every compared article's
# place in the order and role (duplicate_members), its LSH band keys (duplicate_bands) and its link
# (duplicates). An article's decision depends only on the representatives before it in the order
# that share a band key with it. So when articles change (noted by the write path in
# article_changes), the refresh re-decides, in order, each changed article and every later article
# sharing a band key with it (its old bands or its new ones); when a re-decided article's role
# changes, its later band neighbours are re-decided too. The rest of the archive is not read.

DUPLICATES_CONSUMER = "duplicates"
BANDS, BAND_ROWS = 85, 3  # what MinHashLSH makes of LSH_THRESHOLD and NUM_PERM (checked in the tests)
_BAND_SEEDS = (np.arange(BANDS, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)


def _settings(min_similarity: float) -> str:
    return f"{SIGNATURE_VERSION}; bands {BANDS}x{BAND_ROWS}; min_similarity {min_similarity!r}"


def _mixed(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, over uint64 arrays (wrapping multiplication)."""
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def band_keys(minhash: LeanMinHash) -> np.ndarray:
    """The article's BANDS LSH bucket keys (int64): a hash of each band's number and its BAND_ROWS
    MinHash values. Two articles are candidates when they share one (as in MinHashLSH)."""
    return _band_keys_of(np.asarray(minhash.hashvalues)[None, :])[0]


def _band_keys_of(hashvalues: np.ndarray) -> np.ndarray:
    """`band_keys` of many signatures at once: (articles, NUM_PERM) hash values -> (articles, BANDS)."""
    values = np.asarray(hashvalues[:, : BANDS * BAND_ROWS], dtype=np.uint64).reshape(len(hashvalues), BANDS, BAND_ROWS)
    keys = np.broadcast_to(_BAND_SEEDS, (len(hashvalues), BANDS))
    for row in range(BAND_ROWS):
        keys = _mixed(keys ^ values[:, :, row])
    return keys.view(np.int64)


def _decide(article: ComparedArticle, candidates: Iterable[ComparedArticle], min_similarity: float) -> tuple[ComparedArticle | None, float, int]:
    """(the representative `article` joins, or None; the similarity; checks made): the most similar of
    `candidates` (earlier representatives, in order) reaching `min_similarity`, the earliest on a tie."""
    best, best_score, checked = None, min_similarity, 0
    for representative in candidates:
        checked += 1
        score = similarity(article.shingles, representative.shingles, article.hashes_below, representative.hashes_below)
        if score > best_score or (best is None and score >= best_score):
            best, best_score = representative, score
    return best, best_score, checked


def _order_key(article: ComparedArticle) -> tuple:
    return (*article.order, article.article_id)


@dataclass
class _Decisions:
    """What a refresh decided, to write: members (article_id, order, representative), links, checks."""

    members: dict[str, tuple[tuple, bool]] = field(default_factory=dict)
    links: dict[str, DuplicateLink] = field(default_factory=dict)
    pairs_checked: int = 0
    signatures_read: int = 0


def _cluster_everything(connection: duckdb.DuckDBPyConnection, min_similarity: float) -> tuple[_Decisions, dict[str, np.ndarray], _StoredArticles]:
    """Every signed article decided in order, from scratch, in one pass: (decisions, band keys of
    each, the reader). What a rebuild must equal (`clusters_from_scratch`)."""
    stored = _StoredArticles(connection)
    decisions, keys_of = _decide_in_order(stored, min_similarity, {}, {})
    return decisions, keys_of, stored


def _decide_in_order(
    articles: Iterable[ComparedArticle],
    min_similarity: float,
    representatives: dict[str, ComparedArticle],
    representatives_by_key: dict[int, list[str]],
) -> tuple[_Decisions, dict[str, np.ndarray]]:
    """Decide `articles` (in clustering order, all after the `representatives` already decided,
    which `representatives_by_key` lists by band key) one after the other; `representatives` and
    `representatives_by_key` gain the new ones. (decisions, band keys of each signed article)"""
    decisions = _Decisions()
    keys_of: dict[str, np.ndarray] = {}
    rank = {article_id: _order_key(article) for article_id, article in representatives.items()}
    for article in articles:
        decisions.signatures_read += 1
        if article.signature is None:
            continue
        keys = band_keys(article.signature)
        keys_of[article.article_id] = keys
        found = {candidate for key in keys.tolist() for candidate in representatives_by_key.get(key, ())}
        best, score, checked = _decide(article, (representatives[c] for c in sorted(found, key=rank.__getitem__)), min_similarity)
        decisions.pairs_checked += checked
        if best is None:
            representatives[article.article_id] = replace(article, signature=None)  # its keys are all it needs of it
            rank[article.article_id] = _order_key(article)
            for key in keys.tolist():
                representatives_by_key.setdefault(key, []).append(article.article_id)
        else:
            decisions.links[article.article_id] = DuplicateLink(article.article_id, best.article_id, round(score, 4), link_method(article, best))
        decisions.members[article.article_id] = (article.order, best is None)
    return decisions, keys_of


class _StoredClustering:
    """The clustering state of the articles a refresh touches, read from the warehouse as needed:
    each lookup is one statement over the ids or keys not read before."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, changed: set[str]):
        self.connection = connection
        self.changed = changed  # their stored bands and members are the old state
        self.members: dict[str, tuple[tuple, bool]] = {}  # article_id -> (order, representative), as stored
        self.keys_of: dict[str, np.ndarray] = {}  # stored band keys (of unchanged articles)
        self.holders: dict[int, set[str]] = {}  # band key -> articles holding it now (complete for keys in it)
        self.articles: dict[str, ComparedArticle] = {}
        self.band_rows_read = 0

    def _ids_table(self, ids: Iterable[str]) -> pa.Table:
        return pa.table({"article_id": pa.array(sorted(ids), pa.string())})

    def read_members(self, ids: Iterable[str]) -> None:
        """Their stored order, role and band keys (an article without a row: no keys)."""
        missing = {article_id for article_id in ids if article_id not in self.keys_of}
        if not missing:
            return
        with registered(self.connection, members_wanted=self._ids_table(missing)):
            rows = self.connection.execute(
                "SELECT article_id, first_seen, published_at, source_path, representative, band_keys FROM duplicate_members "
                "WHERE article_id IN (SELECT article_id FROM members_wanted)"
            ).fetchall()
        for article_id, first_seen, published_at, source_path, representative, keys in rows:
            self.members[article_id] = ((first_seen, published_at is None, published_at or first_seen, source_path), representative)
            self.keys_of[article_id] = np.array(keys, dtype=np.int64)
        for article_id in missing - self.keys_of.keys():
            self.keys_of[article_id] = np.empty(0, dtype=np.int64)

    def read_keys_of(self, ids: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored band keys of these articles."""
        ids = list(ids)
        self.read_members(ids)
        return {article_id: self.keys_of[article_id] for article_id in ids}

    def read_holders(self, keys: Iterable[int]) -> None:
        """Who holds these band keys, from duplicate_bands (the changed articles' stored rows left out:
        they are the old state; the refresh adds their new keys)."""
        missing = {key for key in keys if key not in self.holders}
        if not missing:
            return
        wanted = pa.table({"band_key": pa.array(sorted(missing), pa.int64())})
        with registered(self.connection, band_keys_wanted=wanted):
            rows = self.connection.execute(
                "SELECT band_key, article_id FROM duplicate_bands WHERE band_key IN (SELECT band_key FROM band_keys_wanted)"
            ).fetchall()
        self.band_rows_read += len(rows)
        found: dict[int, set[str]] = {key: set() for key in missing}
        for key, article_id in rows:
            if article_id not in self.changed:
                found[key].add(article_id)
        for key, holders in found.items():
            self.holders[key] = holders | self.holders.get(key, set())

    def read_articles(self, ids: Iterable[str]) -> None:
        """Their shingles and signatures. More than SIGNATURE_CHUNK are first gathered into a
        temporary table by one statement (one scan of each table, where a statement per chunk
        scanned them all again: 15,580 articles took 16 scans of a million, 9 s), then fetched
        SIGNATURE_CHUNK at a time (the blobs of 10,000 in one fetch ran a 128 MB writer out of
        memory; a temporary table can spill to disk)."""
        missing = sorted({article_id for article_id in ids if article_id not in self.articles})
        if len(missing) <= SIGNATURE_CHUNK:
            with registered(self.connection, compared_wanted=self._ids_table(missing)):
                for article in _StoredArticles(self.connection, only="compared_wanted"):
                    self.articles[article.article_id] = article
            return
        with registered(self.connection, compared_wanted=self._ids_table(missing)):
            self.connection.execute(f"CREATE OR REPLACE TEMP TABLE compared_rows AS {_StoredArticles.just_these_sql(self.connection, 'compared_wanted')}")
        try:
            reader = _StoredArticles(self.connection)
            for start in range(0, len(missing), SIGNATURE_CHUNK):
                rows = self.connection.execute("SELECT * FROM compared_rows LIMIT ? OFFSET ?", [SIGNATURE_CHUNK, start]).fetchall()
                for article in reader._compared(rows):
                    self.articles[article.article_id] = article
        finally:
            self.connection.execute("DROP TABLE IF EXISTS compared_rows")


def _recluster_changed(
    connection: duckdb.DuckDBPyConnection, changed: list[str], min_similarity: float
) -> tuple[_Decisions, dict[str, np.ndarray], list[str], int]:
    """Re-decide, in order, the changed articles and every later article their change can reach
    (see above). Returns (the decisions, the band keys of each decided article, the changed articles
    with new band keys, the changed articles with band rows stored, band rows read)."""
    decisions = _Decisions()
    changed_set = set(changed)
    state = _StoredClustering(connection, changed_set)
    state.read_articles(changed)
    now = {article_id: article for article_id, article in state.articles.items() if article.signature is not None}
    new_keys = {article_id: band_keys(article.signature) for article_id, article in now.items()}
    old_keys = state.read_keys_of(changed)
    state.read_members(changed)
    old_members = {article_id: state.members[article_id] for article_id in changed if article_id in state.members}
    state.read_holders(key for keys in (*old_keys.values(), *new_keys.values()) for key in keys.tolist())
    for article_id, keys in new_keys.items():
        for key in keys.tolist():
            state.holders[key].add(article_id)

    order_of: dict[str, tuple] = {}  # the order each article is decided at (new for the changed ones)

    def order(article_id: str) -> tuple:
        if article_id in order_of:
            return order_of[article_id]
        return (*state.members[article_id][0], article_id)

    for article_id, article in now.items():
        order_of[article_id] = _order_key(article)
    queue: list[tuple] = []
    queued: set[str] = set()

    def push_later_neighbours(keys: Iterable[int], after: tuple) -> None:
        neighbours = {holder for key in keys for holder in state.holders.get(key, ())} - queued
        state.read_members(neighbours - order_of.keys())
        for neighbour in neighbours:
            if (neighbour in order_of or neighbour in state.members) and order(neighbour) > after:
                heapq.heappush(queue, (order(neighbour), neighbour))
                queued.add(neighbour)

    # the members of every changed article's band neighbours, in one statement, before they are pushed
    state.read_members({holder for key in state.holders for holder in state.holders[key]} - order_of.keys())
    for article_id in changed:
        before = [(*old_members[article_id][0], article_id)] if article_id in old_members else []
        if article_id in now:
            before.append(order_of[article_id])
            heapq.heappush(queue, (order_of[article_id], article_id))
            queued.add(article_id)
        if before:
            keys = set(old_keys[article_id].tolist()) | set(new_keys.get(article_id, np.empty(0, np.int64)).tolist())
            push_later_neighbours(keys, min(before))
    # What the first round needs, in one statement each: the queued articles' keys, who else holds
    # them, and the shingles of the queued articles and of the representatives among those.
    queued_keys = {key for keys in state.read_keys_of(queued - changed_set).values() for key in keys.tolist()}
    queued_keys.update(key for article_id in queued & new_keys.keys() for key in new_keys[article_id].tolist())
    state.read_holders(queued_keys)
    holders = {holder for key in queued_keys for holder in state.holders[key]}
    state.read_members(holders - order_of.keys())
    state.read_articles(queued | {h for h in holders if h not in changed_set and h in state.members and state.members[h][1]})
    while queue:
        article_order, article_id = heapq.heappop(queue)
        keys = new_keys[article_id] if article_id in changed_set else state.read_keys_of([article_id])[article_id]
        state.read_holders(keys.tolist())
        neighbours = {holder for key in keys.tolist() for holder in state.holders[key]} - {article_id}
        state.read_members(neighbours - order_of.keys())
        earlier = sorted(
            (n for n in neighbours if (n in order_of or n in state.members) and order(n) < article_order and _is_representative(n, state, decisions)),
            key=order,
        )
        state.read_articles([article_id, *earlier])
        article = state.articles[article_id]
        decisions.signatures_read = len(state.articles)
        best, score, checked = _decide(article, (state.articles[n] for n in earlier), min_similarity)
        decisions.pairs_checked += checked
        representative = best is None
        decisions.members[article_id] = (article.order, representative)
        if best is not None:
            decisions.links[article_id] = DuplicateLink(article_id, best.article_id, round(score, 4), link_method(article, best))
        if article_id not in changed_set and representative != state.members[article_id][1]:
            push_later_neighbours(keys.tolist(), article_order)
    keys_of = {article_id: new_keys[article_id] if article_id in new_keys else state.keys_of[article_id] for article_id in decisions.members}
    banded_before = [article_id for article_id, keys in old_keys.items() if len(keys)]
    return decisions, keys_of, list(new_keys), banded_before, state.band_rows_read


def _signed_in_clustering_order(connection: duckdb.DuckDBPyConnection) -> list[tuple]:
    """The signed articles in clustering order, each as (first_seen, published_at is None,
    published_at or first_seen, source_path, article_id, language): the order key the refresh
    decides by, then the language. Read a hash slice at a time and sorted here (a join of all
    articles with their places and signatures in one statement needed more than a writer's 128 MB
    at 1,000,000 articles)."""
    first_seen = _first_seen_sql(connection)
    slices = 1 + _count(connection, "articles") // ARTICLES_JOINED_AT_ONCE
    keyed: list[tuple] = []
    for number in range(slices):
        in_slice = f"hash(article_id) % {slices} = {number}"
        rows = connection.execute(
            f"""
            SELECT {first_seen}, a.published_at, a.source_path, a.article_id, a.language
            FROM (SELECT article_id, ingested_at, published_at, source_path, language FROM articles WHERE {in_slice}) a
            WHERE a.article_id IN (SELECT article_id FROM article_signatures WHERE {in_slice})
            """
        ).fetchall()
        keyed += [(first, published is None, published or first, path, article_id, language) for first, published, path, article_id, language in rows]
    keyed.sort()
    return keyed


class _SignedArchive:
    """Every signed article's band keys and shingles, by its place in the clustering order, read in
    one pass over `article_signatures` and kept in files under `scratch` (memory-mapped), so a
    rebuild reads the signatures once and holds neither them nor the keys in memory."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, ordered: list[tuple], scratch: Path):
        count = len(ordered)
        place = {key[4]: number for number, key in enumerate(ordered)}
        self.ordered = ordered
        self.signed = np.zeros(count, dtype=bool)
        self.sampled = np.zeros(count, dtype=bool)
        self.text_sha = np.zeros(count, dtype="S32")
        self.start = np.zeros(count, dtype=np.int64)
        self.length = np.zeros(count, dtype=np.int64)
        self.keys = np.lib.format.open_memmap(scratch / "band_keys.npy", mode="w+", dtype=np.int64, shape=(max(count, 1), BANDS))
        written = 0
        reader = connection.execute("SELECT article_id, text_sha256, shingle_count, shingles, signature FROM article_signatures").fetch_record_batch(SIGNATURE_CHUNK)
        with open(scratch / "shingles.u32", "wb") as shingles_file:
            for batch in reader:
                ids, shas, counts, shingles, blobs = (batch.column(i).to_pylist() for i in range(5))
                places, hashvalues = [], []
                for article_id, sha, shingle_count, hashes, blob in zip(ids, shas, counts, shingles, blobs, strict=True):
                    number = place.get(article_id)
                    if number is None:
                        continue
                    self.start[number], self.length[number] = written, len(hashes) // 4
                    shingles_file.write(hashes)
                    written += len(hashes) // 4
                    self.sampled[number] = shingle_count > len(hashes) // 4
                    self.text_sha[number] = bytes.fromhex(sha)
                    if blob:
                        places.append(number)
                        hashvalues.append(_deserialized(blob).hashvalues)
                if places:
                    self.keys[places] = _band_keys_of(np.stack(hashvalues))
                    self.signed[places] = True
        self.shingles = np.memmap(scratch / "shingles.u32", dtype="<u4", mode="r") if written else np.empty(0, dtype="<u4")

    def article(self, number: int) -> ComparedArticle:
        first, no_date, published, path, article_id, language = self.ordered[number]
        return ComparedArticle(
            article_id=article_id,
            language=language,
            text_sha256=self.text_sha[number].hex(),
            shingles=np.asarray(self.shingles[self.start[number] : self.start[number] + self.length[number]]),
            signature=None,
            order=(first, no_date, published, path),
            sampled=bool(self.sampled[number]),
        )

    def shared_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """The articles holding each band key that more than one article holds, band by band:
        (places of the holders, grouped by key and in order within each group; where each group
        starts, with the end of the last)."""
        signed = np.flatnonzero(self.signed)
        members, starts, total = [], [], 0
        for band in range(BANDS):
            column = self.keys[signed, band]
            by_key = np.argsort(column, kind="stable")  # stable: each key's holders stay in order
            sorted_keys = column[by_key]
            same_as_next = sorted_keys[1:] == sorted_keys[:-1]
            in_group = np.zeros(len(column), dtype=bool)
            in_group[1:] |= same_as_next
            in_group[:-1] |= same_as_next
            holders = signed[by_key[in_group]]
            if not len(holders):
                continue
            grouped_keys = sorted_keys[in_group]
            new_group = np.ones(len(grouped_keys), dtype=bool)
            new_group[1:] = grouped_keys[1:] != grouped_keys[:-1]
            members.append(holders)
            starts.append(total + np.flatnonzero(new_group))
            total += len(holders)
        if not members:
            return np.empty(0, np.int64), np.zeros(1, np.int64)
        return np.concatenate(members), np.append(np.concatenate(starts), total)


def _rebuild_from_shared_keys(connection: duckdb.DuckDBPyConnection, min_similarity: float) -> _Decisions:
    """The clustering from scratch, as one pass over all articles in order makes it
    (`_cluster_everything`), but reading each signature once: the band keys and shingles of every
    signed article are put in memory-mapped files by one scan of `article_signatures`; the keys
    that more than one article holds are found band by band (a sort of a million keys each); only
    the articles holding one are decided against anything (each against the earlier cluster heads
    sharing one of them; every other article starts its own cluster). The result is written and
    committed REBUILT_AT_ONCE articles of the order at a time. Call it with the clustering tables
    empty and no transaction open; returns the totals (no members)."""
    totals = _Decisions()
    ordered = _signed_in_clustering_order(connection)
    (spill,) = connection.execute("SELECT current_setting('temp_directory')").fetchone()
    scratch_parent = Path(spill) if spill else None
    if scratch_parent is not None:
        scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="newsflow-duplicates-", dir=scratch_parent) as scratch:
        archive = _SignedArchive(connection, ordered, Path(scratch))
        members, starts = archive.shared_keys()
        group_of_member = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
        by_place = np.argsort(members, kind="stable")
        places, first_index = np.unique(members[by_place], return_index=True)
        groups_by_place = np.split(group_of_member[by_place], first_index[1:]) if len(places) else []
        representative = archive.signed.copy()  # an article sharing no key starts its own cluster
        links: dict[int, DuplicateLink] = {}
        for number, groups in zip(places.tolist(), groups_by_place, strict=True):
            candidates = np.concatenate([members[starts[group] : starts[group + 1]] for group in groups])
            candidates = np.unique(candidates[candidates < number])
            candidates = candidates[representative[candidates]]
            article = archive.article(number)
            best, score, checked = _decide(article, (archive.article(c) for c in candidates.tolist()), min_similarity)
            totals.pairs_checked += checked
            if best is not None:
                representative[number] = False
                links[number] = DuplicateLink(article.article_id, best.article_id, round(score, 4), link_method(article, best))
        totals.signatures_read = int(archive.signed.size)
        for start in range(0, len(ordered), REBUILT_AT_ONCE):
            piece = [number for number in range(start, min(start + REBUILT_AT_ONCE, len(ordered))) if archive.signed[number]]
            decisions = _Decisions()
            for number in piece:
                first, no_date, published, path, article_id, _ = ordered[number]
                decisions.members[article_id] = ((first, no_date, published, path), bool(representative[number]))
                if number in links:
                    decisions.links[article_id] = links[number]
            keys_of = {ordered[number][4]: np.array(archive.keys[number]) for number in piece}
            connection.begin()
            try:
                _write_clustering(connection, decisions, keys_of, forget=[], new_band_keys=list(keys_of), rows_exist=False)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
    return totals


def _is_representative(article_id: str, state: _StoredClustering, decisions: _Decisions) -> bool:
    """Its role now: as re-decided in this refresh, else as stored (a changed article not yet
    re-decided is later in the order, so never asked)."""
    if article_id in decisions.members:
        return decisions.members[article_id][1]
    if article_id in state.changed:
        return False
    return state.members[article_id][1]


def _write_clustering(
    connection: duckdb.DuckDBPyConnection,
    decisions: _Decisions,
    keys_of: dict[str, np.ndarray],
    forget: Iterable[str],
    new_band_keys: Iterable[str] = (),
    banded_before: Iterable[str] = (),
    rows_exist: bool = True,
) -> None:
    """Replace the members and links of the decided articles (`keys_of`: the band keys of each) and
    of those in `forget` (the changed articles, whose state goes first), and the band rows of
    `banded_before` (those of them with band rows stored); band rows are written for `new_band_keys`.
    Without `rows_exist`, the decided articles have no rows yet (a rebuild), and none are looked for."""
    replaced = pa.table({"article_id": pa.array(sorted(set(forget) | decisions.members.keys()), pa.string())})
    if rows_exist:
        with registered(connection, replaced_articles=replaced):
            for table in ("duplicates", "duplicate_members"):
                connection.execute(f"DELETE FROM {table} WHERE article_id IN (SELECT article_id FROM replaced_articles)")
    unbanded = pa.table({"article_id": pa.array(sorted(set(banded_before)), pa.string())})
    if unbanded.num_rows:  # new articles have none: no scan of the band rows
        with registered(connection, unbanded_articles=unbanded):
            connection.execute("DELETE FROM duplicate_bands WHERE article_id IN (SELECT article_id FROM unbanded_articles)")
    links = list(decisions.links.values())
    orders = [order for order, _ in decisions.members.values()]
    banded = list(new_band_keys)
    tables = {
        "duplicates": pa.table(
            {
                "article_id": pa.array([link.article_id for link in links], pa.string()),
                "duplicate_of": pa.array([link.duplicate_of for link in links], pa.string()),
                "similarity": pa.array([link.similarity for link in links], pa.float64()),
                "method": pa.array([link.method for link in links], pa.string()),
            }
        ),
        "duplicate_members": pa.table(
            {
                "article_id": pa.array(list(decisions.members), pa.string()),
                "first_seen": pa.array([order[0] for order in orders], pa.timestamp("us")),
                "published_at": pa.array([None if order[1] else order[2] for order in orders], pa.timestamp("us")),
                "source_path": pa.array([order[3] for order in orders], pa.string()),
                "representative": pa.array([representative for _, representative in decisions.members.values()], pa.bool_()),
                "band_keys": pa.array([keys_of[article_id] for article_id in decisions.members], pa.list_(pa.int64())),
            }
        ),
        "duplicate_bands": pa.table(
            {
                "band_key": pa.array(np.concatenate([np.empty(0, np.int64), *(keys_of[a] for a in banded)]), pa.int64()),
                "article_id": pa.array(np.repeat(np.array(banded, dtype=object), [len(keys_of[a]) for a in banded]), pa.string()),
            }
        ),
    }
    for table, rows in tables.items():
        with registered(connection, clustering_rows=rows):
            connection.execute(f"INSERT INTO {table} ({', '.join(rows.column_names)}) SELECT * FROM clustering_rows")


def refresh_duplicates(
    connection: duckdb.DuckDBPyConnection, *, min_similarity: float = MIN_SIMILARITY, rebuild: bool = False
) -> DuplicateRefresh:
    """`_refresh_duplicates`, with joins to the whole archive read by scans, not the writer's ART
    lookups (`keys_looked_up_by_scan`): through the indexes, the refresh after a run adding 100
    articles to 300,000 ran the 128 MB writer out of memory; by scan it took 6.6 s."""
    with keys_looked_up_by_scan(connection):
        return _refresh_duplicates(connection, min_similarity=min_similarity, rebuild=rebuild)


def _refresh_duplicates(
    connection: duckdb.DuckDBPyConnection, *, min_similarity: float = MIN_SIMILARITY, rebuild: bool = False
) -> DuplicateRefresh:
    """Bring `article_signatures` and the clustering up to date with the articles, in one transaction.

    Incremental: only the articles the write path noted as changed since the last refresh are
    signed and re-decided, with the later articles their change can reach. From scratch (every
    article signed where needed and clustered in order, as `find_duplicates` does) with `rebuild`,
    on a warehouse never clustered this way, or when the settings changed (SIGNATURE_VERSION, the
    bands, `min_similarity`). Either way the clusters are the same. Call it with no transaction
    open on `connection`.
    """
    started = time.perf_counter()
    ensure_tables(connection)
    settings = _settings(min_similarity)
    connection.begin()
    try:
        stored = connection.execute("SELECT settings FROM duplicates_state").fetchone()
        from_scratch = rebuild or stored is None or stored[0] != settings
        if from_scratch:
            # The state row goes first and comes back last: a rebuild cut short is made anew.
            connection.execute("DELETE FROM duplicates_state")
            for table in ("duplicates", "duplicate_members", "duplicate_bands"):
                connection.execute(f"DELETE FROM {table}")
            computed, dropped = _update_signatures(connection)
            connection.commit()
            decisions, band_rows = _rebuild_from_shared_keys(connection, min_similarity), 0
            connection.begin()
            consume_changes(connection, DUPLICATES_CONSUMER)
            connection.execute("INSERT INTO duplicates_state VALUES (?, current_timestamp::TIMESTAMP)", [settings])
        else:
            changed = pending_articles(connection, DUPLICATES_CONSUMER)
            computed, dropped, band_rows = 0, 0, 0
            decisions = _Decisions()
            if changed:
                with registered(connection, changed_for_duplicates=pa.table({"article_id": pa.array(changed, pa.string())})):
                    computed, dropped = _update_signatures(connection, only="changed_for_duplicates")
                    decisions, keys_of, new_keys, banded_before, band_rows = _recluster_changed(connection, changed, min_similarity)
                _write_clustering(connection, decisions, keys_of, forget=changed, new_band_keys=new_keys, banded_before=banded_before)
                consume_changes(connection, DUPLICATES_CONSUMER, changed)
        compared, too_short = connection.execute(
            f"SELECT count(*), count(*) FILTER (WHERE shingle_count < {MIN_SHINGLES}) FROM article_signatures"  # not the blobs
        ).fetchone()
        clusters, duplicates = connection.execute("SELECT count(DISTINCT duplicate_of), count(*) FROM duplicates").fetchone()
        connection.commit()
    except BaseException:
        try:
            connection.rollback()
        except duckdb.Error:
            pass
        raise
    return DuplicateRefresh(
        articles=int(compared),
        signatures_computed=computed,
        signatures_dropped=int(dropped),
        too_short=int(too_short),
        pairs_checked=decisions.pairs_checked,
        clusters=int(clusters),
        duplicates=int(duplicates),
        seconds=time.perf_counter() - started,
        rebuilt=from_scratch,
        redecided=len(decisions.members),
        signatures_read=decisions.signatures_read,
        band_rows_read=band_rows,
    )


def clusters_from_scratch(connection: duckdb.DuckDBPyConnection, *, min_similarity: float = MIN_SIMILARITY) -> dict[str, DuplicateLink]:
    """The links a rebuild would make of the signatures stored now, without writing anything
    (what the incremental clustering must equal)."""
    decisions, _, _ = _cluster_everything(connection, min_similarity)
    return decisions.links


# --- reading clusters (`newsflow duplicates`) -------------------------------------------------


@dataclass(frozen=True)
class ClusterMember:
    article_id: str
    title: str | None
    language: str
    site_name: str | None
    source_path: str
    similarity: float | None  # None for the representative
    method: str | None


@dataclass(frozen=True)
class DuplicateCluster:
    representative: ClusterMember
    duplicates: tuple[ClusterMember, ...]


class DuplicatesNotBuilt(Exception):
    """The warehouse has no `duplicates` table yet."""


def duplicate_clusters(query: Callable[[str], tuple[list[str], list[tuple]]], min_similarity: float = 0.0) -> list[DuplicateCluster]:
    """The clusters in `duplicates`, largest first; `query` runs SQL (e.g. `Warehouse.query`).

    Members below `min_similarity` are left out, and so is a cluster left with none.
    """
    _, tables = query(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND table_name = 'duplicates'"
    )
    if not tables:
        raise DuplicatesNotBuilt("this warehouse has no duplicates table yet: run `newsflow ingest` to build it")
    _, title_en = query(
        "SELECT 1 FROM duckdb_columns() WHERE database_name = current_database() AND table_name = 'articles' AND column_name = 'title_en'"
    )
    title = "coalesce(a.title_en, a.title)" if title_en else "a.title"
    threshold = float(min_similarity)
    _, rows = query(
        f"""
        WITH kept AS (SELECT * FROM duplicates WHERE similarity >= {threshold!r}),
        members AS (
            SELECT duplicate_of AS cluster, duplicate_of AS article_id, NULL::DOUBLE AS similarity, NULL AS method, 0 AS role
            FROM kept GROUP BY duplicate_of
            UNION ALL
            SELECT duplicate_of, article_id, similarity, method, 1 FROM kept
        )
        SELECT m.cluster, m.article_id, {title}, a.language, a.site_name, a.source_path, m.similarity, m.method
        FROM members m JOIN articles a USING (article_id)
        ORDER BY count(*) OVER (PARTITION BY m.cluster) DESC, m.cluster, m.role, m.similarity DESC, a.source_path
        """
    )
    clusters: dict[str, list[ClusterMember]] = {}
    for cluster, article_id, member_title, language, site, path, score, method in rows:
        clusters.setdefault(cluster, []).append(ClusterMember(article_id, member_title, language, site, path, score, method))
    return [DuplicateCluster(members[0], tuple(members[1:])) for members in clusters.values() if len(members) > 1]


def clusters_as_json(clusters: Sequence[DuplicateCluster]) -> list[dict]:
    """Plain data for `newsflow duplicates --format json`: one object per cluster."""

    def member(item: ClusterMember) -> dict:
        fields = {
            "article_id": item.article_id,
            "title": item.title,
            "language": item.language,
            "site_name": item.site_name,
            "source_path": item.source_path,
        }
        if item.similarity is not None:
            fields.update(similarity=item.similarity, method=item.method)
        return fields

    return [
        {"duplicate_of": member(cluster.representative), "duplicates": [member(d) for d in cluster.duplicates]}
        for cluster in clusters
    ]


def clusters_table(clusters: Sequence[DuplicateCluster]):
    """A rich Table for `newsflow duplicates`: each cluster's first article, then its duplicates."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False)
    for column in ("cluster", "similarity", "method", "language", "site", "title", "source"):
        table.add_column(column, overflow="fold")
    for number, cluster in enumerate(clusters, 1):
        for item in (cluster.representative, *cluster.duplicates):
            is_first = item is cluster.representative
            cells = (
                str(number) if is_first else "",
                "first seen" if is_first else f"{item.similarity:.2f}",
                "" if is_first else item.method,
                item.language,
                item.site_name or "",
                (item.title or "(no title)")[:80],
                item.source_path,
            )
            # Text: brackets in titles are not markup.
            table.add_row(*(Text(cell) for cell in cells), end_section=item is cluster.duplicates[-1])
    return table
