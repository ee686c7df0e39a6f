"""Prefect's API clients in one process share their TLS contexts: reading the CA bundle once per
certificate set instead of once per client. Run in the flow's process (`flows.ingest`) and in
every Dask worker (`flows.dask_plugins`)."""

from __future__ import annotations

import threading
from typing import Any


def reuse_prefect_tls_contexts() -> None:
    """Prefect builds a new TLS context, reading the whole CA bundle, for every API client it
    makes, and a task run on a Dask worker makes a client per task: measured here, about a third
    of the bookkeeping of a small task on a worker. Give Prefect's client module a
    `create_default_context` that builds each distinct context once per process. (Upstream:
    PrefectHQ/prefect#19106 lets callers pass a context; Prefect 3.9 does not yet.)"""
    import prefect.client.orchestration as orchestration

    if not isinstance(orchestration.ssl, _SslReusingContexts):
        orchestration.ssl = _SslReusingContexts(orchestration.ssl)


class _SslReusingContexts:
    """The `ssl` module, except that create_default_context returns one context per argument set."""

    def __init__(self, ssl_module):
        self._ssl = ssl_module
        self._contexts: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ssl, name)

    def create_default_context(self, purpose=None, *, cafile=None, capath=None, cadata=None):
        purpose = purpose if purpose is not None else self._ssl.Purpose.SERVER_AUTH
        key = (purpose, cafile, capath, cadata)
        with self._lock:
            if key not in self._contexts:
                self._contexts[key] = self._ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
            return self._contexts[key]
