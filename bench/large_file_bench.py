"""One very large text file through extract, language and the whole `newsflow ingest`.

    python -m bench.large_file_bench [--sizes 4,8,16,200] [--repeat 3] [--no-ingest]

Each file is generated at run time (never committed): a page dump whose body is tens of
thousands of distinct paragraphs made of the seeds' sentences (English, with an Indonesian
paragraph now and then), framed by real page chrome (menus, breadcrumb, share widgets,
comment form, contact block) at its start and end. For every size it prints the extract and
language stages in-process (median of --repeat runs, with the peak RSS of a fresh process per
size), then the whole `newsflow ingest` of that one file (--max-file-mb raised above it) on a
local Prefect server, timed with its peak RSS (the child's ru_maxrss, as `/usr/bin/time -v`
reports it), and checks that the body was kept and the chrome dropped.

    python -m bench.large_file_bench --hostile [--texts short-lines-20mb,...] [--workers 1,2]
        [--writer-limits 128MB,512MB] [--checkout DIR --cap-gb 8] [--output bench/results/hostile_texts.json]

`--hostile` drops each of issue 22's texts (HOSTILE_TEXTS: 20 and 50 MB of short lines, 50 MB
of a 20-word vocabulary) alone into a fresh warehouse with the real `newsflow ingest`, in-process
(--workers 1) and on local workers (--workers 2), under each writer memory limit, then ingests one
2 KB file into the same warehouse and searches for it. For each it reports the wall time, the
process tree's peak RSS (the most its processes held together at one sample, every 0.1 s) and the
largest single process's own high-water mark, what became of the text (article, or rejection
reason), and the next ingest's wall time and exit. `--checkout` runs another checkout's code (the
same Prefect server), `--cap-gb` caps each process's address space (prlimit) for code that may
take the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import PROJECT_ROOT, SEEDS_DIR

MB = 1024 * 1024

HEADER_CHROME = """Skip to content
Home
News
World
Asia
Business
Sport
Opinion
Subscribe
Sign in
HomeAsiaJakarta gambles on embracing North Korea

Jakarta gambles on embracing North Korea
By Aniello Iannone
October 28, 2025
Share on Facebook
Share on Twitter
"""
FOOTER_CHROME = """Aniello Iannone is a lecturer in Southeast Asian Politics, Universitas Diponegoro (UNDIP), Indonesia

LEAVE A REPLY

Please enter your comment!
Please enter your name here

Must Read

