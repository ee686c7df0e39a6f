"""Files a user names for newsflow to write (`export --output`, `report --output`): a regular file,
replaced whole, or stdout for `-`.

newsflow writes a new file beside the target and renames it into place, so a failed write leaves
the old file. Renaming over a device node, a FIFO or a socket would replace the node itself (as
root, `--output /dev/null` would replace the system's /dev/null), so anything at the target that is
not a regular file is refused, also at the end of a link. A link to a regular file (or to nothing)
is replaced by the new file, as a regular file is: newsflow never writes through a link, so a link
planted in a shared folder (or one to /proc/self/fd/1) cannot make it overwrite another file.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

STDOUT = "-"
_PIPE_CHUNK = 1 << 16
T = TypeVar("T")


class OutputRefused(Exception):
    """The named output is not a regular file newsflow may replace; the message says what it is."""


class StdoutClosed(Exception):
    """The reader of stdout went away (`| head`) before everything was written."""


def is_stdout(target: Path | str | None) -> bool:
    return target is not None and str(target) == STDOUT


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_replaceable(target: Path) -> None:
    """Raise OutputRefused when `target` (or what a link there leads to) is a folder, a device, a
    FIFO or a socket. Only looks (stat): never opens the target, which would hang on a FIFO."""
    target = Path(target)
    linked = target.is_symlink()
    try:
        mode = os.stat(target).st_mode  # follows links, as the kernel does (/proc/self/fd/1 included)
    except FileNotFoundError:
        return  # a new file (or a link to nothing, replaced by it)
    except NotADirectoryError:
        in_the_way = next((parent for parent in target.parents if parent.is_file()), target.parent)
        raise OutputRefused(
            f"{target} cannot be written: {in_the_way} is a file, not a folder; choose another path, or move that file"
        ) from None
    except OSError as error:
        raise OutputRefused(f"{target} cannot be written: {(error.strerror or str(error)).lower()}") from None
    if stat.S_ISREG(mode):
        return
    through = f" (through the link {target} -> {os.readlink(target)})" if linked else ""
    hint = f"give a file name in it, e.g. {target / 'out'}" if stat.S_ISDIR(mode) and not linked else (
        f"name a regular file, or `{STDOUT}` to write to stdout"
    )
    raise OutputRefused(f"{target} is {_kind(mode)}{through}: newsflow writes only regular files there; {hint}")


def new_partial_file(target: Path) -> Path:
    """A new, empty file of this process's own beside `target` (O_EXCL: never a link someone put
    there), to write to and then rename over `target` (`replace_with`)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
    finally:
        os.close(handle)
    return Path(name)


def replace_with(partial: Path, target: Path) -> None:
    """Rename the finished `partial` over `target`, once more refusing anything at `target` that is
    not a regular file (it may have changed while the file was written)."""
    try:
        check_replaceable(target)
    except OutputRefused as refused:
        raise OutputRefused(f"{refused} (it changed while newsflow wrote; nothing was replaced)") from None
    os.replace(partial, target)


def stream_to_stdout(write: Callable[[str], T], *, reader_gone: threading.Event) -> T:
    """Run `write(path)` with `path` naming a pipe, while a thread copies what comes out of the
    pipe to stdout. A writer that opens a path with O_TRUNC (DuckDB's COPY) would truncate a file
    that stdout is redirected to (`>>` appends), or start at its beginning; a pipe has no such
    thing. When stdout's reader goes away (`| head`), `reader_gone` is set and the rest is
    drained: the writer should stop at its next chance and finish normally (a DuckDB COPY that
    fails half-way through a stream of another connection's results can abort the process at its
    exit); then StdoutClosed is raised."""
    read_end, write_end = os.pipe()

    def relay() -> None:
        out = sys.stdout.buffer
        with open(read_end, "rb", buffering=0) as pipe:
            try:
                while chunk := pipe.read(_PIPE_CHUNK):
                    out.write(chunk)
                out.flush()
            except BrokenPipeError:
                reader_gone.set()
                # Python's advice: stdout to devnull, so the interpreter's last flush does not fail again.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
                while pipe.read(_PIPE_CHUNK):
                    pass

    sys.stdout.flush()
    thread = threading.Thread(target=relay, name="newsflow stdout relay", daemon=True)
    thread.start()
    try:
        value = write(f"/dev/fd/{write_end}")
    finally:
        os.close(write_end)  # the relay reads what is left, then the end of the pipe
        thread.join()
    if reader_gone.is_set():
        raise StdoutClosed("stdout was closed before everything was written")
    return value
