"""What a person watching `newsflow serve` reads: one line on stdout per run.

A served run executes in a process of its own, started by the serve's Prefect runner, which
streams that process's stdout to its own: so the run prints its line itself, from its summary
(`flows.ingest_summary.run_line`), when it is a run of a deployment. `newsflow ingest` by hand
runs the flow in its own process, with no deployment, and prints its tables instead.

Why a run ran is in its Prefect tags: the serve tags its start-up and file-arrival runs, and
Prefect's scheduler tags the scheduled ones.
"""

from __future__ import annotations

import sys
from datetime import datetime

from flows.ingest_summary import IngestSummary, run_line

RECONCILE_TAG = "reconcile"
FILE_ARRIVAL_TAG = "file-arrival"
SCHEDULED_TAG = "auto-scheduled"  # Prefect's own, on every run its scheduler creates


def why_it_ran(tags: list[str], run_name: str) -> str:
    if RECONCILE_TAG in tags:
        return "start-up run"
    if FILE_ARRIVAL_TAG in tags:
        return f"files arrived ({run_name.removeprefix('files: ')})"
    if SCHEDULED_TAG in tags:
        return "scheduled run"
    return f"run started by hand ({run_name})"


def print_line_if_served(summary: IngestSummary, started_at: datetime) -> None:
    """The run's line on stdout, when this run is a deployment's (a served run); else nothing."""
    from prefect.runtime import deployment, flow_run

    if deployment.get_id() is None:
        return
    why = why_it_ran(list(flow_run.get_tags() or []), flow_run.get_name() or "")
    print(run_line(summary, started_at=started_at, why=why), file=sys.stdout, flush=True)
