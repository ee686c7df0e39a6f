"""Helpers for tests that start processes and servers: who descends from whom, who is still
alive, and waiting for something to become true."""

from __future__ import annotations

import time
from pathlib import Path

from bench.processes import role_of_process
from flows.server import process_alive


def wait_for(predicate, timeout: float, interval: float = 0.2):
    """Poll `predicate` until it returns something true or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


alive = process_alive  # the same check the server code uses


def is_local_worker(process) -> bool:
    """A Dask worker of a LocalCluster (a psutil.Process): forked from multiprocessing's
    forkserver, or spawned by a nanny; as the benchmarks tell them apart."""
    return role_of_process(process) == "worker"


def processes_with_argument(*arguments: str) -> set[int]:
    """Live processes whose command line contains all of `arguments` (e.g. "--port", "43127")."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if all(argument in argv for argument in arguments) and alive(int(entry.name)):
            found.add(int(entry.name))
    return found
