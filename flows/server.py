"""A local `prefect server start` on loopback with its database under the state folder.

The project's own server is recorded in `<state>/prefect-server/server.json` by the process
that owns it: `newsflow server` in the foreground, `newsflow serve`, or a small background
supervisor (`python -m flows.server supervise`) that `newsflow ingest` starts on first use and
that stops the server after an idle period. A record is trusted only when its processes are
alive, the server process is `prefect server start` on the recorded port with this project's
PREFECT_HOME, and it answers /api/health: nothing else listening on that port is ever used.

Every Prefect child is started with PR_SET_PDEATHSIG, so it gets SIGTERM when the process that
started it dies, even by SIGKILL (the kernel does it; a watcher thread or process could itself
be killed). It is set in a preexec_fn right after fork, with a check that the parent did not
die in between.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

HOST = "127.0.0.1"
DEFAULT_PORT = 4200
DEFAULT_STARTUP_TIMEOUT_S = 120.0
DEFAULT_IDLE_MINUTES = 30.0
SERVER_DIR_NAME = "prefect-server"
ACTIVE_RUN_MAX_HOURS = 12  # a pending/running flow run older than this no longer keeps the server up


class ServerStartError(RuntimeError):
    pass


def server_is_healthy(api_url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def api_request(api_url: str, path: str, body: dict | None = None, *, timeout: float = 5.0):
    """A Prefect REST call (POST with a JSON body, else GET) and its decoded JSON answer."""
    request = urllib.request.Request(
        api_url.rstrip("/") + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def configured_startup_timeout() -> float:
    return float(os.environ.get("NEWSFLOW_SERVER_START_TIMEOUT") or DEFAULT_STARTUP_TIMEOUT_S)


def idle_minutes() -> float:
    """Minutes without use after which the background server stops; 0 means: no background server."""
    return float(os.environ.get("NEWSFLOW_SERVER_IDLE_MINUTES") or DEFAULT_IDLE_MINUTES)


def configured_port() -> int:
    return int(os.environ.get("NEWSFLOW_SERVER_PORT") or DEFAULT_PORT)


@dataclass
class LocalPrefectServer:
    process: subprocess.Popen
    api_url: str
    home: Path
    log_path: Path
    record_path: Path | None = None  # set when this process recorded itself as the project's server

    def stop(self, timeout: float = 20.0) -> None:
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=5)
        finally:
            if self.record_path is not None:
                remove_record(self.record_path, owner_pid=os.getpid())


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


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on host:port (checked the way `prefect server start` binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent():
    """A preexec_fn: the child gets SIGTERM when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only makes the call
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _last_log_line(log_path: Path) -> str:
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace")[-4000:].splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def start_local_server(
    home: Path, *, host: str = HOST, port: int | None = None, ui: bool = True, startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S
) -> LocalPrefectServer:
    """Start `prefect server start` in its own process group and wait until /api/health answers.

    The child dies with the calling thread's process (PR_SET_PDEATHSIG); call this from the
    main thread of a process that lives as long as the server should."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    api_url = f"http://{host}:{port}/api"
    if port_in_use(host, port):
        raise ServerStartError(f"port {port} on {host} is already in use: stop what listens there or choose another port with --port")
    log_path = home / "server.log"
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=server_environment(home, host, port, ui),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent(),
    )
    log.close()
    server = LocalPrefectServer(process=process, api_url=api_url, home=home, log_path=log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(
                    f"the Prefect server exited with code {process.returncode} while starting "
                    f"({_last_log_line(log_path) or 'no output'}); log: {log_path}"
                )
            if server_is_healthy(api_url, timeout=1.0):
                return server
            time.sleep(0.3)
        raise ServerStartError(
            f"the Prefect server did not become healthy on {api_url} within {startup_timeout:g} s "
            f"(raise NEWSFLOW_SERVER_START_TIMEOUT if this machine is slow); log: {log_path}"
        )
    except BaseException:
        server.stop()
        raise


# --- the project's own server, recorded in the state folder -----------------------------------


@dataclass(frozen=True)
class ServerRecord:
    pid: int  # the process that owns the server: a background supervisor or `newsflow server`/`serve`
    server_pid: int  # `prefect server start`
    port: int
    api_url: str
    home: str
    log: str
    started_at: str
    mode: str  # "background" or "foreground"

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def server_home(state_dir: Path) -> Path:
    return Path(state_dir).resolve() / SERVER_DIR_NAME


def record_file(state_dir: Path) -> Path:
    return server_home(state_dir) / "server.json"


def _last_used_file(state_dir: Path) -> Path:
    return server_home(state_dir) / "last-used"


def touch_last_used(state_dir: Path) -> None:
    try:
        _last_used_file(state_dir).touch()  # touch() also sets the time of an existing file
    except OSError:
        pass


def seconds_since_last_use(state_dir: Path) -> float:
    try:
        return max(0.0, time.time() - _last_used_file(state_dir).stat().st_mtime)
    except OSError:
        return float("inf")


def read_record(state_dir: Path) -> ServerRecord | None:
    try:
        data = json.loads(record_file(state_dir).read_text())
        return ServerRecord(**{name: data[name] for name in ServerRecord.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(record: ServerRecord, path: Path) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(temporary, path)


def remove_record(path: Path, *, owner_pid: int) -> None:
    """Remove the record if `owner_pid` wrote it (a newer owner's record stays)."""
    try:
        if json.loads(path.read_text()).get("pid") == owner_pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def process_alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _is_project_server_process(pid: int, port: int, home: Path) -> bool:
    """`prefect server start --port <port>` running with this project's PREFECT_HOME."""
    proc = Path("/proc") / str(pid)
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        environ = (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [arg.decode(errors="replace") for arg in argv]
    if not any(arg.endswith("prefect") for arg in args) or "server" not in args or "start" not in args:
        return False
    if "--port" not in args or args.index("--port") + 1 >= len(args) or args[args.index("--port") + 1] != str(port):
        return False
    return f"PREFECT_HOME={home}".encode() in environ


def project_server(state_dir: Path, *, timeout: float = 1.0) -> ServerRecord | None:
    """The project's recorded server when it is verifiably ours, alive and healthy; else None."""
    record = read_record(state_dir)
    if record is None:
        return None
    ours = (
        record.home == str(server_home(state_dir))
        and record.api_url == f"http://{HOST}:{record.port}/api"
        and process_alive(record.pid)
        and process_alive(record.server_pid)
        and _is_project_server_process(record.server_pid, record.port, Path(record.home))
    )
    if not ours:
        return None
    return record if server_is_healthy(record.api_url, timeout=timeout) else None


@contextmanager
def _start_lock(state_dir: Path) -> Iterator[None]:
    """One process at a time decides whether to start the project's server."""
    home = server_home(state_dir)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "start.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _already_running_error(record: ServerRecord) -> ServerStartError:
    return ServerStartError(
        f"the project's Prefect server already runs at {record.ui_url} ({record.mode}, pid {record.pid}): "
        f"use it, or stop it first with `newsflow server stop`"
    )


def start_project_server(
    state_dir: Path,
    *,
    port: int | None = None,
    mode: str = "foreground",
    ui: bool = True,
    startup_timeout: float | None = None,
) -> LocalPrefectServer:
    """Start the project's server and record this process as its owner; `stop()` removes the record.

    `port` None: the configured port (NEWSFLOW_SERVER_PORT, default 4200) when it is free, else
    any free port. An explicit port must be free."""
    with _start_lock(state_dir):
        running = project_server(state_dir)
        if running is not None:
            raise _already_running_error(running)
        if port is None:
            port = configured_port()
            if port_in_use(HOST, port):
                port = free_port(HOST)
        home = server_home(state_dir)
        server = start_local_server(home, port=port, ui=ui, startup_timeout=startup_timeout or configured_startup_timeout())
        try:
            _record_owner(server, state_dir, mode=mode, port=port)
        except BaseException:
            server.stop()
            raise
        return server


def _record_owner(server: LocalPrefectServer, state_dir: Path, *, mode: str, port: int) -> None:
    """Write the record that says this process owns `server`; `server.stop()` removes it."""
    record = ServerRecord(
        pid=os.getpid(),
        server_pid=server.process.pid,
        port=port,
        api_url=server.api_url,
        home=str(server.home),
        log=str(server.log_path),
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        mode=mode,
    )
    server.record_path = record_file(state_dir)
    _write_record(record, server.record_path)
    touch_last_used(state_dir)


def ensure_background_server(state_dir: Path, *, wait_timeout: float | None = None) -> tuple[ServerRecord, bool]:
    """The project's server, started in the background (detached supervisor) when none runs.

    Returns the record and whether it was started now."""
    wait_timeout = wait_timeout or configured_startup_timeout()
    with _start_lock(state_dir):
        running = project_server(state_dir)
        if running is not None:
            return running, False
        home = server_home(state_dir)
        supervisor_log = home / "supervisor.log"
        with open(supervisor_log, "ab") as log:
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "flows.server", "supervise", str(Path(state_dir).resolve())],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives this command; Ctrl-C in the terminal does not reach it
            )
    # The supervisor takes the start lock itself, so wait outside it.
    deadline = time.monotonic() + wait_timeout + 5
    while time.monotonic() < deadline:
        record = read_record(state_dir)
        if record is not None and record.pid == supervisor.pid:
            verified = project_server(state_dir)
            if verified is not None:
                return verified, True
        if supervisor.poll() is not None:
            reason = _last_log_line(supervisor_log).removeprefix("error: ")
            raise ServerStartError(reason or f"the background server exited with code {supervisor.returncode}")
        time.sleep(0.2)
    os.killpg(supervisor.pid, signal.SIGTERM)
    raise ServerStartError(f"the background Prefect server did not start within {wait_timeout:g} s; log: {supervisor_log}")


