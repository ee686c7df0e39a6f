"""Helpers for tests that start processes and servers: who descends from whom, who is still
alive, and waiting for something to become true."""

from __future__ import annotations

import os
import re
import signal
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


# --- where a process's main thread is -------------------------------------------------------

STACKS_ENV = "NEWSFLOW_TEST_STACKS"
_STACK_DUMPS = '''\
# Written by tests/flows/processes.py: each Python process started with this folder on its path
# writes its main thread's stack into <folder>/<pid>.stacks on SIGUSR1, innermost frame first.
# A Python handler, not faulthandler's (which reads frames from inside the signal and crashed the
# process now and then, in the middle of an import): it runs at the main thread's next bytecode,
# or when DuckDB, a lock or a sleep checks for signals, so it sees a DuckDB call in progress too.
import os
import signal

_folder = os.environ.get("NEWSFLOW_TEST_STACKS")
if _folder:
    _path = os.path.join(_folder, f"{os.getpid()}.stacks")

    def _dump_stack(signum, frame):
        lines = ["Stack (most recent call first):"]
        while frame is not None:
            lines.append(f'  File "{frame.f_code.co_filename}", line {frame.f_lineno} in {frame.f_code.co_name}')
            frame = frame.f_back
        stacks = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(stacks, ("\\n".join(lines) + "\\n").encode(errors="replace"))
        finally:
            os.close(stacks)

    signal.signal(signal.SIGUSR1, _dump_stack)
    open(_path, "a").close()  # there once SIGUSR1 dumps rather than kills
'''


def with_stack_dumps(env: dict[str, str], folder: Path) -> dict[str, str]:
    """`env` for a newsflow subprocess whose Python processes write their main thread's stack on
    SIGUSR1 (a handler installed by a sitecustomize module in `folder`), so that a test can signal
    it at the point it means to (`main_thread_frames`), not after a guessed delay."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_STACK_DUMPS, encoding="utf-8")
    path = os.pathsep.join(part for part in (str(folder), env.get("PYTHONPATH", "")) if part)
    return {**env, "PYTHONPATH": path, STACKS_ENV: str(folder)}


def main_thread_frames(pid: int, folder: Path, timeout: float = 1.0) -> list[tuple[str, int, str]] | None:
    """(file, line, function) of each frame of `pid`'s main thread now, innermost first; None when
    the process is not dumping stacks (yet, or any more)."""
    dumps = folder / f"{pid}.stacks"
    if not dumps.exists() or not alive(pid):
        return None
    start = dumps.stat().st_size
    try:
        _signal_main_thread(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(dumps, "rb") as handle:
            handle.seek(start)
            dump = handle.read().decode(errors="replace")
        lines = [line for line in dump.splitlines() if line.strip()]
        frames = [(m.group(1), int(m.group(2)), m.group(3)) for m in map(_FRAME.match, lines) if m]
        if frames and lines[-1] == _frame_line(frames[-1]) and frames[-1][::2] in _OUTERMOST:
            return frames
        if not alive(pid):
            return None
        time.sleep(0.002)
    return None


def _signal_main_thread(pid: int, signum: int) -> None:
    """`signum` to the main thread of `pid` itself (its thread id is the process id): sent to the
    process, another thread may take it, and the handler then runs only once the main thread
    checks for signals."""
    import ctypes

    tgkill = getattr(ctypes.CDLL(None, use_errno=True), "tgkill", None)  # glibc 2.30 and later
    if tgkill is None:
        os.kill(pid, signum)
    elif tgkill(pid, pid, signum) != 0:
        raise ProcessLookupError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


_FRAME = re.compile(r'^\s+File "(.*)", line (\d+) in (.*)$')


def _frame_line(frame: tuple[str, int, str]) -> str:
    return f'  File "{frame[0]}", line {frame[1]} in {frame[2]}'


# How a main thread's stack dump ends: its outermost frame, (file, function) of `python -m` and of
# `python -c`. (A module's `<module>` frame is not the end: a dump may end at one that imports.)
_OUTERMOST = (("<frozen runpy>", "_run_module_as_main"), ("<string>", "<module>"))


def wait_until_main_thread(pid: int, folder: Path, predicate, timeout: float = 120.0) -> list[tuple[str, int, str]] | None:
    """Sample `pid`'s main thread until `predicate(frames)` holds; those frames, or None when the
    process ended or `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        frames = main_thread_frames(pid, folder)
        if frames is not None and predicate(frames):
            return frames
        time.sleep(0.01)
    return None


def processes_in_group(pgid: int) -> set[int]:
    """Live processes of the process group `pgid` (a command started with start_new_session)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


class FollowedOutput:
    """The lines a process writes to one of its pipes, read as they come by a thread, so that a
    test can wait for a line (the event) while the process goes on, and still see all of it."""

    def __init__(self, stream):
        import threading

        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for_line(self, predicate, timeout: float) -> str | None:
        """The first line for which `predicate` is true, once written; None when the pipe closes
        without one, or after `timeout` seconds (a safety net, not what a test decides by)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if predicate(line)), None)
                if found is not None or self._closed or time.monotonic() >= deadline:
                    return found
                self._changed.wait(max(0.0, deadline - time.monotonic()))

    def text(self, timeout: float = 60) -> str:
        """Everything written, once the pipe is closed (the process has exited)."""
        self._thread.join(timeout)
        with self._changed:
            return "".join(self.lines)
