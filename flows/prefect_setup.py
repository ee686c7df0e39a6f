"""Prefect settings for newsflow processes, applied before Prefect is imported.

Where runs go, in order:
1. `PREFECT_API_URL` when it is set: that server, whatever it is.
2. The project's own server recorded in the state folder (`newsflow server`, `newsflow serve`,
   or the background server `newsflow ingest` started), when it verifiably is ours and healthy.
3. With `start_background=True` (ingest, translate): the project's server, started now in the
   background; it stops itself after NEWSFLOW_SERVER_IDLE_MINUTES (default 30) without use.
4. With NEWSFLOW_SERVER_IDLE_MINUTES=0 (ingest, translate): a temporary server for this command
   alone, stopped when it ends and killed with it. Without `start_background` (serve): None,
   and the caller starts the project's server.
Nothing else that happens to answer on a local port is ever used.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

from flows.server import (
    ServerRecord,
    ensure_background_server,
    idle_minutes,
    project_server,
    server_is_healthy,  # noqa: F401  (kept importable from here)
    touch_last_used,
)
from pipeline.settings import load_settings

@dataclass(frozen=True)
class PrefectMode:
    api_url: str | None  # None: ephemeral server
    project_server: ServerRecord | None = None  # set when runs go to the project's own server
    started_now: bool = False  # the project's background server was started by this call
    temporary: bool = False  # a server for this command alone, stopped when it ends

    def describe(self) -> str:
        if self.project_server is not None:
            return f"the project's Prefect server {self.project_server.ui_url}"
        if self.temporary:
            return "a temporary Prefect server for this run (NEWSFLOW_SERVER_IDLE_MINUTES=0; raise it to keep one running)"
        if self.api_url:
            return f"Prefect server {self.api_url}"
        return "temporary Prefect server (set PREFECT_API_URL or run `newsflow server` to skip its start-up)"


def configure_prefect(*, verbose: bool = False, start_background: bool = False) -> PrefectMode:
    settings = load_settings()
    os.environ.setdefault("PREFECT_HOME", str(settings.state_dir / "prefect"))
    os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)  # the ephemeral server's SQLite file lives there
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not verbose:
        # Runs log to the API (the UI shows them); the console shows only newsflow's own summary
        # and one-line errors, not Prefect's crash reports and tracebacks.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_LEVEL", "INFO")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    api_url = os.environ.get("PREFECT_API_URL") or None
    if api_url is not None:
        return PrefectMode(api_url=api_url)
    record, started = project_server(settings.state_dir), False
    if record is None and start_background and idle_minutes() > 0:
        record, started = ensure_background_server(settings.state_dir)
    if record is None and start_background:
        return _temporary_server(settings.state_dir)
    if record is None:
        return PrefectMode(api_url=None)
    os.environ["PREFECT_API_URL"] = record.api_url
    touch_last_used(settings.state_dir)
    atexit.register(touch_last_used, settings.state_dir)  # idle time counts from the end of this command
    return PrefectMode(api_url=record.api_url, project_server=record, started_now=started)


def _temporary_server(state_dir) -> PrefectMode:
    """A Prefect server for this command alone, instead of Prefect's own ephemeral one: this one
    is stopped when the command ends, and dies with it if it is killed (the parent-death signal),
    where Prefect's ephemeral server would outlive a SIGKILL."""
    from flows.server import start_local_server

    server = start_local_server(state_dir / "prefect-temporary", ui=False)
    atexit.register(server.stop)
    os.environ["PREFECT_API_URL"] = server.api_url
    return PrefectMode(api_url=server.api_url, temporary=True)
