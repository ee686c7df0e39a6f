"""Which `newsflow serve` holds a deployment, and whether it is still alive.

One serve per deployment and Prefect server: a serve claims its deployment before it applies it,
by creating the Prefect Variable `newsflow-serve-<deployment name>` whose value says who it is
(host, pid, warehouse, seeds folder, since when). Creating a variable whose name exists fails on
the server (409), so of two serves starting at once one gets the claim. The serve deletes the
variable when it stops, after pausing its deployment, and only while the variable still names it.

Whether the holder is alive:
- on this machine, in this pid namespace (same boot id and /proc/self/ns/pid): its process is
  there or not, with the start time it recorded (a pid used again is another process);
- elsewhere: whether the deployment is still polled. A serve's Prefect runner asks for its
  deployment's scheduled runs every second, and the server stamps `last_polled` on each ask
  (Prefect's own runner liveness; its foreman marks a deployment NOT_READY only after 60 s).

No Prefect import here: `newsflow status` uses it over the REST API.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

VARIABLE_PREFIX = "newsflow-serve-"
# A serve polls every second; a deployment not polled for this long has no live runner.
LIVE_WINDOW_S = 30.0


def variable_name(deployment_name: str) -> str:
    return VARIABLE_PREFIX + deployment_name


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot, /proc/PID/stat field 22), or None when no such
    process runs (a zombie, killed and not yet reaped, has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


@dataclass(frozen=True)
class ServeHolder:
    deployment: str  # flow/deployment, e.g. ingest/newsflow-ingest
    host: str
    pid: int
    warehouse: str
    seeds: str
    since: str  # ISO time (UTC) the serve claimed the deployment
    pid_started: int | None = None
    boot_id: str = ""
    pid_namespace: str = ""

    @classmethod
    def this_process(cls, deployment: str, *, warehouse: Path, seeds: Path) -> "ServeHolder":
        return cls(
            deployment=deployment,
            host=socket.gethostname(),
            pid=os.getpid(),
            warehouse=str(warehouse),
            seeds=str(seeds),
            since=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            pid_started=process_start_ticks(os.getpid()),
            boot_id=_boot_id(),
            pid_namespace=_pid_namespace(),
        )

    @classmethod
    def from_value(cls, value) -> "ServeHolder | None":
        """The holder a variable's value describes (None for a value newsflow did not write)."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, dict):
            return None
        try:
            return cls(**{name: value[name] for name in cls.__dataclass_fields__ if name in value})
        except TypeError:
            return None

    def to_value(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return f"`newsflow serve` on {self.host} (pid {self.pid}, warehouse {self.warehouse}, since {self.since})"

    def checkable_here(self) -> bool:
        """Its process can be looked up from this one (same machine boot, same pid namespace)."""
        return bool(self.boot_id and self.pid_namespace) and (self.boot_id, self.pid_namespace) == (_boot_id(), _pid_namespace())

    def process_alive(self) -> bool:
        """Only when `checkable_here()`: its process still runs (the pid, started when it recorded)."""
        started = process_start_ticks(self.pid)
        return started is not None and (self.pid_started is None or started == self.pid_started)

    def same_process(self, other: "ServeHolder") -> bool:
        return (self.host, self.pid, self.pid_started, self.boot_id, self.since) == (
            other.host, other.pid, other.pid_started, other.boot_id, other.since
        )


def polled_age_s(last_polled: str | None, server_now: datetime) -> float | None:
    """Seconds since the deployment was last polled, by the server's clock (None: never)."""
    if not last_polled:
        return None
    polled = datetime.fromisoformat(last_polled.replace("Z", "+00:00"))
    return max(0.0, (server_now - polled).total_seconds())


def runner_state(holder: ServeHolder | None, polled_age: float | None) -> tuple[bool, str]:
    """(a live runner serves the deployment, the words `newsflow status` says it with)."""
    polled = "never polled" if polled_age is None else f"last polled {polled_age:.0f} s ago"
    recently = polled_age is not None and polled_age < LIVE_WINDOW_S
    if holder is None:
        if recently:
            return True, f"served by a runner that is not a `newsflow serve` ({polled})"
        return False, f"no runner serving it ({polled})"
    if holder.checkable_here():
        if holder.process_alive():
            return True, f"served by a running {holder.describe()}; {polled}"
        return False, f"no live runner: the {holder.describe()} is gone (its process has ended without letting go); {polled}"
    if recently:
        return True, f"served by a running {holder.describe()}; {polled}"
    return False, f"no live runner: the {holder.describe()} has not polled for {LIVE_WINDOW_S:.0f} s or more ({polled})"
