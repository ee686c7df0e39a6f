"""Who holds a served deployment and whether it lives: the decisions themselves, on this machine's
real processes (a child that runs, one killed and reaped, one killed and not yet reaped)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

from flows.serve_holder import LIVE_WINDOW_S, ServeHolder, polled_age_s, process_start_ticks, runner_state
from tests.flows.processes import wait_for


def holder_of(pid: int) -> ServeHolder:
    me = ServeHolder.this_process("ingest/newsflow-ingest", warehouse=Path("/srv/news.duckdb"), seeds=Path("/srv/seeds"))
    return dataclasses.replace(me, pid=pid, pid_started=process_start_ticks(pid))


def test_a_holder_on_this_machine_is_alive_while_its_process_runs_and_not_once_it_is_killed():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = holder_of(child.pid)
        assert holder.checkable_here() and holder.process_alive()
        assert runner_state(holder, polled_age=500.0)[0]  # its process runs: alive, whatever the polls say
        os.kill(child.pid, signal.SIGKILL)
        zombie = lambda: Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # noqa: E731
        assert wait_for(zombie, 60)  # killed, not yet reaped: still in /proc ...
        assert not holder.process_alive()  # ... but ended
        child.wait(10)
        assert not holder.process_alive()
        live, words = runner_state(holder, polled_age=0.5)
        assert not live and words.startswith(f"no live runner: the `newsflow serve` on {holder.host} (pid {child.pid}, warehouse /srv/news.duckdb")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_a_pid_used_again_by_another_process_is_not_the_holder():
    holder = dataclasses.replace(holder_of(os.getpid()), pid_started=1)  # this pid, another start time
    assert not holder.process_alive()


def test_a_holder_elsewhere_is_alive_while_the_deployment_is_polled():
    elsewhere = dataclasses.replace(holder_of(os.getpid()), host="other-host", boot_id="another-boot")
    assert not elsewhere.checkable_here()
    assert runner_state(elsewhere, polled_age=1.0) == (True, f"served by a running {elsewhere.describe()}; last polled 1 s ago")
    live, words = runner_state(elsewhere, polled_age=LIVE_WINDOW_S + 1)
    assert not live and f"has not polled for {LIVE_WINDOW_S:.0f} s" in words
    assert not runner_state(elsewhere, polled_age=None)[0]


def test_no_holder_and_the_record_round_trip():
    assert runner_state(None, None) == (False, "no runner serving it (never polled)")
    assert runner_state(None, 2.0)[0]  # polled by a runner that is not a newsflow serve
    holder = holder_of(os.getpid())
    assert ServeHolder.from_value(holder.to_value()) == holder
    assert ServeHolder.from_value('{"host": "h"}') is None and ServeHolder.from_value("not json") is None
    from datetime import datetime, timezone

    assert polled_age_s("2026-12-04T10:00:00Z", datetime(2026, 12, 4, 10, 0, 5, tzinfo=timezone.utc)) == 5.0
