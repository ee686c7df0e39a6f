"""The `newsflow` command line: the Typer app with every command in its place, and `main`, which
runs a command and turns how it ended (an error, Ctrl-C or SIGTERM) into one line and an exit code.
The commands live by concern in the modules beside this one."""

from __future__ import annotations

import gc
import logging
import sys

import typer
import typer.main

from flows.cli import shared
from flows.cli.ingesting import ingest, reextract
from flows.cli.languages import detect, models_app, translate
from flows.cli.querying import duplicates, export, report, search, sql
from flows.cli.serving import deploy, serve, server_app
from flows.cli.shared import FINISHED_NOTE, INTERRUPTED_NOTE, CommandError, err_console
from flows.cli.upkeep import evaluate, prune, status
from flows.cli.web_sources import sources_app
from flows.interrupts import Terminated, command_ending, raise_if_stopped, run_recorded_as, stop_handlers_installed, stop_received

__all__ = ["CommandError", "app", "main"]


app = typer.Typer(
    name="newsflow",
    help="Multilingual news ingestion: seeds/ -> clean, English-searchable records in DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# The commands, in the order `newsflow --help` lists them (Typer lists the groups after them).
app.command()(ingest)
# `ignore_unknown_options`: SQL that starts with a `--` comment is the query, not an unknown option.
app.command(context_settings={"ignore_unknown_options": True})(sql)
app.command()(export)
app.command()(search)
app.command()(duplicates)
app.command()(translate)
app.command("eval")(evaluate)
app.command()(detect)
app.command()(reextract)
app.command()(prune)
app.command()(status)
app.command()(serve)
app.command()(deploy)
app.command()(report)
app.add_typer(models_app, name="models")
app.add_typer(sources_app, name="sources")
app.add_typer(server_app, name="server")


def main() -> None:
    try:
        _run_command()
    finally:
        _exit_at_once_on_a_late_stop()
        # What is left is the interpreter's teardown, whose last garbage collection walks every
        # object the imports made (Prefect, Dask, pydantic): about 0.6 s added to every command
        # (bench/cli_exit_bench.py). Files, connections and Prefect's queues are closed by now, and
        # finalizers and atexit handlers still run.
        gc.freeze()


def _run_command() -> None:
    import signal

    import click

    from flows.cli.help import readable_help

    _show_warehouse_waits()
    try:
        # What `app(...)` runs, with the help polished; click returns the code of typer.Exit here instead of exiting.
        code = readable_help(typer.main.get_command(app))(standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into Exit(130)
            raise KeyboardInterrupt
        raise_if_stopped()  # a stop whose exception was lost on the way still stops the command
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except (KeyboardInterrupt, typer.Abort, click.exceptions.Abort):  # click turns Ctrl-C into Abort
        _exit_interrupted(signal.SIGINT if stop_received() is None else stop_received())
    except Terminated:
        _exit_interrupted(signal.SIGTERM)
    except Exception as error:  # one clear line, not a traceback
        if stop_received() is not None:  # an error made of the stop on its way (DuckDB's 'Query interrupted')
            _exit_interrupted(stop_received())
        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if "--verbose" in sys.argv or "-v" in sys.argv:
            raise
        err_console.print(f"[red]error:[/] {_error_message(error)}", highlight=False, markup=True)
        sys.exit(getattr(error, "exit_code", 1) if _is_usage_error(error) else 1)


def _is_usage_error(error: BaseException) -> bool:
    """A bad option, argument or command, as Typer's parser raises it (exit code 2, as click's)."""
    from typer._click.exceptions import ClickException

    return isinstance(error, ClickException)


def _exit_at_once_on_a_late_stop() -> None:
    """Once the command is done, only its exit is left (Prefect flushing its logs, the
    interpreter's teardown): a Ctrl-C or SIGTERM then ends it at once, with one line and its exit
    code, instead of raising in the middle of the teardown (a traceback, and the command's code)."""
    import os
    import signal

    if stop_received() is None and not stop_handlers_installed():
        return

    def exit_now(signum, frame):
        name, code = ("Ctrl-C", 130) if signum == signal.SIGINT else ("SIGTERM", 143)
        note = FINISHED_NOTE if run_recorded_as() == "completed" else "newsflow had done its work and was exiting."
        err_console.print(f"interrupted ({name}): {note}", highlight=False, markup=False)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, exit_now)


def _exit_interrupted(signum: int) -> None:
    import signal

    command_ending()
    name, code = ("Ctrl-C", 130) if signum == signal.SIGINT else ("SIGTERM", 143)
    note = FINISHED_NOTE if shared.interrupted_note == INTERRUPTED_NOTE and run_recorded_as() == "completed" else shared.interrupted_note
    err_console.print(f"interrupted ({name}){': ' + note if note else ''}", highlight=False, markup=False)
    sys.exit(code)


def _error_message(error: BaseException) -> str:
    """The one line `error:` is followed by (`flows.cli.errors`), escaped for rich."""
    from rich.markup import escape

    from flows.cli.errors import error_sentence

    return escape(error_sentence(error))


class _OneLinePerWait(logging.Handler):
    """Shows the warehouse's waiting messages (another run, a reader's lock) once each, on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._last = ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message != self._last:
            self._last = message
            err_console.print(message, style="yellow", highlight=False, markup=False)


def _show_warehouse_waits() -> None:
    warehouse_logger = logging.getLogger("pipeline.warehouse")
    warehouse_logger.addHandler(_OneLinePerWait())
    warehouse_logger.propagate = False  # not a second time through Prefect's console handler
