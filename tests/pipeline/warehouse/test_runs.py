"""Run bookkeeping: ingest_runs rows started, finished, and found interrupted."""

import pytest

from pipeline.warehouse import RunCounts, Warehouse
from tests.pipeline.warehouse.conftest import T0, T1, english_doc, rejected_doc, rows


def test_runs_are_started_and_finished(warehouse: Warehouse):
    warehouse.start_run("r1", flow_run_id="flow-1", started_at=T0)
    assert rows(warehouse, "SELECT run_id, flow_run_id, started_at, finished_at, status FROM ingest_runs") == [
        ("r1", "flow-1", T0, None, "running")
    ]
    counts = RunCounts(files_seen=7, inserted=3, updated=1, unchanged=2, rejected=1)
    warehouse.finish_run("r1", counts=counts, status="completed", finished_at=T1)
    assert rows(warehouse, "SELECT * EXCLUDE (run_id, flow_run_id, started_at) FROM ingest_runs") == [
        (T1, 7, 3, 1, 2, 1, "completed")
    ]


def test_finish_run_rejects_unknown_run_and_status(warehouse: Warehouse):
    with pytest.raises(ValueError, match="start_run"):
        warehouse.finish_run("nope", counts=RunCounts(), status="completed", finished_at=T1)
    warehouse.start_run("r1", flow_run_id=None, started_at=T0)
    with pytest.raises(ValueError, match="completed"):
        warehouse.finish_run("r1", counts=RunCounts(), status="done", finished_at=T1)


def test_a_run_that_never_finished_is_marked_interrupted_with_the_counts_its_rows_show(warehouse: Warehouse):
    warehouse.start_run("killed", flow_run_id="flow-1", started_at=T0)
    warehouse.write_batch([english_doc("seeds/a.txt"), english_doc("seeds/b.txt"), rejected_doc()], run_id="killed", ingested_at=T0)
    warehouse.start_run("done", flow_run_id=None, started_at=T0)
    warehouse.finish_run("done", counts=RunCounts(files_seen=1, unchanged=1), status="completed", finished_at=T1)

    interrupted = warehouse.close_interrupted_runs(finished_at=T1)

    assert [(run.run_id, run.articles_written, run.rejected) for run in interrupted] == [("killed", 2, 1)]
    assert rows(warehouse, "SELECT run_id, status, files_seen, inserted, rejected, finished_at FROM ingest_runs ORDER BY run_id") == [
        ("done", "completed", 1, 0, 0, T1),
        ("killed", "interrupted", 3, 2, 1, T1),
    ]
    assert warehouse.close_interrupted_runs(finished_at=T1) == []
