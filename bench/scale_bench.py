"""`make bench`: does `newsflow ingest` scale with the cores and the Dask cluster it is given?

    python -m bench.scale_bench [--count 2000] [--sizes 1000,5000,20000] [--repeat 3] [--json bench/results/scale.json]
    python -m bench.scale_bench --quick      # smoke run: 300 documents, sizes 300,600, once each

Everything is measured in one run, so the ratios hold on a noisy machine. Each measurement is
the real command line (`python -m flows.cli ingest ... --warehouse FRESH.duckdb`) as a child
process, timed from its start to its exit (Python start-up, Prefect client, Dask cluster start
and stop included), with its own temporary NEWSFLOW_HOME, state folder, ARGOS_PACKAGES_DIR and
XDG folders; one local Prefect server serves every run (its start-up is not timed). The
corpus is bench/corpus.py's (distinct news articles composed from the development data: text
articles in 51 languages, real HTML pages refilled and their dumps), generated inside that NEWSFLOW_HOME; the tests' tiny id->en package is installed
there, so Indonesian documents are really translated (random weights: plumbing, not a real
model's cost). Every run translates on one CTranslate2 thread per process (NEWSFLOW_TRANSLATE_THREADS=1):
on that tiny model (64-wide layers) two threads are about 20 times slower than one, which would
inflate the in-process baseline (it would get both cores' threads; each worker gets one) and so
the speed-up; on a real model more threads are faster, not slower.

1. The --count corpus with `--workers 1` (in-process) and `--workers <cores>` (a LocalCluster of
   worker processes): docs/s and their ratio (target >= 1.7x on 2 cores). Every run's warehouse
   must hold the same articles (source_path, text, language, text_en, translation_status) and
   rejections as the first `--workers 1` run: compared with DuckDB, read-only.
2. The same corpus through a cluster started as a user would (`dask scheduler`, two
   `dask worker --nworkers 1 --nthreads 1`) with `--dask-address`: docs/s against the local run
   (target: within 15%).
3. Its HTML pages alone, newsflow with all cores against the ceiling of `trafilatura.extract`
   alone on the same pages in as many processes (a multiprocessing Pool; the timed map includes
   reading the files; pool start and a few warm-up pages are not timed): target >= 0.8x. The
   same map in one process gives the speed-up this machine itself allows (shared or SMT cores
   give less than their count).
4. The corpus generated at each of --sizes, with all cores: seconds per 1,000 documents and peak
   RSS of the flow process (the CLI process; with a LocalCluster it also holds the scheduler and
   the nannies) and of the largest worker process; memory must stay flat (largest size within
   1.2x of the smallest).

Measurements 1-3 are repeated --repeat times, interleaved (1, cores, cluster, HTML, ceiling,
then again), and their medians reported; sizes run --size-repeat times. Peak RSS is the larger of
the kernel's high-water mark (VmHWM) and psutil's RSS, sampled over the CLI's process tree every
0.2 s. Exit code 1 when a run fails, warehouses differ, or a process is left behind; targets are
reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench.corpus import PROJECT_ROOT, build_corpus, news_articles, print_shares
from bench.soak_bench import isolated_environment as soak_environment
from bench.processes import ProcessTreeSampler, stop_group, user_cluster

TARGET_SPEEDUP = 1.7
TARGET_CEILING_SHARE = 0.8
TARGET_MEMORY_GROWTH = 1.2
TARGET_CLUSTER_SHARE = 0.85  # within 15% of the default local run
CONTENT_COLUMNS = "source_path, text, language, text_en, translation_status"


@dataclass
class Run:
    label: str
    documents: int
    seconds: float  # the `newsflow ingest` process, start to exit
    flow_seconds: float | None  # the flow itself, from the command's summary line
    flow_peak_mb: float
    worker_peak_mb: float  # the largest worker process
    workers_seen: int  # worker processes seen during the run (more than started: a restart)
    flow_cpu_seconds: float
    worker_cpu_seconds: float
    load_before: float
    summary_line: str
    left_behind: list[str] = field(default_factory=list)
    processes: list[dict] = field(default_factory=list)  # every process seen in the tree: role, peak, CPU

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds

    @property
    def worker_cpu_share(self) -> float:
        total = self.flow_cpu_seconds + self.worker_cpu_seconds
        return self.worker_cpu_seconds / total if total else 0.0


# --- running newsflow ------------------------------------------------------------------------


def isolated_environment(work: Path, api_url: str) -> dict[str, str]:
    """The soak benchmark's isolated environment, on the shared Prefect server, with no Dask
    settings, translating on one thread per process (see the module's doc)."""
    env = {k: v for k, v in soak_environment(work).items() if not k.startswith("DASK_") and k != "NEWSFLOW_SERVER_PORT"}
    env.update(NEWSFLOW_HOME=str(work), PREFECT_API_URL=api_url, NEWSFLOW_TRANSLATE_THREADS="1")
    return env


def newsflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=PROJECT_ROOT, text=True, capture_output=True)


