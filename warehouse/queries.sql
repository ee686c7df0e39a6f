-- Example queries against warehouse/news.duckdb (run with `newsflow sql "..."` or any DuckDB client).

-- Articles per language and how many have English text.
SELECT language, count(*) AS articles, count(text_en) AS with_english
FROM articles GROUP BY 1 ORDER BY 2 DESC;

-- Full-text search (BM25) over titles, original and English text, whatever the language.
SELECT title, language, published_at, source_path, round(score, 2) AS score
FROM search_articles('Pyongyang') LIMIT 20;

-- Every place an article was found; files gone since a run scanned their folder.
SELECT a.title, s.source_path, s.present, s.first_seen, s.last_seen
FROM article_sources s JOIN articles a USING (article_id) ORDER BY a.article_id, s.first_seen;

-- The same story more than once (wire copies, near-copies, translations): one line per cluster.
SELECT d.duplicate_of, any_value(o.title) AS title, count(*) + 1 AS copies, min(d.similarity) AS least_similar
FROM duplicates d JOIN articles o ON o.article_id = d.duplicate_of GROUP BY 1 ORDER BY copies DESC;

-- Articles still waiting for a translation model (install one, then `newsflow translate --pending`).
SELECT language, count(*) FROM articles WHERE translation_status = 'missing_model' GROUP BY 1;

-- Mixed-language articles: paragraphs whose language differs from the article's.
SELECT a.source_path, a.language AS article_language, p.position, p.language, left(p.text, 80) AS paragraph
FROM articles a JOIN paragraphs p USING (article_id)
WHERE p.language NOT IN (a.language, 'und') ORDER BY 1, 3;

-- What could not be ingested, and what to do about it.
SELECT path, reason, detail, rejected_at FROM rejected_files ORDER BY rejected_at DESC;

-- The last runs.
SELECT run_id, started_at, finished_at, files_seen, inserted, updated, unchanged, rejected, status
FROM ingest_runs ORDER BY started_at DESC LIMIT 10;
