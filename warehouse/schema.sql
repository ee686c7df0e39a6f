-- newsflow warehouse schema. Applied on first use; every statement is idempotent.
-- The three tables articles, ingest_runs and rejected_files are the public data contract
-- (see DESIGN.md): their names and columns do not change.

-- One row of `articles` is one article: one piece of content, however many files or places it was
-- found in. A file whose canonical source_url or whose normalised text matches a stored article
-- joins that article (see article_sources) instead of making a row; a changed file at a known
-- path updates its article. source_path is the latest place the article was seen.
CREATE TABLE IF NOT EXISTS articles (
    article_id          VARCHAR PRIMARY KEY,   -- stable: from the path (and content) it was first seen with
    source_path         VARCHAR NOT NULL UNIQUE,  -- 'seeds/...' inside the drop folder, else absolute
    source_url          VARCHAR,
    content_sha256      VARCHAR NOT NULL,
    title               VARCHAR,
    author              VARCHAR,
    published_at        TIMESTAMP,
    site_name           VARCHAR,
    language            VARCHAR NOT NULL,      -- ISO 639-1 or 'und'
    language_confidence DOUBLE,
    text                VARCHAR NOT NULL,      -- clean body, original language
    text_en             VARCHAR,               -- NULL only when no translation exists yet
    translation_status  VARCHAR NOT NULL,      -- not_needed | translated | missing_model | failed
    translation_model   VARCHAR,
    ingested_at         TIMESTAMP NOT NULL,
    run_id              VARCHAR NOT NULL
);

-- English title (the translation of title, or title itself for English articles; NULL without a model).
ALTER TABLE articles ADD COLUMN IF NOT EXISTS title_en VARCHAR;

-- Every place an article was seen: one row per source path (a path belongs to one article at a
-- time). present = false once the file is gone from a folder a run scanned; `newsflow prune`
-- deletes articles none of whose places are present.
CREATE TABLE IF NOT EXISTS article_sources (
    source_path         VARCHAR PRIMARY KEY,
    article_id          VARCHAR NOT NULL,
    content_sha256      VARCHAR NOT NULL,      -- the bytes last seen there
    text_fingerprint    VARCHAR,               -- text_fingerprint(text) of what was extracted from them
    first_seen          TIMESTAMP NOT NULL,
    last_seen           TIMESTAMP NOT NULL,
    present             BOOLEAN NOT NULL DEFAULT true
);

-- When the page at a place was fetched, where that is known: a WARC record's WARC-Date.
ALTER TABLE article_sources ADD COLUMN IF NOT EXISTS fetched_at TIMESTAMP;

-- What each place that is not its article's face (articles.source_path) gave when it was last
-- read: the article's columns as extracted there, and its paragraphs in order. When the face's file
-- is gone, the article takes its content from its latest place still present; `newsflow prune`
-- forgets the content of places that are gone.
CREATE TABLE IF NOT EXISTS source_contents (
    source_path         VARCHAR PRIMARY KEY,   -- an article_sources place
    source_url          VARCHAR,
    content_sha256      VARCHAR NOT NULL,
    title               VARCHAR,
    author              VARCHAR,
    published_at        TIMESTAMP,
    site_name           VARCHAR,
    language            VARCHAR NOT NULL,
    language_confidence DOUBLE,
    text                VARCHAR NOT NULL,
    text_en             VARCHAR,
    translation_status  VARCHAR NOT NULL,
    translation_model   VARCHAR,
    ingested_at         TIMESTAMP NOT NULL,
    run_id              VARCHAR NOT NULL,
    title_en            VARCHAR,
    paragraphs          STRUCT(text VARCHAR, language VARCHAR, language_confidence DOUBLE)[] NOT NULL
);

-- No secondary ART indexes: a batch's lookups by URL, text fingerprint or article id scan one
-- column each. An index makes every inserted key dirty one of its 256 KiB buffers, held in the
-- writer's memory until the next checkpoint, so a batch of the same size needs more memory the
-- larger the archive (at 300,000 articles, 300 new articles: 112 MiB of index buffers with the
-- six indexes newsflow had here, 56 MiB with the primary keys alone, and the write 3.6x faster
-- without them); warehouses made with them lose them when opened.
DROP INDEX IF EXISTS articles_by_source_url;
DROP INDEX IF EXISTS article_sources_by_text_fingerprint;
DROP INDEX IF EXISTS article_sources_by_article;
DROP INDEX IF EXISTS rejected_files_by_path;
DROP INDEX IF EXISTS paragraphs_by_article;
DROP INDEX IF EXISTS translation_cache_by_source;

