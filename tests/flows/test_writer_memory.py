"""A writer capped below what a run needs: the run fails with one line naming the setting to
raise, and a re-run with the default limit completes."""

from __future__ import annotations

import subprocess

import duckdb
import pytest

from tests.conftest import NEWSFLOW, PROJECT_ROOT, SEEDS_DIR

pytestmark = pytest.mark.server


def test_a_writer_out_of_its_memory_limit_fails_in_one_line_naming_the_setting(prefect_env, tmp_path):
    warehouse = tmp_path / "news.duckdb"
    command = NEWSFLOW + ["ingest", str(SEEDS_DIR), "--warehouse", str(warehouse), "--workers", "1"]

    starved = subprocess.run(
        command, env={**prefect_env, "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT": "4MB"}, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )

    assert starved.returncode == 1
    lines = [line for line in (starved.stdout + starved.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT=4MB" in lines[0] and "set NEWSFLOW_WAREHOUSE_MEMORY_LIMIT higher" in lines[0], lines

    again = subprocess.run(
        command, env={k: v for k, v in prefect_env.items() if k != "NEWSFLOW_WAREHOUSE_MEMORY_LIMIT"},
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )

    assert again.returncode == 0, again.stdout + again.stderr
    seeds = len(list(SEEDS_DIR.glob("*.txt")))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(distinct source_path) from articles").fetchone() == (seeds,)
