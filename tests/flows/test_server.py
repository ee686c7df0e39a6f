"""`newsflow server` and the project's own Prefect server, run as a user runs them (subprocesses).

Each test has its own state folder and free ports; whatever a test starts, it stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from flows.server import free_port, server_is_healthy, stop_project_server
from tests.conftest import NEWSFLOW, PROJECT_ROOT, SEEDS_DIR, newsflow, seeds_copy
from tests.flows.processes import alive, descendants, processes_with_argument, wait_for

pytestmark = pytest.mark.server


def answers(port: int) -> bool:
    return server_is_healthy(f"http://127.0.0.1:{port}/api", timeout=1.0)


def record(state: Path) -> dict | None:
    try:
        return json.loads((state / "prefect-server" / "server.json").read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture
def project(tmp_path):
    """An environment with no PREFECT_API_URL, its own state folder, warehouse and server port."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME", "NEWSFLOW_PREFECT_URL")}
    state = tmp_path / "state"
    port = free_port()
    env.update({
        "NEWSFLOW_STATE": str(state),
        "NEWSFLOW_WAREHOUSE": str(tmp_path / "news.duckdb"),
        "NEWSFLOW_SERVER_PORT": str(port),
        "ARGOS_PACKAGES_DIR": str(tmp_path / "argos-packages"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    })
    try:
        yield env, state, port
    finally:
        stop_project_server(state, timeout=30)
        for pid in processes_with_argument("supervise", str(state.resolve())):
            os.kill(pid, signal.SIGKILL)


def start_foreground(args, env, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(NEWSFLOW + ["server", *args], env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)


def test_a_taken_port_exits_non_zero_with_one_line(project):
    env, state, _ = project
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = newsflow(["server", "--port", str(port)], env, check=False, timeout=60)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert record(state) is None


def test_a_server_that_does_not_become_healthy_in_time_exits_non_zero_and_leaves_nothing(project):
    env, state, port = project
    result = newsflow(["server", "--port", str(port), "--start-timeout", "0.5"], env, check=False, timeout=60)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "did not become healthy" in result.stderr and "NEWSFLOW_SERVER_START_TIMEOUT" in result.stderr
    assert not processes_with_argument("--port", str(port))
    assert not answers(port) and record(state) is None


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_and_its_prefect_child(project, tmp_path, stop_signal):
    env, state, port = project
    process = start_foreground(["--port", str(port)], env, tmp_path / "server.log")
    try:
        assert wait_for(lambda: "Ctrl-C stops it" in (tmp_path / "server.log").read_text(), 120), (tmp_path / "server.log").read_text()
        assert answers(port)
        assert record(state)["port"] == port and record(state)["mode"] == "foreground"
        children = descendants(process.pid)
        assert children
        process.send_signal(stop_signal)
        assert process.wait(30) == 0, (tmp_path / "server.log").read_text()
        assert not answers(port), (processes_with_argument("--port", str(port)), (state / "prefect-server" / "server.log").read_text()[-3000:])
        assert not any(alive(pid) for pid in children)
        assert record(state) is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ingest_uses_the_foreground_server_whose_child_dies_when_it_is_killed(project, tmp_path):
    env, state, port = project
    process = start_foreground([], env, tmp_path / "server.log")  # the port comes from NEWSFLOW_SERVER_PORT
    try:
        assert wait_for(lambda: "Ctrl-C stops it" in (tmp_path / "server.log").read_text(), 120), (tmp_path / "server.log").read_text()
        run = newsflow(["ingest", str(seeds_copy())], env, check=False)
        assert run.returncode == 0, run.stderr
        assert f"via the project's Prefect server http://127.0.0.1:{port}" in run.stdout
        assert "Started the project's Prefect server" not in run.stderr
        assert not processes_with_argument("supervise", str(state.resolve()))

        children = descendants(process.pid)
        process.kill()  # SIGKILL: no chance to clean up; the kernel tells the Prefect child
        process.wait()
        assert wait_for(lambda: not any(alive(pid) for pid in children), 30)
        assert not answers(port)
        status = newsflow(["status"], env, check=False)
        assert "no project server is running" in status.stdout  # the stale record is not trusted
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ingest_starts_a_background_server_reuses_it_and_server_stop_stops_it(project):
    env, state, port = project
    first = newsflow(["ingest", str(seeds_copy())], env, check=False)
    assert first.returncode == 0, first.stderr
    assert f"Started the project's Prefect server in the background: UI http://127.0.0.1:{port}" in first.stderr
    started = record(state)
    assert started["mode"] == "background" and started["port"] == port
    assert alive(started["pid"]) and alive(started["server_pid"])

    second = newsflow(["ingest", str(seeds_copy())], env, check=False)
    assert second.returncode == 0, second.stderr
    assert "Started" not in second.stderr
    assert f"via the project's Prefect server http://127.0.0.1:{port}" in second.stdout
    assert record(state) == started
    assert len(processes_with_argument("supervise", str(state.resolve()))) == 1

    with httpx.Client(base_url=started["api_url"], timeout=10) as api:
        runs = api.post("/flow_runs/filter", json={"flows": {"name": {"any_": ["ingest"]}}}).json()
    assert [run["state_type"] for run in runs] == ["COMPLETED", "COMPLETED"]

    status = newsflow(["status"], env, check=False)
    assert f"Prefect API: {started['api_url']} (the project's server, background, pid {started['pid']}" in status.stdout

    stop = newsflow(["server", "stop"], env, check=False, timeout=60)
    assert stop.returncode == 0 and "Stopped the project's Prefect server" in stop.stdout
    assert not answers(port)
    assert not alive(started["pid"]) and not alive(started["server_pid"])
    assert record(state) is None
    assert "No project Prefect server is running" in newsflow(["server", "stop"], env, check=False, timeout=60).stdout


class _ForeignServer(ThreadingHTTPServer):
    """Something else on the port, answering 200 to everything (like another Prefect server)."""

    def __init__(self):
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                outer.requests.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"true")

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_runs_never_go_to_a_foreign_server_and_an_idle_server_stops_itself(project):
    env, state, _ = project
    foreign = _ForeignServer()
    thread = threading.Thread(target=foreign.serve_forever, daemon=True)
    thread.start()
    try:
        foreign_port = foreign.server_address[1]
        # A stale record and both port settings point at the foreign server.
        (state / "prefect-server").mkdir(parents=True)
        dead = subprocess.Popen(["true"])
        dead.wait()
        (state / "prefect-server" / "server.json").write_text(json.dumps({
            "pid": dead.pid, "server_pid": dead.pid, "port": foreign_port, "api_url": f"http://127.0.0.1:{foreign_port}/api",
            "home": str((state / "prefect-server").resolve()), "log": "x", "started_at": "x", "mode": "background",
        }))
        env = dict(env, NEWSFLOW_SERVER_PORT=str(foreign_port), NEWSFLOW_PREFECT_URL=f"http://127.0.0.1:{foreign_port}/api",
                   NEWSFLOW_SERVER_IDLE_MINUTES="0.1")
        assert answers(foreign_port)
        foreign.requests.clear()

        run = newsflow(["ingest", str(seeds_copy())], env, check=False)
        assert run.returncode == 0, run.stderr
        assert foreign.requests == []
        ours = record(state)
        assert ours["port"] != foreign_port and f"UI http://127.0.0.1:{ours['port']}" in run.stderr

        # Idle for 6 s (no command, no run): it stops by itself, and takes its Prefect child along.
        assert wait_for(lambda: record(state) is None, 90, interval=1)
        assert wait_for(lambda: not alive(ours["pid"]) and not alive(ours["server_pid"]), 30)
        assert not answers(ours["port"])
        assert "stopped: idle for 6 s" in (state / "prefect-server" / "supervisor.log").read_text()
    finally:
        foreign.shutdown()
        foreign.server_close()


def test_a_run_with_a_temporary_server_leaves_no_process_whether_it_ends_or_is_killed(project, tmp_path):
    env, state, _ = project
    env = dict(env, NEWSFLOW_SERVER_IDLE_MINUTES="0")  # no background server: one for this run alone
    drop = tmp_path / "drop"
    drop.mkdir()
    story = (SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8")
    for index in range(40):
        (drop / f"story_{index:02d}.txt").write_text(story.replace("unlikely", f"unlikely ({index})"), encoding="utf-8")

    def temporary_servers() -> set[int]:
        """Prefect servers whose home is in this test's state folder."""
        found = set()
        for pid in processes_with_argument("prefect", "server", "start"):
            try:
                environment = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(state) in environment:
                found.add(pid)
        return found

    finished = newsflow(["ingest", str(drop)], env, check=False)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "temporary Prefect server for this run" in finished.stdout
    assert not temporary_servers()

    run = subprocess.Popen(NEWSFLOW + ["ingest", str(drop), "--batch-size", "2"], env=dict(env, NEWSFLOW_WAREHOUSE=str(tmp_path / "second.duckdb")),
                           cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: temporary_servers() and descendants(run.pid), 60)
    children = descendants(run.pid)
    run.kill()  # SIGKILL: no atexit, no finally
    run.wait(60)
    assert wait_for(lambda: not any(alive(pid) for pid in children), 60), "the temporary server outlived its run"
    assert not temporary_servers()
    assert not record(state), "a temporary server is not recorded for reuse"
