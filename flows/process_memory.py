"""Keep a long run's flow process from growing: large buffers off the C heap.

glibc serves an allocation of 128 KB or more with its own mmap, returned to the system when freed,
but raises that threshold (up to 32 MB) each time such a block is freed. After that, the
multi-megabyte buffers a run passes around (a batch's documents arriving from a worker, the rows
written to DuckDB) come from the heap, which fragments and keeps what was freed: the flow
process's resident memory then grew with the corpus (about 1.5 MB per second of a 2-worker run,
measured with bench/scale_bench.py's corpus; flat with the threshold fixed). Fixing the threshold
turns that adjustment off.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024
# Where glibc's adaptive mmap threshold ends up on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX), and its
# trim threshold then (twice that).
ADAPTED_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
ADAPTED_TRIM_THRESHOLD_BYTES = 2 * ADAPTED_MMAP_THRESHOLD_BYTES


def keep_large_buffers_off_the_heap() -> bool:
    """Fix glibc's mmap and trim thresholds for this process; False where there is no glibc."""
    return _set_thresholds(MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES)


def let_large_buffers_reuse_the_heap(environ: Mapping[str, str] = os.environ) -> bool:
    """For a Dask worker started with MALLOC_TRIM_THRESHOLD_ (a `dask worker`'s nanny sets 64 KB):
    setting it also fixes glibc's mmap threshold at 128 KB, so each buffer of that size or more
    a stage allocates (lxml's parse of a page, the texts passed between stages) is a fresh mmap,
    paid for again in page faults: about 8% more CPU for extraction (bench/worker_heap_bench.py).
    Set the thresholds glibc's adaptive policy would have reached instead. A process started
    without the variable keeps glibc's own policy. True when the thresholds were set."""
    if "MALLOC_TRIM_THRESHOLD_" not in environ:
        return False
    return _set_thresholds(ADAPTED_MMAP_THRESHOLD_BYTES, ADAPTED_TRIM_THRESHOLD_BYTES)


def _set_thresholds(mmap_bytes: int, trim_bytes: int) -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):  # macOS and others: no mallopt, and no such heap to fix
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, trim_bytes))