spot_img
Related stories
Harbour festival returns after five years
Mayor announces new bus routes
[email protected] | + 86 10 6416 7544
WhatsApp (message only): +44 7822 014058
Download contact card
© 2025 Example Times. All rights reserved.
Privacy Policy | Terms of Use | Contact
"""
CHROME_MARKERS = ("Skip to content", "Share on Facebook", "LEAVE A REPLY", "All rights reserved", "Download contact card")
SUBHEADINGS = ("Diplomatic ties", "The view from Jakarta", "What comes next", "Trade and aid", "A long history")


def _sentences(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    pieces = [s for line in lines if len(line) > 80 for s in re.split(r"(?<=[.!?])\s+(?=[A-Z“\"])", line)]
    return [s for s in pieces if 40 <= len(s) <= 400 and s[-1] in ".!?”\""]


def sentence_pools() -> tuple[list[str], list[str]]:
    seeds = sorted((SEEDS_DIR).glob("*.txt"))
    english = [s for path in seeds[:4] for s in _sentences(path.read_text(encoding="utf-8"))]
    indonesian = _sentences(seeds[4].read_text(encoding="utf-8"))
    return english, indonesian


_WRAP = re.compile(r"(.{1,72})(?: |$)")


def large_text_dump(target_bytes: int, seed: int = 0, wrapped: bool = False) -> str:
    """A page dump of about `target_bytes` UTF-8 bytes: chrome, a huge body, chrome. Deterministic.
    `wrapped`: the body hard-wrapped at 72 columns, a blank line between paragraphs (a plain-text book)."""
    rng = random.Random(seed)
    english, indonesian = sentence_pools()
    parts = [HEADER_CHROME, "\n"]
    size = len(HEADER_CHROME.encode()) + len(FOOTER_CHROME.encode())
    number = 0
    while size < target_bytes:
        number += 1
        pool = indonesian if number % 25 == 0 else english
        paragraph = " ".join(rng.choice(pool) for _ in range(rng.randint(2, 5)))
        if wrapped:
            paragraph = _WRAP.sub("\\1\n", paragraph) + "\n"
        line = f"{paragraph}\n" if number % 40 else f"{paragraph}\n\n{rng.choice(SUBHEADINGS)}\n\n"
        parts.append(line)
        size += len(line.encode())
    parts += ["\n", FOOTER_CHROME]
    return "".join(parts)


def seed_vocabulary() -> list[str]:
    """The distinct words of the seeds (about 1,250): a vocabulary a short-lines text is drawn from."""
    words = set()
    for path in sorted((SEEDS_DIR).glob("*.txt")):
        words.update(re.findall(r"[^\W\d_]{2,}", path.read_text(encoding="utf-8")))
    return sorted(words)


def short_lines_text(target_bytes: int, seed: int = 0) -> str:
    """About `target_bytes` of lines of 1 to 5 words drawn from the seeds' vocabulary, no blank
    line, no sentence: a word list or a log rather than a page (issue 22: a million paragraphs). Deterministic."""
    rng = random.Random(seed)
    vocabulary = seed_vocabulary()
    lines, size = [], 0
    while size < target_bytes:
        line = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 5))) + "\n"
        lines.append(line)
        size += len(line.encode())
    return "".join(lines)


LOW_VOCABULARY = tuple("the of and to in north korea jakarta said talks minister trade visit would new ties with on for war".split())


def low_vocabulary_text(target_bytes: int, seed: int = 0, line_breaks: bool = True) -> str:
    """About `target_bytes` of lines of 3 to 12 words of a 20-word vocabulary (issue 22: a text
    whose every word is one of a few search terms and whose shingles repeat endlessly);
    without `line_breaks`, one line. Deterministic."""
    rng = random.Random(seed)
    end = "\n" if line_breaks else " "
    lines, size = [], 0
    while size < target_bytes:
        line = " ".join(rng.choice(LOW_VOCABULARY) for _ in range(rng.randint(3, 12))) + end
        lines.append(line)
        size += len(line)
    return "".join(lines)


def write_large_dump(path: Path, size_mb: float, seed: int = 0, wrapped: bool = False) -> Path:
    path.write_text(large_text_dump(int(size_mb * MB), seed, wrapped), encoding="utf-8")
    return path


def machine_and_commit() -> dict:
    """What a result file records about where it was measured: commit (and whether the tree was
    changed), date, host, cores, memory, Python and DuckDB."""
    import platform
    from datetime import datetime, timezone

    import duckdb
    import psutil

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "tree_changed": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "host": platform.node(),
            "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
        },
    }


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def run_measured(command: list[str], env: dict | None = None) -> tuple[int, float, float, str, str]:
    """Run a command; its exit code, wall seconds, peak RSS in MB (wait4's ru_maxrss of that child and
    what it waited for, the figure `/usr/bin/time -v` shows), stdout and stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, seconds, usage.ru_maxrss / 1024, out.read(), err.read()