def stop_project_server(state_dir: Path, *, timeout: float = 30.0) -> ServerRecord | None:
    """Stop the project's recorded server (its owner stops the Prefect child). None: nothing ran."""
    record = read_record(state_dir)
    if record is None or not (process_alive(record.pid) or process_alive(record.server_pid)):
        return None
    if process_alive(record.server_pid) and not _is_project_server_process(record.server_pid, record.port, Path(record.home)):
        return None  # the pid was reused by something else
    if process_alive(record.pid):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process_alive(record.pid) or process_alive(record.server_pid)):
        time.sleep(0.1)
    for kill, pid in ((os.killpg, record.server_pid), (os.kill, record.pid)):  # the server leads its own group
        if process_alive(pid):
            try:
                kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    remove_record(record_file(state_dir), owner_pid=record.pid)
    return record


def _flows_busy(api_url: str) -> bool:
    """A flow run is pending or running on the server, or a runner (`newsflow serve`) polls it."""
    # A run whose process was killed stays RUNNING on the server forever: only recent runs count.
    since = (datetime.now(timezone.utc) - timedelta(hours=ACTIVE_RUN_MAX_HOURS)).isoformat()
    try:
        active = api_request(
            api_url,
            "/flow_runs/count",
            {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}, "expected_start_time": {"after_": since}}},
        )
        served = any(d.get("status") == "READY" for d in api_request(api_url, "/deployments/filter", {}, timeout=10))
    except (OSError, ValueError):
        return False
    return bool(active) or served


def supervise(state_dir: Path) -> None:
    """Own the project's server in the background; stop it after `idle_minutes()` without use
    (no newsflow command used it, no flow run pending or running, no runner serving it)."""

    def stop_on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop_on_signal)
    idle_seconds = idle_minutes() * 60
    check_seconds = min(30.0, max(0.2, idle_seconds / 4))
    try:
        server = start_project_server(state_dir, mode="background")
    except ServerStartError as error:
        print(f"error: {error}", flush=True)
        raise SystemExit(1)
    print(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} serving {server.api_url}, idle stop after {idle_seconds:g} s", flush=True)
    reason = "stopped by a signal"
    try:
        while True:
            time.sleep(check_seconds)
            if server.process.poll() is not None:
                reason = f"the Prefect server exited with code {server.process.returncode}"
                break
            if seconds_since_last_use(state_dir) >= idle_seconds and not _flows_busy(server.api_url):
                reason = f"idle for {idle_seconds:g} s"
                break
    finally:
        server.stop()
        print(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} stopped: {reason}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "supervise":
        supervise(Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m flows.server supervise STATE_DIR")
