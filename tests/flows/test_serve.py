"""`newsflow serve` against a real Prefect server: the schedule fires on its own, nothing dropped
into the seeds folder is missed (at start-up, while a run is going), file-arrival runs, clean stop.

The session's server runs Prefect's scheduler every second (see SCHEDULER_TEST_SETTINGS in
tests/conftest.py); every `newsflow serve` here is a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import httpx
import pytest

from pipeline.warehouse import exclusive_run
from tests.conftest import PROJECT_ROOT, SEEDS_DIR
from tests.flows.prefect_api import answered
from tests.flows.processes import alive, descendants, wait_for

pytestmark = pytest.mark.server

DEPLOYMENT = "ingest/newsflow-ingest"
FAR_AWAY = ["--cron", "0 3 1 1 *"]  # a schedule that does not fire while a test runs


def query(warehouse: Path, sql: str) -> list[tuple]:
    """Rows, or [] while the file does not exist yet or a run holds DuckDB's writer lock."""
    if not warehouse.exists():
        return []
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()
    except duckdb.Error:
        return []


def article_paths(warehouse: Path) -> set[str]:
    """Every place an article was stored from (copies of one text are one article, many places)."""
    return {path for (path,) in query(warehouse, "select source_path from article_sources")}


def articles_by_name(warehouse: Path) -> dict[str, tuple[str, str]]:
    """file name -> (content_sha256, run_id)"""
    rows = query(warehouse, "select source_path, content_sha256, run_id from articles")
    return {Path(path).name: (sha, run_id) for path, sha, run_id in rows}


def ingest_runs(warehouse: Path) -> dict[str, tuple[str, int]]:
    """flow_run_id -> (status, files_seen)"""
    return {flow_run_id: (status, seen) for flow_run_id, status, seen in query(warehouse, "select flow_run_id, status, files_seen from ingest_runs")}


def copy_seed(target: Path, seed: str = "001_f168b2729dee8f19.txt", extra: str = "") -> Path:
    target.write_bytes((SEEDS_DIR / seed).read_bytes() + extra.encode())
    return target


@contextmanager
def prefect_api(prefect_server):
    with httpx.Client(base_url=prefect_server.api_url, timeout=10) as api:
        yield api


def deployment(api: httpx.Client) -> dict | None:
    response = api.get(f"/deployments/name/{DEPLOYMENT}")
    return response.json() if response.status_code == 200 else None


def flow_runs_into(api: httpx.Client, warehouse: Path) -> list[dict]:
    """This test's runs of the served deployment (the deployment is shared by the session's tests)."""
    found = deployment(api)
    if found is None:
        return []
    runs = answered(api.post("/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [found["id"]]}}, "limit": 200}))
    return [run for run in runs if run["parameters"].get("warehouse") == str(warehouse)]


def run_logs(api: httpx.Client, flow_run_id: str) -> list[str]:
    logs = answered(api.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200}))
    return [log["message"] for log in logs]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def serving(prefect_server, prefect_env, seeds: Path, warehouse: Path, schedule: list[str], log_path: Path):
    """`newsflow serve` as a subprocess, yielded once its deployment is registered; always stopped."""
    log = open(log_path, "a")
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", *schedule, "--seeds", str(seeds), "--warehouse", str(warehouse), "--settle-seconds", "1"],
        env=prefect_env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        with prefect_api(prefect_server) as api:
            registered = lambda: (found := deployment(api)) and found["parameters"].get("warehouse") == str(warehouse) and not found["paused"]  # noqa: E731
            assert wait_for(registered, 300), log_path.read_text()
        yield process
    finally:
        stop(process)
        log.close()


