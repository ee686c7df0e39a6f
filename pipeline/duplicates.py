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
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32

from pipeline.record import Document, TextSignature

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
    """The warehouse schema (idempotent), for a connection that was not opened through `Warehouse`."""
    from pipeline.warehouse import schema_sql

    connection.execute(schema_sql())


def _has_column(connection: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    (found,) = connection.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ? AND column_name = ?",
        [table, column],
    ).fetchone()
    return bool(found)


def _first_seen_sql(connection: duckdb.DuckDBPyConnection) -> str:
    """When each article was first ingested: article_sources.first_seen where that table exists
    (an update rewrites articles.ingested_at), else articles.ingested_at."""
    if _has_column(connection, "article_sources", "first_seen"):
        return (
            "least(a.ingested_at, (SELECT min(s.first_seen) FROM article_sources s WHERE s.article_id = a.article_id))"
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


def _update_signatures(connection: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Sign new and changed articles, SIGNATURE_CHUNK at a time; forget deleted ones. (computed, dropped)"""
    stale_ids = [
        article_id
        for (article_id,) in connection.execute(
            """
            SELECT a.article_id
            FROM articles a LEFT JOIN article_signatures s USING (article_id)
            WHERE s.article_id IS NULL
               OR s.signature_version <> ?
               OR s.text_sha256 <> sha256(coalesce(nullif(a.text_en, ''), a.text))
            """,
            [SIGNATURE_VERSION],
        ).fetchall()
    ]
    (dropped,) = connection.execute(
        "DELETE FROM article_signatures WHERE article_id NOT IN (SELECT article_id FROM articles)"
    ).fetchone()
    for offset in range(0, len(stale_ids), SIGNATURE_CHUNK):
        chunk = pa.table({"article_id": pa.array(stale_ids[offset : offset + SIGNATURE_CHUNK], pa.string())})
        connection.register("stale_articles", chunk)
        try:
            texts = connection.execute(
                """
                SELECT article_id, coalesce(nullif(text_en, ''), text)
                FROM articles JOIN stale_articles USING (article_id)
                """
            ).fetchall()
        finally:
            connection.unregister("stale_articles")
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
    connection.register("fresh_signatures", table)
    try:
        connection.execute("DELETE FROM article_signatures WHERE article_id IN (SELECT article_id FROM fresh_signatures)")
        connection.execute("INSERT INTO article_signatures SELECT * FROM fresh_signatures")
    finally:
        connection.unregister("fresh_signatures")


def store_signatures(connection: duckdb.DuckDBPyConnection, docs: Sequence[Document]) -> int:
    """Store the signatures the documents carry for the articles they were just written to, each
    only where it is of the text the article now holds (another copy may have won the batch); the
    refresh signs whatever is left. Returns the signatures stored. Run inside the write's transaction
    or right after it."""
    signed = [(doc.source_path, doc.text_signature) for doc in docs if doc.text_signature is not None and not doc.rejected]
    if not signed:
        return 0
    table = _signatures_table(signed).rename_columns(["source_path", *_SIGNATURE_SCHEMA.names[1:]])
    connection.register("signed_documents", table)
    try:
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
    finally:
        connection.unregister("signed_documents")
    _replace_signatures(connection, matching)
    return matching.num_rows


class _StoredArticles:
    """The signed articles, read from the warehouse a chunk at a time in clustering order (the
    order `find_duplicates` would sort them in), counted as they pass."""

    def __init__(self, connection: duckdb.DuckDBPyConnection):
        self.connection = connection
        self.count = 0
        self.too_short = 0

    def __iter__(self) -> Iterator[ComparedArticle]:
        first_seen = _first_seen_sql(self.connection)
        result = self.connection.execute(
            f"""
            SELECT article_id, language, text_sha256, shingles, signature, first_seen, published_at, source_path, shingle_count
            FROM (SELECT a.article_id, a.language, s.text_sha256, s.shingles, s.signature, s.shingle_count,
                         {first_seen} AS first_seen, a.published_at, a.source_path
                  FROM articles a JOIN article_signatures s USING (article_id))
            ORDER BY first_seen, published_at IS NULL, coalesce(published_at, first_seen), source_path, article_id
            """
        )
        while rows := result.fetchmany(SIGNATURE_CHUNK):
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


def refresh_duplicates(
    connection: duckdb.DuckDBPyConnection, *, min_similarity: float = MIN_SIMILARITY
) -> DuplicateRefresh:
    """Bring `article_signatures` up to date and rewrite `duplicates`, in one transaction.

    Creates both tables when missing. Call it with no transaction open on `connection`.
    """
    started = time.perf_counter()
    ensure_tables(connection)
    connection.begin()
    try:
        computed, dropped = _update_signatures(connection)
        articles = _StoredArticles(connection)
        detection = find_duplicates(articles, min_similarity=min_similarity, in_order=True)
        links = pa.table(
            {
                "article_id": pa.array([link.article_id for link in detection.links], pa.string()),
                "duplicate_of": pa.array([link.duplicate_of for link in detection.links], pa.string()),
                "similarity": pa.array([link.similarity for link in detection.links], pa.float64()),
                "method": pa.array([link.method for link in detection.links], pa.string()),
            }
        )
        connection.execute("DELETE FROM duplicates")
        connection.register("found_duplicates", links)
        try:
            connection.execute("INSERT INTO duplicates SELECT article_id, duplicate_of, similarity, method FROM found_duplicates")
        finally:
            connection.unregister("found_duplicates")
        connection.commit()
    except BaseException:
        try:
            connection.rollback()
        except duckdb.Error:
            pass
        raise
    return DuplicateRefresh(
        articles=articles.count,
        signatures_computed=computed,
        signatures_dropped=int(dropped),
        too_short=articles.too_short,
        pairs_checked=detection.pairs_checked,
        clusters=len({link.duplicate_of for link in detection.links}),
        duplicates=len(detection.links),
        seconds=time.perf_counter() - started,
    )


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
