"""One ingest run per warehouse at a time, across processes: an advisory lock file beside it."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.warehouse.connection import describe_process
from pipeline.warehouse.errors import WarehouseRunLockTimeout

logger = logging.getLogger("pipeline.warehouse")  # one name for every waiting message (`newsflow` shows them)


def _run_lock_holder(lock_path: Path) -> str:
    try:
        pid = int(lock_path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return "another process"
    return describe_process(pid)


@contextmanager
def exclusive_run(path: Path, *, timeout_s: float = 3600.0, on_wait=None) -> Iterator[None]:
    """One ingest run per warehouse at a time, across processes (an advisory lock file beside it).

    DuckDB's own lock only covers an open connection; runs open the file per batch so readers
    can query between batches, and this lock keeps two runs from interleaving their batches.
    """
    lock_path = Path(str(path) + ".run.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        waited = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    logger.warning(
                        "Waiting for another ingest run on %s to finish: %s", path, _run_lock_holder(lock_path)
                    )
                    if on_wait is not None:
                        on_wait()
                waited = True
                if time.monotonic() >= deadline:
                    raise WarehouseRunLockTimeout(
                        f"Another ingest run, {_run_lock_holder(lock_path)}, has held {path} for over "
                        f"{timeout_s:.0f} s; wait for it to finish, or stop it if it is stuck."
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")  # who holds it, for the next run's waiting message
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
