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

One serve per deployment (`flows.serve_holder`): a serve claims its deployment before it applies
it, and a second serve of the same deployment on the same Prefect server refuses to start,
saying which serve holds it; `--name` serves another deployment (its own schedule, parameters
and warehouse). A serve pauses its deployment on the way out only while it still holds it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
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
from flows.serve_holder import LIVE_WINDOW_S, ServeHolder, variable_name
from flows.served_runs import FILE_ARRIVAL_TAG, RECONCILE_TAG
from flows.watch import SeedsWatcher

DEPLOYMENT_NAME = "newsflow-ingest"

TAKE_OVER_SETTLE_S = 1.0
logger = logging.getLogger(__name__)


class ServeAlreadyRunning(Exception):
    """Another live `newsflow serve` holds the deployment; the message names it."""


def deployment_path(name: str = DEPLOYMENT_NAME) -> str:
    return f"{ingest.name}/{name}"


def ingest_parameters(seeds_dir: Path, warehouse: Path, *, workers: int | None = None, dask_address: str | None = None) -> dict:
    """The deployment's run parameters: the whole seeds folder into the warehouse, and the web
    sources that are due (scheduled runs, and the reconciling run at start, poll them too)."""
    parameters = {"paths": [str(seeds_dir)], "warehouse": str(warehouse), "poll_web": True}
    if workers is not None:
        parameters["workers"] = workers
    if dask_address:
        parameters["dask_address"] = dask_address
    return parameters


def ingest_deployment(
    *,
    name: str,
    schedule: Schedule,
    seeds_dir: Path,
    warehouse: Path,
    description: str,
    workers: int | None = None,
    dask_address: str | None = None,
    **options,
):
    """The `ingest` deployment `newsflow serve` runs itself and `newsflow deploy` puts on a work
    pool: one schedule, the same parameters and tags. `options` go to Prefect's `to_deployment`."""
    return ingest.to_deployment(
        name=name,
        schedule=schedule,
        parameters=ingest_parameters(seeds_dir, warehouse, workers=workers, dask_address=dask_address),
        description=description,
        tags=["newsflow"],
        **options,
    )


def run_name_for(paths: list[str]) -> str:
    first = Path(paths[0]).name
    return f"files: {first}" if len(paths) == 1 else f"files: {first} +{len(paths) - 1} more"


def trigger_ingest(paths: list[str], warehouse: str, seeds_dir: str, name: str = DEPLOYMENT_NAME) -> None:
    """A run for the files that arrived; they are named one by one, so the drop folder is named
    too: a link in it that leads out of it is rejected, not followed."""
    run_deployment(
        deployment_path(name),
        parameters={"paths": paths, "warehouse": warehouse, "confine_to": [seeds_dir]},
        timeout=0,
        tags=[FILE_ARRIVAL_TAG],
        flow_run_name=run_name_for(paths),
    )


