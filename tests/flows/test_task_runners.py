"""Where the stages run, as chosen for a run (the runs themselves: test_parallel_ingest.py)."""

import json
import os
import ssl
import subprocess
import sys

import certifi

from flows.dask_plugins import ReuseTlsContexts
from flows.prefect_tls import reuse_prefect_tls_contexts
from flows.task_runners import SMALL_RUN_FILES, Workers
from pipeline.translate.engine import cpu_count
from tests.conftest import PROJECT_ROOT


def test_by_default_a_big_run_uses_every_core_and_a_small_one_stays_in_process():
    big = Workers.choose(workers=None, dask_address=None, files_ahead=SMALL_RUN_FILES)
    assert big.count == cpu_count() and big.in_process == (cpu_count() == 1)
    small = Workers.choose(workers=None, dask_address=None, files_ahead=SMALL_RUN_FILES - 1)
    assert small.in_process and f"fewer than {SMALL_RUN_FILES} files" in small.describe()
    assert "--workers 1" in Workers.choose(workers=1, dask_address=None, files_ahead=3).describe()


def test_asking_for_workers_or_a_cluster_is_honoured_whatever_the_run_size():
    asked = Workers.choose(workers=2, dask_address=None, files_ahead=3)
    assert asked.count == 2 and not asked.in_process and "2 local worker processes" in asked.describe()
    assert Workers.choose(workers=1, dask_address=None, files_ahead=10_000).in_process
    remote = Workers.choose(workers=4, dask_address="tcp://10.0.0.5:8786", files_ahead=3)
    assert remote.dask_address == "tcp://10.0.0.5:8786" and not remote.in_process
    assert "the Dask cluster at tcp://10.0.0.5:8786" == remote.describe()


def test_prefect_clients_in_a_process_share_one_tls_context_per_certificate_set():
    import prefect.client.orchestration as orchestration

    ReuseTlsContexts().setup(worker=None)  # what every Dask worker runs when it starts
    reuse_prefect_tls_contexts()  # twice is harmless
    made = orchestration.ssl.create_default_context(cafile=certifi.where())
    assert isinstance(made, ssl.SSLContext)
    assert orchestration.ssl.create_default_context(cafile=certifi.where()) is made
    assert orchestration.ssl.create_default_context() is not made  # another certificate set, another context
    assert orchestration.ssl.CERT_NONE == ssl.CERT_NONE  # the rest of the module is the real one
    assert ssl.create_default_context(cafile=certifi.where()) is not made  # nobody else's ssl changed


def test_local_workers_start_without_dasks_fixed_heap_thresholds(monkeypatch):
    """Dask's nannies export MALLOC_TRIM_THRESHOLD_=65536, which costs the stages about 9% more
    CPU in a worker (bench/worker_heap_bench.py); the workers newsflow starts run without it,
    and keep Dask's other settings (one BLAS/OpenMP thread per worker)."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # the workers would inherit a user's own
    with Workers.choose(workers=2, dask_address=None, files_ahead=3).task_runner() as runner:
        seen = runner.client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")))
    assert len(seen) == 2
    assert set(seen.values()) == {(None, "1")}
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # the nannies copy their settings into this process too


FORKED_WORKERS = """
import json, os, sys, time

from flows.task_runners import Workers


def facts():
    import pipeline.language

    return {
        "parent": os.getppid(),
        "loaded": all(name in sys.modules for name in ("prefect.task_engine", "pipeline.extract", "trafilatura")),
        "language_model": pipeline.language._shared_identifier is not None,
        "setting": os.environ.get("NEWSFLOW_TRANSLATE_THREADS"),
    }


def busy():
    import time

    started = time.process_time()
    while time.process_time() - started < 0.3:
        pass


def profile_samples(dask_worker):
    return dask_worker.profile_recent["count"]


def loop_ticks(dask_worker=None, dask_scheduler=None):
    return (dask_worker or dask_scheduler)._tick_counter


def steals(dask_scheduler):
    return "stealing" in dask_scheduler.extensions


seen = []
with Workers(count=2).task_runner() as runner:
    seen.append(list(runner.client.run(facts).values()))
    addresses = list(runner.client.scheduler_info()["workers"])
    runner.client.gather([runner.client.submit(busy, pure=False, workers=[address]) for address in addresses])
    profiled = sum(runner.client.run(profile_samples).values())
    ticks = list(runner.client.run(loop_ticks).values()), runner.client.run_on_scheduler(loop_ticks)
    time.sleep(2)
    ticked = [after - before for after, before in zip(runner.client.run(loop_ticks).values(), ticks[0])]
    ticked.append(runner.client.run_on_scheduler(loop_ticks) - ticks[1])
    stealing = runner.client.run_on_scheduler(steals)
os.environ["NEWSFLOW_TRANSLATE_THREADS"] = "1"  # set after the forkserver started
with Workers(count=2).task_runner() as runner:
    seen.append(list(runner.client.run(facts).values()))
print(json.dumps({"this": os.getpid(), "seen": seen, "profiled": profiled, "ticked": ticked, "stealing": stealing}))
"""


def test_local_workers_are_forked_with_the_stages_loaded_and_see_the_settings_of_the_moment(tmp_path):
    """The workers of newsflow's LocalCluster start from one process that imported Prefect, Dask
    and the stages and loaded the language model (bench/worker_start_bench.py: what that saves);
    a setting changed since that process started still reaches the workers (they are spawned then).
    They run without Dask's statistical profiler (bench/worker_heap_bench.py: what it costs) and
    with its monitors slowed down (bench/cluster_idle_bench.py)."""
    env = {name: value for name, value in os.environ.items() if name != "NEWSFLOW_TRANSLATE_THREADS"}
    result = subprocess.run([sys.executable, "-c", FORKED_WORKERS], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    forked, spawned = report["seen"]
    assert len(forked) == 2 and len({worker["parent"] for worker in forked}) == 1  # one forkserver
    assert forked[0]["parent"] != report["this"]
    assert all(worker["loaded"] and worker["language_model"] and worker["setting"] is None for worker in forked), forked
    assert len(spawned) == 2 and all(worker["parent"] == report["this"] and worker["setting"] == "1" for worker in spawned), spawned
    # nor do they sample their own stacks for Dask's dashboard (1.5-3% of the stages' CPU)
    assert report["profiled"] == 0
    # and the event loops of the workers and of the scheduler (in the flow's process) wake once a
    # second to check their own latency, not 50 times (bench/cluster_idle_bench.py: what that
    # costs); with queued tasks handed to free workers there is nothing to steal
    assert all(ticks <= 3 for ticks in report["ticked"]), report["ticked"]
    assert report["stealing"] is False
