"""`newsflow serve` against a real Prefect server: schedule, file-arrival trigger, clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.conftest import PROJECT_ROOT, SEEDS_DIR

pytestmark = pytest.mark.server

DEPLOYMENT = "ingest/newsflow-ingest"


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def article_paths(warehouse: Path) -> set[str]:
    if not warehouse.exists():
        return set()
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return {row[0] for row in con.execute("select source_path from articles").fetchall()}
    except duckdb.Error:  # a run holds the writer lock right now
        return set()


@pytest.fixture
def served(prefect_server, prefect_env, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    warehouse = tmp_path / "served.duckdb"
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--cron", "*/30 * * * *", "--seeds", str(seeds),
         "--warehouse", str(warehouse), "--settle-seconds", "1"],
        env=prefect_env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    api = httpx.Client(base_url=prefect_server.api_url, timeout=10)

    def deployment():
        response = api.get(f"/deployments/name/{DEPLOYMENT}")
        return response.json() if response.status_code == 200 else None

    try:
        assert wait_for(deployment, 90), (tmp_path / "serve.log").read_text()
        yield process, seeds, warehouse, api, deployment, tmp_path / "serve.log"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        api.close()


def test_serve_deploys_on_a_schedule_ingests_new_files_and_stops_cleanly(served):
    process, seeds, warehouse, api, deployment, log = served
    schedules = deployment()["schedules"]
    assert [s["schedule"]["cron"] for s in schedules] == ["*/30 * * * *"]
    assert all(s["active"] for s in schedules) and deployment()["paused"] is False

    dropped = seeds / "arrived.txt"
    dropped.write_bytes((SEEDS_DIR / "001_f168b2729dee8f19.txt").read_bytes())
    dropped_at = time.monotonic()
    assert wait_for(lambda: any(p.endswith("arrived.txt") for p in article_paths(warehouse)), 60), log.read_text()
    assert time.monotonic() - dropped_at < 60

    runs = api.post("/flow_runs/filter", json={"flow_runs": {"tags": {"all_": ["file-arrival"]}}}).json()
    assert len(runs) == 1
    assert runs[0]["parameters"]["paths"] == [str(dropped)]
    assert runs[0]["name"] == "files: arrived.txt"

    # A burst of files makes one run or a few, not one per file.
    for index in range(30):
        (seeds / f"burst_{index:02d}.txt").write_bytes((SEEDS_DIR / "000_c9229e0b42640eea.txt").read_bytes() + f"\nCopy {index}.".encode())
    assert wait_for(lambda: sum("burst_" in p for p in article_paths(warehouse)) == 30, 90), log.read_text()
    runs = api.post("/flow_runs/filter", json={"flow_runs": {"tags": {"all_": ["file-arrival"]}}}).json()
    assert 2 <= len(runs) <= 4

    children = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    assert process.wait(30) is not None
    assert wait_for(lambda: not any(alive(pid) for pid in children), 15)
    assert deployment()["paused"] is True, "the deployment is paused while nothing serves it"


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
