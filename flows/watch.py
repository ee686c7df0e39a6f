"""Watch the seeds folder and report settled batches of new or changed files.

Polling, so it works the same on local disks, network shares and container volumes. A file
counts once its size and modification time have stayed the same for `settle_seconds` (so a
file still being written is not read half-way); changes are collected until the folder has
been quiet for `settle_seconds`, so a burst of many files makes one batch, not one per file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.sources import is_hidden, is_leftover

Snapshot = dict[str, tuple[int, int]]  # path -> (size, mtime_ns)

logger = logging.getLogger(__name__)


def snapshot_folder(folder: Path) -> Snapshot:
    found: Snapshot = {}
    for directory, subdirs, files in os.walk(folder):
        subdirs[:] = [d for d in subdirs if not is_hidden(d)]
        for name in files:
            if is_hidden(name) or is_leftover(name):
                continue
            path = os.path.join(directory, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


@dataclass
class ChangeCollector:
    """Pure bookkeeping: feed it snapshots, it answers with settled batches of changed paths."""

    settle_seconds: float = 2.0
    max_wait_seconds: float = 30.0
    known: Snapshot = field(default_factory=dict)
    pending: dict[str, tuple[tuple[int, int], float]] = field(default_factory=dict)  # path -> (signature, changed at)

    def observe(self, snapshot: Snapshot, now: float) -> list[str]:
        for path, signature in snapshot.items():
            if self.known.get(path) == signature:
                continue
            if path not in self.pending or self.pending[path][0] != signature:
                self.pending[path] = (signature, now)
        for path in [p for p in self.pending if p not in snapshot]:
            del self.pending[path]  # gone before it settled: nothing to ingest
        if not self.pending:
            return []
        last_change = max(changed_at for _, changed_at in self.pending.values())
        first_change = min(changed_at for _, changed_at in self.pending.values())
        folder_quiet = now - last_change >= self.settle_seconds
        overdue = now - first_change >= self.max_wait_seconds  # a steady stream still gets ingested
        if not (folder_quiet or overdue):
            return []
        ready = sorted(p for p, (_, changed_at) in self.pending.items() if now - changed_at >= self.settle_seconds)
        for path in ready:
            self.known[path] = self.pending.pop(path)[0]
        return ready

    def forget(self, paths: list[str]) -> None:
        """Report these paths again (as new) on a later observation: their batch was not handed on."""
        for path in paths:
            self.known.pop(path, None)


class SeedsWatcher:
    """A background thread that calls `on_batch(paths)` for each settled batch of changes."""

    def __init__(
        self,
        folder: Path,
        on_batch: Callable[[list[str]], None],
        *,
        poll_seconds: float = 0.5,
        settle_seconds: float = 2.0,
        include_existing: bool = False,
    ):
        self.folder = folder
        self.on_batch = on_batch
        self.poll_seconds = poll_seconds
        self.collector = ChangeCollector(settle_seconds=settle_seconds)
        if not include_existing and folder.exists():
            self.collector.known = snapshot_folder(folder)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="newsflow-seeds-watcher", daemon=True)
        self.errors: deque[BaseException] = deque(maxlen=20)  # the most recent failed triggers

    def start(self) -> "SeedsWatcher":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            snapshot = snapshot_folder(self.folder) if self.folder.exists() else {}
            batch = self.collector.observe(snapshot, time.monotonic())
            if batch:
                try:
                    self.on_batch(batch)
                except Exception as error:  # keep watching: one failed trigger must not end the service
                    self.errors.append(error)
                    self.collector.forget(batch)  # and try these files again once they settle anew
                    logger.warning("Could not start a run for %d new file(s), will retry: %s", len(batch), error)
            self._stop.wait(self.poll_seconds)
