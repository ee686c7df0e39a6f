"""Dask plugins newsflow registers on the clusters it runs on (its own LocalCluster or a user's)."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

from flows.task_runners import reuse_prefect_tls_contexts


class ReuseTlsContexts(WorkerPlugin):
    """Runs `reuse_prefect_tls_contexts` in every worker process, including ones that join or
    restart later."""

    name = "newsflow-reuse-tls-contexts"

    def setup(self, worker) -> None:
        reuse_prefect_tls_contexts()