def ingest_options(env: dict[str, str]) -> str:
    return newsflow(env, "ingest", "--help").stdout


def run_ingest(
    env, label: str, corpus: Path, warehouse: Path, log: Path, *, workers: int | None = None, cluster=None, cwd: Path = PROJECT_ROOT
) -> Run:
    """`newsflow ingest CORPUS --warehouse WAREHOUSE [--workers N | --dask-address ADDRESS]`, timed and
    sampled; run from `cwd`, whose code it imports (another checkout, for an A/B)."""
    command = [sys.executable, "-m", "flows.cli", "ingest", str(corpus), "--warehouse", str(warehouse)]
    if workers is not None:
        command += ["--workers", str(workers)]
    if cluster is not None:
        command += ["--dask-address", cluster.address]
    documents = sum(1 for _ in corpus.iterdir())
    load_before = os.getloadavg()[0]
    with open(log, "w") as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        roots = {child.pid: "flow", **(cluster.roots() if cluster is not None else {})}
        try:
            with ProcessTreeSampler(roots) as sampler:
                child.wait()
            seconds = time.perf_counter() - started
        finally:
            if child.poll() is None:
                stop_group(child)
    text = log.read_text(encoding="utf-8", errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{label}: `{' '.join(command)}` failed (exit {child.returncode}); log {log}:\n{text[-3000:]}")
    left_behind = sampler.still_running(child.pid)
    deadline = time.monotonic() + 10  # multiprocessing's resource tracker exits a moment after its parent
    while left_behind and time.monotonic() < deadline:
        time.sleep(0.2)
        left_behind = sampler.still_running(child.pid)
    for process in left_behind:  # report them, and leave nothing behind
        try:
            os.kill(process.pid, 9)
        except ProcessLookupError:
            pass
    summary = next((line for line in reversed(text.splitlines()) if line.startswith("time:")), "")
    flow_seconds = re.search(r"flow ([\d.]+)s", summary)
    run = Run(
        label=label,
        documents=documents,
        seconds=seconds,
        flow_seconds=float(flow_seconds.group(1)) if flow_seconds else None,
        flow_peak_mb=sampler.peak_mb("flow"),
        worker_peak_mb=sampler.peak_mb("worker"),
        workers_seen=len(sampler.with_role("worker")),
        flow_cpu_seconds=sampler.cpu_seconds("flow"),
        worker_cpu_seconds=sampler.cpu_seconds("worker"),
        load_before=load_before,
        summary_line=summary,
        left_behind=[f"pid {p.pid} ({p.role}): {p.command[:160]}" for p in left_behind],
        processes=[
            {"pid": p.pid, "role": p.role, "peak_rss_mb": round(p.peak_rss_mb, 1), "cpu_seconds": round(p.cpu_seconds, 1),
             "seen_seconds": round(p.last_seen - p.first_seen, 1), "command": p.command[:120]}
            for p in sampler.processes.values()
        ],
    )
    print(
        f"  {label}: {documents} docs in {seconds:.1f} s = {run.docs_per_s:.1f} docs/s; flow peak {run.flow_peak_mb:.0f} MB, "
        f"worker peak {run.worker_peak_mb:.0f} MB ({run.workers_seen} workers, {100 * run.worker_cpu_share:.0f}% of CPU in workers); "
        + (f"forkserver peak {sampler.peak_mb('forkserver'):.0f} MB; " if sampler.with_role("forkserver") else "")
        + f"load before {load_before:.1f}" + (f"; LEFT BEHIND: {run.left_behind}" if left_behind else ""),
        flush=True,
    )
    return run


def content_difference(reference: Path, other: Path) -> dict:
    """Rows of articles (CONTENT_COLUMNS) and rejections (path, reason) in one warehouse and not the other."""
    import duckdb

    connection = duckdb.connect()
    try:
        connection.execute(f"attach '{reference}' as a (read_only)")
        connection.execute(f"attach '{other}' as b (read_only)")

        def only_in(x: str, y: str, table: str, columns: str) -> int:
            query = f"select count(*) from (select {columns} from {x}.{table} except all select {columns} from {y}.{table})"
            return connection.execute(query).fetchone()[0]

        return {
            "articles": connection.execute("select count(*) from a.articles").fetchone()[0],
            "rejections": connection.execute("select count(*) from a.rejected_files").fetchone()[0],
            "articles_only_in_reference": only_in("a", "b", "articles", CONTENT_COLUMNS),
            "articles_only_in_other": only_in("b", "a", "articles", CONTENT_COLUMNS),
            "rejections_only_in_reference": only_in("a", "b", "rejected_files", "path, reason"),
            "rejections_only_in_other": only_in("b", "a", "rejected_files", "path, reason"),
        }
    finally:
        connection.close()


def differs(difference: dict) -> bool:
    return any(v for k, v in difference.items() if "_only_in_" in k)


# --- the ceiling: trafilatura alone ----------------------------------------------------------


def _import_trafilatura() -> None:
    import trafilatura  # noqa: F401


def _extract_page(path: str) -> bool:
    import trafilatura

    html = Path(path).read_text(encoding="utf-8", errors="replace")
    return trafilatura.extract(html, include_comments=False, include_tables=True) is not None


def trafilatura_ceiling(pages: list[Path], processes: int) -> tuple[float, int]:
    """Seconds for `trafilatura.extract` over `pages` in a Pool of `processes`, and pages with a text."""
    names = [str(page) for page in pages]
    with multiprocessing.get_context("spawn").Pool(processes, initializer=_import_trafilatura) as pool:
        pool.map(_extract_page, names[: 2 * processes], chunksize=1)  # warm-up, not timed
        started = time.perf_counter()
        extracted = pool.map(_extract_page, names, chunksize=4)
        seconds = time.perf_counter() - started
    return seconds, sum(extracted)


# --- the report --------------------------------------------------------------------------------


def median_of(runs: list[Run]) -> dict:
    return {
        "runs": len(runs),
        "documents": runs[0].documents,
        "seconds": statistics.median(r.seconds for r in runs),
        "docs_per_s": statistics.median(r.docs_per_s for r in runs),
        "flow_peak_mb": max(r.flow_peak_mb for r in runs),
        "worker_peak_mb": max(r.worker_peak_mb for r in runs),
        "workers_seen": max(r.workers_seen for r in runs),
        "worker_cpu_share": statistics.median(r.worker_cpu_share for r in runs),
        "load_before": statistics.median(r.load_before for r in runs),
        "cpu_seconds": statistics.median(r.flow_cpu_seconds + r.worker_cpu_seconds for r in runs),
        "flow_docs_per_s": statistics.median(r.documents / r.flow_seconds for r in runs) if all(r.flow_seconds for r in runs) else None,
    }


def verdict(value: float, target: float, *, at_most: bool = False) -> str:
    met = value <= target if at_most else value >= target
    return f"{value:.2f}x (target {'<=' if at_most else '>='} {target}x): {'met' if met else 'NOT met'}"


def table(rows: list[dict]) -> str:
    headers = ["measurement", "docs", "runs", "seconds", "docs/s", "s per 1k docs", "flow peak MB", "worker peak MB", "result"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * 7 + ["---"]) + "|"]
    for row in rows:
        m = row.get("median")
        if m is None:
            cells = [row["measurement"], "", "", "", "", "", "", "", row["result"]]
        else:
            per_s = f"{m['docs_per_s']:.1f}"
            cells = [
                row["measurement"], str(m["documents"]), str(m["runs"]), f"{m['seconds']:.1f}", per_s,
                f"{1000 * m['seconds'] / m['documents']:.1f}",
                f"{m['flow_peak_mb']:.0f}" if m.get("flow_peak_mb") else "",
                f"{m['worker_peak_mb']:.0f}" if m.get("worker_peak_mb") else "",
                row.get("result", ""),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_note(m: dict) -> str:
    parts = []
    if m.get("flow_docs_per_s"):
        parts.append(f"flow alone {m['flow_docs_per_s']:.1f} docs/s")
    if "cpu_seconds" in m:
        parts.append(f"{m['cpu_seconds']:.0f} CPU s")
    if m.get("workers_seen"):
        parts.append(f"{m['workers_seen']} worker processes, {100 * m['worker_cpu_share']:.0f}% of CPU in them")
    if "load_before" in m:
        parts.append(f"load before {m['load_before']:.1f}")
    return "; ".join(parts)


# --- main ------------------------------------------------------------------------------------


@dataclass
class Comparisons:
    """Measurements 1-3, every round: the runs, trafilatura's times alone, and each warehouse's
    difference from the first `--workers 1` run's."""

    single: list[Run] = field(default_factory=list)
    local: list[Run] = field(default_factory=list)
    clustered: list[Run] = field(default_factory=list)
    html: list[Run] = field(default_factory=list)
    ceiling: list[float] = field(default_factory=list)
    ceiling_one: list[float] = field(default_factory=list)
    differences: dict[str, dict] = field(default_factory=dict)

    def left_behind(self) -> list[str]:
        return [p for r in self.single + self.local + self.clustered + self.html for p in r.left_behind]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="documents of the comparison corpus (default 2000)")
    parser.add_argument("--sizes", default="1000,5000,20000", help="corpus sizes for seconds per 1k docs and memory (default 1000,5000,20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each comparison, medians reported (default 3)")
    parser.add_argument("--size-repeat", type=int, default=1, help="runs of each size (default 1)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="'all cores' (default: this machine's)")
    parser.add_argument("--quick", action="store_true", help="smoke run: --count 300 --sizes 300,600 --repeat 1")
    parser.add_argument("--json", type=Path, help="also write the results here (e.g. bench/results/scale.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (corpora, warehouses, logs)")
    args = parser.parse_args()
    if args.quick:
        args.count, args.sizes, args.repeat, args.size_repeat = 300, "300,600", 1, 1
    return args


def prepare(env: dict[str, str], work: Path, count: int) -> tuple[Path, Path, list[Path]]:
    """Checks the options, installs the tiny test model, builds the corpus and its HTML-only copy."""
    from workbench.translate.build_package import build_tiny_package

    help_text = ingest_options(env)
    missing = [flag for flag in ("--workers", "--dask-address") if flag not in help_text]
    if missing:
        raise SystemExit(f"`newsflow ingest` has no {' or '.join(missing)} option yet: nothing to measure")
    installed = newsflow(env, "models", "install", "id", "--file", str(build_tiny_package(work / "model")))
    if installed.returncode != 0:
        raise SystemExit(f"installing the test model failed: {installed.stdout}{installed.stderr}")
    (work / "logs").mkdir()
    corpus = work / f"corpus-{count}"
    build_corpus(corpus, count)
    html_corpus = work / f"corpus-{count}-html"
    html_corpus.mkdir()
    pages = sorted(corpus.glob("*.html"))
    for page in pages:
        os.link(page, html_corpus / page.name)
    print(f"corpus: {count} documents ({len(pages)} HTML pages) in {corpus}", flush=True)
    print_shares(news_articles()[:count])
    return corpus, html_corpus, pages


def compare(env: dict[str, str], work: Path, corpus: Path, html_corpus: Path, pages: list[Path], repeat: int, cores: int) -> Comparisons:
    """Measurements 1-3, interleaved, `repeat` rounds."""
    measured = Comparisons()
    logs = work / "logs"
    reference = work / "reference.duckdb"  # the first --workers 1 run's warehouse
    for attempt in range(1, repeat + 1):
        print(f"comparison runs, round {attempt} of {repeat}", flush=True)
        target = reference if attempt == 1 else work / "single.duckdb"
        measured.single.append(run_ingest(env, "--workers 1", corpus, target, logs / f"single-{attempt}.log", workers=1))
        warehouse = work / "local.duckdb"
        measured.local.append(run_ingest(env, f"--workers {cores}", corpus, warehouse, logs / f"local-{attempt}.log", workers=cores))
        for name, run_warehouse in (("--workers 1", target), (f"--workers {cores}", warehouse)):
            if run_warehouse != reference:
                measured.differences[f"{name}, round {attempt}"] = content_difference(reference, run_warehouse)
                run_warehouse.unlink()
        warehouse = work / "cluster.duckdb"
        with user_cluster(env, logs / f"cluster-{attempt}", workers=2) as cluster:
            measured.clustered.append(run_ingest(env, "--dask-address", corpus, warehouse, logs / f"cluster-{attempt}.log", cluster=cluster))
        measured.differences[f"--dask-address, round {attempt}"] = content_difference(reference, warehouse)
        warehouse.unlink()
        measured.html.append(run_ingest(env, f"HTML pages, --workers {cores}", html_corpus, work / "html.duckdb", logs / f"html-{attempt}.log", workers=cores))
        (work / "html.duckdb").unlink()
        for processes, seconds_list in ((cores, measured.ceiling), (1, measured.ceiling_one)):
            seconds, extracted = trafilatura_ceiling(pages, processes)
            seconds_list.append(seconds)
            print(f"  trafilatura alone, {processes} processes: {len(pages)} pages ({extracted} with a text) in {seconds:.1f} s "
                  f"= {len(pages) / seconds:.1f} pages/s", flush=True)
    return measured


def measure_sizes(env: dict[str, str], work: Path, sizes: list[int], size_repeat: int, cores: int) -> dict[int, list[Run]]:
    """Measurement 4: the corpus generated at each size, with all cores."""
    by_size: dict[int, list[Run]] = {}
    for size in sizes:
        sized = work / f"corpus-{size}"
        build_corpus(sized, size)
        print(f"size {size}", flush=True)
        by_size[size] = []
        for n in range(1, size_repeat + 1):
            warehouse = work / f"size-{size}-{n}.duckdb"
            by_size[size].append(run_ingest(env, f"{size} docs, --workers {cores}", sized, warehouse, work / "logs" / f"size-{size}-{n}.log", workers=cores))
            warehouse.unlink()
        shutil.rmtree(sized)  # 20,000 documents take several GB
    return by_size


def comparison_rows(measured: Comparisons, pages: list[Path], count: int, cores: int) -> tuple[list[dict], list[str]]:
    """The table's rows for measurements 1-3, and the problems they show (differing warehouses)."""
    m_single, m_local, m_cluster, m_html = (median_of(runs) for runs in (measured.single, measured.local, measured.clustered, measured.html))
    ceiling_seconds = statistics.median(measured.ceiling)
    m_ceiling = {"runs": len(measured.ceiling), "documents": len(pages), "seconds": ceiling_seconds, "docs_per_s": len(pages) / ceiling_seconds}
    speedup = m_local["docs_per_s"] / m_single["docs_per_s"]
    cluster_share = m_cluster["docs_per_s"] / m_local["docs_per_s"]
    ceiling_share = m_html["docs_per_s"] / m_ceiling["docs_per_s"]
    hardware_speedup = statistics.median(measured.ceiling_one) / ceiling_seconds
    flow_ceiling_share = m_html["flow_docs_per_s"] / m_ceiling["docs_per_s"] if m_html["flow_docs_per_s"] else None
    comparisons = measured.differences
    different = {name: d for name, d in comparisons.items() if differs(d)}
    first = next(iter(comparisons.values()))
    problems = [f"warehouse of {name} differs from the first --workers 1 run: {d}" for name, d in different.items()]
    rows = [
        {"measurement": f"{count} docs, `--workers 1` (in-process)", "median": m_single, "result": run_note(m_single)},
        {"measurement": f"{count} docs, `--workers {cores}` (LocalCluster)", "median": m_local, "result": run_note(m_local)},
        {"measurement": f"speed-up, {cores} workers / 1", "result": verdict(speedup, TARGET_SPEEDUP)
         + f"; this machine's own: trafilatura alone in {cores} processes / 1 = {hardware_speedup:.2f}x"},
        {"measurement": f"{count} docs, `--dask-address` (`dask scheduler` + 2 `dask worker`)", "median": m_cluster, "result": run_note(m_cluster)},
        {"measurement": "user-started cluster / LocalCluster", "result": verdict(cluster_share, TARGET_CLUSTER_SHARE) + " (within 15%)"},
        {
            "measurement": "same warehouse content (articles, rejections)",
            "result": (f"identical in all {len(comparisons) + 1} runs ({first['articles']} articles, {first['rejections']} rejections)"
                       if not different else f"DIFFERENT in {len(different)} of {len(comparisons)} runs: {sorted(different)}"),
        },
        {"measurement": f"HTML pages only, `--workers {cores}`", "median": m_html, "result": run_note(m_html)},
        {"measurement": f"HTML pages, `trafilatura.extract` alone, {cores} processes (ceiling)", "median": m_ceiling, "result": "Pool.map incl. reading files"},
        {
            "measurement": "newsflow HTML pages/s / trafilatura ceiling",
            "result": verdict(ceiling_share, TARGET_CEILING_SHARE)
            + (f"; flow alone (no process start-up) {flow_ceiling_share:.2f}x" if flow_ceiling_share else ""),
        },
    ]
    return rows, problems


def size_rows(by_size: dict[int, list[Run]], sizes: list[int], cores: int) -> list[dict]:
    """The table's rows for measurement 4: per size, then the peak RSS of the largest against the smallest."""
    size_medians = {size: median_of(runs) for size, runs in by_size.items()}
    rows = [{"measurement": f"{size} docs, `--workers {cores}`", "median": m, "result": run_note(m)} for size, m in size_medians.items()]
    if len(sizes) >= 2:
        small, large = size_medians[sizes[0]], size_medians[sizes[-1]]
        flow_growth = large["flow_peak_mb"] / small["flow_peak_mb"]
        worker_growth = large["worker_peak_mb"] / small["worker_peak_mb"] if small["worker_peak_mb"] else float("nan")
        rows.append({
            "measurement": f"peak RSS {sizes[-1]} / {sizes[0]} docs",
            "result": f"flow {verdict(flow_growth, TARGET_MEMORY_GROWTH, at_most=True)}; worker {verdict(worker_growth, TARGET_MEMORY_GROWTH, at_most=True)}",
        })
    return rows


def write_results(path: Path, args: argparse.Namespace, command: str, started_at: datetime, cores: int, pages: list[Path],
                  measured: Comparisons, by_size: dict[int, list[Run]], rows: list[dict], markdown: str, problems: list[str]) -> None:
    results = {
        "command": command,
        "started_at": started_at.isoformat(),
        "cores": cores,
        "count": args.count,
        "html_pages": len(pages),
        "repeat": args.repeat,
        "size_repeat": args.size_repeat,
        "runs": {
            "workers_1": [asdict(r) for r in measured.single],
            "workers_all": [asdict(r) for r in measured.local],
            "dask_address": [asdict(r) for r in measured.clustered],
            "html_workers_all": [asdict(r) for r in measured.html],
            "trafilatura_ceiling_seconds": measured.ceiling,
            "trafilatura_one_process_seconds": measured.ceiling_one,
            "sizes": {str(size): [asdict(r) for r in runs] for size, runs in by_size.items()},
        },
        "content_comparisons": measured.differences,
        "table": [{k: v for k, v in row.items()} for row in rows],
        "markdown": markdown,
        "problems": problems,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {path}")


def main() -> None:
    args = parse_arguments()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    cores = args.workers

    from flows.server import start_local_server

    work = Path(tempfile.mkdtemp(prefix="newsflow-scale-"))
    started_at = datetime.now(timezone.utc)
    print(f"scale benchmark: {cores} cores, work folder {work}", flush=True)
    server = start_local_server(work / "prefect-server", ui=False)
    try:
        env = isolated_environment(work, server.api_url)
        corpus, html_corpus, pages = prepare(env, work, args.count)
        measured = compare(env, work, corpus, html_corpus, pages, args.repeat, cores)
        left_behind = measured.left_behind()
        by_size = measure_sizes(env, work, sizes, args.size_repeat, cores)
        left_behind += [p for runs in by_size.values() for r in runs for p in r.left_behind]
    finally:
        server.stop()
        if not args.keep:  # the logs stay after a failure; the corpora (GBs) do not
            for folder in work.glob("corpus-*"):
                shutil.rmtree(folder, ignore_errors=True)

    rows, problems = comparison_rows(measured, pages, args.count, cores)
    if left_behind:
        problems.append(f"processes left behind by newsflow ingest (killed by the benchmark): {left_behind}")
    rows += size_rows(by_size, sizes, cores)
    markdown = table(rows)
    command = "python -m bench.scale_bench " + " ".join(sys.argv[1:])
    print(f"\n{command}  ({started_at:%Y-%m-%d %H:%M} UTC, {platform.node()}, {cores} cores; "
          f"comparisons: median of {args.repeat} interleaved rounds; sizes: {args.size_repeat} run each)\n")
    print(markdown)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if args.json:
        write_results(args.json, args, command, started_at, cores, pages, measured, by_size, rows, markdown, problems)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
