"""Processes a benchmark watches or starts: a sampled process tree and a user-started Dask cluster.

`ProcessTreeSampler` polls the trees under some root processes (every 0.2 s by default) and keeps
each process's peak RSS (the larger of the sampled RSS and the kernel's own high-water mark,
VmHWM, read while the process lives) and its last CPU time. Each process gets a role from its
place and command line: the root's own role, `worker` for a Dask worker process (spawned by a
nanny: `multiprocessing.spawn`, forked by multiprocessing's `forkserver`, or a command line naming
dask or distributed), `forkserver` for the process workers are forked from, `helper` for
multiprocessing's resource tracker, `other` for anything else.

`user_cluster` starts `dask scheduler` and `dask worker` the way a user would, and stops them
(the whole process group of each) when the block ends, however it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psutil

def cpu_seconds(process: psutil.Process, *, with_descendants: bool = False) -> float:
    """User and system CPU seconds of `process` (and of its descendants alive now); a process
    that is gone counts 0."""
    total = 0.0
    for each in [process, *(process.children(recursive=True) if with_descendants else [])]:
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


WORKER_MARKERS = ("spawn_main", "multiprocessing-fork", "forkserver", "distributed", "dask")
HELPER_MARKERS = ("resource_tracker", "semaphore_tracker")


@dataclass
class SampledProcess:
    pid: int
    root: int  # the pid of the root process it was found under
    role: str
    command: str
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    first_seen: float = 0.0
    last_seen: float = 0.0


def role_of(command: str, root_role: str, is_root: bool, parent_command: str = "") -> str:
    if is_root:
        return root_role
    if any(marker in command for marker in HELPER_MARKERS):
        return "helper"
    if "forkserver" in command and "forkserver" not in parent_command:  # its workers keep its command line
        return "forkserver"
    if any(marker in command for marker in WORKER_MARKERS):
        return "worker"
    return "other"


def role_of_process(process: psutil.Process, root_role: str = "", is_root: bool = False) -> str:
    """`role_of` a live process, from its command line and, for multiprocessing's forkserver
    (whose workers keep its command line), its parent's."""
    command = " ".join(process.cmdline())
    parent = process.parent() if "forkserver" in command else None
    return role_of(command, root_role, is_root, " ".join(parent.cmdline()) if parent else "")


def _high_water_mark_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


@dataclass
class ProcessTreeSampler:
    roots: dict[int, str]  # pid -> the role of that root process ("flow", "nanny", "scheduler")
    interval: float = 0.2
    processes: dict[tuple[int, float], SampledProcess] = field(default_factory=dict)
    samples: int = 0
    tree_peak_mb: float = 0.0  # the most RSS the processes held together at one sample
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "ProcessTreeSampler":
        self._thread = threading.Thread(target=self._run, name="process-tree-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        now = time.monotonic()
        self.samples += 1
        together_mb = 0.0
        for root_pid, root_role in self.roots.items():
            try:
                root = psutil.Process(root_pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for process in tree:
                try:
                    with process.oneshot():
                        key = (process.pid, process.create_time())
                        rss_mb = process.memory_info().rss / 2**20
                        cpu = process.cpu_times()
                        seen = self.processes.get(key)
                        if seen is None:
                            role = role_of_process(process, root_role, process.pid == root_pid)
                            command = " ".join(process.cmdline())
                            seen = self.processes[key] = SampledProcess(process.pid, root_pid, role, command, first_seen=now)
                except psutil.Error:
                    continue  # it ended between the listing and the reading
                seen.peak_rss_mb = max(seen.peak_rss_mb, rss_mb, _high_water_mark_mb(process.pid))
                seen.cpu_seconds = cpu.user + cpu.system
                seen.last_seen = now
                together_mb += rss_mb
        self.tree_peak_mb = max(self.tree_peak_mb, together_mb)

    def with_role(self, role: str) -> list[SampledProcess]:
        return [p for p in self.processes.values() if p.role == role]

    def peak_mb(self, role: str) -> float:
        return max((p.peak_rss_mb for p in self.with_role(role)), default=0.0)

    def cpu_seconds(self, role: str) -> float:
        return sum(p.cpu_seconds for p in self.with_role(role))

    def still_running(self, root: int) -> list[SampledProcess]:
        """Processes sampled under `root` that are alive now (same pid and start time): left
        behind when `root` has ended."""
        alive = []
        for (pid, created), seen in self.processes.items():
            if seen.root != root:
                continue
            try:
                process = psutil.Process(pid)
                if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(seen)
            except psutil.Error:
                pass
        return alive


def stop_group(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM to the process group `process` leads (it was started with start_new_session), then
    SIGKILL to whatever of it is left after `timeout`."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the group's other members (a nanny's worker), too
    except ProcessLookupError:
        pass
    process.wait()


@dataclass
class UserCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]

    def roots(self) -> dict[int, str]:
        return {self.scheduler.pid: "scheduler", **{w.pid: "nanny" for w in self.workers}}


@contextmanager
def user_cluster(env: dict[str, str], logs: Path, *, workers: int = 2, startup_timeout: float = 90.0) -> Iterator[UserCluster]:
    """`dask scheduler` on a free loopback port and `workers` x `dask worker --nworkers 1 --nthreads 1`,
    as a user would start them; ready when the scheduler counts every worker."""
    from distributed import Client

    from flows.server import free_port

    dask = str(Path(sys.executable).parent / "dask")
    port = free_port("127.0.0.1")
    address = f"tcp://127.0.0.1:{port}"
    logs.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [dask, *args], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        started.append(process)
        return process

    try:
        scheduler = start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        nannies = [
            start(f"worker-{n}", "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", f"bench-worker-{n}")
            for n in range(workers)
        ]
        with Client(address, timeout=startup_timeout) as client:
            client.wait_for_workers(workers, timeout=startup_timeout)
        yield UserCluster(address, scheduler, nannies)
    finally:
        for process in reversed(started):  # workers first, then the scheduler
            stop_group(process)