def stage_figures(path: str, repeat: int) -> dict:
    """Run in a fresh process (`--stages-of`): extract and language timings and peak RSS."""
    from pipeline.extract import extract_document
    from pipeline.language import detect_language, shared_identifier
    from pipeline.sources import load_document

    shared_identifier()  # the model loads once, outside the timings
    before = peak_rss_mb()
    doc = load_document(Path(path), drop_folder=Path(path).parent, max_bytes=2 * Path(path).stat().st_size)
    extract_seconds, language_seconds = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        extracted = extract_document(doc)
        extract_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        labelled = detect_language(extracted)
        language_seconds.append(time.perf_counter() - started)
    text = labelled.text or ""
    return {
        "extract": statistics.median(extract_seconds),
        "language": statistics.median(language_seconds),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": before,
        "rejected": labelled.rejection.reason if labelled.rejection else None,
        "paragraphs": len(labelled.paragraph_languages),
        "language_of_document": labelled.language,
        "body_kept_chars": len(text),
        "chrome_left": [marker for marker in CHROME_MARKERS if marker in text],
        "title": labelled.title,
    }


def ingest_figures(path: Path, size_mb: float, work: Path, api_url: str) -> dict:
    warehouse = work / f"large-{size_mb:g}.duckdb"
    env = dict(os.environ, PREFECT_API_URL=api_url, PREFECT_HOME=str(work / "prefect-client"), NEWSFLOW_STATE=str(work / "state"))
    command = [sys.executable, "-m", "flows.cli", "ingest", str(path), "--warehouse", str(warehouse), "--max-file-mb", str(int(size_mb * 1.25) + 1)]
    returncode, seconds, peak_mb, stdout, stderr = run_measured(command, env)
    if returncode != 0:
        raise SystemExit(f"ingest of {path} failed ({returncode}):\n{stdout}\n{stderr}")
    from pipeline.warehouse import Warehouse

    with Warehouse.open(warehouse, read_only=True) as store:
        _, articles = store.query("select count(*), max(length(text)) from articles")
        _, paragraphs = store.query("select count(*) from paragraphs") if _has_table(store, "paragraphs") else (None, [(None,)])
    return {"seconds": seconds, "peak_rss_mb": peak_mb, "articles": articles[0][0], "text_chars": articles[0][1], "paragraph_rows": paragraphs[0][0], "summary": stdout.strip().splitlines()[-1:]}


HOSTILE_TEXTS = {
    "short-lines-20mb": lambda: short_lines_text(20 * MB),
    "short-lines-50mb": lambda: short_lines_text(50 * MB),
    "twenty-words-50mb": lambda: low_vocabulary_text(50 * MB),
}
SMALL_FILE_WORD = "Rason"


def small_file_text() -> str:
    """About 2 KB: the start of a seed and a line with a word none of the hostile texts has."""
    seed = sorted((SEEDS_DIR).glob("*.txt"))[1].read_text(encoding="utf-8")
    return seed[:2000].rsplit("\n", 1)[0] + f"\n\nThe {SMALL_FILE_WORD} trade zone reopened to Chinese traders on Monday, officials said.\n"


def measured_run(command: list[str], env: dict, cwd: Path, timeout_s: float, cap_gb: float | None) -> dict:
    """Run a command as a process group, sampling its process tree: exit code, wall seconds, the
    tree's peak RSS, the largest process's peak, and the last lines it printed."""
    from bench.processes import ProcessTreeSampler, stop_group

    if cap_gb:
        command = ["prlimit", f"--as={int(cap_gb * 10**9)}", *command]
    with tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        with ProcessTreeSampler({child.pid: "flow"}, interval=0.1) as sampler:
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                stop_group(child)
        seconds = time.perf_counter() - started
        for process in sampler.still_running(child.pid):  # leave nothing behind
            try:
                os.kill(process.pid, 9)
            except ProcessLookupError:
                pass
        output.seek(0)
        lines = [line for line in output.read().splitlines() if line.strip()]
    return {
        "exit": "timeout" if timed_out else child.returncode,
        "seconds": round(seconds, 2),
        "tree_peak_rss_mb": round(sampler.tree_peak_mb),
        "largest_process_peak_rss_mb": round(max((p.peak_rss_mb for p in sampler.processes.values()), default=0)),
        "processes": len(sampler.processes),
        "said": lines[-3:],
    }


