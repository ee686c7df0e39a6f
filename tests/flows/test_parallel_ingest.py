"""The stages on real worker processes: a Dask LocalCluster started by `--workers 2`, and a
cluster a user started with `dask scheduler` and `dask worker`. Each run must store exactly what
the in-process run stores, the work must have run on the workers, and a worker killed mid-run
must cost neither a document nor a duplicate."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from bench.corpus import build_corpus
from workbench.translate.build_package import build_tiny_package
from tests.conftest import NEWSFLOW, PROJECT_ROOT, newsflow, newsflow_env
from tests.flows.processes import descendants, is_local_worker, wait_for

pytestmark = pytest.mark.server

DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
DASK_WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]

# What a user can see of an article and of a rejection: everything but when and by which run.
ARTICLE_COLUMNS = (
    "article_id, source_path, source_url, content_sha256, title, author, published_at, site_name, language, "
    "round(language_confidence, 6), text, text_en, translation_status, translation_model"
)


def content(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            "articles": con.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY source_path").fetchall(),
            "paragraphs": con.execute(
                "SELECT article_id, position, text, language, round(language_confidence, 6) FROM paragraphs ORDER BY ALL"
            ).fetchall(),
            "rejected": con.execute("SELECT path, sha256, reason, detail FROM rejected_files ORDER BY ALL").fetchall(),
            "translation_cache": con.execute("SELECT model, source, translation FROM translation_cache ORDER BY ALL").fetchall(),
            # a cluster's representative is its copy written first: the same when the batches are the same
            "duplicates": con.execute(
                "SELECT least(article_id, duplicate_of), greatest(article_id, duplicate_of), round(similarity, 6), method "
                "FROM duplicates ORDER BY ALL"
            ).fetchall(),
            "signatures": con.execute("SELECT article_id, text_sha256, shingles, signature FROM article_signatures ORDER BY ALL").fetchall(),
            "search terms": con.execute(
                "SELECT d.name, t.fieldid, w.term FROM fts_main_search_index.terms t JOIN fts_main_search_index.docs d USING (docid) "
                "JOIN fts_main_search_index.dict w USING (termid) ORDER BY ALL"
            ).fetchall(),
        }


def worker_pids(output: str) -> dict[int, int]:
    """pid -> batches, from the summary line "stages ran on ... (host:pid H:P N batches, ...)"."""
    return {int(pid): int(n) for pid, n in re.findall(r":(\d+) (\d+) batches", output)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Text dumps and HTML pages in several languages (Indonesian among them), and bad input."""
    drop = tmp_path_factory.mktemp("parallel") / "drop"
    build_corpus(drop, 24)
    (drop / "empty.txt").write_bytes(b"")
    (drop / "picture.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return drop


@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory) -> Path:
    """Enough documents (about 1.5 CPU seconds of stages per worker: 2.9 s in one process here) to
    catch the workers mid-run: forked with the stages loaded, they are working from their first
    tenth of a CPU second, and one is killed half a CPU second in."""
    drop = tmp_path_factory.mktemp("parallel-long") / "drop"
    build_corpus(drop, 120)
    return drop


@pytest.fixture(scope="module")
def module_env(prefect_server, tmp_path_factory) -> dict[str, str]:
    """One environment for every run here, with the test Indonesian model installed."""
    home = tmp_path_factory.mktemp("parallel-home")
    env = newsflow_env(prefect_server.api_url, home, NEWSFLOW_HOME=str(home))
    env.pop("NEWSFLOW_WORKERS")  # the runs here say where their stages run
    newsflow(["models", "install", "--file", str(build_tiny_package(home / "package"))], env)
    return env


@pytest.fixture(scope="module")
def in_process(corpus, module_env, tmp_path_factory) -> dict[str, list[tuple]]:
    warehouse = tmp_path_factory.mktemp("in-process") / "news.duckdb"
    result = newsflow(["ingest", str(corpus), "--warehouse", str(warehouse), "--workers", "1"], module_env)
    assert "the flow's own process" in result.stdout
    stored = content(warehouse)
    assert len(stored["articles"]) == 24 and len(stored["rejected"]) == 2
    assert any(row[12] == "translated" for row in stored["articles"]), "the corpus must exercise translation"
    return stored


