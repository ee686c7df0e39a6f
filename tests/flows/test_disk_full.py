"""A warehouse on a disk that fills up: the run fails with one clear line, the warehouse stays
readable, and a re-run once there is space completes. Uses a real tmpfs (needs root)."""

from __future__ import annotations

import os
import shutil
import subprocess

import duckdb
import pytest

from tests.conftest import NEWSFLOW, PROJECT_ROOT, SEEDS_DIR

pytestmark = pytest.mark.server


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_run_in_one_line_and_a_rerun_with_space_completes(prefect_env, tmp_path, small_disk):
    drop = tmp_path / "drop"
    drop.mkdir()
    story = (SEEDS_DIR / "002_c6f1a40e5c75d036.txt").read_text(encoding="utf-8")
    for index in range(150):
        (drop / f"story_{index:03d}.txt").write_text(story.replace("unlikely", f"unlikely ({index})") * 3, encoding="utf-8")
    warehouse = small_disk / "news.duckdb"
    command = NEWSFLOW + ["ingest", str(drop), "--warehouse", str(warehouse), "--batch-size", "10"]

    full = subprocess.run(command, env=prefect_env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)

    assert full.returncode == 1
    lines = [line for line in (full.stdout + full.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert f"the disk holding {warehouse} is full" in lines[0] and "free space" in lines[0], lines
    with duckdb.connect(str(warehouse), read_only=True) as con:  # readable, with what was committed
        stored = con.execute("select count(*) from articles").fetchone()[0]
    assert 0 <= stored < 150

    subprocess.run(["mount", "-o", "remount,size=256m", str(small_disk)], check=True)
    again = subprocess.run(command, env=prefect_env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)

    assert again.returncode == 0, again.stdout + again.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*), count(distinct source_path) from articles").fetchone() == (150, 150)
        # the full run is recorded failed when the disk still took that row, else the next run marks it interrupted
        (first,), (second,) = con.execute("select status from ingest_runs order by started_at").fetchall()
        assert first in ("failed", "interrupted") and second == "completed"
