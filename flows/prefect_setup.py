"""Prefect settings for newsflow processes, applied before Prefect is imported.

With `PREFECT_API_URL` set, runs go to that server. Without it, a server started by
`newsflow server` on the default local address is used when it answers; otherwise Prefect
starts a temporary (ephemeral) server in-process, which costs seconds per process.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass

from pipeline.settings import load_settings

DEFAULT_SERVER_HOST = "127.0.0.1"
DEFAULT_SERVER_PORT = 4200


@dataclass(frozen=True)
class PrefectMode:
    api_url: str | None  # None: ephemeral server

    def describe(self) -> str:
        return f"Prefect server {self.api_url}" if self.api_url else "temporary Prefect server (set PREFECT_API_URL or run `newsflow server` to skip its start-up)"


def local_server_url() -> str:
    return os.environ.get("NEWSFLOW_PREFECT_URL", f"http://{DEFAULT_SERVER_HOST}:{DEFAULT_SERVER_PORT}/api")


def server_is_healthy(api_url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def configure_prefect(*, verbose: bool = False) -> PrefectMode:
    settings = load_settings()
    os.environ.setdefault("PREFECT_HOME", str(settings.state_dir / "prefect"))
    os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)  # the ephemeral server's SQLite file lives there
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_LEVEL", "INFO")
    api_url = os.environ.get("PREFECT_API_URL") or None
    if api_url is None and server_is_healthy(local_server_url()):
        api_url = local_server_url()
        os.environ["PREFECT_API_URL"] = api_url
    return PrefectMode(api_url=api_url)
