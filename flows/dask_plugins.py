"""Dask plugins newsflow registers on the clusters it runs on (its own LocalCluster or a user's)."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

from flows.process_memory import let_large_buffers_reuse_the_heap
from flows.prefect_tls import reuse_prefect_tls_contexts


class ReuseTlsContexts(WorkerPlugin):
    """Runs `reuse_prefect_tls_contexts` in every worker process, including ones that join or
    restart later."""

    name = "newsflow-reuse-tls-contexts"

    def setup(self, worker) -> None:
        reuse_prefect_tls_contexts()


class LetLargeBuffersReuseTheHeap(WorkerPlugin):
    """Runs `let_large_buffers_reuse_the_heap` in every worker process: on a cluster a user
    started with `dask worker`, each worker's nanny fixed glibc's heap thresholds (newsflow's own
    LocalCluster starts its workers without that setting)."""

    name = "newsflow-let-large-buffers-reuse-the-heap"

    def setup(self, worker) -> None:
        let_large_buffers_reuse_the_heap()


def newsflow_worker_plugins() -> list[WorkerPlugin]:
    return [ReuseTlsContexts(), LetLargeBuffersReuseTheHeap()]
