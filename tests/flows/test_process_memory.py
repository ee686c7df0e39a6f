"""Freed large buffers go back to the system, so a long run's flow process does not grow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flows.process_memory import keep_large_buffers_off_the_heap
from tests.conftest import PROJECT_ROOT

# Raise glibc's dynamic mmap threshold with one big freed block (as a batch's buffers do), then
# allocate 100 MB in 256 KB blocks and free nine in ten: from the heap, the survivors pin it.
CHURN = """
import ctypes, sys
from flows.process_memory import keep_large_buffers_off_the_heap
if sys.argv[1] == "fixed":
    assert keep_large_buffers_off_the_heap()
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
status = open("/proc/self/status").read()
print(int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssAnon:"))) // 1024)
"""


def anonymous_mb_after_churn(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", CHURN, mode], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return int(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap")
def test_freed_large_buffers_are_returned_to_the_system():
    assert keep_large_buffers_off_the_heap()
    default, fixed = anonymous_mb_after_churn("default"), anonymous_mb_after_churn("fixed")
    assert default >= 90, f"the churn should pin ~100 MB of glibc's heap by default (pinned {default} MB)"
    assert fixed <= default - 60, (default, fixed)
