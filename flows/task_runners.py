"""Where the ingest stages run: in the flow's own process, on a Dask `LocalCluster` of worker
processes started for the run, or on a Dask cluster the user started (`--dask-address`).

The stages are CPU-bound Python, so threads would not help: more cores means more processes.
Whatever runs them, the flow process stays the only one that opens the warehouse.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pipeline.translate.engine import cpu_count

# Below this many files, starting worker processes takes longer than the work itself, so a run
# with the default worker count stays in-process (asking for --workers or a Dask address does not).
SMALL_RUN_FILES = 64


@dataclass(frozen=True)
class Workers:
    """How many local worker processes (`count`; 1: in the flow's process), or a Dask scheduler's address."""

    count: int
    dask_address: str | None = None
    small_run: bool = False  # in-process because the run is small, not because it was asked

    @classmethod
    def choose(cls, *, workers: int | None, dask_address: str | None, files_ahead: int) -> "Workers":
        """`workers` None: all local cores, unless the run is small (fewer than SMALL_RUN_FILES files)."""
        if dask_address:
            return cls(count=0, dask_address=dask_address)
        if workers is None:
            if files_ahead < SMALL_RUN_FILES:
                return cls(count=1, small_run=True)
            return cls(count=cpu_count())
        return cls(count=max(1, workers))

    @property
    def in_process(self) -> bool:
        return self.dask_address is None and self.count <= 1

    def describe(self) -> str:
        if self.dask_address:
            return f"the Dask cluster at {self.dask_address}"
        if self.in_process and self.small_run:
            return f"the flow's own process (fewer than {SMALL_RUN_FILES} files: not worth starting workers)"
        if self.in_process:
            return "the flow's own process (--workers 1)"
        return f"{self.count} local worker processes (a Dask LocalCluster)"

    @contextmanager
    def task_runner(self) -> Iterator:
        """The started task runner: `InProcess` for --workers 1, else prefect-dask's DaskTaskRunner
        on the given cluster or on a LocalCluster started here and stopped on the way out."""
        if self.in_process:
            yield InProcess()
            return
        from prefect_dask import DaskTaskRunner

        from flows.dask_plugins import newsflow_worker_plugins

        if self.dask_address:
            with DaskTaskRunner(address=self.dask_address) as runner:
                for plugin in newsflow_worker_plugins():
                    runner.client.register_plugin(plugin)
                yield runner
            return
        cluster = _start_local_cluster_whole(self.count)
        with cluster, DaskTaskRunner(cluster=cluster) as runner:
            try:
                for plugin in newsflow_worker_plugins():
                    runner.client.register_plugin(plugin)
                yield runner
            except BaseException:
                # Ctrl-C or a failure: a graceful close waits seconds for the tasks running on the
                # workers; what they were doing is not needed any more.
                _stop_workers_now(cluster)
                raise


# Dask's defaults keep a dashboard live: each event loop measures its own latency every 20 ms, reads
# the process's CPU and memory every 0.5 s (every 0.1 s for the memory limit), the scheduler looks
# for work to steal and the cluster object resyncs its name. Idle, that is 2% of a core per worker
# and 4-7% in the flow process, which hosts the scheduler; in a 2-worker run it is CPU the stages
# lose (bench/cluster_idle_bench.py). A local batch run needs none of it that often, and with
# worker-saturation 1.0 the scheduler hands a worker a task only when it is free: nothing to steal.
QUIET_MONITORS = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.work-stealing": False,
    "distributed.deploy.cluster-repr-interval": "10s",
}


def start_local_cluster(count: int, *, monitors: dict[str, Any] = QUIET_MONITORS):
    """A Dask LocalCluster of `count` single-threaded worker processes on the loopback interface,
    forked from the worker forkserver when it has this process's environment, else spawned.
    `monitors`: settings of Dask's monitors (bench/cluster_idle_bench.py passes Dask's defaults)."""
    import dask
    from distributed import LocalCluster

    method = "forkserver" if start_worker_forkserver() and _forkserver_has_this_environment() else "spawn"
    settings = {
        "distributed.nanny.pre-spawn-environ": worker_environment(),
        "distributed.worker.multiprocessing-method": method,
        # Dask's statistical profiler samples each worker's stack every 10 ms for a dashboard
        # nobody opens here: 1.5-3% of a stage's CPU (bench/worker_heap_bench.py)
        "distributed.worker.profile.enabled": False,
        # A batch goes to a worker when it is free, not queued behind its current one: otherwise the
        # last batches of a run are shared out a batch ahead and one worker can be left to finish
        # two while the other waits.
        "distributed.scheduler.worker-saturation": 1.0,
        **monitors,
    }
    with dask.config.set(settings), _ctrl_c_blocked():  # also in the threads Dask starts here, which spawn workers
        return LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # loopback only
            dashboard_address="127.0.0.1:0",  # the scheduler's HTTP endpoint on a free port, never a fixed 8787
            silence_logs=logging.ERROR,
        )


def _start_local_cluster_whole(count: int):
    """`start_local_cluster`, not cut short by Ctrl-C or SIGTERM: a LocalCluster stopped while it
    starts cannot be closed (distributed's exit handler then fails with a traceback, and its
    workers may stay). A stop meanwhile waits for the cluster to start (a second stop does not),
    then stops its workers and closes it."""
    from flows.interrupts import stops_held

    cluster = None
    try:
        with stops_held():
            cluster = start_local_cluster(count)
    except BaseException:
        if cluster is not None:
            _stop_workers_now(cluster)
            cluster.close()
        raise
    return cluster


def _stop_workers_now(cluster) -> None:
    """Kill the cluster's workers, without Dask's log lines about the connections that closes
    (with tracebacks), which would bury the one line saying why the run ended."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    _kill_worker_processes(cluster)


