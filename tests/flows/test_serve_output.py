"""What a person watching `newsflow serve` sees: one line per run on stdout, nothing alarming on
stderr, and a stop that says the schedule is paused and how to resume it.

One real `newsflow serve` subprocess, as a user starts it on a fresh machine: no PREFECT_API_URL,
so it starts the project's Prefect server itself and stops it on the way out."""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from flows.server import free_port, stop_project_server
from tests.conftest import PROJECT_ROOT, SEEDS_DIR
from tests.flows.processes import alive, descendants, wait_for

pytestmark = pytest.mark.server

RUN_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?P<why>start-up run|scheduled run|files arrived \((?P<files>[^)]+)\)): "
    r"(?P<seen>\d+) files? seen, (?P<inserted>\d+) inserted, \d+ updated, \d+ unchanged, (?:\d+ joined an article of this run, )?\d+ rejected, \d+ pages? fetched, \d+\.\d s"
    r"(?P<interrupted>; interrupted: what it stored is kept, the next run loads the rest)?"
)
ALARMING = ("at capacity", "Crash detected", "Error logging to API", "ERROR", "Traceback", "CRITICAL")


class Lines:
    """A process's stdout, line by line, as it comes."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def matching(self, pattern: str) -> list[str]:
        return [line for line in self.lines if re.search(pattern, line)]

    def finish(self, timeout: float) -> list[str]:
        self._reader.join(timeout)
        return self.lines


def article_count(warehouse: Path) -> int | None:
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute("select count(*) from articles").fetchone()[0]
    except duckdb.Error:  # not there yet, or a run holds the writer lock
        return None


@pytest.fixture
def fresh_project(tmp_path):
    """No PREFECT_API_URL: `newsflow serve` starts the project's server in this state folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "NEWSFLOW_PREFECT_URL"}
    state = tmp_path / "state"
    env.update({
        "NEWSFLOW_STATE": str(state),
        "NEWSFLOW_SERVER_PORT": str(free_port()),
        "NEWSFLOW_WORKERS": "1",
        "ARGOS_PACKAGES_DIR": str(tmp_path / "argos-packages"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    })
    env.pop("NEWSFLOW_DASK_ADDRESS", None)
    try:
        yield env
    finally:
        stop_project_server(state, timeout=30)


def test_serve_prints_one_line_per_run_and_a_stop_that_says_how_to_resume(fresh_project, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "first.txt").write_bytes((SEEDS_DIR / "001_f168b2729dee8f19.txt").read_bytes())
    warehouse = tmp_path / "news.duckdb"
    args = ["serve", "--every", "5s", "--seeds", str(seeds), "--warehouse", str(warehouse), "--settle-seconds", "1"]
    stderr_path = tmp_path / "serve.stderr"
    with open(stderr_path, "w") as stderr:
        # Started as a shell starts a background job (`newsflow serve &`, make, nohup): with SIGINT ignored.
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", *args], env=fresh_project, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    out = Lines(process.stdout)
    said = lambda: "\n".join(out.lines) + "\n--- stderr ---\n" + stderr_path.read_text()  # noqa: E731
    try:
        assert wait_for(lambda: out.matching(r"start-up run: 1 file seen, 1 inserted"), 240), said()
        (seeds / "arrived.txt").write_bytes((SEEDS_DIR / "003_6fb78f9f111f2625.txt").read_bytes())
        # Its own run, unless a scheduled run took the file first: then it finds it unchanged.
        assert wait_for(lambda: out.matching(r"files arrived \(arrived\.txt\): 1 file seen, "), 120), said()
        assert wait_for(lambda: out.matching(r"scheduled run: 2 files seen, "), 120), said()
        assert wait_for(lambda: article_count(warehouse) == 2, 60), said()
        children = descendants(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, said()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    lines = out.finish(10)
    stderr_text = stderr_path.read_text()

    assert not any(word in text for word in ALARMING for text in (stderr_text, *lines)), said()
    assert stderr_text.strip() == "", stderr_text  # Prefect's info lines stay in the UI without --verbose
    # What it started, then one line per run, then one line saying how it stopped.
    assert lines[0] == "No project Prefect server is running: starting one.", lines
    assert lines[1].startswith("Prefect server UI http://127.0.0.1:") and lines[2].startswith("Serving ingest/newsflow-ingest: schedule every 5s"), lines
    runs = lines[3:-1]
    assert all(RUN_LINE.fullmatch(line) for line in runs), runs
    assert sum(int(RUN_LINE.fullmatch(line)["inserted"]) for line in runs) == 2, runs
    assert lines[-1] == f"Stopped serving ingest/newsflow-ingest: its schedule is paused until you run again: {shlex.join(['newsflow', *args])}"
    assert wait_for(lambda: not any(alive(pid) for pid in children), 60), "a process of the serve outlived it"


def test_the_runners_at_capacity_line_is_dropped_and_its_other_lines_kept():
    from flows.serve import _AtCapacityDropped

    def record(message: str, *args) -> logging.LogRecord:
        return logging.LogRecord("prefect.runner", logging.INFO, __file__, 1, message, args, None)

    dropped = _AtCapacityDropped()
    assert dropped.filter(record("%d scheduled runs skipped (at capacity)", 1)) is False
    assert dropped.filter(record("Runner 'newsflow-serve-newsflow-ingest' submitting flow run '%s'", "x")) is True


def test_a_run_line_counts_in_words_and_says_when_a_run_did_not_complete():
    from datetime import datetime

    from flows.ingest_summary import IngestSummary, run_line

    summary = IngestSummary(run_id="01a24688-0864-7fb7-bf09-211d7531ecf9", warehouse="news.duckdb", files_seen=1, inserted=1, pages_fetched=1, seconds=2.04)
    line = run_line(summary, started_at=datetime(2026, 12, 5, 14, 0, 0), why="scheduled run")
    assert line.endswith(" scheduled run: 1 file seen, 1 inserted, 0 updated, 0 unchanged, 0 rejected, 1 page fetched, 2.0 s"), line
    assert RUN_LINE.fullmatch(line)
    copies = IngestSummary(run_id="r", warehouse="news.duckdb", files_seen=3, inserted=1, unchanged=2, joined_this_run=1, seconds=1.0)
    assert " 1 unchanged, 1 joined an article of this run, 0 rejected," in run_line(copies, started_at=datetime(2026, 12, 5), why="scheduled run")
    summary.status = "interrupted"
    assert run_line(summary, started_at=datetime(2026, 12, 5, 14, 0, 0), why="start-up run").endswith(
        "; interrupted: what it stored is kept, the next run loads the rest"
    )
    summary.status = "failed"
    assert run_line(summary, started_at=datetime(2026, 12, 5, 14, 0, 0), why="start-up run").endswith(
        "; failed: its log is in the Prefect UI (run 01a24688-0864-7fb7-bf09-211d7531ecf9)"
    )
