import logging
import shutil
import subprocess
import sys

import pytest

from pipeline.warehouse import WarehouseRunLockTimeout, exclusive_run
from tests.conftest import PROJECT_ROOT

HOLD_LOCK = """# holder-of-the-run-lock
import sys, time
from pathlib import Path
from pipeline.warehouse import exclusive_run
with exclusive_run(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes it
"""


def test_a_second_run_waits_for_the_first_and_then_proceeds(tmp_path, caplog):
    warehouse = tmp_path / "news.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    waits = []

    def waiting_for_the_holder():  # the event: the second run waits; only now does the holder let go
        waits.append(holder.poll())
        holder.stdin.close()

    with caplog.at_level(logging.WARNING, logger="pipeline.warehouse"):
        with exclusive_run(warehouse, timeout_s=300, on_wait=waiting_for_the_holder):
            # the holder lets go only once told: granting the lock before would be two runs at once
            assert waits, "the lock was granted while the other run still held it"
    assert waits == [None], "the holder was still running when the second run waited"
    waiting = [record.getMessage() for record in caplog.records]
    assert len(waiting) == 1, waiting
    # the message names the holder by its command line, which is cut short: the marker comes first in it,
    # so the check does not depend on how long the interpreter's path is
    assert f"PID {holder.pid}" in waiting[0] and "holder-of-the-run-lock" in waiting[0], waiting[0]
    holder.wait()


def test_a_run_that_cannot_get_the_lock_in_time_says_so(tmp_path):
    warehouse = tmp_path / "news.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        try:
            with exclusive_run(warehouse, timeout_s=0.5):
                raise AssertionError("lock granted while held elsewhere")
        except WarehouseRunLockTimeout as error:
            assert str(warehouse) in str(error)
            assert f"PID {holder.pid}" in str(error), "the message names the run that holds the lock"
    finally:
        holder.kill()
        holder.wait()


def test_run_lock_files_are_not_picked_up_by_git():
    root = PROJECT_ROOT
    if not (root / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    for name in ("warehouse/news.duckdb.run.lock", "elsewhere/other.duckdb.run.lock"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=root)
        assert ignored.returncode == 0, f"{name} would show up in git status"
