"""Soak: thousands of generated documents through the real `newsflow ingest`, in windows.

    python -m bench.soak_bench [--documents 20000] [--window 1000] [--json bench/results/soak.json]
    python -m bench.soak_bench --documents 300 --window 100      # smoke run, about 35 s

The corpus is generated under bench/.corpus/soak from the benchmark corpus (bench/corpus.py:
distinct news articles in 51 languages, text articles, real HTML pages and their dumps): a
quarter Indonesian (its Indonesian articles, NTREX news stories, in turn, each copy with its own
Indonesian sentence in its first paragraph, so every copy gives the model a sentence the
translation cache has not seen), the rest the corpus's other articles in its order (each once,
then copies with a closing line of their own), and one input in a hundred a bad one that must
end as a rejection (empty, whitespace only, binary with a text suffix, a page without an
article, a link out of the folder). The corpus and the warehouse and Prefect's files are
removed at the end (not after a failed run, or with --keep). The tests' tiny id->en package is
installed into an isolated ARGOS_PACKAGES_DIR, so Indonesian documents are really translated
(random weights: the figure measures the plumbing, not a real model's cost).

`newsflow ingest` runs as a child process with its own warehouse, NEWSFLOW_STATE and
NEWSFLOW_SERVER_PORT under a temporary folder, so it starts its own background Prefect server
(stopped at the end with `newsflow server stop`). The child is the real command line
(`flows.cli.main`) with one addition: the flow's progress listener, which after every batch
appends the time, the process's RSS and its peak RSS since the previous batch (VmHWM, reset
through /proc/self/clear_refs) to a file. The flow runs its stages in that process, so this is
the pipeline's memory; the window boundaries are exact, and nothing else opens the warehouse
while the run writes (a polling reader would hold DuckDB's lock and make the writer wait).

Printed: docs/s, RSS at the window's end and peak RSS per window, the trend of both (least
squares over the windows after the first, which holds the model load and warm-up), and the
final counts read from the warehouse against what was generated. Exit code 1 when a count
is off (a document lost, duplicated or ending the wrong way); the trend is reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.corpus import PROJECT_ROOT, copy_of, news_articles, print_shares
from pipeline.settings import DEFAULT_BATCH_SIZE as PROJECT_BATCH_SIZE

CORPUS_DIR = PROJECT_ROOT / "bench" / ".corpus" / "soak"
INDONESIAN = "id:"  # the source of an Indonesian input: "id:" and the article it copies
PROBE_FLAG = "--as-newsflow"
COPY_SENTENCE_START = "Ini adalah salinan korpus nomor"
_DIGITS_ID = ("nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan")

# (kind, file suffix, the rejection reason it must end with)
BAD_INPUTS = (
    ("empty", ".txt", "empty_file"),
    ("whitespace", ".txt", "empty_file"),
    ("binary", ".txt", "binary_file"),
    ("no_article", ".html", "no_article"),
    ("binary", ".html", "binary_file"),
    ("outside_link", ".txt", "outside_folder"),
)


@dataclass(frozen=True)
class Input:
    path: Path
    source: str  # the corpus article it copies ("id:<name>" when Indonesian), or "bad:<kind>"
    expected_rejection: str | None = None  # bad inputs only


# --- corpus ----------------------------------------------------------------------------------


def indonesian_marker(index: int) -> str:
    """A sentence that names the copy in words: unique, and no number for the model to copy."""
    words = " ".join(_DIGITS_ID[int(digit)] for digit in str(index))
    return f"{COPY_SENTENCE_START} {words} untuk uji ketahanan."


def with_sentence_in_body(text: str, sentence: str) -> str:
    """`text` with `sentence` added to its first paragraph of sentences (a closing line would be
    cut as boilerplate)."""
    lines = text.split("\n")
    long_lines = (i for i, line in enumerate(lines) if len(line.split()) > 15 and line.rstrip().endswith("."))
    first_long = next(long_lines, max(range(len(lines)), key=lambda i: len(lines[i])))
    lines[first_long] += " " + sentence
    return "\n".join(lines)


def bad_input(target: Path, index: int, kind: str, suffix: str) -> Path:
    path = target / f"{index:05d}_bad_{kind}{suffix}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "whitespace":
        path.write_text(" \n\t\n" * (1 + index % 5), encoding="utf-8")
    elif kind == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + index.to_bytes(4, "big") + bytes(range(256)))
    elif kind == "no_article":
        path.write_text(f'<html><head><title>Page {index}</title></head><body><nav><a href="/">Home</a></nav></body></html>', encoding="utf-8")
    elif kind == "outside_link":
        path.symlink_to(PROJECT_ROOT / "README.md")
    else:
        raise ValueError(kind)
    return path


def build_soak_corpus(target: Path, count: int, *, indonesian_every: int = 4, bad_every: int | None = None) -> list[Input]:
    """`count` inputs: every `indonesian_every`-th an Indonesian copy, every `bad_every`-th a bad
    input (default one in 100, more in a small corpus so each kind occurs twice), the rest the
    corpus's other articles in turn (each once, then copies with their own line)."""
    bad_every = bad_every or max(2, min(100, count // (2 * len(BAD_INPUTS))))
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    articles = news_articles()
    indonesian = [article for article in articles if article.language == "id"]
    others = [article for article in articles if article.language != "id"]
    inputs, bad, other, copied = [], 0, 0, 0
    for index in range(count):
        if index % bad_every == bad_every - 1:
            kind, suffix, reason = BAD_INPUTS[bad % len(BAD_INPUTS)]
            bad += 1
            inputs.append(Input(bad_input(target, index, kind, suffix), f"bad:{kind}", reason))
            continue
        if index % indonesian_every == 0:
            article = indonesian[copied % len(indonesian)]
            copied += 1
            body, source = with_sentence_in_body(article.content, indonesian_marker(index)), INDONESIAN + article.name
        else:
            article = others[other % len(others)]
            body = article.content if other < len(others) else copy_of(article, f"Corpus copy {index} of {article.name}.")
            other += 1
            source = article.name
        path = target / f"{index:05d}_{article.name}{article.suffix}"
        path.write_text(body, encoding="utf-8")
        inputs.append(Input(path, source))
    return inputs


# --- the probed child: `newsflow` with a progress listener -----------------------------------


def _memory_mb(pid: int | str = "self") -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB; zeros when it is gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line[:5]] = int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux >= 4.0), so each sample is a window's own peak."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def run_probed_newsflow(probe_path: Path, argv: list[str]) -> None:
    """`newsflow *argv`, with the ingest flow's progress written to `probe_path` as JSON lines."""
    import flows.prefect_setup
    from flows import cli
    from flows.server import read_record
    from pipeline.settings import load_settings

    probe = open(probe_path, "a", buffering=1, encoding="utf-8")
    processed = 0

    def on_progress(event: str, n: int) -> None:
        nonlocal processed
        processed += n if event == "processed" else 0
        rss, peak = _memory_mb()
        _reset_peak()
        server = read_record(load_settings().state_dir)
        server_rss = _memory_mb(server.server_pid)[0] if server else 0.0
        record = {
            "event": event, "n": n, "processed": processed, "t": time.monotonic(), "rss_mb": rss, "peak_mb": peak,
            "server_rss_mb": server_rss, "load_1m": os.getloadavg()[0],
        }
        probe.write(json.dumps(record) + "\n")

    # Prefect reads its settings when first imported, so flows.ingest (which imports Prefect) may
    # only be imported once the CLI has configured Prefect: the listener is added right after that.
    configure_prefect = flows.prefect_setup.configure_prefect

    def configure_then_listen(**options):
        mode = configure_prefect(**options)
        from flows.ingest_progress import add_progress_listener

        add_progress_listener(on_progress)
        return mode

    flows.prefect_setup.configure_prefect = configure_then_listen
    sys.argv = ["newsflow", *argv]
    cli.main()


