"""`newsflow deploy`: the `ingest` deployment on a Prefect work pool, run by `prefect worker start
--pool NAME` on any machine where newsflow is installed, instead of by a `newsflow serve`.

The deployment is the one `newsflow serve` registers (`flows.serve.ingest_deployment`: same
parameters, schedule and tags) with two differences a worker needs: its entrypoint is the module
path `flows.ingest.ingest`, which a worker imports from the installed package (no source to pull,
no image to build or push), and it names a work pool, created with Prefect's default job template
for its type when it does not exist. The worker command it prints runs one run at a time
(`--limit 1`), as a serve does: every run takes the warehouse's run lock anyway, so a second run
at once would only wait for it. (A deployment concurrency limit would do it for all workers, but
a run that finds the slot taken is put back and tried again every 30 s, each time racing the
runs due since; the worker's limit leaves runs waiting in the order they were due.)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from prefect import get_client
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Schedule

from flows.schedule import describe_schedule
from flows.serve import DEPLOYMENT_NAME, cancel_missed_runs, deployment_path, ingest_deployment
from flows.serve_holder import ServeHolder, variable_name

DEFAULT_POOL_TYPE = "process"


class DeployRefused(Exception):
    """The deployment cannot go on the pool; the message says why and what to do."""


@dataclass(frozen=True)
class DeployedIngest:
    deployment: str  # ingest/NAME
    deployment_id: UUID
    pool: str
    pool_type: str
    pool_created: bool
    schedule: str
    cancelled_runs: int = 0  # runs of its schedule already due, cancelled

    def worker_command(self) -> str:
        return f"prefect worker start --pool {shlex.quote(self.pool)} --limit 1"


def ensure_work_pool(name: str, pool_type: str = DEFAULT_POOL_TYPE) -> tuple[str, bool]:
    """The pool's type, and whether it was created now (as `prefect work-pool create NAME --type
    TYPE` does, with the type's default job template). An existing pool is used as it is."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.utilities.asyncutils import run_coro_as_sync
    from prefect.workers.utilities import get_default_base_job_template_for_infrastructure_type

    with get_client(sync_client=True) as client:
        try:
            return client.read_work_pool(name).type, False
        except ObjectNotFound:
            pass
        template = run_coro_as_sync(get_default_base_job_template_for_infrastructure_type(pool_type))
        if template is None:
            raise DeployRefused(
                f"Prefect knows no work pool type {pool_type!r}: give a type its workers are installed for, e.g. "
                f"--pool-type process (the default) or --pool-type docker (workers need prefect-docker)"
            )
        try:
            return client.create_work_pool(WorkPoolCreate(name=name, type=pool_type, base_job_template=template)).type, True
        except ObjectAlreadyExists:  # created by someone else in between
            return client.read_work_pool(name).type, False


def refuse_if_served(name: str) -> None:
    """A live `newsflow serve` of the same deployment runs its runs itself: putting it on a pool
    would take them away from it (and the serve would take it back at its next start)."""
    with get_client(sync_client=True) as client:
        found = client.read_variable_by_name(variable_name(name))
        if found is None:
            return
        holder = ServeHolder.from_value(found.value)
        if holder is not None and holder.checkable_here() and not holder.process_alive():
            return  # a serve that is gone: the next serve takes its claim over anyway
        who = holder.describe() if holder else f"a serve (the Prefect variable {variable_name(name)} says so)"
        raise DeployRefused(
            f"the deployment {deployment_path(name)} on {client.api_url} is served by {who}: stop that serve first, "
            f"or deploy another deployment with --name (e.g. --name newsflow-pool)"
        )


def deploy_ingest(
    *,
    pool: str,
    seeds_dir: Path,
    warehouse: Path,
    schedule: Schedule,
    pool_type: str = DEFAULT_POOL_TYPE,
    name: str = DEPLOYMENT_NAME,
    workers: int | None = None,
    dask_address: str | None = None,
    image: str | None = None,
    job_variables: dict | None = None,
) -> DeployedIngest:
    refuse_if_served(name)
    actual_type, created = ensure_work_pool(pool, pool_type)
    deployment = ingest_deployment(
        name=name,
        schedule=schedule,
        seeds_dir=seeds_dir,
        warehouse=warehouse,
        workers=workers,
        dask_address=dask_address,
        description=f"Ingest {seeds_dir} into {warehouse} on schedule ({describe_schedule(schedule)}), run by the workers of the work pool {pool}.",
        entrypoint_type=EntrypointType.MODULE_PATH,
        work_pool_name=pool,
        job_variables=dict(job_variables or {}),
        paused=False,  # a serve of this name that stopped left it paused
    )
    deployment_id = deployment.apply(work_pool_name=pool, image=image)
    # Prefect keeps the old schedule's runs that are already due; a worker would run them one by
    # one, each over the whole folder. As at a serve's start, they are cancelled instead.
    cancelled = cancel_missed_runs(deployment_id)
    return DeployedIngest(
        cancelled_runs=cancelled,
        deployment=deployment_path(name),
        deployment_id=deployment_id,
        pool=pool,
        pool_type=actual_type,
        pool_created=created,
        schedule=describe_schedule(schedule),
    )
