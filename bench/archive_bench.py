"""Archive-scale benchmark: does a run cost what it adds, not what the archive holds?

    python -m bench.archive_bench [--sizes 10000] [--json bench/results/archive.json]
    python -m bench.archive_bench --sizes 10000,100000,1000000 --work /tmp/archives --keep

For each size N, an archive of N articles is built in a fresh warehouse through the warehouse's
own write path (`Warehouse.write_batch`, `store_signatures`, then `refresh_derived_tables` as
after a run), without the stages: the articles are generated (`generated_article`), distinct
texts with real vocabulary in 51 languages (English about a third, translated nowhere: no model),
each a headline and 6 to 10 sentences made from the development data's sentences of its language
(bench/corpus.py's pools) with about a third of their words (characters, in scripts written
without spaces) swapped for other words of the language, so no two share more than a few
shingles; every 25th article is a near copy of an earlier one (another site's, a line added),
as syndication makes them. Published dates span a year; 300 sites.

On it, with the real command line (`python -m flows.cli ingest FOLDER --warehouse W`, all cores,
one local Prefect server for every run; time from start to exit, the flow process's peak RSS
sampled with its kernel high-water mark):
- add: a run of 100 new files (bench/corpus.py's news corpus: real pages and text articles), three
  runs of three folders, median;
- unchanged: the same three folders again (every file found unchanged), median;
- update: the three folders with a line added to every article, median;
- the duplicates refresh and the search refresh of the add runs (their seconds from the run's own
  summary lines);
- search: 50 queries of the archive's own words (one and two words, several languages), median
  and p95 of `search()` on a read-only connection, as `newsflow search` opens it;
- `newsflow status`, `newsflow report`, `newsflow export` (Parquet): seconds and peak RSS;
- the warehouse file's bytes per article.

Targets (largest size against the smallest): add <= 1.5x; unchanged <= +2 s; search p95 <= 300 ms
at the largest; flow peak memory <= 1.2x. The table and a JSON with the commit, date and machine
are written; `make bench` runs the smallest size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from pathlib import Path

from bench.corpus import PROJECT_ROOT, copy_of, news_articles, sentence_pools, ntrex_stories, corpus_file
from bench.processes import ProcessTreeSampler, stop_group
from bench.record import commit, machine
from bench.scale_bench import isolated_environment, run_ingest
from workbench.evaluation import default_devdata

BUILD_BATCH = 2000
BUILD_MEMORY_LIMIT = "4GB"  # the builder's writer only; the measured runs keep the default
COPY_EVERY = 25
SITES = 300
ENGLISH_SHARE = 0.33
SWAPPED_SHARE = 0.35
RUN_FILES = 100
RUNS_PER_KIND = 3
IN_PLACE_FROM = 500_000  # archives this large are measured in place, not copied
QUERIES = 50
ARCHIVE_START = datetime(2025, 12, 1)
ARCHIVE_DAYS = 365
SEED = 25

TARGETS = {
    "add_ratio": 1.5,  # add at the largest size over add at the smallest
    "unchanged_extra_s": 2.0,
    "search_p95_ms": 300.0,
    "flow_peak_ratio": 1.2,
}


# --- the generated archive ------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    language: str
    sentences: tuple[str, ...]
    words: tuple[str, ...]  # distinct words (characters, for a script without spaces)
    spaced: bool


def vocabularies(devdata: Path | None = None) -> list[Vocabulary]:
    devdata = devdata or default_devdata()
    pools = sentence_pools(devdata)
    for language, lines in ntrex_stories(devdata).items():
        pools[language] = list(dict.fromkeys([*pools.get(language, []), *lines]))
    result = []
    for language, sentences in sorted(pools.items()):
        spaced = sum(s.count(" ") for s in sentences) > 3 * len(sentences)
        units = {w for s in sentences for w in s.split()} if spaced else {c for s in sentences for c in s if not c.isspace()}
        result.append(Vocabulary(language, tuple(sentences), tuple(sorted(units)), spaced))
    return result


def generated_sentence(vocabulary: Vocabulary, rng: random.Random) -> str:
    base = rng.choice(vocabulary.sentences)
    if vocabulary.spaced:
        words = [rng.choice(vocabulary.words) if rng.random() < SWAPPED_SHARE else w for w in base.split()]
        return " ".join(words)
    return "".join(rng.choice(vocabulary.words) if not c.isspace() and rng.random() < SWAPPED_SHARE else c for c in base)


def generated_article(index: int, vocabularies: list[Vocabulary]) -> dict:
    """The `index`-th article of the generated archive: language, site, title, text, dates (the same
    for the same index, whatever the archive's size)."""
    rng = random.Random(SEED * 10_000_019 + index)
    if index % COPY_EVERY == COPY_EVERY - 1 and index > COPY_EVERY:
        original = generated_article(rng.randrange(max(0, index - 5000), index - 1), vocabularies)
        return {
            **original,
            "site": f"site{rng.randrange(SITES):03d}.example",
            "text": original["text"] + "\n\n" + generated_sentence(_by_language(vocabularies)[original["language"]], rng),
            "copy_of": original["index"],
            "index": index,
        }
    if rng.random() < ENGLISH_SHARE:
        vocabulary = _by_language(vocabularies)["en"]
    else:
        vocabulary = rng.choice([v for v in vocabularies if v.language != "en"])
    sentences = [generated_sentence(vocabulary, rng) for _ in range(rng.randint(6, 10))]
    paragraphs, start = [], 0
    while start < len(sentences):
        size = rng.randint(1, 3)
        paragraphs.append(" ".join(sentences[start : start + size]))
        start += size
    title_words = generated_sentence(vocabulary, rng).split() if vocabulary.spaced else None
    title = " ".join(title_words[:10]) if title_words else generated_sentence(vocabulary, rng)[:24]
    return {
        "index": index,
        "language": vocabulary.language,
        "site": f"site{rng.randrange(SITES):03d}.example",
        "title": title,
        "text": "\n\n".join(paragraphs),
        "copy_of": None,
    }


_VOCABULARY_INDEX: dict[int, dict[str, Vocabulary]] = {}


def _by_language(vocabularies: list[Vocabulary]) -> dict[str, Vocabulary]:
    key = id(vocabularies)
    if key not in _VOCABULARY_INDEX:
        _VOCABULARY_INDEX[key] = {v.language: v for v in vocabularies}
    return _VOCABULARY_INDEX[key]


def archive_document(index: int, size: int, vocabularies: list[Vocabulary]):
    """The generated article as the stages would hand it to the warehouse, signed."""
    from pipeline.duplicates import compared_text, text_signature
    from pipeline.record import Document, ParagraphLanguage

    article = generated_article(index, vocabularies)
    english = article["language"] == "en"
    text = article["text"]
    published = ARCHIVE_START + timedelta(days=ARCHIVE_DAYS * index / size, minutes=index % 997)
    slug = hashlib.sha1(f"{index}".encode()).hexdigest()[:10]
    paragraphs = text.count("\n\n") + 1
    doc = Document(
        source_path=f"archive/{article['language']}/{index:07d}.html",
        content_sha256=hashlib.sha256(f"archive {index}".encode()).hexdigest(),
        size_bytes=len(text.encode("utf-8")),
        content_format="html",
        title=article["title"],
        published_at=published,
        site_name=article["site"],
        source_url=f"https://{article['site']}/{published:%Y/%m}/{slug}-{index}" if index % 10 < 7 else None,
        text=text,
        language=article["language"],
        language_confidence=0.99,
        paragraph_languages=tuple(ParagraphLanguage(article["language"], 0.99) for _ in range(paragraphs)),
        text_en=text if english else None,
        title_en=article["title"] if english else None,
        translation_status="not_needed" if english else "missing_model",
    )
    return doc.replace(text_signature=text_signature(compared_text(doc.text, doc.text_en)))


_WORKER_VOCABULARIES: list[Vocabulary] = []


def _sign_range(job: tuple[int, int, int]):
    start, stop, size = job
    if not _WORKER_VOCABULARIES:
        _WORKER_VOCABULARIES.extend(vocabularies())
    return [archive_document(index, size, _WORKER_VOCABULARIES) for index in range(start, stop)]


def build_archive(path: Path, size: int, processes: int) -> dict:
    """A warehouse of `size` generated articles, written a batch at a time as runs would write them
    (a year of runs: each batch's ingested_at a little later), with their duplicate signatures;
    the derived tables are left to `catch_up`."""
    from pipeline.duplicates import store_signatures
    from pipeline.warehouse import Warehouse

    started = time.perf_counter()
    jobs = [(start, min(start + BUILD_BATCH, size), size) for start in range(0, size, BUILD_BATCH)]
    written = 0
    with get_context("forkserver").Pool(processes) as pool:
        for number, docs in enumerate(pool.imap(_sign_range, jobs)):
            at = ARCHIVE_START + timedelta(days=ARCHIVE_DAYS * jobs[number][0] / size)
            # opened for each batch, as a run does, with more memory than a run's writer: batches
            # of 2,000 articles ran the default 128 MB out of memory at about 160,000 articles
            # (a run's batches are at most 128 articles)
            with Warehouse.open(path, memory_limit=BUILD_MEMORY_LIMIT) as warehouse:
                counts = warehouse.write_batch(docs, run_id=f"archive-{number:05d}", ingested_at=at)
                store_signatures(warehouse.connection, docs)
            written += counts.inserted
            if number % 25 == 0:
                print(f"    {jobs[number][1]:,} of {size:,} written ({time.perf_counter() - started:.0f} s)", flush=True)
    (articles,) = _one(path, "SELECT count(*) FROM articles")
    return {"articles": int(articles), "inserted": written, "write_s": round(time.perf_counter() - started, 1)}


def catch_up(path: Path) -> dict:
    """The derived tables (duplicates, search index) brought up to date by the code checked out now,
    as the end of a run would (the first time: all of them; after a change of their settings or
    layout: whatever that change needs), so the measured runs pay only for what they add."""
    from flows.ingest_warehouse import refresh_derived_tables
    from pipeline.warehouse import Warehouse

    started = time.perf_counter()
    with Warehouse.open(path) as warehouse:
        notes = refresh_derived_tables(warehouse)
    return {"seconds": round(time.perf_counter() - started, 1), "notes": notes}


def _one(path: Path, sql: str):
    from pipeline.warehouse import Warehouse

    with Warehouse.open(path, read_only=True) as warehouse:
        return warehouse.connection.execute(sql).fetchone()


# --- the measurements ------------------------------------------------------------------------


def run_folders(work: Path, runs: int, generation: int = 0) -> list[Path]:
    """`runs` folders of RUN_FILES distinct news-corpus files each (not in any archive); another
    `generation` gives other files."""
    articles = news_articles()
    folders = []
    for number in range(runs):
        folder = work / f"run{number}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        first = (generation * runs + number) * RUN_FILES
        for index in range(first, first + RUN_FILES):
            name, content = corpus_file(index * 7 % len(articles), articles)
            (folder / name).write_text(content, encoding="utf-8")
        folders.append(folder)
    return folders


def updated(folder: Path, stamp: str) -> None:
    """Every article of `folder` with a line of its own added to its text."""
    articles = {f"{a.name}{a.suffix}": a for a in news_articles()}
    for path in sorted(folder.iterdir()):
        article = articles[path.name.split("_", 1)[1]]
        path.write_text(copy_of(article, f"Updated {stamp} for {path.stem}."), encoding="utf-8")


def summary_seconds(log: Path, prefix: str) -> float | None:
    import re

    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if prefix in line:
            found = re.search(r"([\d.]+)s(?: after the run)?\)", line)
            if found:
                return float(found.group(1))
    return None


def timed_command(env: dict, label: str, args: list[str], log: Path) -> dict:
    command = [sys.executable, "-m", "flows.cli", *args]
    with open(log, "w") as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with ProcessTreeSampler({child.pid: "command"}) as sampler:
                child.wait()
        finally:
            if child.poll() is None:
                stop_group(child)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{label}: {' '.join(command)} failed (exit {child.returncode}):\n{log.read_text()[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_mb": round(sampler.peak_mb("command"), 1)}


def search_queries(size: int) -> list[str]:
    """QUERIES searches of the archive's own words: one or two words of a generated article."""
    vocabulary = vocabularies()
    rng = random.Random(SEED)
    queries = []
    while len(queries) < QUERIES:
        article = generated_article(rng.randrange(size), vocabulary)
        words = [w for w in article["text"].split() if len(w) > 3 and w.isalpha()]
        if not words:
            continue
        start = rng.randrange(len(words))
        queries.append(" ".join(words[start : start + rng.choice((1, 1, 2))]))
    return queries


def measure_search(path: Path, queries: list[str]) -> dict:
    from pipeline.search import search
    from pipeline.warehouse import Warehouse

    times, hits = [], 0
    with Warehouse.open(path, read_only=True) as warehouse:
        search(warehouse.connection, queries[0])  # loads the extension and the index's first pages
        for query in queries:
            started = time.perf_counter()
            hits += len(search(warehouse.connection, query))
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "hits_per_query": round(hits / len(times), 1)}


def measure_size(size: int, work: Path, api_url: str, processes: int, keep: bool, build_only: bool = False) -> dict:
    folder = work / f"archive-{size}"
    warehouse = folder / "news.duckdb"
    built_marker = folder / "built.json"
    result: dict = {"size": size}
    if built_marker.exists() and warehouse.exists():
        result["build"] = json.loads(built_marker.read_text())
        print(f"  {size:,}: reusing {warehouse}", flush=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"  {size:,}: building {warehouse}", flush=True)
        result["build"] = build_archive(warehouse, size, processes)
        built_marker.write_text(json.dumps(result["build"]))
    if build_only:
        return result
    result["catch_up"] = catch_up(warehouse)
    print(f"  {size:,}: built {result['build']}, derived tables {result['catch_up']}", flush=True)
    runs_folder = folder / "runs"
    # The runs add to the warehouse: a copy is measured, unless the archive is too large to copy,
    # which is then measured in place, each time with files it has not seen (`generation`).
    in_place = size >= IN_PLACE_FROM
    measured = warehouse if in_place else folder / "measured.duckdb"
    generation = 0
    if in_place:
        marker = json.loads(built_marker.read_text())
        generation = marker.get("measured", 0)
        built_marker.write_text(json.dumps({**marker, "measured": generation + 1}))
    else:
        shutil.copyfile(warehouse, measured)
    try:
        env = isolated_environment(folder / "home", api_url)
        folders = run_folders(runs_folder, RUNS_PER_KIND, generation)
        logs = folder / "logs"
        logs.mkdir(exist_ok=True)
        kinds: dict[str, list] = {"add": [], "unchanged": [], "update": []}
        for kind in kinds:
            for number, run_folder in enumerate(folders):
                if kind == "update":
                    updated(run_folder, f"{size}-{number}")
                log = logs / f"{kind}{number}.log"
                run = run_ingest(env, f"{size:,} {kind} {number}", run_folder, measured, log)
                kinds[kind].append({"seconds": round(run.seconds, 2), "flow_peak_mb": round(run.flow_peak_mb, 1),
                                    "duplicates_s": summary_seconds(log, "duplicates:"),
                                    "search_refresh_s": summary_seconds(log, "search index:"), "summary": run.summary_line})
        for kind, runs in kinds.items():
            result[kind] = {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "flow_peak_mb": max(r["flow_peak_mb"] for r in runs),
                "duplicates_s": _median_of_known(r["duplicates_s"] for r in runs),
                "search_refresh_s": _median_of_known(r["search_refresh_s"] for r in runs),
                "runs": runs,
            }
        result["search"] = measure_search(measured, search_queries(size))
        for name, args in (
            ("status", ["status", "--warehouse", str(measured)]),
            ("report", ["report", "--warehouse", str(measured), "--output", str(folder / "report.html")]),
            ("export", ["export", "--warehouse", str(measured), "--output", str(folder / "articles.parquet")]),
        ):
            result[name] = timed_command(env, f"{size:,} {name}", args, logs / f"{name}.log")
        result["warehouse_bytes_per_article"] = round(measured.stat().st_size / max(1, size))
    finally:
        for leftover in ([] if in_place else [measured]) + [folder / "articles.parquet", folder / "report.html"]:
            leftover.unlink(missing_ok=True)
        shutil.rmtree(runs_folder, ignore_errors=True)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"  {size:,}: " + ", ".join(
        f"{k} {result[k]['seconds']:.1f} s" for k in ("add", "unchanged", "update", "status", "report", "export")
    ) + f"; search median {result['search']['median_ms']} ms, p95 {result['search']['p95_ms']} ms; "
        f"flow peak {max(result[k]['flow_peak_mb'] for k in ('add', 'unchanged', 'update')):.0f} MB", flush=True)
    return result


def _median_of_known(values) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


# --- the verdict and the table ---------------------------------------------------------------


def verdicts(results: list[dict]) -> dict:
    small, large = results[0], results[-1]
    flow_peak = lambda r: max(r[k]["flow_peak_mb"] for k in ("add", "unchanged", "update"))  # noqa: E731
    figures = {
        "add_ratio": large["add"]["seconds"] / small["add"]["seconds"],
        "unchanged_extra_s": large["unchanged"]["seconds"] - small["unchanged"]["seconds"],
        "search_p95_ms": large["search"]["p95_ms"],
        "flow_peak_ratio": flow_peak(large) / flow_peak(small),
    }
    return {name: {"value": round(value, 3), "target": TARGETS[name], "met": value <= TARGETS[name],
                   "between": [small["size"], large["size"]]} for name, value in figures.items()}


def table(results: list[dict]) -> str:
    rows = [
        ("add 100 files, s", lambda r: f"{r['add']['seconds']:.1f}"),
        ("  duplicates refresh, s", lambda r: _optional(r["add"]["duplicates_s"])),
        ("  search refresh, s", lambda r: _optional(r["add"]["search_refresh_s"])),
        ("100 unchanged, s", lambda r: f"{r['unchanged']['seconds']:.1f}"),
        ("update 100, s", lambda r: f"{r['update']['seconds']:.1f}"),
        ("  duplicates refresh, s", lambda r: _optional(r["update"]["duplicates_s"])),
        ("flow peak RSS, MB", lambda r: f"{max(r[k]['flow_peak_mb'] for k in ('add', 'unchanged', 'update')):.0f}"),
        ("search median, ms", lambda r: f"{r['search']['median_ms']:.0f}"),
        ("search p95, ms", lambda r: f"{r['search']['p95_ms']:.0f}"),
        ("status, s", lambda r: f"{r['status']['seconds']:.1f}"),
        ("status peak RSS, MB", lambda r: f"{r['status']['peak_mb']:.0f}"),
        ("report, s", lambda r: f"{r['report']['seconds']:.1f}"),
        ("report peak RSS, MB", lambda r: f"{r['report']['peak_mb']:.0f}"),
        ("export Parquet, s", lambda r: f"{r['export']['seconds']:.1f}"),
        ("export peak RSS, MB", lambda r: f"{r['export']['peak_mb']:.0f}"),
        ("warehouse bytes/article", lambda r: f"{r['warehouse_bytes_per_article']:,}"),
        ("build: write, derived, s", lambda r: f"{r['build']['write_s']:.0f}, {r['catch_up']['seconds']:.0f}"),
    ]
    header = f"{'archive articles':<28}" + "".join(f"{r['size']:>14,}" for r in results)
    lines = [header, "-" * len(header)]
    for name, cell in rows:
        lines.append(f"{name:<28}" + "".join(f"{cell(r):>14}" for r in results))
    return "\n".join(lines)


def _optional(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000", help="archive sizes, comma-separated (default 10000)")
    parser.add_argument("--work", type=Path, help="where the archives are built (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the built archives in --work, and reuse them next time")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="processes generating and signing the archive")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--build-only", action="store_true", help="only build the archives (with --work and --keep: for a later run)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    from flows.server import start_local_server

    started_at = datetime.now(timezone.utc)
    work = args.work or Path(tempfile.mkdtemp(prefix="newsflow-archive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    server = start_local_server(work / "prefect-server", ui=False)
    try:
        results = [measure_size(size, work, server.api_url, args.processes, args.keep, args.build_only) for size in sizes]
        if args.build_only:
            return 0
    finally:
        server.stop()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    outcome = verdicts(results) if len(results) > 1 else {}
    for name, verdict in outcome.items():
        print(f"{name}: {verdict['value']} (target <= {verdict['target']}) {'met' if verdict['met'] else 'NOT MET'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": "python -m bench.archive_bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "commit": commit(), "date": started_at.isoformat(timespec="seconds"), "machine": machine(),
            "targets": TARGETS, "verdicts": outcome, "results": results,
        }, indent=2, default=str) + "\n")
    return 0 if all(v["met"] for v in outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