def run_watching_processes(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, set[int]]:
    """Run newsflow, noting every process that descends from it while it runs."""
    process = subprocess.Popen(NEWSFLOW + args, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    while process.poll() is None:
        seen |= descendants(process.pid)
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert result.returncode == 0, f"exited {result.returncode}\n{stdout}\n{stderr}"
    return result, seen | {process.pid}


def test_two_local_worker_processes_store_exactly_what_one_process_stores(corpus, module_env, in_process, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    result, family = run_watching_processes(
        ["ingest", str(corpus), "--warehouse", str(warehouse), "--workers", "2", "--batch-size", "8"], module_env
    )
    assert content(warehouse) == in_process

    assert "2 local worker processes" in result.stdout
    assert "0 signed after the run" in result.stdout, "the workers sign the texts for duplicate detection"
    ran_on = worker_pids(result.stdout)
    newsflow_pid = min(family)  # the CLI process itself
    assert len(ran_on) == 2, result.stdout  # both workers took batches...
    assert all(pid in family and pid != newsflow_pid for pid in ran_on), (ran_on, family)  # ...in processes of its own
    # and nothing it started outlives it
    assert wait_for(lambda: not any(psutil.pid_exists(pid) for pid in family), timeout=60)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(long_corpus, module_env, tmp_path):
    # the same batches in-process: a duplicate cluster's representative is its copy written first
    in_process = tmp_path / "in-process.duckdb"
    newsflow(["ingest", str(long_corpus), "--warehouse", str(in_process), "--workers", "1", "--batch-size", "8"], module_env)
    warehouse = tmp_path / "news.duckdb"
    args = ["ingest", str(long_corpus), "--warehouse", str(warehouse), "--workers", "2", "--batch-size", "8"]
    process = subprocess.Popen(NEWSFLOW + args, env=module_env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # A worker is a process the CLI started (its nannies run inside it) that has started working.
        def busy_worker():
            for pid in descendants(process.pid):
                try:
                    worker = psutil.Process(pid)
                    if is_local_worker(worker):
                        if sum(worker.cpu_times()[:2]) > 0.5:  # well into the stages
                            return worker
                except psutil.NoSuchProcess:
                    continue
            return None

        worker = wait_for(busy_worker, timeout=120, interval=0.02)
        assert worker is not None and process.poll() is None, "the run ended before a worker could be killed"
        worker.send_signal(signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, f"{stdout}\n{stderr}"
    assert content(warehouse) == content(in_process)


@pytest.fixture
def user_started_cluster(module_env):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, as the README tells a user."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started = [subprocess.Popen(DASK + ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env=module_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            started.append(
                subprocess.Popen(
                    DASK_WORKER + [address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                    env=module_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, started[1:]
    finally:
        family = set()
        for process in started:
            family |= descendants(process.pid) | {process.pid}
        for pid in family:  # nothing of theirs is worth a graceful close
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
        for process in started:
            process.wait(timeout=20)


def test_a_user_started_dask_cluster_does_the_work_and_stores_the_same(corpus, module_env, in_process, user_started_cluster, tmp_path):
    address, dask_workers = user_started_cluster
    worker_processes = set()
    for process in dask_workers:
        worker_processes |= descendants(process.pid) | {process.pid}
    before = cpu_seconds(worker_processes)
    warehouse = tmp_path / "news.duckdb"
    result = newsflow(["ingest", str(corpus), "--warehouse", str(warehouse), "--dask-address", address], module_env)
    assert content(warehouse) == in_process
    assert f"the Dask cluster at {address}" in result.stdout
    ran_on = worker_pids(result.stdout)
    assert len(ran_on) == 2 and set(ran_on) <= worker_processes, (ran_on, worker_processes, result.stdout)
    # the workers, not the flow, spent the CPU time of the stages
    assert cpu_seconds(worker_processes) - before > 2.0

    # `dask worker` started them with glibc's heap thresholds fixed (MALLOC_TRIM_THRESHOLD_), which
    # costs a fresh mmap and 256 page faults for every 1 MB buffer; newsflow mended that
    def page_faults_refilling_large_buffers() -> tuple[str | None, int]:
        import resource

        buffer = b"x" * (1 << 20)
        del buffer
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(200):
            buffer = b"x" * (1 << 20)
            del buffer
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    from distributed import Client

    with Client(address, timeout=60) as client:
        seen = client.run(page_faults_refilling_large_buffers)
    assert len(seen) == 2 and all(setting == "65536" and faults < 1000 for setting, faults in seen.values()), seen

    # a second run on the cluster finds every file unchanged and sends nothing through the stages
    newsflow(["ingest", str(corpus), "--warehouse", str(warehouse), "--dask-address", address], module_env)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute("SELECT inserted, updated, unchanged, rejected, status FROM ingest_runs ORDER BY started_at").fetchall()
    assert runs == [(24, 0, 0, 2, "completed"), (0, 0, 24, 2, "completed")]


@pytest.mark.parametrize("signum, code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)], ids=["SIGKILL", "Ctrl-C"])
def test_a_stopped_parallel_run_leaves_no_worker_behind(long_corpus, module_env, tmp_path, signum, code):
    warehouse = tmp_path / "news.duckdb"
    args = ["ingest", str(long_corpus), "--warehouse", str(warehouse), "--workers", "2", "--batch-size", "4"]
    process = subprocess.Popen(NEWSFLOW + args, env=module_env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    family: set[int] = set()

    def working_workers():
        family.update(descendants(process.pid))
        workers = []
        for pid in family:
            try:
                worker = psutil.Process(pid)
                if is_local_worker(worker) and sum(worker.cpu_times()[:2]) > 0.5:
                    workers.append(pid)
            except psutil.NoSuchProcess:
                continue
        return len(workers) == 2

    output = ""
    try:
        assert wait_for(working_workers, timeout=120, interval=0.05) and process.poll() is None
        process.send_signal(signum)
        output = "".join(process.communicate(timeout=120))
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, output
    assert wait_for(lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in family), timeout=60), [
        (pid, psutil.Process(pid).cmdline()) for pid in family if psutil.pid_exists(pid)
    ]
