"""Running unattended: `newsflow server` (the project's Prefect server, foreground), `newsflow
server stop`, and `newsflow serve` (the ingest deployment on a schedule and on file arrival)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from flows.cli.shared import CommandError, WarehouseOption, console, warehouse_file
from pipeline.settings import load_settings


server_app = typer.Typer(help="Run or stop the project's local Prefect server (API and UI).")


@server_app.callback(invoke_without_command=True)
def server(
    ctx: typer.Context,
    port: Optional[int] = typer.Option(None, help="Port on 127.0.0.1 for the API and UI (default $NEWSFLOW_SERVER_PORT or 4200)."),
    start_timeout: Optional[float] = typer.Option(
        None, help="Seconds to wait for the server to become healthy (default $NEWSFLOW_SERVER_START_TIMEOUT or 120)."
    ),
) -> None:
    """Run the project's Prefect server in the foreground (Ctrl-C or SIGTERM stops it); `newsflow
    ingest` and `newsflow serve` use it while it runs. `newsflow server stop` stops a server
    running in the background."""
    if ctx.invoked_subcommand is not None:
        return
    import signal

    from flows.server import ServerStartError, configured_port, start_project_server

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt

    # SIGINT too: a shell starting this in the background (e.g. under make) may have ignored it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_on_signal)
    local = None
    try:
        local = start_project_server(load_settings().state_dir, port=port or configured_port(), startup_timeout=start_timeout)
        ui_url = local.api_url.removesuffix("/api")
        console.print(f"Prefect server UI {ui_url} (API {local.api_url}); database and log in {local.home}. Ctrl-C stops it.")
        code = local.process.wait()
    except ServerStartError as error:
        raise CommandError(str(error)) from None
    except KeyboardInterrupt:
        console.print("Prefect server stopped.")
        return
    finally:
        if local is not None:
            local.stop()
    raise CommandError(f"the Prefect server exited by itself with code {code}; log: {local.log_path}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the project's Prefect server (background or foreground) and wait until it is gone."""
    from flows.server import stop_project_server

    stopped = stop_project_server(load_settings().state_dir)
    if stopped is None:
        console.print("No project Prefect server is running.")
    else:
        console.print(f"Stopped the project's Prefect server at {stopped.ui_url} ({stopped.mode}, pid {stopped.pid}).")


def serve(
    cron: Optional[str] = typer.Option(None, help="Cron schedule (default $NEWSFLOW_CRON or every 15 minutes)."),
    every: Optional[str] = typer.Option(None, "--every", help="Fixed interval instead of --cron, e.g. 10s, 15m, 1h."),
    seeds: Optional[Path] = typer.Option(None, help="Folder to watch and ingest (default seeds/ or $NEWSFLOW_SEEDS)."),
    warehouse: Optional[Path] = WarehouseOption,
    settle_seconds: float = typer.Option(2.0, help="Quiet time before a batch of new files is ingested."),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="Local worker processes for each run's stages (default: every core; 1: in the run's process)."
    ),
    dask_address: Optional[str] = typer.Option(
        None, "--dask-address", envvar="NEWSFLOW_DASK_ADDRESS", help="Run each run's stages on this Dask cluster (tcp://HOST:PORT)."
    ),
    name: str = typer.Option(
        "newsflow-ingest", "--name", help="Deployment to serve (lowercase letters, digits, - and _): one serve per deployment and Prefect server."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs (runs, runner) on stderr; without it, only its warnings and errors."),
) -> None:
    """Serve `ingest` on a schedule and on file arrival, after one run over the whole seeds folder
    (a long-running process; Ctrl-C stops it), printing one line per run. A second serve of the
    same deployment refuses to start."""
    import os
    import shlex
    import signal
    import sys

    # Python's own Ctrl-C handler, also when a shell started this as a background job with SIGINT
    # ignored (asyncio's runner stops gracefully only while this handler is the one in place).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Each served run is a process of its own started from this one: it reads these as its settings.
    if workers is not None:
        os.environ["NEWSFLOW_WORKERS"] = str(workers)
    if dask_address:
        os.environ["NEWSFLOW_DASK_ADDRESS"] = dask_address

    from flows.prefect_setup import configure_prefect
    from flows.schedule import describe_schedule, schedule_for

    interval = _checked_schedule_options(cron, every, name)
    settings = load_settings()
    seeds_dir = (seeds or settings.seeds_dir).resolve()
    warehouse_path = warehouse_file(warehouse).resolve()
    if not verbose:
        # The runs' logs still go to the Prefect UI; the console shows one line per run, and
        # Prefect's warnings and errors. The served runs' processes inherit the setting.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    mode = configure_prefect(verbose=verbose)
    port = None
    if mode.api_url is None:  # serve starts the project's server; Prefect must see its URL at import
        from flows.server import HOST, configured_port, free_port, port_in_use

        port = configured_port() if not port_in_use(HOST, configured_port()) else free_port(HOST)
        os.environ["PREFECT_API_URL"] = f"http://{HOST}:{port}/api"
    try:  # checked before any server is started for it
        schedule = schedule_for(cron=None if interval else cron or os.environ.get("NEWSFLOW_CRON"), every=interval)
    except ValueError as error:
        raise CommandError(f"--cron: {error}") from None
    local = None
    if port is not None:
        from flows.server import start_project_server

        console.print("No project Prefect server is running: starting one.")
        local = start_project_server(settings.state_dir, port=port)  # recorded, so `newsflow ingest` uses it too
        console.print(f"Prefect server UI {local.api_url.removesuffix('/api')}; database and log in {local.home}.")
    try:
        from flows.serve import ServeAlreadyRunning, serve_ingest

        announce = lambda: console.print(  # noqa: E731 - once the deployment is this serve's
            f"Serving ingest/{name}: schedule {describe_schedule(schedule)}, watching {seeds_dir}, warehouse {warehouse_path}, "
            f"Prefect API {os.environ['PREFECT_API_URL']}; first a reconcile run over {seeds_dir}"
        )
        try:
            paused = serve_ingest(
                seeds_dir=seeds_dir, warehouse=warehouse_path, schedule=schedule, settle_seconds=settle_seconds, name=name, on_claimed=announce
            )
        except ServeAlreadyRunning as error:
            raise CommandError(str(error)) from None
    finally:
        if local is not None:
            _send_pending_logs()  # while the server it started still answers
            local.stop()
    resume = shlex.join(["newsflow", *sys.argv[1:]])
    if paused:
        console.print(f"Stopped serving ingest/{name}: its schedule is paused until you run again: {resume}", highlight=False, markup=False)
    else:
        console.print(f"Stopped serving ingest/{name}; another serve holds it now, so its schedule is left as it is.", highlight=False, markup=False)


def _checked_schedule_options(cron: Optional[str], every: Optional[str], name: str):
    """The --every interval (or None), once --cron, --every and --name are known to be usable: checked
    before Prefect is imported or any server started."""
    import re

    from flows.schedule import parse_interval

    if cron and every:
        raise CommandError("use either --cron or --every, not both")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", name):
        raise CommandError(f"--name {name!r}: use lowercase letters, digits, - and _ (up to 100), e.g. newsflow-ingest-2")
    try:
        return parse_interval(every) if every else None
    except ValueError as error:
        raise CommandError(f"--every: {error}") from None


def deploy(
    pool: str = typer.Option("newsflow", "--pool", help="Prefect work pool to put the deployment on (created when missing)."),
    pool_type: str = typer.Option("process", "--pool-type", help="Type of a pool created now: process, docker, kubernetes..."),
    cron: Optional[str] = typer.Option(None, help="Cron schedule (default $NEWSFLOW_CRON or every 15 minutes)."),
    every: Optional[str] = typer.Option(None, "--every", help="Fixed interval instead of --cron, e.g. 10s, 15m, 1h."),
    seeds: Optional[Path] = typer.Option(None, help="Folder each run ingests, as the workers see it (default seeds/ or $NEWSFLOW_SEEDS)."),
    warehouse: Optional[Path] = WarehouseOption,
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="Local worker processes for each run's stages (default: the worker machine's $NEWSFLOW_WORKERS or every core)."
    ),
    dask_address: Optional[str] = typer.Option(None, "--dask-address", help="Run each run's stages on this Dask cluster (tcp://HOST:PORT)."),
    name: str = typer.Option("newsflow-ingest", "--name", help="Deployment name (lowercase letters, digits, - and _)."),
    image: Optional[str] = typer.Option(None, "--image", help="Image the runs start in, for a Docker or Kubernetes pool (e.g. newsflow:local)."),
    job_variables: Optional[str] = typer.Option(
        None, "--job-variables", help='The pool\'s job variables for this deployment, as JSON, e.g. \'{"volumes": ["/srv/news:/data"]}\'.'
    ),
) -> None:
    """Register the `ingest` deployment on a Prefect work pool, with its schedule and the parameters
    `newsflow serve` gives it; `prefect worker start --pool NAME`, wherever newsflow is installed,
    runs it. Needs a Prefect server that keeps running: PREFECT_API_URL, or `newsflow server`."""
    import json
    import os
    import shlex

    interval = _checked_schedule_options(cron, every, name)
    try:
        variables = json.loads(job_variables) if job_variables else {}
    except json.JSONDecodeError as error:
        raise CommandError(
            f"--job-variables {job_variables} is not JSON ({error.msg} at character {error.pos}): give an object, e.g. '{{\"env\": {{\"NEWSFLOW_WORKERS\": \"2\"}}}}'"
        ) from None
    if not isinstance(variables, dict):
        raise CommandError(f"--job-variables {job_variables} is not a JSON object: give one, e.g. '{{\"env\": {{\"NEWSFLOW_WORKERS\": \"2\"}}}}'")
    settings = load_settings()
    seeds_dir = (seeds or settings.seeds_dir).resolve()
    warehouse_path = warehouse_file(warehouse).resolve()

    from flows.prefect_setup import configure_prefect

    mode = configure_prefect()
    if mode.api_url is None:
        raise CommandError(
            "no Prefect server to deploy to: the workers need one that keeps running; start the project's with "
            "`newsflow server` (in another terminal), or set PREFECT_API_URL to your Prefect server's API, then run this again"
        )
    from flows.schedule import schedule_for

    try:
        schedule = schedule_for(cron=None if interval else cron or os.environ.get("NEWSFLOW_CRON"), every=interval)
    except ValueError as error:
        raise CommandError(f"--cron: {error}") from None
    from flows.deploy import DeployRefused, deploy_ingest

    try:
        deployed = deploy_ingest(
            pool=pool, pool_type=pool_type, seeds_dir=seeds_dir, warehouse=warehouse_path, schedule=schedule, name=name,
            workers=workers, dask_address=dask_address, image=image, job_variables=variables,
        )
    except DeployRefused as error:
        raise CommandError(str(error)) from None
    pool_words = f"the {deployed.pool_type} work pool {deployed.pool}" + (" (created now)" if deployed.pool_created else "")
    if deployed.cancelled_runs:
        pool_words += f" ({deployed.cancelled_runs} runs already due cancelled: the next run covers the whole folder)"
    console.print(
        f"Deployed {deployed.deployment} on {pool_words}: schedule {deployed.schedule}, seeds {seeds_dir}, warehouse {warehouse_path}, "
        f"Prefect API {mode.api_url}. Start a worker where newsflow is installed: "
        f"PREFECT_API_URL={shlex.quote(mode.api_url)} {deployed.worker_command()}",
        highlight=False,
        markup=False,
    )


def _send_pending_logs() -> None:
    """Logs queued for the Prefect API, sent before the server this serve started stops: else
    they fail at exit with "Error logging to API"."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
