"""What `newsflow status` reports: the Prefect API in use, the ingest deployment and its
schedule, the warehouse and the installed translation models.

Read-only and side-effect free: it starts no server and creates no file, and it does not import
Prefect (the server's REST API is enough).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

from flows.server import ServerRecord, api_request, project_server, read_record, server_is_healthy
from flows.serve_holder import ServeHolder, polled_age_s, runner_state, variable_name

DEPLOYMENT_PATH = "ingest/newsflow-ingest"  # flows.serve.deployment_path(), without importing Prefect
FLOW_NAME = DEPLOYMENT_PATH.split("/")[0]
FAILING_SOURCES_SHOWN = 20  # beyond, status says how many more (`newsflow sources list` has them all)


@dataclass(frozen=True)
class PrefectStatus:
    api_url: str | None
    source: str  # "PREFECT_API_URL", "project server" or "none"
    up: bool
    project_server: ServerRecord | None = None


@dataclass(frozen=True)
class DeploymentStatus:
    found: bool
    paused: bool = False
    served: bool = False  # a live runner serves it (flows.serve_holder.runner_state)
    schedules: tuple[tuple[str, bool], ...] = ()  # (description, active)
    next_run: str | None = None
    path: str = DEPLOYMENT_PATH
    runner: str = ""  # who serves it, or why nothing does, in words


@dataclass(frozen=True)
class WarehouseStatus:
    path: Path
    exists: bool
    error: str | None = None
    languages: list[tuple[str, str, int]] = field(default_factory=list)  # language, translation_status, articles
    runs: list[tuple] = field(default_factory=list)  # started_at, status, files_seen, inserted, updated, unchanged, rejected
    web_sources: int = 0  # followed with `newsflow sources add`
    failing_sources: list[tuple] = field(default_factory=list)  # url, polls failed in a row, last detail (the first FAILING_SOURCES_SHOWN)
    failing_count: int = 0  # every failing source, shown or not


def prefect_status(state_dir: Path) -> PrefectStatus:
    api_url = os.environ.get("PREFECT_API_URL") or None
    if api_url:
        return PrefectStatus(api_url=api_url, source="PREFECT_API_URL", up=server_is_healthy(api_url, timeout=2.0))
    record = project_server(state_dir, timeout=2.0)
    if record is not None:
        return PrefectStatus(api_url=record.api_url, source="project server", up=True, project_server=record)
    stale = read_record(state_dir)
    return PrefectStatus(api_url=None, source="none", up=False, project_server=stale)


def _describe_schedule(schedule: dict) -> str:
    if schedule.get("cron"):
        return f"cron '{schedule['cron']}'" + (f" ({schedule['timezone']})" if schedule.get("timezone") not in (None, "UTC") else "")
    if schedule.get("interval") is not None:
        return f"every {schedule['interval']:g} s"
    if schedule.get("rrule"):
        return f"rrule '{schedule['rrule']}'"
    return json.dumps(schedule)


def _server_now(api_url: str) -> datetime:
    """The Prefect server's clock (its Date header), which stamped last_polled; else this machine's."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=5.0) as response:
            return parsedate_to_datetime(response.headers["Date"])
    except (OSError, TypeError, ValueError):
        return datetime.now(timezone.utc)


def _serve_holder(api_url: str, deployment_name: str) -> ServeHolder | None:
    try:
        variable = api_request(api_url, f"/variables/name/{variable_name(deployment_name)}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
    return ServeHolder.from_value(variable.get("value"))


def deployment_statuses(api_url: str) -> list[DeploymentStatus]:
    """Every deployment of the ingest flow (`newsflow serve --name` makes more than one), the
    default one first; empty when there is none."""
    found = api_request(api_url, "/deployments/filter", {"flows": {"name": {"any_": [FLOW_NAME]}}, "sort": "NAME_ASC"})
    names = sorted((d["name"] for d in found), key=lambda name: (f"{FLOW_NAME}/{name}" != DEPLOYMENT_PATH, name))
    return [deployment_status(api_url, f"{FLOW_NAME}/{name}") for name in names]


def deployment_status(api_url: str, path: str = DEPLOYMENT_PATH) -> DeploymentStatus:
    try:
        deployment = api_request(api_url, f"/deployments/name/{path}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return DeploymentStatus(found=False, path=path)
        raise
    served, runner = runner_state(
        _serve_holder(api_url, deployment["name"]), polled_age_s(deployment.get("last_polled"), _server_now(api_url))
    )
    next_runs = api_request(
        api_url,
        "/flow_runs/filter",
        {
            "deployments": {"id": {"any_": [deployment["id"]]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
            "sort": "EXPECTED_START_TIME_ASC",
            "limit": 1,
        },
    )
    return DeploymentStatus(
        found=True,
        paused=bool(deployment.get("paused")),
        served=served,
        runner=runner,
        path=path,
        schedules=tuple((_describe_schedule(s["schedule"]), bool(s.get("active"))) for s in deployment.get("schedules") or []),
        next_run=next_runs[0]["expected_start_time"] if next_runs else None,
    )


@dataclass(frozen=True)
class RawPagesStatus:
    folder: Path
    pages: int
    disk_bytes: int
    max_bytes: int  # NEWSFLOW_RAW_PAGES_MAX_MB


def raw_pages_status(state_dir: Path, max_bytes: int) -> RawPagesStatus:
    """The raw web pages kept for `newsflow reextract`: how many, and their size on disk."""
    from pipeline.web.store import raw_pages_dir, raw_store_usage

    usage = raw_store_usage(state_dir)
    return RawPagesStatus(folder=raw_pages_dir(state_dir), pages=usage.pages, disk_bytes=usage.disk_bytes, max_bytes=max_bytes)


def warehouse_status(path: Path, *, last_runs: int = 5) -> WarehouseStatus:
    from pipeline.warehouse import Warehouse, WarehouseError

    if not path.exists():
        return WarehouseStatus(path=path, exists=False)
    try:
        with Warehouse.open(path, read_only=True, lock_timeout_s=2.0) as store:
            _, languages = store.query(
                "select language, translation_status, count(*) from articles group by all order by 3 desc, 1, 2"
            )
            _, runs = store.query(
                "select started_at, status, files_seen, inserted, updated, unchanged, rejected "
                f"from ingest_runs order by started_at desc limit {int(last_runs)}"
            )
            web_sources, failing, failing_count = 0, [], 0
            if "web_sources" in store.relation_names():
                from pipeline.web.sources import FAILING_AFTER

                _, ((web_sources, failing_count),) = store.query(
                    f"select count(*), count(*) filter (where consecutive_failures >= {int(FAILING_AFTER)}) from web_sources"
                )
                _, failing = store.query(
                    "select url, consecutive_failures, last_detail from web_sources "
                    f"where consecutive_failures >= {int(FAILING_AFTER)} order by url limit {FAILING_SOURCES_SHOWN}"
                )
    except (WarehouseError, OSError) as error:
        return WarehouseStatus(path=path, exists=True, error=str(error).strip().splitlines()[0])
    except Exception as error:  # duckdb.Error: a file that is not (yet) a warehouse
        return WarehouseStatus(path=path, exists=True, error=f"{type(error).__name__}: {str(error).strip().splitlines()[0]}")
    return WarehouseStatus(
        path=path, exists=True, languages=languages, runs=runs, web_sources=web_sources, failing_sources=failing,
        failing_count=failing_count,
    )
