"""What an ingest run tells its listeners as it goes (the CLI's progress bar, a benchmark's probe):
files discovered, files processed, fetching started. No Prefect here: a listener can be added
before Prefect is configured and imported."""

from __future__ import annotations

from typing import Callable


ProgressListener = Callable[[str, int], None]
_progress_listeners: list[ProgressListener] = []


def add_progress_listener(listener: ProgressListener) -> None:
    """Called as listener(event, n): ("discovered", files found so far) as discovery goes on,
    ("processed", k) as each batch of k files is written, and ("fetching", 0) when fetching from the web starts."""
    _progress_listeners.append(listener)


def remove_progress_listener(listener: ProgressListener) -> None:
    if listener in _progress_listeners:
        _progress_listeners.remove(listener)


def report_progress(event: str, n: int) -> None:
    for listener in list(_progress_listeners):
        listener(event, n)
