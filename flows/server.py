"""A local `prefect server start` on loopback with its database under the state folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from flows.prefect_setup import server_is_healthy


class ServerStartError(RuntimeError):
    pass


@dataclass
class LocalPrefectServer:
    process: subprocess.Popen
    api_url: str
    home: Path
    log_path: Path

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_environment(home: Path, host: str, port: int, ui: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            "PREFECT_SERVER_API_HOST": host,
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "true" if ui else "false",
            "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
            "DO_NOT_TRACK": "1",
        }
    )
    return env


def start_local_server(
    home: Path, *, host: str = "127.0.0.1", port: int | None = None, ui: bool = True, startup_timeout: float = 120.0
) -> LocalPrefectServer:
    """Start `prefect server start` in its own process group and wait until /api/health answers."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    api_url = f"http://{host}:{port}/api"
    log_path = home / "server.log"
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=server_environment(home, host, port, ui),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    server = LocalPrefectServer(process=process, api_url=api_url, home=home, log_path=log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ServerStartError(f"prefect server exited with code {process.returncode}; log {log_path}:\n{tail}")
        if server_is_healthy(api_url, timeout=1.0):
            return server
        time.sleep(0.3)
    server.stop()
    raise ServerStartError(f"prefect server did not answer on {api_url} within {startup_timeout:.0f} s; see {log_path}")
