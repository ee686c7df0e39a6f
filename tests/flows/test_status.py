"""`newsflow status` on the session's real Prefect server with a real warehouse, and with nothing."""

from __future__ import annotations

import os

import httpx
import pytest

from flows.server import free_port
from flows.status import DEPLOYMENT_PATH
from tests.conftest import newsflow, seeds_copy
from tests.flows.prefect_api import answered


def test_the_deployment_name_is_the_one_serve_deploys():
    from flows.serve import deployment_path

    assert DEPLOYMENT_PATH == deployment_path()


@pytest.mark.server
def test_status_shows_server_deployment_schedule_warehouse_and_models(prefect_server, prefect_env, tmp_path):
    newsflow(["ingest", str(seeds_copy())], prefect_env)
    api = httpx.Client(base_url=prefect_server.api_url, timeout=10)
    flow_id = answered(api.post("/flows/", json={"name": "ingest"}))["id"]
    # The session's server is shared: a serve test before this one may have left the deployment, its
    # scheduled runs and its runner's last poll. This test's deployment starts from nothing.
    left = api.get(f"/deployments/name/{DEPLOYMENT_PATH}")
    if left.status_code == 200:
        api.delete(f"/deployments/{left.json()['id']}").raise_for_status()
    deployment = answered(api.post("/deployments/", json={
        "name": "newsflow-ingest", "flow_id": flow_id, "paused": False,
        "schedules": [{"schedule": {"cron": "0 0 1 1 *", "timezone": "UTC"}, "active": True}],
    }))
    # The session server schedules only two minutes ahead (conftest), so the next run is made here.
    next_run = answered(api.post(f"/deployments/{deployment['id']}/create_flow_run", json={
        "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": "2027-01-01T00:00:00Z"}},
    }))
    try:
        out = newsflow(["status"], prefect_env).stdout
        assert f"Prefect API: {prefect_server.api_url} (from PREFECT_API_URL): up" in out
        assert "Deployment ingest/newsflow-ingest: active; cron '0 0 1 1 *' active; next run 2027-01-01T00:00:00" in out
        assert f"Warehouse {prefect_env['NEWSFLOW_WAREHOUSE']}: 5 articles" in out
        rows = [line.split() for line in out.splitlines()]
        assert ["en", "│", "not_needed", "│", "4"] in rows and ["id", "│", "missing_model", "│", "1"] in rows
        assert any(row[-12:] == ["│", "completed", "│", "5", "│", "5", "│", "0", "│", "0", "│", "0"] for row in rows), out
        assert "Translation models: none installed" in out

        api.post(f"/deployments/{deployment['id']}/pause_deployment").raise_for_status()
        assert "Deployment ingest/newsflow-ingest: PAUSED" in newsflow(["status"], prefect_env).stdout
    finally:
        api.delete(f"/flow_runs/{next_run['id']}")
        api.delete(f"/deployments/{deployment['id']}")
        api.close()


def test_status_with_no_server_and_no_warehouse_says_so_and_starts_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    state, warehouse = tmp_path / "state", tmp_path / "news.duckdb"
    env.update({"NEWSFLOW_STATE": str(state), "NEWSFLOW_WAREHOUSE": str(warehouse), "ARGOS_PACKAGES_DIR": str(tmp_path / "argos")})
    out = newsflow(["status"], env).stdout
    assert "Prefect API: no project server is running; the next `newsflow ingest` starts one" in out
    assert "Deployment ingest/newsflow-ingest: unknown (no Prefect server is up)" in out
    assert f"Warehouse {warehouse}: does not exist yet" in out
    assert not state.exists() and not warehouse.exists()

    closed = f"http://127.0.0.1:{free_port()}/api"
    out = newsflow(["status"], dict(env, PREFECT_API_URL=closed)).stdout
    assert f"Prefect API: {closed} (from PREFECT_API_URL): NOT answering" in out
    assert not state.exists()


def test_status_names_the_web_sources_that_keep_failing(tmp_path):
    from datetime import datetime

    from pipeline.warehouse import Warehouse
    from pipeline.web.sources import FAILING_AFTER, add_source

    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    warehouse = tmp_path / "news.duckdb"
    env.update({"NEWSFLOW_STATE": str(tmp_path / "state"), "NEWSFLOW_WAREHOUSE": str(warehouse), "ARGOS_PACKAGES_DIR": str(tmp_path / "argos")})
    with Warehouse.open(warehouse) as store:
        for url in ("http://127.0.0.1:9/feed.xml", "http://127.0.0.1:9/ok.xml"):
            add_source(store.connection, url, kind="feed", now=datetime(2026, 11, 1))
        store.connection.execute(
            "update web_sources set consecutive_failures = ?, last_detail = 'nothing answers at 127.0.0.1:9' where url like '%feed.xml'",
            [FAILING_AFTER],
        )
    out = newsflow(["status"], env).stdout
    assert "Web sources followed: 2" in out
    assert f"Web source http://127.0.0.1:9/feed.xml: failing ({FAILING_AFTER} polls in a row): nothing answers at 127.0.0.1:9" in out
    assert "ok.xml: failing" not in out


def test_status_reads_as_many_rows_from_five_times_the_articles(monkeypatch, tmp_path):
    """status counts in SQL: N and 5N articles in the same languages bring the same rows into Python, and the right totals."""
    from datetime import date

    from flows.status import warehouse_status
    from tests.pipeline.test_report import generated_archive, rows_fetched

    languages = ("en", "id", "fr", "de", "es", "it", "nl", "pt", "sv", "pl", "tr", "vi")
    fetched = {}
    for n in (600, 3000):
        warehouse = generated_archive(tmp_path / f"news-{n}.duckdb", [date(2025, 1, 1 + i % 28) for i in range(n)], languages=languages)
        status, fetched[n] = rows_fetched(monkeypatch, lambda: warehouse_status(warehouse))
        assert status.error is None
        assert sum(count for _, _, count in status.languages) == n
        assert dict(((language, translation), count) for language, translation, count in status.languages)[("en", "not_needed")] == n // 12
    assert fetched[600] == fetched[3000], fetched


def test_status_names_twenty_failing_web_sources_and_counts_the_rest(tmp_path):
    from datetime import datetime

    from flows.status import FAILING_SOURCES_SHOWN
    from pipeline.warehouse import Warehouse
    from pipeline.web.sources import FAILING_AFTER, add_source

    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    warehouse = tmp_path / "news.duckdb"
    env.update({"NEWSFLOW_STATE": str(tmp_path / "state"), "NEWSFLOW_WAREHOUSE": str(warehouse), "ARGOS_PACKAGES_DIR": str(tmp_path / "argos")})
    failing = FAILING_SOURCES_SHOWN + 7
    with Warehouse.open(warehouse) as store:
        for i in range(failing):
            add_source(store.connection, f"http://127.0.0.1:9/feed-{i:03d}.xml", kind="feed", now=datetime(2026, 11, 1))
        store.connection.execute("update web_sources set consecutive_failures = ?, last_detail = 'nothing answers'", [FAILING_AFTER])
    out = newsflow(["status"], env).stdout
    named = [line for line in out.splitlines() if line.startswith("Web source http://127.0.0.1:9/feed-")]
    assert len(named) == FAILING_SOURCES_SHOWN and "feed-000.xml" in named[0]
    assert f"Web sources followed: {failing}" in out
    assert "and 7 more failing web sources (`newsflow sources list`)" in out
