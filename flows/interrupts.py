"""Ctrl-C, remembered: it raises KeyboardInterrupt wherever the main thread is, and a library may
turn that into its own error on the way out (pydantic's serializer does, inside Prefect's task
submission). The signal itself is noted, so such a run still ends, and is recorded, as interrupted."""

from __future__ import annotations

import signal

_received = False


def remember_ctrl_c() -> None:
    """Note every SIGINT, then raise KeyboardInterrupt as Python's own handler does. For commands
    that run a flow in this thread (ingest): asyncio's runners (`newsflow serve`) install their
    graceful Ctrl-C handling only while Python's own handler is in place."""

    def handler(signum, frame):
        global _received
        _received = True
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, handler)


def ctrl_c_received() -> bool:
    return _received