# --- the parent: set up, run, measure, check -------------------------------------------------


def isolated_environment(work: Path) -> dict[str, str]:
    from flows.server import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSFLOW_", "ARGOS_"))}
    env.update(
        NEWSFLOW_STATE=str(work / "state"),
        NEWSFLOW_SERVER_PORT=str(free_port()),
        ARGOS_PACKAGES_DIR=str(work / "argos-packages"),
        XDG_DATA_HOME=str(work / "xdg-data"),
        XDG_CONFIG_HOME=str(work / "xdg-config"),
        XDG_CACHE_HOME=str(work / "xdg-cache"),
        PYTHONUNBUFFERED="1",
    )
    return env


def newsflow(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=PROJECT_ROOT, text=True, capture_output=True, **kwargs)


@dataclass
class Window:
    number: int
    documents: int
    seconds: float
    docs_per_s: float
    rss_mb: float  # at the window's end
    peak_mb: float  # highest RSS during the window
    server_rss_mb: float
    load_1m: float  # the machine's 1-minute load average at the window's end (2 cores, shared)


def windows_from_probe(records: list[dict], window: int) -> list[Window]:
    start = next((r for r in records if r["event"] == "discovered"), None)
    if start is None:
        return []
    result, last_t, last_done, peak, boundary = [], start["t"], 0, 0.0, window
    for record in records:
        if record["event"] != "processed":
            continue
        peak = max(peak, record["peak_mb"])
        if record["processed"] >= boundary:
            documents, seconds = record["processed"] - last_done, record["t"] - last_t
            result.append(Window(
                len(result) + 1, documents, seconds, documents / seconds, record["rss_mb"], peak, record["server_rss_mb"], record.get("load_1m", float("nan"))
            ))
            last_t, last_done, peak = record["t"], record["processed"], 0.0
            while boundary <= record["processed"]:
                boundary += window
    return result


