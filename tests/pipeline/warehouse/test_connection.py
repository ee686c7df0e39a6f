"""Opening the warehouse: locks held by other processes, memory limits, read-only connections."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path

import duckdb
import pytest

from pipeline.warehouse import Warehouse, WarehouseBusyError, WarehouseError, WarehouseMissingError
from tests.pipeline.warehouse.conftest import T0, english_doc, rows


def test_closed_warehouse_says_so(warehouse_path: Path):
    warehouse = Warehouse.open(warehouse_path)
    warehouse.close()
    warehouse.close()  # closing twice is harmless
    with pytest.raises(Exception, match="already closed"):
        warehouse.query("SELECT 1")


def test_second_writer_process_makes_open_raise_busy_with_pid(warehouse_path: Path):
    Warehouse.open(warehouse_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb\n"
            "connection = duckdb.connect(sys.argv[1])\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseBusyError) as caught:
            Warehouse.open(warehouse_path, lock_timeout_s=0.3)
        message = str(caught.value)
        assert f"PID {holder.pid}" in message
        assert str(warehouse_path) in message
        assert "--warehouse" in message
    finally:
        holder.kill()
        holder.wait()
    # once the other process is gone the file opens again
    with Warehouse.open(warehouse_path, lock_timeout_s=5) as warehouse:
        assert rows(warehouse, "SELECT count(*) FROM articles") == [(0,)]


def test_open_waits_for_the_other_writer_to_let_go(warehouse_path: Path):
    Warehouse.open(warehouse_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb\n"
            "connection = duckdb.connect(sys.argv[1])\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "connection.close()\n",
            str(warehouse_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with ThreadPoolExecutor(max_workers=1) as pool:
            opening = pool.submit(Warehouse.open, warehouse_path, lock_timeout_s=120)
            # the open is blocked on the lock until the holder lets go
            with pytest.raises(FuturesTimeout):
                opening.result(timeout=0.5)
            holder.stdin.write("release\n")
            holder.stdin.flush()
            with opening.result(timeout=120) as warehouse:
                assert rows(warehouse, "SELECT count(*) FROM articles") == [(0,)]
    finally:
        holder.kill()
        holder.wait()


def test_read_only_open_of_missing_file_says_to_ingest_first(tmp_path: Path):
    missing = tmp_path / "nowhere" / "news.duckdb"
    with pytest.raises(WarehouseMissingError, match="newsflow ingest"):
        Warehouse.open(missing, read_only=True)
    assert not missing.parent.exists()


def _cached_mib_after_scanning_38_mib(warehouse_path: Path) -> float:
    """Opens the warehouse as a writer, reads every block of a table that is ~38 MiB on disk, and
    returns what DuckDB's buffer manager holds afterwards."""
    with Warehouse.open(warehouse_path) as warehouse:
        warehouse.connection.execute(
            "CREATE TABLE IF NOT EXISTS big AS SELECT i, (SELECT string_agg(md5((i * 31 + j)::VARCHAR), '') "
            "FROM range(40) r(j)) AS text FROM range(60000) t(i)"
        )
    with Warehouse.open(warehouse_path) as warehouse:
        assert warehouse.connection.execute("SELECT count(*), count(hash(text)) FROM big").fetchone() == (60000, 60000)
        (used,) = warehouse.connection.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
    return used / 2**20


def test_a_writer_keeps_no_more_of_the_warehouse_in_memory_than_its_limit(warehouse_path: Path, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "1GB")
    assert _cached_mib_after_scanning_38_mib(warehouse_path) > 32  # uncapped, what it reads stays cached
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "16MB")
    assert _cached_mib_after_scanning_38_mib(warehouse_path) <= 16


def test_the_writer_memory_limit_defaults_to_128_mb_and_a_bad_one_is_named(warehouse_path: Path, monkeypatch):
    monkeypatch.delenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", raising=False)
    with Warehouse.open(warehouse_path) as warehouse:
        assert warehouse.connection.execute("SELECT current_setting('memory_limit')").fetchone() == ("122.0 MiB",)
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "lots")
    with pytest.raises(WarehouseError, match="NEWSFLOW_WAREHOUSE_MEMORY_LIMIT='lots' is not a size"):
        Warehouse.open(warehouse_path)


def test_read_only_open_queries_but_cannot_write(warehouse_path: Path):
    with Warehouse.open(warehouse_path) as warehouse:
        warehouse.write_batch([english_doc()], run_id="r1", ingested_at=T0)
    with Warehouse.open(warehouse_path, read_only=True) as reader:
        columns, result = reader.query("SELECT source_path, language FROM articles")
        assert columns == ["source_path", "language"]
        assert result == [("seeds/a.txt", "en")]
        with pytest.raises(duckdb.Error):
            reader.query("DELETE FROM articles")


def test_a_reader_holding_the_lock_is_named_while_waiting_and_when_giving_up(warehouse_path: Path, caplog, monkeypatch):
    Warehouse.open(warehouse_path).close()
    # a long `newsflow sql`-like reader: a read-only connection in another process
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, duckdb\nc = duckdb.connect(sys.argv[1], read_only=True)\nprint('open', flush=True)\ntime.sleep(60)\n", str(warehouse_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setenv("NEWSFLOW_LOCK_TIMEOUT_S", "0.5")  # the configurable patience
        with caplog.at_level("WARNING", logger="pipeline.warehouse"), pytest.raises(WarehouseBusyError) as caught:
            Warehouse.open(warehouse_path)
    finally:
        holder.kill()
        holder.wait()
    waiting = [record.getMessage() for record in caplog.records]
    assert len(waiting) == 1 and f"PID {holder.pid}" in waiting[0] and "duckdb.connect" in waiting[0], waiting
    message = str(caught.value)
    assert f"PID {holder.pid}" in message and "duckdb.connect" in message, "names the holder and its command"
    assert "NEWSFLOW_LOCK_TIMEOUT_S" in message and "--warehouse" in message
    assert "\n" not in message


def test_read_only_connections_refuse_files_extensions_and_settings_by_duckdbs_own_settings(warehouse_path: Path, tmp_path: Path):
    """The DuckDB layer alone (Warehouse.query does not check statements): nothing escapes it."""
    Warehouse.open(warehouse_path).close()
    (tmp_path / "notes.csv").write_text("a\n1\n", encoding="utf-8")
    with Warehouse.open(warehouse_path, read_only=True) as reader:
        for sql in [
            f"COPY articles TO '{tmp_path}/x.csv'",
            "select * from read_text('/etc/passwd')",
            f"select * from read_csv('{tmp_path}/notes.csv')",
            f"ATTACH '{tmp_path}/other.duckdb'",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET allowed_directories = ['/']",
            "SET lock_configuration = false",
        ]:
            with pytest.raises(duckdb.Error):
                reader.query(sql)
        assert reader.query("select current_setting('enable_external_access')")[1] == [(False,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested", "notes.csv"]
