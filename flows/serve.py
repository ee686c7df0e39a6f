"""`newsflow serve`: the `ingest` flow as a Prefect deployment on a cron schedule, plus a
file-arrival trigger on the seeds folder that starts a run for each settled batch of files.

Runs are executed by this process's Prefect runner one at a time (limit=1), and the flow
itself takes the warehouse's run lock, so a scheduled and a triggered run never interleave.
"""

from __future__ import annotations

import signal
from pathlib import Path

from prefect import serve
from prefect.deployments import run_deployment

from flows.ingest import ingest
from flows.watch import SeedsWatcher

DEPLOYMENT_NAME = "newsflow-ingest"
DEFAULT_CRON = "*/15 * * * *"


def deployment_path() -> str:
    return f"{ingest.name}/{DEPLOYMENT_NAME}"


def run_name_for(paths: list[str]) -> str:
    first = Path(paths[0]).name
    return f"files: {first}" if len(paths) == 1 else f"files: {first} +{len(paths) - 1} more"


def trigger_ingest(paths: list[str], warehouse: str) -> None:
    run_deployment(
        deployment_path(),
        parameters={"paths": paths, "warehouse": warehouse},
        timeout=0,
        tags=["file-arrival"],
        flow_run_name=run_name_for(paths),
    )


def _terminate_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve_ingest(
    *,
    seeds_dir: Path,
    warehouse: Path,
    cron: str = DEFAULT_CRON,
    settle_seconds: float = 2.0,
    poll_seconds: float = 0.5,
    runner_poll_seconds: float = 1.0,
) -> None:
    """Blocks until Ctrl-C or SIGTERM. Prefect's runner pauses the deployment on the way out,
    so no scheduled run piles up while nothing serves it."""
    seeds_dir.mkdir(parents=True, exist_ok=True)
    deployment = ingest.to_deployment(
        name=DEPLOYMENT_NAME,
        cron=cron,
        parameters={"paths": [str(seeds_dir)], "warehouse": str(warehouse)},
        description=f"Ingest {seeds_dir} into {warehouse}: on schedule ({cron}) and when files arrive.",
        tags=["newsflow"],
    )
    deployment.apply()
    watcher = SeedsWatcher(
        seeds_dir,
        lambda paths: trigger_ingest(paths, str(warehouse)),
        poll_seconds=poll_seconds,
        settle_seconds=settle_seconds,
    ).start()
    _terminate_on_sigterm()
    try:
        serve(deployment, limit=1, query_seconds=runner_poll_seconds, print_starting_message=True)
    finally:
        watcher.stop()
