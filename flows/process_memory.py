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

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024


def keep_large_buffers_off_the_heap() -> bool:
    """Fix glibc's mmap and trim thresholds for this process; False where there is no glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):  # macOS and others: no mallopt, and no such heap to fix
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