-- The same text, whatever its spacing or letter case: how a renamed or copied file finds its article.
CREATE OR REPLACE MACRO text_fingerprint(body) AS sha256(lower(trim(regexp_replace(body, '\s+', ' ', 'g'))));

-- A warehouse made before article_sources existed: each article's one known place (once).
INSERT INTO article_sources (source_path, article_id, content_sha256, text_fingerprint, first_seen, last_seen, present)
SELECT a.source_path, a.article_id, a.content_sha256, text_fingerprint(a.text), a.ingested_at, a.ingested_at, true
FROM articles a
WHERE (SELECT count(*) FROM article_sources) = 0;

CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id          VARCHAR PRIMARY KEY,
    flow_run_id     VARCHAR,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    files_seen      INTEGER NOT NULL DEFAULT 0,
    inserted        INTEGER NOT NULL DEFAULT 0,
    updated         INTEGER NOT NULL DEFAULT 0,
    unchanged       INTEGER NOT NULL DEFAULT 0,
    rejected        INTEGER NOT NULL DEFAULT 0,
    status          VARCHAR NOT NULL           -- running | completed | failed | interrupted (its process died)
);

CREATE TABLE IF NOT EXISTS rejected_files (
    path            VARCHAR NOT NULL,
    sha256          VARCHAR,
    reason          VARCHAR NOT NULL,          -- short code, e.g. empty_file, binary_file
    detail          VARCHAR NOT NULL,          -- what a person can do about it
    run_id          VARCHAR NOT NULL,
    rejected_at     TIMESTAMP NOT NULL
);


-- Per-paragraph language, so a mixed-language article is visible in SQL.
CREATE TABLE IF NOT EXISTS paragraphs (
    article_id          VARCHAR NOT NULL,
    position            INTEGER NOT NULL,      -- 0-based, in the order of articles.text
    text                VARCHAR NOT NULL,
    language            VARCHAR NOT NULL,
    language_confidence DOUBLE,
    PRIMARY KEY (article_id, position)
);


-- Translations already made, so a sentence seen again (in this run or a later one) is not
-- translated twice. Keyed by the model (package name and version) and the exact source sentence.
CREATE TABLE IF NOT EXISTS translation_cache (
    model               VARCHAR NOT NULL,
    source              VARCHAR NOT NULL,
    translation         VARCHAR NOT NULL,
    created_at          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model, source)
);


-- Why a translation failed (articles.translation_status = 'failed'), one row per failure: the
-- model that failed, what happened and what to do. Kept as history after a later success.
CREATE TABLE IF NOT EXISTS translation_failures (
    article_id          VARCHAR NOT NULL,
    model               VARCHAR NOT NULL,
    reason              VARCHAR NOT NULL,
    run_id              VARCHAR NOT NULL,
    failed_at           TIMESTAMP NOT NULL
);

-- Per-article shingles and MinHash signature for duplicate detection (pipeline/duplicates.py),
-- recomputed only when the text compared (text_en, else text) changes.
CREATE TABLE IF NOT EXISTS article_signatures (
    article_id          VARCHAR PRIMARY KEY,
    text_sha256         VARCHAR NOT NULL,      -- sha256 of the text compared: coalesce(text_en, text)
    signature_version   VARCHAR NOT NULL,      -- shingle and MinHash settings the row was made with
    shingle_count       INTEGER NOT NULL,
    shingles            BLOB NOT NULL,         -- sorted distinct 32-bit shingle hashes, little-endian
    signature           BLOB NOT NULL          -- datasketch LeanMinHash, serialized
);

