"""Ctrl-C and SIGTERM: a stop, never lost, whatever the main thread is doing when it arrives.

A command that runs work in its own process (ingest, translate, sql, export, search) calls
`stop_on_signals()`. From then on the first SIGINT or SIGTERM is noted, and raises
KeyboardInterrupt or `Terminated` in the main thread, as Python's own Ctrl-C handler does. Both
are installed explicitly: a background job of a non-interactive shell starts with SIGINT
ignored, and Python then installs no handler of its own.

Raising is not always enough, so the stop is also remembered (`stop_received`):
- inside a DuckDB statement the exception becomes `RuntimeError('Query interrupted')`, with the
  signal's exception only as its cause (`stop_behind` finds it);
- a library may turn it into an error of its own (pydantic's serializer does, in Prefect's task
  submission), or swallow it (Prefect's flow engine, once the flow function has returned; Python
  itself, in a garbage collector or weakref callback or a finaliser: there the signal is delivered
  again once it returns);
- Prefect's flow engine swaps in its own SIGTERM handler while a flow runs (`kept_during_flow`
  puts this one back for the flow's body, when a command owns the signals).
The code that runs the work checks `raise_if_stopped()` at its own steps, and the command ends
with the stop's exit code (130, 143) whatever happened to the exception.

`stops_held()` marks a few steps that must not be cut in half (a batch's write and its count,
starting a cluster): a stop arriving inside one is held and raised when it ends, and meanwhile
interrupts the DuckDB statement running, if one is (`connection.interrupt()`), so that it ends at
once, rolled back. A second signal while one is held raises at once.
"""

from __future__ import annotations

