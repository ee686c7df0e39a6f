"""Run a benchmark command and commit-ready record its output under bench/results/.

    python -m bench.record NAME -- python -m bench.worker_start_bench --rounds 5
    python -m bench.record NAME --note "machine shared with four other engineers' runs" -- COMMAND

Writes bench/results/NAME.txt: the command, the commit it ran on (with `-dirty` when its code had
uncommitted changes), the date, the machine (cores, memory, load average at the start: the
machine may be shared) and the command's whole output, so every figure the docs quote can be
traced to the run that produced it. Exits with the command's exit code.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CODE = ("pipeline", "flows", "workbench", "bench", "tests", "warehouse", "pyproject.toml", "requirements.lock", "requirements-dev.lock", "Makefile")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=RESULTS.parent.parent).stdout.strip()


def machine() -> dict:
    """The machine a JSON result was measured on (no psutil: bench/warc_bench.py also runs in a scratch venv)."""
    return {"cores": os.cpu_count(), "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version()}


def commit() -> str:
    """The commit checked out, short (empty outside a git checkout)."""
    try:
        return _git("rev-parse", "--short", "HEAD")
    except OSError:
        return "unknown"


def header(command: list[str], note: str | None = None) -> str:
    # Only the code that ran counts: docs edited meanwhile do not change a figure.
    dirty = "-dirty" if _git("status", "--porcelain", "--untracked-files=no", "--", *CODE) else ""
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"command: {' '.join(command)}\n"
        f"commit: {_git('rev-parse', '--short', 'HEAD')}{dirty}\n"
        f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n"
        f"machine: {platform.node()}, {len(os.sched_getaffinity(0))} cores, {memory_gb:.1f} GB, "
        f"Python {platform.python_version()}, {platform.platform()}\n"
        f"load average at start: {load}\n"
        + (f"note: {note}\n" if note else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="result file name, without .txt")
    parser.add_argument("--note", help="a line on the conditions of the run (e.g. that the machine was shared)")
    parser.usage = "python -m bench.record NAME [--note TEXT] -- COMMAND ..."
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the command after --")
    split = argv.index("--")  # the record's options before it, the command's own after it
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    text = header(command, args.note)
    started = time.monotonic()
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(run.stdout)
    text += f"wall seconds: {time.monotonic() - started:.0f}, exit code: {run.returncode}\n\n{run.stdout}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.txt").write_text(text, encoding="utf-8")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
