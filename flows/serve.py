"""`newsflow serve`: the `ingest` flow as a Prefect deployment on a schedule (cron or a fixed
interval), plus a file-arrival trigger on the seeds folder that starts a run for each settled
batch of files, plus one reconcile run over the whole seeds folder at start-up.

Runs are executed by this process's Prefect runner one at a time (limit=1), and the flow
itself takes the warehouse's run lock, so a scheduled and a triggered run never interleave.

Nothing dropped into the seeds folder is missed: the watcher snapshots the folder *before*
the reconcile run is created, so every file is either already there when that run discovers
the folder, or a change the watcher reports (and triggers a run for) afterwards. A file that
lands while a run is going is a change for the watcher, whatever that run's own discovery saw;
the scheduled runs over the whole folder are the safety net if a triggered run fails.
Runs that fell due while nothing served (missed schedule slots, triggered runs never started)
are cancelled at start-up: the reconcile run covers them.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.runner import Runner
from prefect.schedules import Schedule
from prefect.states import Cancelled

from flows.ingest import ingest
from flows.schedule import describe_schedule, schedule_for
from flows.watch import SeedsWatcher

DEPLOYMENT_NAME = "newsflow-ingest"
RECONCILE_TAG = "reconcile"
FILE_ARRIVAL_TAG = "file-arrival"


def deployment_path() -> str:
    return f"{ingest.name}/{DEPLOYMENT_NAME}"


def run_name_for(paths: list[str]) -> str:
    first = Path(paths[0]).name
    return f"files: {first}" if len(paths) == 1 else f"files: {first} +{len(paths) - 1} more"


def trigger_ingest(paths: list[str], warehouse: str, seeds_dir: str) -> None:
    """A run for the files that arrived; they are named one by one, so the drop folder is named
    too: a link in it that leads out of it is rejected, not followed."""
    run_deployment(
        deployment_path(),
        parameters={"paths": paths, "warehouse": warehouse, "confine_to": [seeds_dir]},
        timeout=0,
        tags=[FILE_ARRIVAL_TAG],
        flow_run_name=run_name_for(paths),
    )


def reconcile_ingest(seeds_dir: Path):
    """One run of the deployment over the whole seeds folder (its default parameters), for what
    was added or changed while nothing was serving."""
    return run_deployment(
        deployment_path(),
        timeout=0,
        tags=[RECONCILE_TAG],
        flow_run_name=f"reconcile: {seeds_dir.name}/ at start",
    )


def cancel_missed_runs(deployment_id: UUID) -> int:
    """Cancel this service's runs that were due while nothing served the deployment (schedule slots
    missed while stopped, file-arrival or reconcile runs never started): the reconcile run covers
    them all, instead of a burst of one run per missed slot. Runs others started by hand stay."""
    missed = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(timezone.utc)),
    )
    with get_client(sync_client=True) as client:
        runs = [run for run in client.read_flow_runs(flow_run_filter=missed) if run.auto_scheduled or {FILE_ARRIVAL_TAG, RECONCILE_TAG} & set(run.tags)]
        for run in runs:
            cancelled = Cancelled(message="Missed while newsflow serve was stopped; the reconcile run at start-up covers it.")
            client.set_flow_run_state(run.id, cancelled, force=True)
    return len(runs)


def _terminate_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve_ingest(
    *,
    seeds_dir: Path,
    warehouse: Path,
    schedule: Schedule | None = None,
    settle_seconds: float = 2.0,
    poll_seconds: float = 0.5,
    runner_poll_seconds: float = 1.0,
) -> None:
    """Blocks until Ctrl-C or SIGTERM. Prefect's runner pauses the deployment on the way out,
    so no scheduled run piles up while nothing serves it."""
    schedule = schedule or schedule_for()
    seeds_dir.mkdir(parents=True, exist_ok=True)
    deployment = ingest.to_deployment(
        name=DEPLOYMENT_NAME,
        schedule=schedule,
        # scheduled runs (and the reconciling run at start) also poll the web sources that are due
        parameters={"paths": [str(seeds_dir)], "warehouse": str(warehouse), "poll_web": True},
        description=(
            f"Ingest {seeds_dir} into {warehouse}: on schedule ({describe_schedule(schedule)}), "
            f"when files arrive (tag {FILE_ARRIVAL_TAG}) and once at start-up (tag {RECONCILE_TAG})."
        ),
        tags=["newsflow"],
    )
    # What prefect.serve does, but the deployment is applied once, before the first run is created
    # (applying it again re-creates its schedules, and runs already created for the old ones linger).
    runner = Runner(limit=1, query_seconds=runner_poll_seconds, pause_on_shutdown=True)
    deployment_id = runner.add_deployment(deployment)
    cancel_missed_runs(deployment_id)
    watcher = SeedsWatcher(  # snapshots the folder now, before the reconcile run discovers it
        seeds_dir,
        lambda paths: trigger_ingest(paths, str(warehouse), str(seeds_dir)),
        poll_seconds=poll_seconds,
        settle_seconds=settle_seconds,
    )
    reconcile_ingest(seeds_dir)
    watcher.start()
    _terminate_on_sigterm()  # until the runner installs its own, graceful SIGTERM handler
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass  # the runner paused the deployment on its way out
    finally:
        watcher.stop()