-- Near-duplicate articles, linked, not deleted: one row per article that duplicates another.
-- duplicate_of is the cluster's representative (its earliest-ingested article), so
-- `SELECT duplicate_of, count(*) FROM duplicates GROUP BY 1` lists the clusters.
CREATE TABLE IF NOT EXISTS duplicates (
    article_id          VARCHAR PRIMARY KEY,
    duplicate_of        VARCHAR NOT NULL,
    similarity          DOUBLE NOT NULL,       -- |shared shingles| / |shingles of the shorter text|, 0..1
    method              VARCHAR NOT NULL       -- same_text | near_copy | translation (languages differ)
);

-- Articles written, updated, moved or deleted since a derived table (consumer: duplicates | search)
-- last caught up (pipeline/warehouse/changes.py): each refresh reads and clears only its own rows.
-- No key: an index over it would be loaded whole by every write.
CREATE TABLE IF NOT EXISTS article_changes (
    consumer            VARCHAR NOT NULL,
    article_id          VARCHAR NOT NULL
);

-- Incremental duplicates (pipeline/duplicates.py): each compared article's place in the clustering
-- order and whether it is a representative; its 85 LSH band keys; and what the state was built with
-- (a warehouse without a row here, or with other settings, is clustered from scratch once).
CREATE TABLE IF NOT EXISTS duplicate_members (
    article_id          VARCHAR NOT NULL,
    first_seen          TIMESTAMP,
    published_at        TIMESTAMP,
    source_path         VARCHAR,
    representative      BOOLEAN NOT NULL,
    band_keys           BIGINT[] NOT NULL      -- its rows in duplicate_bands, at hand by article
);
CREATE TABLE IF NOT EXISTS duplicate_bands (
    band_key            BIGINT NOT NULL,       -- a 64-bit hash of the band's number and its 3 MinHash values
    article_id          VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS duplicates_state (
    settings            VARCHAR NOT NULL,      -- SIGNATURE_VERSION, bands and the similarity threshold
    built_at            TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS web_sources (
    url                   VARCHAR PRIMARY KEY,     -- canonical URL of the feed, sitemap or page
    kind                  VARCHAR NOT NULL,        -- feed | sitemap | page
    every_seconds         INTEGER NOT NULL,        -- poll at most this often
    language              VARCHAR,                 -- the user's hint (ISO 639-1), or NULL
    added_at              TIMESTAMP NOT NULL,
    last_polled_at        TIMESTAMP,
    last_status           VARCHAR,                 -- ok | not_modified | a failure reason code
    last_detail           VARCHAR,                 -- what the last poll found, or what went wrong
    etag                  VARCHAR,                 -- for the next conditional GET
    last_modified         VARCHAR,
    articles_found        BIGINT NOT NULL DEFAULT 0,  -- new pages fetched from it, all polls together
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    last_success_at       TIMESTAMP
);
-- Validators of the sitemaps a sitemap index lists, so a second poll asks for them conditionally too.
CREATE TABLE IF NOT EXISTS web_sitemap_children (
    url             VARCHAR PRIMARY KEY,
    source_url      VARCHAR NOT NULL,
    etag            VARCHAR,
    last_modified   VARCHAR,
    checked_at      TIMESTAMP NOT NULL
);

-- How many articles each language has, and how many of them have an English text yet.
CREATE OR REPLACE VIEW articles_by_language AS
SELECT
    language,
    count(*)                                            AS articles,
    count(text_en)                                      AS with_english,
    count(*) FILTER (WHERE translation_status = 'translated')    AS translated,
    count(*) FILTER (WHERE translation_status = 'not_needed')    AS not_needed,
    count(*) FILTER (WHERE translation_status = 'missing_model') AS missing_model,
    count(*) FILTER (WHERE translation_status = 'failed')        AS failed
FROM articles
GROUP BY language;

-- Articles whose paragraphs are not all in the article's own language (mixed-language text).
CREATE OR REPLACE VIEW mixed_language_articles AS
SELECT
    a.article_id,
    a.source_path,
    a.language                                          AS article_language,
    list(DISTINCT p.language ORDER BY p.language)       AS paragraph_languages
FROM articles a
JOIN paragraphs p USING (article_id)
GROUP BY a.article_id, a.source_path, a.language
HAVING count(*) FILTER (WHERE p.language NOT IN (a.language, 'und')) > 0;
