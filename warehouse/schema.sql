-- newsflow warehouse schema. Applied on first use; every statement is idempotent.
-- The three tables articles, ingest_runs and rejected_files are the public data contract
-- (see DESIGN.md): their names and columns do not change.

CREATE TABLE IF NOT EXISTS articles (
    article_id          VARCHAR PRIMARY KEY,   -- stable: sha256 of source_path
    source_path         VARCHAR NOT NULL UNIQUE,
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
    status          VARCHAR NOT NULL           -- running | completed | failed
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
