"""Run bookkeeping: one ingest_runs row per run, started, finished, or found interrupted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.warehouse.connection import Connection
from pipeline.warehouse.documents import utc_naive

RUN_STATUSES = ("running", "completed", "failed", "interrupted")


@dataclass(frozen=True)
class InterruptedRun:
    """A run whose process died before it finished, as far as its rows tell."""

    run_id: str
    articles_written: int
    rejected: int


@dataclass(frozen=True)
class RunCounts:
    files_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class Runs(Connection):

    def start_run(self, run_id: str, *, flow_run_id: str | None, started_at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                """
                INSERT INTO ingest_runs (run_id, flow_run_id, started_at, status)
                VALUES (?, ?, ?, 'running')
                ON CONFLICT (run_id) DO UPDATE
                SET flow_run_id = excluded.flow_run_id, started_at = excluded.started_at, status = 'running'
                """,
                [run_id, flow_run_id, utc_naive(started_at)],
            )

    def close_interrupted_runs(self, *, finished_at: datetime) -> list["InterruptedRun"]:
        """Mark every run still `running` as `interrupted`, with the counts its rows show.

        Call it holding the warehouse's run lock (`exclusive_run`): then no other run is active,
        and a `running` row is a run whose process was killed before it could finish. Its
        articles count as inserted (the rows cannot tell inserted from updated) and its
        rejections as rejected; the files it never reached are picked up by the next run.
        """
        with self._transaction() as db:
            found = db.execute(
                """
                SELECT r.run_id,
                       (SELECT count(*) FROM articles a WHERE a.run_id = r.run_id),
                       (SELECT count(*) FROM rejected_files f WHERE f.run_id = r.run_id)
                FROM ingest_runs r WHERE r.status = 'running' ORDER BY r.started_at
                """
            ).fetchall()
            for run_id, written, rejected in found:
                db.execute(
                    """
                    UPDATE ingest_runs
                    SET status = 'interrupted', finished_at = ?, inserted = ?, rejected = ?,
                        files_seen = greatest(files_seen, ? + ?)
                    WHERE run_id = ?
                    """,
                    [utc_naive(finished_at), written, rejected, written, rejected, run_id],
                )
        return [InterruptedRun(run_id, written, rejected) for run_id, written, rejected in found]

    def finish_run(self, run_id: str, *, counts: RunCounts, status: str, finished_at: datetime) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"Run status must be one of {', '.join(RUN_STATUSES)}, not {status!r}.")
        with self._transaction() as db:
            (updated,) = db.execute(
                """
                UPDATE ingest_runs
                SET finished_at = ?, files_seen = ?, inserted = ?, updated = ?, unchanged = ?, rejected = ?, status = ?
                WHERE run_id = ?
                """,
                [
                    utc_naive(finished_at),
                    counts.files_seen,
                    counts.inserted,
                    counts.updated,
                    counts.unchanged,
                    counts.rejected,
                    status,
                    run_id,
                ],
            ).fetchone()
            if updated == 0:
                raise ValueError(f"No run {run_id!r} in {self.path}: call start_run before finish_run.")