def hostile_rows(names: list[str], workers: list[int], limits: list[str], work: Path, api_url: str, checkout: Path, cap_gb: float | None) -> list[dict]:
    small = work / "small"
    small.mkdir(exist_ok=True)
    (small / "next.txt").write_text(small_file_text(), encoding="utf-8")
    rows = []
    for name in names:
        folder = work / name
        folder.mkdir(exist_ok=True)
        text_path = folder / f"{name}.txt"
        text_path.write_text(HOSTILE_TEXTS[name](), encoding="utf-8")
        for limit in limits:
            for count in workers:
                warehouse = work / f"{name}-{limit}-w{count}.duckdb"
                env = dict(
                    os.environ, PREFECT_API_URL=api_url, PREFECT_HOME=str(work / "prefect-client"), NEWSFLOW_STATE=str(work / "state"),
                    NEWSFLOW_WAREHOUSE_MEMORY_LIMIT=limit,
                )
                ingest = [sys.executable, "-m", "flows.cli", "ingest", "--warehouse", str(warehouse), "--workers", str(count)]
                first = measured_run(ingest + [str(folder), "--max-file-mb", "60"], env, checkout, 900, cap_gb)
                became = _what_became_of(warehouse, text_path.name)
                following = measured_run(ingest + [str(small)], env, checkout, 900, cap_gb)
                search = subprocess.run(
                    [sys.executable, "-m", "flows.cli", "search", SMALL_FILE_WORD, "--warehouse", str(warehouse), "--format", "json"],
                    env=env, cwd=checkout, capture_output=True, text=True, timeout=120,
                )
                row = {
                    "text": name, "mb": round(text_path.stat().st_size / MB, 1), "writer_limit": limit, "workers": count,
                    "ingest": first, "became": became,
                    "next_ingest": following,
                    "next_file_found": search.returncode == 0 and "next.txt" in search.stdout,
                    "search_note": search.stderr.strip()[:300],
                }
                rows.append(row)
                _print_hostile_row(row)
                for leftover in work.glob(warehouse.name + "*"):
                    leftover.unlink()
        text_path.unlink()
    return rows


def _what_became_of(warehouse: Path, name: str) -> str:
    import duckdb

    if not warehouse.exists():
        return "no warehouse"
    try:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            articles = connection.execute("SELECT count(*) FROM articles WHERE source_path LIKE ?", [f"%{name}"]).fetchone()[0]
            rejected = connection.execute("SELECT reason FROM rejected_files WHERE path LIKE ?", [f"%{name}"]).fetchall()
            paragraphs = connection.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
    except duckdb.Error as error:
        return f"unreadable warehouse: {error}"
    if articles:
        return f"article ({paragraphs} paragraph rows)"
    return "rejected: " + ", ".join(reason for (reason,) in rejected) if rejected else "neither article nor rejection"


def _print_hostile_row(row: dict) -> None:
    first, following = row["ingest"], row["next_ingest"]
    print(
        f"{row['text']:>18} {row['mb']:5.1f} MB  limit {row['writer_limit']:>6}  --workers {row['workers']}: "
        f"exit {first['exit']} in {first['seconds']:6.1f} s, tree peak {first['tree_peak_rss_mb']:5} MB "
        f"(largest process {first['largest_process_peak_rss_mb']} MB); {row['became']}; "
        f"next 2 KB ingest: exit {following['exit']} in {following['seconds']:.1f} s, tree peak {following['tree_peak_rss_mb']} MB, "
        f"found by search: {row['next_file_found']}",
        flush=True,
    )