def _read_probe(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def trend(values: list[float]) -> dict[str, float]:
    """The least-squares line through the windows: its change from the first window to the last,
    and that change's standard error from the scatter around the line (the noise)."""
    n = len(values)
    if n < 3:
        return {}
    xs = range(n)
    slope, intercept = statistics.linear_regression(xs, values)
    residual_sd = (sum((v - (intercept + slope * x)) ** 2 for x, v in zip(xs, values)) / (n - 2)) ** 0.5
    spread_of_x = sum((x - (n - 1) / 2) ** 2 for x in xs) ** 0.5
    median = statistics.median(values)
    change = slope * (n - 1)
    return {
        "median": median,
        "change_over_run": change,
        "change_pct_of_median": 100 * change / median,
        "change_standard_error": residual_sd * (n - 1) / spread_of_x,
        "residual_sd": residual_sd,
    }


def final_counts(warehouse: Path) -> dict:
    from pipeline.warehouse import Warehouse

    def rows(store, sql):
        return store.query(sql)[1]

    with Warehouse.open(warehouse, read_only=True) as store:
        one = lambda sql: rows(store, sql)[0][0]  # noqa: E731
        return {
            "articles": one("select count(*) from articles"),
            "articles_distinct_paths": one("select count(distinct source_path) from articles"),
            "rejections": one("select count(*) from rejected_files"),
            "rejections_distinct_paths": one("select count(distinct path) from rejected_files"),
            "both_article_and_rejection": one("select count(*) from articles a join rejected_files r on r.path = a.source_path"),
            "orphan_paragraphs": one("select count(*) from paragraphs p anti join articles a using (article_id)"),
            "articles_without_paragraphs": one("select count(*) from articles a anti join paragraphs p using (article_id)"),
            "translation_status": dict(rows(store, "select translation_status, count(*) from articles group by 1 order by 1")),
            "languages": dict(rows(store, "select language, count(*) from articles group by 1 order by 2 desc, 1")),
            "rejection_reasons": dict(rows(store, "select reason, count(*) from rejected_files group by 1 order by 1")),
            "translation_cache_rows": one("select count(*) from translation_cache"),
            "cached_copy_sentences": one(f"select count(*) from translation_cache where source like '%{COPY_SENTENCE_START}%'"),
            "ingest_runs": [
                dict(zip(("status", "files_seen", "inserted", "updated", "unchanged", "rejected"), row))
                for row in rows(store, "select status, files_seen, inserted, updated, unchanged, rejected from ingest_runs")
            ],
            "outcomes": {
                path: outcome
                for path, *outcome in rows(
                    store,
                    "select source_path, 'article', language, translation_status from articles "
                    "union all select path, 'rejected', reason, null from rejected_files",
                )
            },
        }


def check_counts(inputs: list[Input], counts: dict) -> list[str]:
    """Every way the warehouse differs from what was generated; empty when all is exact."""
    from pipeline.sources import display_path

    problems = []
    n = len(inputs)
    outcomes = counts.pop("outcomes")
    if counts["articles"] + counts["rejections"] != n:
        problems.append(f"articles {counts['articles']} + rejections {counts['rejections']} != {n} inputs")
    if counts["articles"] != counts["articles_distinct_paths"] or counts["rejections"] != counts["rejections_distinct_paths"]:
        problems.append("a source path is stored twice")
    for key in ("both_article_and_rejection", "orphan_paragraphs", "articles_without_paragraphs"):
        if counts[key]:
            problems.append(f"{key}: {counts[key]}")
    runs = counts["ingest_runs"]
    expected_run = {"status": "completed", "files_seen": n, "inserted": counts["articles"], "updated": 0, "unchanged": 0, "rejected": counts["rejections"]}
    if runs != [expected_run]:
        problems.append(f"ingest_runs {runs} != [{expected_run}]")
    by_source = defaultdict(Counter)
    for item in inputs:
        outcome = outcomes.get(display_path(item.path, PROJECT_ROOT / "seeds"))
        if outcome is None:
            problems.append(f"{item.path.name}: neither an article nor a rejection")
            continue
        if item.expected_rejection and tuple(outcome[:2]) != ("rejected", item.expected_rejection):
            problems.append(f"{item.path.name}: {outcome}, expected a rejection ({item.expected_rejection})")
        by_source[item.source][tuple(outcome)] += 1
    indonesian = sum(item.source.startswith(INDONESIAN) for item in inputs)
    if counts["cached_copy_sentences"] != indonesian:
        problems.append(f"{counts['cached_copy_sentences']} copy sentences translated by the model, expected {indonesian} (one per Indonesian copy)")
    for source, seen in sorted(by_source.items()):
        if source.startswith(INDONESIAN) and set(seen) != {("article", "id", "translated")}:
            problems.append(f"Indonesian copies of {source[len(INDONESIAN):]} ended as {dict(seen)}, expected all ('article', 'id', 'translated')")
        elif len(seen) > 1 and not source.startswith("bad:"):
            problems.append(f"copies of {source} ended differently: {dict(seen)}")
    return problems


def print_report(windows: list[Window], counts: dict, inputs: list[Input], problems: list[str], extra: dict) -> dict:
    print(f"\n{'window':>6} {'docs':>6} {'seconds':>8} {'docs/s':>8} {'RSS MB':>8} {'peak MB':>8} {'server MB':>10} {'load':>6}")
    for w in windows:
        print(f"{w.number:>6} {w.documents:>6} {w.seconds:>8.1f} {w.docs_per_s:>8.1f} {w.rss_mb:>8.0f} {w.peak_mb:>8.0f} {w.server_rss_mb:>10.0f} {w.load_1m:>6.1f}")
    steady = windows[1:]  # the first window holds the model load and warm-up
    trends = {
        "docs_per_s": trend([w.docs_per_s for w in steady]),
        "rss_mb": trend([w.rss_mb for w in steady]),
        "peak_mb": trend([w.peak_mb for w in steady]),
        "server_rss_mb": trend([w.server_rss_mb for w in steady]),
    }
    if trends["docs_per_s"]:
        print(f"\ntrend over windows 2..{len(windows)}: the least-squares line's change from the first to the last window, "
              "± 2 standard errors (from the scatter around the line):")
        for name, unit in (("docs_per_s", "docs/s"), ("rss_mb", "MB"), ("peak_mb", "MB"), ("server_rss_mb", "MB")):
            t = trends[name]
            margin = 2 * t["change_standard_error"]
            verdict = "no trend beyond noise" if abs(t["change_over_run"]) <= margin else "TREND beyond noise"
            print(f"  {name:<14} median {t['median']:7.1f} {unit:<6} change {t['change_over_run']:+7.1f} ± {margin:5.1f} {unit:<6} "
                  f"({t['change_pct_of_median']:+5.1f}% of median; scatter sd {t['residual_sd']:.1f}): {verdict}")
    generated = Counter("bad input" if i.expected_rejection else ("Indonesian" if i.source.startswith(INDONESIAN) else "other articles") for i in inputs)
    print(f"\ngenerated: {len(inputs)} inputs ({', '.join(f'{n} {k}' for k, n in generated.items())})")
    print(f"warehouse: {counts['articles']} articles + {counts['rejections']} rejections = {counts['articles'] + counts['rejections']}; "
          f"distinct paths {counts['articles_distinct_paths']} + {counts['rejections_distinct_paths']}; "
          f"in both {counts['both_article_and_rejection']}; orphan paragraphs {counts['orphan_paragraphs']}")
    print(f"  translation_status: {counts['translation_status']}")
    print(f"  languages: {counts['languages']}")
    print(f"  rejection reasons: {counts['rejection_reasons']}")
    print(f"  ingest_runs: {counts['ingest_runs']}")
    print(f"  translation_cache: {counts['translation_cache_rows']} rows, {counts['cached_copy_sentences']} of them the Indonesian copies' own sentences")
    for key, value in extra.items():
        print(f"  {key}: {value}")
    print("counts: exact (nothing lost, nothing duplicated, every input ended as expected)" if not problems else "counts: WRONG")
    for problem in problems[:50]:
        print(f"  - {problem}")
    return {"windows": [asdict(w) for w in windows], "trends": trends, "counts": counts, "problems": problems, **extra}


def default_batch_size(window: int) -> int:
    """The largest batch size up to the project's default that divides the window."""
    return next(size for size in range(min(PROJECT_BATCH_SIZE, window), 0, -1) if window % size == 0)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == PROBE_FLAG:
        run_probed_newsflow(Path(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=20_000, help="inputs to generate (default 20000)")
    parser.add_argument("--window", type=int, default=1_000, help="documents per measured window (default 1000)")
    parser.add_argument("--batch-size", type=int, help="ingest --batch-size (default: the largest size up to 256 dividing the window)")
    parser.add_argument("--json", type=Path, help="also write the results here (e.g. bench/results/soak.json)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus and the temporary folder (warehouse, state, logs)")
    args = parser.parse_args()
    batch_size = args.batch_size or default_batch_size(args.window)

    work = Path(tempfile.mkdtemp(prefix="newsflow-soak-"))
    env = isolated_environment(work)
    warehouse, probe, log = work / "soak.duckdb", work / "progress.jsonl", work / "ingest.log"
    started = time.perf_counter()
    inputs = build_soak_corpus(CORPUS_DIR, args.documents)
    print(f"corpus: {len(inputs)} inputs in {CORPUS_DIR.relative_to(PROJECT_ROOT)} ({time.perf_counter() - started:.1f} s, "
          f"{sum(item.path.lstat().st_size for item in inputs) / 1e6:.0f} MB); work folder {work}", flush=True)
    print_shares(news_articles())

    from workbench.translate.build_package import build_tiny_package

    installed = newsflow(env, "models", "install", "id", "--file", str(build_tiny_package(work / "model")))
    if installed.returncode != 0:
        raise SystemExit(f"installing the test model failed: {installed.stdout}{installed.stderr}")
    print(installed.stdout.strip(), flush=True)

    load_before = os.getloadavg()
    command = [sys.executable, "-m", "bench.soak_bench", PROBE_FLAG, str(probe),
               "ingest", str(CORPUS_DIR), "--warehouse", str(warehouse), "--batch-size", str(batch_size)]
    print(f"running newsflow ingest (batch size {batch_size}, Prefect server on port {env['NEWSFLOW_SERVER_PORT']}); "
          f"load average {load_before[0]:.1f}", flush=True)
    started = time.monotonic()
    try:
        with open(log, "w") as output:
            child = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT)
            shown = 0
            while child.poll() is None:
                time.sleep(2)
                for w in windows_from_probe(_read_probe(probe), args.window)[shown:]:
                    print(f"  window {w.number}: {w.documents} docs in {w.seconds:.1f} s = {w.docs_per_s:.1f} docs/s, "
                          f"RSS {w.rss_mb:.0f} MB, peak {w.peak_mb:.0f} MB, server {w.server_rss_mb:.0f} MB, load {w.load_1m:.1f}", flush=True)
                    shown += 1
            wall = time.monotonic() - started
    finally:
        stopped = newsflow(env, "server", "stop", timeout=120)
    print(stopped.stdout.strip() or stopped.stderr.strip())
    output = log.read_text(encoding="utf-8", errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"newsflow ingest failed (exit {child.returncode}); log {log}:\n{output[-3000:]}")

    records = _read_probe(probe)
    first = next(r for r in records if r["event"] == "discovered")
    extra = {
        "documents": len(inputs),
        "window": args.window,
        "batch_size": batch_size,
        "wall_seconds": round(wall, 1),
        "start_up_seconds (process start to files discovered)": round(first["t"] - started, 1),
        "start_up_peak_mb": first["peak_mb"],
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "summary_line": next((line for line in reversed(output.splitlines()) if line.startswith("time:")), ""),
    }
    windows = windows_from_probe(records, args.window)
    counts = final_counts(warehouse)
    problems = check_counts(inputs, counts)
    results = print_report(windows, counts, inputs, problems, extra)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(CORPUS_DIR, ignore_errors=True)  # 20,000 inputs take about 3.4 GB
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