import _thread
import functools
import gc
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM: handled like Ctrl-C, with exit code 143."""


_installed = False
_received: int | None = None  # the first stop signal
_held = 0  # depth of `stops_held` sections
_pending = False  # a stop arrived inside a held section and is not raised yet
_on_stop: list[Callable[[], None]] = []  # what a held stop does at once (interrupt a statement)
_run_recorded_as: str | None = None  # how this process's last run recorded its end
_ending = False  # the command has said how it ends: a stop from now on raises nothing


def stop_on_signals() -> None:
    """Handle SIGINT and SIGTERM in this process from now on (main thread only). Not for `serve`:
    asyncio's runners handle Ctrl-C gracefully only while Python's own handler is in place."""
    global _installed
    for signum in STOP_SIGNALS:
        signal.signal(signum, _handler)
    if sys.unraisablehook is not _stop_not_dropped:
        _previous_unraisablehook.append(sys.unraisablehook)
        sys.unraisablehook = _stop_not_dropped
    _installed = True


def stop_handlers_installed() -> bool:
    return _installed


def command_ending() -> None:
    """The command has printed how it ends and is exiting: a stop arriving from now on (one
    delivered again by `_deliver_again`, whose timer may fire during the exit) is noted and raises
    nothing, so it cannot replace the command's exit with an uncaught KeyboardInterrupt, which
    Python turns into death by SIGINT (exit -2)."""
    global _ending
    _ending = True


def _handler(signum: int, frame) -> None:
    global _received, _pending
    if _ending:
        if _received is None:
            _received = signum
        return
    if _ignores_what_it_raises(frame):
        # Raised here it would only print "Exception ignored in ..." with a traceback: note the
        # stop, and deliver the signal again in a moment, once this callback has returned.
        if _received is None:
            _received = signum
        _deliver_again(signum)
        return
    if _held and not _pending:
        if _received is None:
            _received = signum
        _pending = True
        for action in list(_on_stop):
            try:
                action()
            except Exception:  # a connection already closed: nothing to interrupt
                pass
        return
    if _received is None:
        _received = signum
    raise stop_exception(signum)


_previous_unraisablehook: list[Callable] = []


def _stop_not_dropped(unraisable) -> None:
    """sys.unraisablehook: a stop raised where Python can only report it and drop it (a weakref
    callback, a finaliser, a GC callback the handler did not recognise) is delivered again once
    that code has returned, instead of printing "Exception ignored in ..."."""
    if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)) and _received is not None:
        _deliver_again(_received)
        return
    _previous_unraisablehook[-1](unraisable)


def _deliver_again(signum: int) -> None:
    def deliver() -> None:
        # Only to this module's handler: once the command has put the default back (at its
        # exit), interrupt_main would kill the process with the signal instead (exit -2).
        if signal.getsignal(signum) is _handler and not _ending and not sys.is_finalizing():
            _thread.interrupt_main(signum)

    timer = threading.Timer(0.01, deliver)
    timer.daemon = True
    timer.start()


def _ignores_what_it_raises(frame) -> bool:
    """Whether the main thread is in code whose exceptions Python reports and drops: a garbage
    collector callback (Dask's GC diagnosis runs one at every collection) or a __del__ method."""
    callbacks = {getattr(getattr(callback, "__func__", callback), "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def stop_exception(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def stop_received() -> int | None:
    """The first SIGINT or SIGTERM received since `stop_on_signals`, if any."""
    return _received


def raise_if_stopped() -> None:
    """Raise the stop received, if one was: for the steps of a run, so that a stop whose
    exception was lost on the way still ends the run."""
    if _received is not None:
        raise stop_exception(_received)


def note_run_recorded(status: str) -> None:
    """The run in this process has recorded its end with `status`: a stop from then on (in
    Prefect's engine, which is still finishing, or in the command) comes after a complete run."""
    global _run_recorded_as
    _run_recorded_as = status


def run_recorded_as() -> str | None:
    return _run_recorded_as


def stop_behind(error: BaseException | None) -> BaseException | None:
    """The Ctrl-C or termination behind `error`: itself, the one in its chain of causes (DuckDB
    raises RuntimeError('Query interrupted') from what the signal handler raised; Prefect raises
    TerminationSignal for SIGTERM while a flow runs), or the stop received, when one was (an
    error a library made of it). None when `error` has nothing to do with a stop."""
    from prefect.exceptions import TerminationSignal

    seen: set[int] = set()
    link = error
    while link is not None and id(link) not in seen:
        if isinstance(link, (KeyboardInterrupt, Terminated, TerminationSignal)):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    if error is not None and _received is not None:
        return stop_exception(_received)
    return None


@contextmanager
def stops_held(*, interrupting: Callable[[], None] | None = None) -> Iterator[None]:
    """A step that must not be cut in half: a stop arriving inside it is raised when it ends,
    and meanwhile calls `interrupting` (e.g. a DuckDB connection's `interrupt`), so that the
    statement running ends at once with an error and its transaction rolls back. Without the
    handlers of `stop_on_signals` installed (a served run), nothing is held."""
    global _held, _pending
    if not _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    _held += 1
    if interrupting is not None:
        _on_stop.append(interrupting)
    try:
        yield
    finally:
        if interrupting is not None:
            _on_stop.remove(interrupting)
        _held -= 1
        if _held == 0 and _pending:
            _pending = False
            raise stop_exception(_received)


def kept_during_flow(flow_function: Callable[P, R]) -> Callable[P, R]:
    """For a flow function: this module's SIGTERM handler in place of the one Prefect's engine
    installs while a flow runs (which raises TerminationSignal wherever the main thread is, in
    the middle of a step held by `stops_held` too), when this process's command installed it;
    restored on the way out. A served run, whose SIGTERM is Prefect's to handle, is left as it
    is. (A plain function wrapper: Prefect sends the flow to the workers with each task.)"""

    @functools.wraps(flow_function)
    def with_stop_handlers(*args: P.args, **kwargs: P.kwargs) -> R:
        if not _installed or threading.current_thread() is not threading.main_thread():
            return flow_function(*args, **kwargs)
        replaced = signal.signal(signal.SIGTERM, _handler)
        try:
            return flow_function(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, replaced)

    return with_stop_handlers