def _has_table(store, name: str) -> bool:
    _, rows = store.query(f"select count(*) from information_schema.tables where table_name = '{name}'")
    return rows[0][0] > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="4,8,16,200", help="file sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="in-process runs per size (median)")
    parser.add_argument("--no-ingest", action="store_true", help="skip the whole `newsflow ingest` runs")
    parser.add_argument("--wrapped", action="store_true", help="hard-wrap the body at 72 columns (millions of short lines)")
    parser.add_argument("--stages-of", help=argparse.SUPPRESS)
    parser.add_argument("--hostile", action="store_true", help="issue 22's texts through newsflow ingest, then a small file (see above)")
    parser.add_argument("--texts", default=",".join(HOSTILE_TEXTS), help="with --hostile: which texts")
    parser.add_argument("--workers", default="1,2", help="with --hostile: --workers values, comma-separated")
    parser.add_argument("--writer-limits", default="128MB", help="with --hostile: NEWSFLOW_WAREHOUSE_MEMORY_LIMIT values")
    parser.add_argument("--checkout", type=Path, default=PROJECT_ROOT, help="with --hostile: run this checkout's newsflow")
    parser.add_argument("--cap-gb", type=float, help="with --hostile: cap each process's address space (prlimit --as)")
    parser.add_argument("--output", help="with --hostile: write the rows as JSON here")
    parser.add_argument("--label", default="", help="with --hostile: what the JSON should say was measured (e.g. the checkout's commit)")
    args = parser.parse_args()
    if args.stages_of:
        print(json.dumps(stage_figures(args.stages_of, args.repeat)))
        return
    if args.hostile:
        _run_hostile(args)
        return

    work = Path(tempfile.mkdtemp(prefix="newsflow-large-"))
    server = None
    try:
        sizes = [float(size) for size in args.sizes.split(",")]
        rows = []
        for size_mb in sizes:
            path = write_large_dump(work / f"large-{size_mb:g}mb.txt", size_mb, wrapped=args.wrapped)
            repeat = args.repeat if size_mb <= 32 else 1
            result = subprocess.run(
                [sys.executable, "-m", "bench.large_file_bench", "--stages-of", str(path), "--repeat", str(repeat)],
                cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
            )
            stages = json.loads(result.stdout.strip().splitlines()[-1])
            row = {"mb": size_mb, "repeat": repeat, **stages}
            if not args.no_ingest:
                if server is None:
                    from flows.server import start_local_server

                    server = start_local_server(work / "prefect-server", ui=False)
                row["ingest"] = ingest_figures(path, size_mb, work, server.api_url)
            path.unlink()
            rows.append(row)
            _print_row(row)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _run_hostile(args) -> None:
    from flows.server import start_local_server

    work = Path(tempfile.mkdtemp(prefix="newsflow-hostile-"))
    server = start_local_server(work / "prefect-server", ui=False)
    try:
        rows = hostile_rows(
            args.texts.split(","), [int(n) for n in args.workers.split(",")], args.writer_limits.split(","), work, server.api_url,
            args.checkout.resolve(), args.cap_gb,
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.output:
        result = {**machine_and_commit(), "label": args.label, "checkout": str(args.checkout.resolve()), "cap_gb": args.cap_gb, "rows": rows}
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def _print_row(row: dict) -> None:
    line = (
        f"{row['mb']:>6g} MB  extract {row['extract']:7.2f} s  language {row['language']:7.2f} s  "
        f"({row['extract'] / row['mb']:.3f} + {row['language'] / row['mb']:.3f} s/MB, median of {row['repeat']})  "
        f"stages peak RSS {row['peak_rss_mb']:.0f} MB"
    )
    ingest = row.get("ingest")
    if ingest:
        line += f"  | newsflow ingest {ingest['seconds']:6.2f} s, peak RSS {ingest['peak_rss_mb']:.0f} MB"
    print(line)
    print(
        f"          {row['paragraphs']} paragraphs kept, language {row['language_of_document']}, title {row['title']!r}, "
        f"chrome left: {row['chrome_left'] or 'none'}" + (f", rejected {row['rejected']}" if row["rejected"] else "")
    )
    if ingest:
        print(f"          warehouse: {ingest['articles']} article of {ingest['text_chars']} chars, {ingest['paragraph_rows']} paragraph rows; {ingest['summary']}")


if __name__ == "__main__":
    main()