def reconcile_ingest(seeds_dir: Path, name: str = DEPLOYMENT_NAME):
    """One run of the deployment over the whole seeds folder (its default parameters), for what
    was added or changed while nothing was serving."""
    return run_deployment(
        deployment_path(name),
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


def _last_polled(client, path: str):
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(path).last_polled
    except ObjectNotFound:
        return None


def _holder_is_alive(client, holder: ServeHolder | None, path: str, watch_seconds: float) -> bool:
    """On this machine, whether its process runs; elsewhere (or for a claim newsflow cannot read),
    whether the deployment's runner polls: a live serve polls every second, so the deployment's
    last_polled moves within `watch_seconds`, or it never will."""
    if holder is not None and holder.checkable_here():
        return holder.process_alive()
    first = _last_polled(client, path)
    deadline = time.monotonic() + watch_seconds
    logger.warning("Checking whether %s still serves %s (up to %.0f s)", holder.describe() if holder else "another runner", path, watch_seconds)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        polled = _last_polled(client, path)
        if polled is not None and polled != first:
            return True
    return False


def claim_deployment(holder: ServeHolder, *, watch_seconds: float = LIVE_WINDOW_S) -> None:
    """Make this serve the deployment's holder (the Prefect Variable `newsflow-serve-<name>`), or
    raise ServeAlreadyRunning naming the live serve that holds it. A claim whose serve is gone
    (killed, its machine lost) is taken over."""
    from prefect.client.schemas.actions import VariableCreate
    from prefect.exceptions import ObjectAlreadyExists

    name = variable_name(holder.deployment.split("/", 1)[1])
    took_over = False
    with get_client(sync_client=True) as client:
        for _ in range(3):
            try:
                client.create_variable(VariableCreate(name=name, value=holder.to_value(), tags=["newsflow"]))
                if not took_over:
                    return
                # Another serve may have found the same dead claim and deleted this one's in between:
                # the claim that stands a moment later is the one that holds.
                time.sleep(TAKE_OVER_SETTLE_S)
                found = client.read_variable_by_name(name)
                if found is not None and (standing := ServeHolder.from_value(found.value)) and standing.same_process(holder):
                    return
            except ObjectAlreadyExists:
                pass
            found = client.read_variable_by_name(name)
            if found is None:
                continue  # it let go in between
            other = ServeHolder.from_value(found.value)
            if _holder_is_alive(client, other, holder.deployment, watch_seconds):
                who = other.describe() if other else f"a runner (the Prefect variable {name} says: {found.value!r})"
                raise ServeAlreadyRunning(
                    f"the deployment {holder.deployment} on {client.api_url} is already served by {who}: stop that one "
                    f"first, or serve another deployment with --name (e.g. --name newsflow-ingest-2) and its own --warehouse"
                )
            logger.warning("Taking over %s from %s, which is gone", holder.deployment, other.describe() if other else name)
            client.delete_variable_by_name(name)
            took_over = True
    raise ServeAlreadyRunning(f"another `newsflow serve` claimed {holder.deployment} at the same moment; try again")


def release_deployment(holder: ServeHolder, deployment_id: UUID | None) -> bool:
    """Pause the deployment (no scheduled run piles up while nothing serves it) and let go of it,
    only while this serve still holds it: another serve's schedule is never paused. True when
    this serve paused it."""
    name = variable_name(holder.deployment.split("/", 1)[1])
    with get_client(sync_client=True) as client:
        found = client.read_variable_by_name(name)
        current = ServeHolder.from_value(found.value) if found is not None else None
        if current is None or not current.same_process(holder):
            logger.warning("%s is held by another serve now: its schedule is left as it is", holder.deployment)
            return False
        if deployment_id is not None:
            client.pause_deployment(deployment_id)
        client.delete_variable_by_name(name)
        return deployment_id is not None


def _terminate_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


class _AtCapacityDropped(logging.Filter):
    """The runner runs one run at a time (limit=1) and asks for due runs every second; while a run
    is going, each ask that finds the next one due logs "1 scheduled runs skipped (at capacity)"
    (about 23 lines in 100 s). Prefect has no setting for that line (a longer poll makes it rarer
    and file-arrival runs later, and `last_polled` is how a live serve is told from a dead one):
    with --verbose the runner's other lines stay, this one is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).endswith("scheduled runs skipped (at capacity)")


def _quiet_at_capacity() -> None:
    runner_logger = logging.getLogger("prefect.runner")
    if not any(isinstance(f, _AtCapacityDropped) for f in runner_logger.filters):
        runner_logger.addFilter(_AtCapacityDropped())


def serve_ingest(
    *,
    seeds_dir: Path,
    warehouse: Path,
    schedule: Schedule | None = None,
    settle_seconds: float = 2.0,
    poll_seconds: float = 0.5,
    runner_poll_seconds: float = 1.0,
    name: str = DEPLOYMENT_NAME,
    on_claimed: Callable[[], None] | None = None,
) -> bool:
    """Blocks until Ctrl-C or SIGTERM; raises ServeAlreadyRunning when another live serve holds
    the deployment `name`. The deployment is paused on the way out (while this serve still holds
    it), so no scheduled run piles up while nothing serves it: True when it was."""
    schedule = schedule or schedule_for()
    seeds_dir.mkdir(parents=True, exist_ok=True)
    holder = ServeHolder.this_process(deployment_path(name), warehouse=warehouse, seeds=seeds_dir)
    claim_deployment(holder)  # before the deployment is applied: a refused serve changes nothing
    if on_claimed is not None:
        on_claimed()
    _terminate_on_sigterm()  # until the runner installs its own, graceful SIGTERM handler
    deployment = ingest_deployment(
        name=name,
        schedule=schedule,
        seeds_dir=seeds_dir,
        warehouse=warehouse,
        description=(
            f"Ingest {seeds_dir} into {warehouse}: on schedule ({describe_schedule(schedule)}), "
            f"when files arrive (tag {FILE_ARRIVAL_TAG}) and once at start-up (tag {RECONCILE_TAG})."
        ),
    )
    # What prefect.serve does, but the deployment is applied once, before the first run is created
    # (applying it again re-creates its schedules, and runs already created for the old ones linger).
    # The runner does not pause the deployment on its way out: release_deployment does, if this
    # serve still holds it.
    runner = Runner(name=f"newsflow-serve-{name}", limit=1, query_seconds=runner_poll_seconds, pause_on_shutdown=False)
    _quiet_at_capacity()
    deployment_id = watcher = None
    try:
        deployment_id = runner.add_deployment(deployment)
        cancel_missed_runs(deployment_id)
        watcher = SeedsWatcher(  # snapshots the folder now, before the reconcile run discovers it
            seeds_dir,
            lambda paths: trigger_ingest(paths, str(warehouse), str(seeds_dir), name),
            poll_seconds=poll_seconds,
            settle_seconds=settle_seconds,
        )
        reconcile_ingest(seeds_dir, name)
        watcher.start()
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    finally:
        if watcher is not None:
            watcher.stop()
        paused = release_deployment(holder, deployment_id)
    return paused