@pytest.fixture
def served(prefect_server, prefect_env, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    warehouse = tmp_path / "served.duckdb"
    log = tmp_path / "serve.log"
    with serving(prefect_server, prefect_env, seeds, warehouse, FAR_AWAY, log) as process, prefect_api(prefect_server) as api:
        yield process, seeds, warehouse, api, lambda: deployment(api), log


def rejection_reasons(warehouse: Path) -> dict[str, str]:
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return {Path(path).name: reason for path, reason in con.execute("select path, reason from rejected_files").fetchall()}
    except duckdb.Error:  # a run holds the writer lock right now
        return {}


def test_serve_deploys_on_a_schedule_ingests_new_files_and_stops_cleanly(served):
    process, seeds, warehouse, api, deployment, log = served
    schedules = deployment()["schedules"]
    assert [s["schedule"]["cron"] for s in schedules] == [FAR_AWAY[1]]
    assert all(s["active"] for s in schedules) and deployment()["paused"] is False
    reconciled = lambda: [r for r in flow_runs_into(api, warehouse) if "reconcile" in r["tags"] and r["state_type"] == "COMPLETED"]  # noqa: E731
    assert wait_for(reconciled, 240), log.read_text()  # else the start-up run may be the one that finds the file

    dropped = seeds / "arrived.txt"
    dropped.write_bytes((SEEDS_DIR / "001_f168b2729dee8f19.txt").read_bytes())
    assert wait_for(lambda: any(p.endswith("arrived.txt") for p in article_paths(warehouse)), 240), log.read_text()

    file_arrival_runs = lambda: [run for run in flow_runs_into(api, warehouse) if "file-arrival" in run["tags"]]  # noqa: E731
    runs = file_arrival_runs()
    assert len(runs) == 1
    assert runs[0]["parameters"]["paths"] == [str(dropped)]
    assert runs[0]["name"] == "files: arrived.txt"

    # A burst of files makes one run or a few, not one per file.
    for index in range(30):
        (seeds / f"burst_{index:02d}.txt").write_bytes((SEEDS_DIR / "000_c9229e0b42640eea.txt").read_bytes() + f"\nCopy {index}.".encode())
    assert wait_for(lambda: sum("burst_" in p for p in article_paths(warehouse)) == 30, 300), log.read_text()
    assert 2 <= len(file_arrival_runs()) <= 4

    # A link dropped into the folder that leads out of it is rejected, not read.
    (seeds / "passwd.txt").symlink_to("/etc/passwd")
    assert wait_for(lambda: rejection_reasons(warehouse).get("passwd.txt") == "outside_folder", 240), log.read_text()
    assert not any(p.endswith("passwd.txt") for p in article_paths(warehouse))

    children = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    stopping = time.monotonic()
    assert process.wait(120) is not None
    print(f"serve stopped {time.monotonic() - stopping:.1f} s after Ctrl-C")
    assert wait_for(lambda: not any(alive(pid) for pid in children), 60)
    assert deployment()["paused"] is True, "the deployment is paused while nothing serves it"


def test_the_schedule_starts_completed_runs_on_its_own_each_recorded_in_ingest_runs(prefect_server, prefect_env, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    copy_seed(seeds / "story.txt")
    warehouse = tmp_path / "scheduled.duckdb"
    log = tmp_path / "serve.log"

    def completed_scheduled_runs() -> list[dict]:
        runs = [run for run in flow_runs_into(api, warehouse) if run["auto_scheduled"] and run["state_type"] == "COMPLETED"]
        return runs if len(runs) >= 2 else []

    with serving(prefect_server, prefect_env, seeds, warehouse, ["--every", "5s"], log), prefect_api(prefect_server) as api:
        assert [s["schedule"]["interval"] for s in deployment(api)["schedules"]] == [5.0]
        runs = wait_for(completed_scheduled_runs, 300, interval=1)
        assert runs, f"no two completed scheduled runs: {[(r['name'], r['state_type'], r['tags']) for r in flow_runs_into(api, warehouse)]}\n{log.read_text()}"
        everything = flow_runs_into(api, warehouse)

    # Nothing but the schedule (and the one reconcile run at start-up) started runs here.
    assert not [run for run in everything if not run["auto_scheduled"] and "reconcile" not in run["tags"]]
    assert all("auto-scheduled" in run["tags"] for run in runs)
    # Two slots of the schedule in a row, five seconds apart, each a run the warehouse recorded.
    slots = sorted(datetime.fromisoformat(run["expected_start_time"]) for run in runs)
    assert (slots[1] - slots[0]).total_seconds() == 5.0
    recorded = ingest_runs(warehouse)
    assert all(recorded.get(run["id"]) == ("completed", 1) for run in runs), (recorded, [run["id"] for run in runs])


def test_nothing_dropped_is_missed_neither_while_a_run_is_going_nor_while_serve_is_stopped(prefect_server, prefect_env, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    copy_seed(seeds / "kept.txt")
    changed = copy_seed(seeds / "changed.txt", seed="002_c6f1a40e5c75d036.txt")
    warehouse = tmp_path / "news.duckdb"
    log = tmp_path / "serve.log"
    hourly = ["--every", "1h"]

    # 1. A file lands while a run is going, after that run listed the folder: the next run takes it.
    held = ExitStack()  # another ingest holds the warehouse: serve's reconcile run lists the folder, then waits
    held.enter_context(exclusive_run(warehouse))
    with held, serving(prefect_server, prefect_env, seeds, warehouse, hourly, log), prefect_api(prefect_server) as api:
        reconcile_run = lambda: next((run for run in flow_runs_into(api, warehouse) if "reconcile" in run["tags"]), None)  # noqa: E731
        listed = lambda: (run := reconcile_run()) and any(m.startswith("Found 2 files") for m in run_logs(api, run["id"])) and run  # noqa: E731
        first_reconcile = wait_for(listed, 240)
        assert first_reconcile, log.read_text()
        copy_seed(seeds / "landed.txt", seed="004_2d2b0ea8dc19c5b8.txt")
        # The watcher sees it settle while the run still waits: its file-arrival run is there.
        arrival = lambda: any("file-arrival" in run["tags"] for run in flow_runs_into(api, warehouse))  # noqa: E731
        assert wait_for(arrival, 120), log.read_text()
        assert reconcile_run()["state_type"] == "RUNNING"
        held.close()
        assert wait_for(lambda: {"kept.txt", "changed.txt", "landed.txt"} <= set(articles_by_name(warehouse)), 240), log.read_text()
        runs = {run["id"]: run for run in flow_runs_into(api, warehouse)}
    before = articles_by_name(warehouse)
    assert ingest_runs(warehouse)[first_reconcile["id"]] == ("completed", 2), "the reconcile run did not list landed.txt"
    landed_by = runs[before["landed.txt"][1]]
    assert "file-arrival" in landed_by["tags"] and landed_by["parameters"]["paths"] == [str(seeds / "landed.txt")]

    # 2. Files added or changed while nothing serves are ingested at start, long before the schedule;
    # a file-arrival run that was due while nothing served is cancelled, not run on top of that.
    copy_seed(seeds / "dropped.txt", seed="003_6fb78f9f111f2625.txt")
    copy_seed(changed, seed="002_c6f1a40e5c75d036.txt", extra="\nA paragraph added while nothing was serving.")
    with prefect_api(prefect_server) as api:
        due = {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": datetime.now(timezone.utc).isoformat()}}
        leftover = answered(api.post(
            f"/deployments/{deployment(api)['id']}/create_flow_run",
            json={"name": "files: dropped.txt", "tags": ["file-arrival"], "parameters": {"paths": [str(seeds / "dropped.txt")], "warehouse": str(warehouse)}, "state": due},
        ))
    with serving(prefect_server, prefect_env, seeds, warehouse, hourly, log), prefect_api(prefect_server) as api:
        caught_up = lambda: (now := articles_by_name(warehouse)) and "dropped.txt" in now and now["changed.txt"][0] != before["changed.txt"][0]  # noqa: E731
        # Long before the hourly schedule: the reconcile run at start does it (checked below);
        # 240 s is a safety net, not the measure.
        assert wait_for(caught_up, 240), log.read_text()
        runs = {run["id"]: run for run in flow_runs_into(api, warehouse)}

    after = articles_by_name(warehouse)
    reconcile = runs[after["dropped.txt"][1]]
    assert "reconcile" in reconcile["tags"] and reconcile["name"] == "reconcile: seeds/ at start"
    assert after["changed.txt"][1] == reconcile["id"] and after["kept.txt"] == before["kept.txt"]
    assert not [run for run in runs.values() if run["auto_scheduled"]], "the hourly schedule did not fire"
    assert (runs[leftover["id"]]["state_type"], runs[leftover["id"]]["run_count"]) == ("CANCELLED", 0)
    assert "reconcile run at start-up covers it" in runs[leftover["id"]]["state"]["message"]


def test_serve_rejects_conflicting_or_malformed_schedules_in_one_line(tmp_path):
    command = [sys.executable, "-m", "flows.cli", "serve", "--seeds", str(tmp_path / "seeds"), "--warehouse", str(tmp_path / "w.duckdb")]
    for options, expected in (
        (["--every", "10s", "--cron", "* * * * *"], "error: use either --cron or --every, not both"),
        (["--every", "ten minutes"], "error: --every: 'ten minutes' is not an interval"),
        (["--every", "0s"], "error: --every: '0s' is not an interval"),
    ):
        result = subprocess.run(command + options, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_overlapping_runs_on_one_warehouse_neither_corrupt_nor_double_load(prefect_env, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    for index in range(40):
        (drop / f"story_{index:02d}.txt").write_bytes((SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_bytes().replace(b"unlikely", f"unlikely ({index})".encode()))
    warehouse = tmp_path / "shared.duckdb"
    command = [sys.executable, "-m", "flows.cli", "ingest", str(drop), "--warehouse", str(warehouse), "--batch-size", "5"]
    first = subprocess.Popen(command, env=prefect_env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, env=prefect_env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [first.communicate(timeout=300)[0], second.communicate(timeout=300)[0]]
    assert first.returncode == 0 and second.returncode == 0, outputs

    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*), count(distinct source_path) from articles").fetchone() == (40, 40)
        runs = con.execute("select inserted, unchanged, status from ingest_runs order by started_at").fetchall()
    # One run loaded everything and the other found it all in place: the run lock kept their
    # batches from interleaving (interleaved runs would split the 40 between them).
    assert sorted(runs) == [(0, 40, "completed"), (40, 0, "completed")]


# --- one serve per deployment (issue 22, item 6) ------------------------------------------------


def serve_command(seeds: Path, warehouse: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "serve", *options, "--seeds", str(seeds), "--warehouse", str(warehouse), "--settle-seconds", "1"]


def status_lines(prefect_env) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "flows.cli", "status"], env=prefect_env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("Deployment ")]


def test_a_second_serve_of_the_deployment_is_refused_and_the_first_keeps_its_schedule(prefect_server, prefect_env, tmp_path):
    import socket

    first_seeds, second_seeds = tmp_path / "first", tmp_path / "second"
    first_seeds.mkdir()
    second_seeds.mkdir()
    first_warehouse, second_warehouse = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    with serving(prefect_server, prefect_env, first_seeds, first_warehouse, FAR_AWAY, tmp_path / "first.log") as first, prefect_api(prefect_server) as api:
        before = deployment(api)
        second = subprocess.Popen(
            serve_command(second_seeds, second_warehouse, "--every", "5s"), env=prefect_env, cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            output, _ = second.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            stop(second)
            output, _ = second.communicate()
        lines = output.strip().splitlines()
        assert second.returncode == 1 and len(lines) == 1, output
        assert lines[0].startswith("error: the deployment ingest/newsflow-ingest on ")
        assert f"is already served by `newsflow serve` on {socket.gethostname()} (pid {first.pid}, warehouse {first_warehouse}, since " in lines[0]
        assert "--name" in lines[0]

        after = deployment(api)  # the refused serve changed nothing, and stopping it paused nothing
        assert (after["schedules"][0]["schedule"], after["parameters"], after["paused"]) == (
            before["schedules"][0]["schedule"], before["parameters"], False
        )
        assert [s["schedule"]["cron"] for s in after["schedules"]] == [FAR_AWAY[1]]
        (line,) = [line for line in status_lines(prefect_env) if line.startswith(f"Deployment {DEPLOYMENT}:")]
        assert f"served by a running `newsflow serve` on {socket.gethostname()} (pid {first.pid}, warehouse {first_warehouse}" in line
        assert not second_warehouse.exists()


def test_serve_with_name_is_a_deployment_of_its_own_and_stopping_it_leaves_the_other_alone(prefect_server, prefect_env, tmp_path):
    first_seeds, second_seeds = tmp_path / "first", tmp_path / "second"
    first_seeds.mkdir()
    second_seeds.mkdir()
    first_warehouse, second_warehouse = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    second_log = tmp_path / "second.log"
    with serving(prefect_server, prefect_env, first_seeds, first_warehouse, FAR_AWAY, tmp_path / "first.log"), prefect_api(prefect_server) as api:
        log = open(second_log, "a")
        second = subprocess.Popen(
            serve_command(second_seeds, second_warehouse, "--every", "1h", "--name", "newsflow-ingest-second"), env=prefect_env,
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            other = lambda: (found := api.get("/deployments/name/ingest/newsflow-ingest-second")).status_code == 200 and found.json()  # noqa: E731
            assert wait_for(lambda: (found := other()) and not found["paused"] and found, 300), second_log.read_text()
            copy_seed(second_seeds / "for-the-second.txt")
            copy_seed(first_seeds / "for-the-first.txt", seed="003_6fb78f9f111f2625.txt")
            assert wait_for(lambda: "for-the-second.txt" in articles_by_name(second_warehouse), 300), second_log.read_text()
            assert wait_for(lambda: "for-the-first.txt" in articles_by_name(first_warehouse), 300)
            # each serve's runs into its own warehouse (read once no run holds the file: query() gives [] while one does)
            assert wait_for(lambda: set(articles_by_name(second_warehouse)), 30) == {"for-the-second.txt"}
            assert wait_for(lambda: set(articles_by_name(first_warehouse)), 30) == {"for-the-first.txt"}
            lines = status_lines(prefect_env)
            assert any(line.startswith(f"Deployment {DEPLOYMENT}: active") and "served by a running" in line for line in lines), lines
            assert any(line.startswith("Deployment ingest/newsflow-ingest-second: active") and f"pid {second.pid}" in line for line in lines), lines
        finally:
            stop(second)
            log.close()
        assert other()["paused"] is True
        first = deployment(api)
        assert first["paused"] is False and all(s["active"] for s in first["schedules"])
        assert first["parameters"]["warehouse"] == str(first_warehouse)
        api.delete(f"/deployments/{other()['id']}")


def test_status_tells_a_serve_killed_with_sigkill_from_a_live_one_and_a_new_serve_takes_over(prefect_server, prefect_env, tmp_path):
    import socket

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    warehouse = tmp_path / "killed.duckdb"
    log_path = tmp_path / "serve.log"
    with open(log_path, "a") as log:
        killed = subprocess.Popen(serve_command(seeds, warehouse, *FAR_AWAY), env=prefect_env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        with prefect_api(prefect_server) as api:
            assert wait_for(lambda: (found := deployment(api)) and found["parameters"].get("warehouse") == str(warehouse) and not found["paused"], 300), log_path.read_text()
            reconciled = lambda: [r for r in flow_runs_into(api, warehouse) if "reconcile" in r["tags"] and r["state_type"] == "COMPLETED"]  # noqa: E731
            assert wait_for(reconciled, 240), log_path.read_text()
        (line,) = [line for line in status_lines(prefect_env) if line.startswith(f"Deployment {DEPLOYMENT}:")]
        assert f"served by a running `newsflow serve` on {socket.gethostname()} (pid {killed.pid}, warehouse {warehouse}" in line
        children = descendants(killed.pid)
        killed.kill()
        killed.wait(10)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait(10)
    for pid in children:  # nothing of it is left behind
        if alive(pid):
            os.kill(pid, signal.SIGKILL)

    (line,) = [line for line in status_lines(prefect_env) if line.startswith(f"Deployment {DEPLOYMENT}:")]
    assert f"no live runner: the `newsflow serve` on {socket.gethostname()} (pid {killed.pid}, warehouse {warehouse}" in line
    assert "is gone" in line and "served by a running" not in line

    # The next serve does not wait for the dead one: it takes the deployment over at once.
    with serving(prefect_server, prefect_env, seeds, tmp_path / "next.duckdb", FAR_AWAY, tmp_path / "next.log") as successor:
        (line,) = [line for line in status_lines(prefect_env) if line.startswith(f"Deployment {DEPLOYMENT}:")]
        assert f"served by a running `newsflow serve` on {socket.gethostname()} (pid {successor.pid}" in line