# Imported by the worker forkserver before it forks a worker.
WORKER_PRELOAD = "flows.worker_preload"
_forkserver_lock = threading.Lock()
_forkserver_environment: dict[str, str] | None = None  # this process's, when it started the forkserver


def start_worker_forkserver() -> bool:
    """Start the process newsflow's local workers are forked from (multiprocessing's forkserver),
    if it is not running yet. It imports Prefect, Dask and the stages and loads the language
    model once (`flows.worker_preload`); a worker forked from it starts with all of that in
    memory. A spawned worker (Dask's default) is a new interpreter, which spends about 1.5 CPU s
    importing and loading the same, and about 0.7 s more to exit (bench/worker_start_bench.py).

    Returns at once: the forkserver imports in its own process, so `newsflow ingest` calls this
    before it imports the flow, and the two proceed side by side. False where there is no
    forkserver (Windows)."""
    global _forkserver_environment
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    import distributed  # noqa: F401  (Dask's settings, such as what a nanny sets for a worker)

    with _forkserver_lock:
        if _forkserver_environment is None:
            from multiprocessing import forkserver, resource_tracker

            # What a nanny sets before it spawns a worker (one BLAS thread each), set before the
            # forkserver loads numpy; a nanny copies the same into this process anyway.
            os.environ.update({name: str(value) for name, value in worker_environment().items()})
            multiprocessing.get_context("forkserver").set_forkserver_preload([WORKER_PRELOAD])
            # The resource tracker first: starting it unblocks SIGINT in this thread on its way out.
            resource_tracker.ensure_running()
            with _ctrl_c_blocked():
                forkserver.ensure_running()
            _forkserver_environment = _environment_for_workers()
    return True


@contextmanager
def _ctrl_c_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread, and so in the processes it starts: the forkserver and the
    workers forked from it inherit the blocked signal. A terminal's Ctrl-C reaches every process
    of the foreground group; the flow process takes it and stops the workers, which would
    otherwise each die printing a KeyboardInterrupt traceback (the forkserver, too, while it
    imports the stages: multiprocessing ignores SIGINT there only once its preload is done)."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _forkserver_has_this_environment() -> bool:
    """A worker forked from the forkserver has the environment this process had when it started
    the forkserver: right only while this process's is the same (a long-lived process whose
    environment changed since gets spawned workers, which see the change)."""
    return _forkserver_environment == _environment_for_workers()


def _environment_for_workers() -> dict[str, str]:
    import dask

    set_by_nannies = dask.config.get("distributed.nanny.pre-spawn-environ", {})
    return {name: value for name, value in os.environ.items() if name not in set_by_nannies}


def worker_environment() -> dict[str, Any]:
    """What Dask's nannies set before starting a local worker, less MALLOC_TRIM_THRESHOLD_.

    Setting it (Dask's default, 64 KB) also fixes glibc's mmap threshold, so every buffer of 128 KB
    or more a stage allocates is a fresh mmap, paid for again in page faults (see
    `flows.process_memory.let_large_buffers_reuse_the_heap`, which mends a user's workers). Each
    batch's memory is freed when it is done, so glibc's own adaptive thresholds keep a worker flat
    (bench/scale_bench.py measures worker peaks from 1,000 to 20,000 documents)."""
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


def _kill_worker_processes(cluster) -> None:
    for nanny in list(cluster.workers.values()):
        pid = getattr(getattr(getattr(nanny, "process", None), "process", None), "pid", None)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def workers_per_host(runner) -> dict[str, int]:
    """Worker processes per machine of a Dask runner ("tcp://10.0.0.5" -> 2), so the translate
    stage can share a machine's cores among the workers on it; empty when in-process."""
    client = getattr(runner, "client", None)
    if client is None:
        return {}
    addresses = client.scheduler_info(n_workers=-1)["workers"]
    return dict(Counter(address.rsplit(":", 1)[0] for address in addresses))


def this_worker_host() -> str | None:
    """The host part of the Dask worker running this code ("tcp://10.0.0.5"), None outside one."""
    try:
        from distributed import get_worker

        return get_worker().address.rsplit(":", 1)[0]
    except (ImportError, ValueError):
        return None


def submit_ahead_of_queued(runner, task, parameters: dict[str, Any]):
    """`runner.submit`, with the task run before the tasks already queued on a Dask cluster (a
    worker finishing its current task takes it next): for a short step a batch waits on."""
    if isinstance(runner, InProcess):
        return runner.submit(task, parameters)
    import dask

    with dask.annotate(priority=1):
        return runner.submit(task, parameters)


class Done:
    """A finished result, shaped like a Prefect future (`result()`, `done()`)."""

    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value

    def done(self) -> bool:
        return True


class InProcess:
    """Runs each task as it is submitted, in the flow's own thread: one core, easy to debug."""

    def submit(self, task, parameters: dict[str, Any]) -> Done:
        resolved = {name: value.result() if isinstance(value, Done) else value for name, value in parameters.items()}
        return Done(task(**resolved))
