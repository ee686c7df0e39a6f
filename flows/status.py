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
from pathlib import Path

from flows.server import ServerRecord, api_request, project_server, read_record, server_is_healthy

DEPLOYMENT_PATH = "ingest/newsflow-ingest"  # flows.serve.deployment_path(), without importing Prefect


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
    served: bool = False  # a runner (`newsflow serve`) polled it recently
    schedules: tuple[tuple[str, bool], ...] = ()  # (description, active)
    next_run: str | None = None


@dataclass(frozen=True)
class WarehouseStatus:
    path: Path
    exists: bool
    error: str | None = None
    languages: list[tuple[str, str, int]] = field(default_factory=list)  # language, translation_status, articles
    runs: list[tuple] = field(default_factory=list)  # started_at, status, files_seen, inserted, updated, unchanged, rejected
    web_sources: int = 0  # followed with `newsflow sources add`
    failing_sources: list[tuple] = field(default_factory=list)  # url, polls failed in a row, last detail


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


def deployment_status(api_url: str) -> DeploymentStatus:
    try:
        deployment = api_request(api_url, f"/deployments/name/{DEPLOYMENT_PATH}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return DeploymentStatus(found=False)
        raise
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
        served=deployment.get("status") == "READY",
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
            web_sources, failing = 0, []
            if "web_sources" in store.relation_names():
                from pipeline.web.sources import FAILING_AFTER

                _, ((web_sources,),) = store.query("select count(*) from web_sources")
                _, failing = store.query(
                    "select url, consecutive_failures, last_detail from web_sources "
                    f"where consecutive_failures >= {int(FAILING_AFTER)} order by url"
                )
    except (WarehouseError, OSError) as error:
        return WarehouseStatus(path=path, exists=True, error=str(error).strip().splitlines()[0])
    except Exception as error:  # duckdb.Error: a file that is not (yet) a warehouse
        return WarehouseStatus(path=path, exists=True, error=f"{type(error).__name__}: {str(error).strip().splitlines()[0]}")
    return WarehouseStatus(
        path=path, exists=True, languages=languages, runs=runs, web_sources=web_sources, failing_sources=failing
    )
