"""`newsflow deploy` on a process work pool, run by a real `prefect worker start`: a scheduled run and
a run started with Prefect's own CLI (`prefect deployment run`) both land in the warehouse.

The session's Prefect server runs its scheduler every second (SCHEDULER_TEST_SETTINGS in
tests/conftest.py); the worker asks for runs every second instead of every 10 s."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from flows.serve_holder import ServeHolder, variable_name
from tests.conftest import SEEDS_DIR, newsflow, newsflow_env
from tests.flows.prefect_api import answered
from tests.flows.processes import alive, descendants, wait_for
from tests.flows.test_serve import article_paths, ingest_runs

PREFECT = str(Path(sys.executable).parent / "prefect")


def deployment_runs(api: httpx.Client, deployment_id: str) -> list[dict]:
    return answered(api.post("/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200}))


@pytest.mark.server
def test_a_deployment_on_a_process_pool_runs_on_a_prefect_worker_on_schedule_and_by_hand(prefect_server, tmp_path):
    seeds, warehouse = tmp_path / "seeds", tmp_path / "news.duckdb"
    seeds.mkdir()
    (seeds / "first.txt").write_bytes((SEEDS_DIR / "001_f168b2729dee8f19.txt").read_bytes())
    pool, name = f"pool-{uuid.uuid4().hex[:8]}", f"pool-test-{uuid.uuid4().hex[:8]}"
    env = newsflow_env(prefect_server.api_url, tmp_path, NEWSFLOW_HOME=str(tmp_path), NEWSFLOW_SEEDS=str(seeds), NEWSFLOW_WAREHOUSE=str(warehouse))

    with httpx.Client(base_url=prefect_server.api_url, timeout=10) as api:
        # A live `newsflow serve` of the same deployment (this process, as its claim says) runs its runs itself.
        holder = ServeHolder.this_process(f"ingest/{name}", warehouse=warehouse, seeds=seeds)
        answered(api.post("/variables/", json={"name": variable_name(name), "value": holder.to_value(), "tags": ["newsflow"]}))
        refused = newsflow(["deploy", "--pool", pool, "--every", "5s", "--name", name], env, check=False)
        assert api.delete(f"/variables/name/{variable_name(name)}").is_success
    assert refused.returncode == 1 and refused.stderr.startswith(f"error: the deployment ingest/{name} on ") and "served by" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr

    deployed = newsflow(["deploy", "--pool", pool, "--every", "5s", "--name", name], env).stdout
    assert f"Deployed ingest/{name} on the process work pool {pool} (created now): schedule every 5s" in deployed
    assert f"PREFECT_API_URL={prefect_server.api_url} prefect worker start --pool {pool} --limit 1" in deployed
    assert len(deployed.strip().splitlines()) == 1, deployed

    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log, httpx.Client(base_url=prefect_server.api_url, timeout=10) as api:
        found = answered(api.get(f"/deployments/name/ingest/{name}"))
        assert found["entrypoint"] == "flows.ingest.ingest" and found["pull_steps"] in (None, [])
        assert found["parameters"] == {"paths": [str(seeds)], "warehouse": str(warehouse), "poll_web": True}
        worker = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", pool, "--limit", "1"],
            env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"},
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        children: set[int] = set()
        try:
            began = time.monotonic()
            taken = lambda: [r for r in deployment_runs(api, found["id"]) if r["auto_scheduled"] and r["state_type"] in ("RUNNING", "COMPLETED")]  # noqa: E731
            runs = wait_for(lambda: children.update(descendants(worker.pid)) or taken(), 240, interval=0.5)
            assert runs, log_path.read_text()
            print(f"first scheduled run taken by the worker after {time.monotonic() - began:.1f} s")
            # Deployed again, while that run goes, with a schedule that does not fire during the test:
            # the old schedule's runs already due (every 5 s) are cancelled, not run one by one.
            again = newsflow(["deploy", "--pool", pool, "--cron", "0 3 1 1 *", "--name", name], env).stdout
            # (runs already due are named when there are any: how many depends on how soon the worker took the first)
            assert re.search(rf"Deployed ingest/{name} on the process work pool {pool}( \(\d+ runs already due cancelled: .*\))?: schedule cron '0 3 1 1 \*'", again), again
            assert [s["schedule"]["cron"] for s in answered(api.get(f"/deployments/{found['id']}"))["schedules"]] == ["0 3 1 1 *"]
            completed = lambda: answered(api.get(f"/flow_runs/{runs[0]['id']}"))["state_type"] == "COMPLETED"  # noqa: E731
            assert wait_for(lambda: children.update(descendants(worker.pid)) or completed(), 240, interval=0.5), log_path.read_text()
            print(f"... completed after {time.monotonic() - began:.1f} s")
            assert any(p.endswith("first.txt") for p in article_paths(warehouse))
            recorded = ingest_runs(warehouse)
            assert recorded.get(runs[0]["id"], ("no row",))[0] == "completed", (recorded, log_path.read_text()[-3000:])

            (seeds / "second.txt").write_bytes((SEEDS_DIR / "000_c9229e0b42640eea.txt").read_bytes())
            started = subprocess.run([PREFECT, "deployment", "run", f"ingest/{name}"], env=env, capture_output=True, text=True, timeout=120, check=True)
            run_id = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)[1]
            by_hand = lambda: answered(api.get(f"/flow_runs/{run_id}"))["state_type"] == "COMPLETED"  # noqa: E731
            assert wait_for(lambda: children.update(descendants(worker.pid)) or by_hand(), 240, interval=0.5), log_path.read_text()
            assert any(p.endswith("second.txt") for p in article_paths(warehouse))
            assert ingest_runs(warehouse)[run_id][0] == "completed"
            print(f"run by hand completed after {time.monotonic() - began:.1f} s")
            ran = [r for r in deployment_runs(api, found["id"]) if r["state_type"] == "COMPLETED"]
            assert {r["id"] for r in ran} == {runs[0]["id"], run_id}, "a run of the old schedule ran after it was replaced"
        finally:
            children |= descendants(worker.pid)
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
            api.delete(f"/deployments/{found['id']}")  # no schedule keeps making runs on the session's server
    assert worker.returncode is not None
    assert wait_for(lambda: not any(alive(pid) for pid in children), 30), "a process the worker started is still running"
    # Each run printed its line on the worker's output, as a served run does.
    output = log_path.read_text()
    assert "scheduled run: " in output and "run started by hand (" in output, output


def test_deploy_without_a_prefect_server_says_how_to_get_one(tmp_path):
    """No PREFECT_API_URL and no project server running: one line, and no server started for it."""
    env = newsflow_env("", tmp_path, NEWSFLOW_HOME=str(tmp_path))
    env.pop("PREFECT_API_URL")
    result = newsflow(["deploy", "--pool", "newsflow"], env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no Prefect server to deploy to:") and "`newsflow server`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "state" / "prefect-server" / "server.json").exists()
