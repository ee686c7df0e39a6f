"""Freed large buffers go back to the system, so a long run's flow process does not grow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flows.process_memory import keep_large_buffers_off_the_heap
from tests.conftest import PROJECT_ROOT, SEEDS_DIR

# Raise glibc's dynamic mmap threshold with one big freed block (as a batch's buffers do), then
# allocate 100 MB in 256 KB blocks and free nine in ten: from the heap, the survivors pin it.
CHURN = """
import ctypes, sys
from flows.process_memory import keep_large_buffers_off_the_heap
if sys.argv[1] == "fixed":
    assert keep_large_buffers_off_the_heap()
if sys.argv[1] == "after-a-flow-run":  # as a served run's process: the flow, called by Prefect, not the CLI
    from flows.ingest import ingest
    ingest(paths=[sys.argv[2]], warehouse=sys.argv[3], workers=1)
def anonymous_mb():
    status = open("/proc/self/status").read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssAnon:"))) // 1024
before = anonymous_mb()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
big = libc.malloc(4 << 20); libc.memset(big, 1, 4 << 20); libc.free(big)
blocks = [libc.malloc(256 << 10) for _ in range(400)]
for block in blocks:
    libc.memset(block, 1, 256 << 10)
for index, block in enumerate(blocks):
    if index % 10:
        libc.free(block)
print(anonymous_mb() - before)
"""


def anonymous_mb_after_churn(mode: str, *args: str, env: dict | None = None) -> int:
    """MB of the churn still held when it is over (what the process held before it not counted)."""
    result = subprocess.run([sys.executable, "-c", CHURN, mode, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, env=env)
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap")
def test_freed_large_buffers_are_returned_to_the_system():
    assert keep_large_buffers_off_the_heap()
    default, fixed = anonymous_mb_after_churn("default"), anonymous_mb_after_churn("fixed")
    assert default >= 90, f"the churn should pin ~100 MB of glibc's heap by default (pinned {default} MB)"
    assert fixed <= default - 60, (default, fixed)


@pytest.mark.server
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap")
def test_a_process_that_ran_the_ingest_flow_returns_freed_large_buffers(prefect_env, tmp_path):
    """Served runs call the flow in a process of Prefect's, not through the CLI: the flow itself
    fixes the threshold."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "story.txt").write_text((SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8"), encoding="utf-8")
    default = anonymous_mb_after_churn("default", env=prefect_env)
    after_a_run = anonymous_mb_after_churn("after-a-flow-run", str(drop), str(tmp_path / "news.duckdb"), env=prefect_env)
    assert default >= 90, default
    assert after_a_run <= default - 60, (default, after_a_run)


# Allocate, fill and free a 1 MB buffer 200 times (as a stage does with a page's parse and its
# texts): the page faults it cost, after the thresholds a worker process was given.
REFILL = """
import os, resource, sys
from flows.process_memory import let_large_buffers_reuse_the_heap
mended = let_large_buffers_reuse_the_heap()
buffer = b"x" * (1 << 20)  # the first one may fault either way
del buffer
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    buffer = b"x" * (1 << 20)
    del buffer
print(mended, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults_refilling_buffers(environ: dict[str, str], *, mend: bool = True) -> tuple[bool, int]:
    script = REFILL if mend else REFILL.replace("mended = let_large_buffers_reuse_the_heap()", "mended = False")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, env=environ)
    mended, faults = result.stdout.split()
    return mended == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap")
def test_a_worker_started_with_dasks_trim_setting_reuses_its_heap_for_large_buffers():
    environ = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    # Without the mending, as a `dask worker` nanny starts a worker: every 1 MB buffer is a fresh
    # mmap, 256 page faults each (measured: 51,200 for the 200).
    _, unmended = page_faults_refilling_buffers({**environ, "MALLOC_TRIM_THRESHOLD_": "65536"}, mend=False)
    assert unmended >= 200 * 200
    mended, faults = page_faults_refilling_buffers({**environ, "MALLOC_TRIM_THRESHOLD_": "65536"})
    assert mended and faults < 1000, faults
    # a process glibc manages by its own policy is left to it
    mended, faults = page_faults_refilling_buffers(environ)
    assert not mended and faults < 1000, faults
