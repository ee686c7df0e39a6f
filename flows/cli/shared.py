"""What every `newsflow` command shares: the consoles, the one-line error, what a stop says, the
--warehouse option, and starting Prefect for a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from flows.interrupts import raise_if_stopped, stop_on_signals
from pipeline.settings import load_settings


# Piped output (logs, CI, scripts) is not wrapped at 80 columns: messages stay greppable.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)


class CommandError(Exception):
    """An error whose message is all the user needs: printed as one line, exit code 1."""


INTERRUPTED_NOTE = (
    "what was stored is kept and the run is marked interrupted; run the same command again to load the rest."
)
FINISHED_NOTE = "the run had finished: everything is stored and the run is marked completed."
QUERY_STOPPED_NOTE = "the query was stopped."
interrupted_note = ""  # what a command stopped by Ctrl-C or SIGTERM says after "interrupted (...)"


def stop_on_signals_saying(note: str) -> None:
    """Ctrl-C and SIGTERM stop this command (exit 130, 143) with one line ending in `note`,
    wherever they arrive (`flows.interrupts`)."""
    global interrupted_note
    interrupted_note = note
    stop_on_signals()


def the_work_is_done(note: str = FINISHED_NOTE) -> None:
    """From here on a stop ends the command saying `note`: the work is done and recorded. A stop
    that came already, once the flow function had returned (Prefect's engine swallows what is
    raised then), ends it now."""
    global interrupted_note
    interrupted_note = note
    raise_if_stopped()


def warehouse_file(warehouse: Optional[Path]) -> Path:
    return warehouse if warehouse else load_settings().warehouse_path


WarehouseOption = typer.Option(None, "--warehouse", "-w", help="DuckDB file (default warehouse/news.duckdb or $NEWSFLOW_WAREHOUSE).")


def configure_prefect_for_a_run(verbose: bool):
    """Point Prefect at its server; start the project's background server on first use."""
    from flows.prefect_setup import configure_prefect
    from flows.server import ServerStartError

    try:
        mode = configure_prefect(verbose=verbose, start_background=True)
    except ServerStartError as error:
        raise CommandError(f"could not start the project's Prefect server: {error}") from error
    if mode.started_now:
        err_console.print(
            f"Started the project's Prefect server in the background: UI {mode.project_server.ui_url} "
            f"(stops after {_idle_minutes_text()} without use; `newsflow server stop` stops it now)",
            highlight=False,
        )
    return mode


def _idle_minutes_text() -> str:
    from flows.server import idle_minutes

    return f"{idle_minutes():g} min"


def refuse_other_schemes(inputs: list[str], verb: str) -> None:
    """file://, ftp://, gopher://, data:... are not web addresses: one line saying so, before anything starts."""
    import os

    from pipeline.web.credentials import without_userinfo
    from pipeline.web.documents import other_scheme

    for text in inputs:
        scheme = other_scheme(text)
        if scheme and not os.path.lexists(text):
            raise CommandError(
                f"{without_userinfo(text.strip())} is not a web address: newsflow {verb} http:// and https:// addresses only, "
                f"not {scheme}: (for files, give their path to `newsflow ingest` or put them in seeds/)"
            )
