"""Shared fixtures: a real Prefect server on loopback, started once per test session."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "tests" / "data" / "seeds"  # never the checkout's seeds/, where users drop their files
NEWSFLOW = [sys.executable, "-m", "flows.cli"]


def newsflow(
    args: list[str],
    env: dict[str, str] | None,
    *,
    check: bool = True,
    timeout: float = 300,
    input_text: str | None = None,
    cwd: Path = PROJECT_ROOT,
) -> subprocess.CompletedProcess:
    """`newsflow ARGS` as a user runs it, from the project folder (or `cwd`), with `input_text` on
    its standard input; with `check`, a non-zero exit fails the test with what the command printed.
    `timeout` is a safety net for a hung command, never what a test decides by."""
    result = subprocess.run(
        NEWSFLOW + list(args), env=env, cwd=cwd, input=input_text, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"newsflow {' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result



@functools.lru_cache(maxsize=None)
def seeds_copy() -> Path:
    """A folder named `seeds` holding a copy of the five seeds, one per test process and removed
    at its exit: the drop folder (NEWSFLOW_SEEDS) of every newsflow a test runs, so that what a
    run reads and writes there never touches tests/data."""
    home = Path(tempfile.mkdtemp(prefix="newsflow-test-seeds-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    copy = home / "seeds"
    copy.mkdir()
    for seed in SEEDS_DIR.glob("*.txt"):
        shutil.copy(seed, copy / seed.name)
    return copy


# Prefect's own scheduler settings, shortened so a schedule fires within seconds in a test: the
# scheduler looks for deployments to schedule every second (defaults: 60 s, and 5 s for newly
# applied ones) and creates runs only up to two minutes ahead (so an hourly schedule never fires
# in a test: `newsflow status` tests make their "next run" themselves).
SCHEDULER_TEST_SETTINGS = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": "PT30S",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "PT2M",
}


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """`prefect server start` on a free loopback port with SQLite in a temp dir."""
    from flows.server import start_local_server

    with pytest.MonkeyPatch.context() as patch:  # the server process inherits this environment
        for name, value in SCHEDULER_TEST_SETTINGS.items():
            patch.setenv(name, value)
        server = start_local_server(tmp_path_factory.mktemp("prefect-home"), ui=False)
    try:
        yield server
    finally:
        server.stop()


def newsflow_env(api_url: str, root: Path, **extra: str) -> dict[str, str]:
    """Environment for a newsflow subprocess that talks to the Prefect server at `api_url`, with
    every per-user folder (Prefect's client state, models, caches) under `root`.

    NEWSFLOW_WORKERS=1: the stages run in-process unless a test asks for workers
    (tests/flows/test_parallel_ingest.py does, with --workers and --dask-address); a test about
    something else should not pay for starting a cluster on each run.
    """
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str(root / "prefect-client"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "ARGOS_PACKAGES_DIR": str(root / "argos-packages"),
            "XDG_CACHE_HOME": str(root / "cache"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"),
            "NEWSFLOW_WORKERS": "1",
            "NEWSFLOW_STATE": str(root / "state"),  # never the checkout's .state/ (a user's raw pages, server record)
            "NEWSFLOW_SEEDS": str(seeds_copy()),  # never the checkout's seeds/ (a user's own files)
            **extra,
        }
    )
    env.pop("NEWSFLOW_DASK_ADDRESS", None)
    return env


@pytest.fixture
def prefect_env(prefect_server, tmp_path) -> dict[str, str]:
    """Environment for a newsflow subprocess that talks to the test server."""
    return newsflow_env(prefect_server.api_url, tmp_path, NEWSFLOW_WAREHOUSE=str(tmp_path / "news.duckdb"))


@pytest.fixture(scope="session")
def seeds_warehouse(prefect_server, tmp_path_factory) -> Path:
    """A warehouse holding the five seeds as `newsflow ingest` stores them (no translation model:
    the Indonesian article waits), made once per test process. Never written to: a test takes its
    own copy (`copy_of_seeds_warehouse`)."""
    root = tmp_path_factory.mktemp("seeds-warehouse")
    warehouse, home = root / "data" / "news.duckdb", root / "home"
    home.mkdir()
    newsflow(["ingest", str(seeds_copy())], newsflow_env(prefect_server.api_url, root, NEWSFLOW_WAREHOUSE=str(warehouse), HOME=str(home)))
    assert list(home.iterdir()) == [], "DuckDB installed nothing in HOME (its extensions come with the package)"
    return warehouse


def copy_of_seeds_warehouse(seeds_warehouse: Path, to: Path) -> Path:
    """`to`: a copy of the seeds' warehouse, for a test to read and write as its own."""
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(seeds_warehouse, to)
    if seeds_warehouse.with_name(seeds_warehouse.name + ".wal").exists():
        shutil.copy(seeds_warehouse.with_name(seeds_warehouse.name + ".wal"), to.with_name(to.name + ".wal"))
    return to


# --- the checkout's own folders stay the user's --------------------------------------------------
# Users keep their own documents, warehouse and state in the checkout's seeds/, warehouse/ and
# .state/. For the whole session NEWSFLOW_HOME (pipeline/settings.py) points at a temporary folder,
# so nothing a test runs falls back on them; and the session fails, naming the files, when any
# of them was added, removed or changed while it ran.
USER_FOLDERS = ("seeds", "warehouse", ".state")


def user_files(root: Path = PROJECT_ROOT) -> dict[str, tuple[int, int]]:
    """Every file and folder under `root`'s seeds/, warehouse/ and .state/: (mtime in ns, size)."""
    found = {}
    for name in USER_FOLDERS:
        top = root / name
        for path in [top, *top.rglob("*")] if top.exists() else []:
            try:
                stat = path.lstat()
            except FileNotFoundError:  # removed while listed
                continue
            found[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


def user_files_changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """What changed between two `user_files()`, one line a path."""
    return sorted(
        [f"added {path}" for path in after.keys() - before.keys()]
        + [f"removed {path}" for path in before.keys() - after.keys()]
        + [f"changed {path}" for path in before.keys() & after.keys() if before[path] != after[path]]
    )


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")  # workers inherit the controller's NEWSFLOW_HOME and check


def pytest_configure(config):
    if _is_xdist_worker(config):
        return
    home = Path(tempfile.mkdtemp(prefix="newsflow-test-home-"))
    config.stash[_HOME] = (home, os.environ.get("NEWSFLOW_HOME"))
    os.environ["NEWSFLOW_HOME"] = str(home)  # never the checkout (nor a user's own NEWSFLOW_HOME)
    config.stash[_USER_FILES] = user_files()


def pytest_sessionfinish(session, exitstatus):
    _record_file_seconds(session)
    if _is_xdist_worker(session.config) or _USER_FILES not in session.config.stash:
        return
    changed = user_files_changed(session.config.stash[_USER_FILES], user_files())
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"The test session touched the checkout's {', '.join(f'{n}/' for n in USER_FOLDERS)} (where users keep their own "
            "files; tests must use tmp_path and NEWSFLOW_* settings):\n  " + "\n  ".join(changed)
        )
        if reporter is not None:
            reporter.write_sep("=", "checkout touched", red=True)
            reporter.write_line(message)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    if _HOME in config.stash:
        home, previous = config.stash[_HOME]
        shutil.rmtree(home, ignore_errors=True)
        if previous is None:
            os.environ.pop("NEWSFLOW_HOME", None)
        else:
            os.environ["NEWSFLOW_HOME"] = previous


_HOME = pytest.StashKey[tuple]()
_USER_FILES = pytest.StashKey[dict]()


# --- two workers that finish together --------------------------------------------------------------
# `make test` hands whole files to two xdist workers (--dist loadfile), in the order the workers
# collected them (--no-loadscope-reorder: xdist's default order, most tests first, left the files
# of a few long end-to-end tests for last, where one worker finished them while the other idled).
# The longest files go first, so the run ends on short ones: by their seconds in the last whole-suite
# run (pytest's cache, .pytest_cache/; on a fresh checkout, such as CI's, the committed
# tests/file_seconds.json, copied from that cache), and a file not timed yet first of all when it
# runs newsflow against the Prefect server (those are the long ones), else last.
FILE_SECONDS = "newsflow/file-seconds"
COMMITTED_FILE_SECONDS = Path(__file__).parent / "file_seconds.json"
_seconds_this_run: dict[str, float] = {}


def _test_file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config, items):
    if not _is_xdist_worker(config) or not hasattr(config, "cache"):
        return  # one process: the order costs nothing (and -p no:cacheprovider: no timings)
    timed = config.cache.get(FILE_SECONDS, {}) or (json.loads(COMMITTED_FILE_SECONDS.read_text()) if COMMITTED_FILE_SECONDS.exists() else {})
    untimed_with_server = {_test_file(item.nodeid) for item in items if "prefect_server" in item.fixturenames}

    def expected_seconds(path: str) -> float:
        if path in timed:
            return timed[path]
        return float("inf") if path in untimed_with_server else 0.0

    items.sort(key=lambda item: -expected_seconds(_test_file(item.nodeid)))  # stable: a file's tests keep their order


def pytest_runtest_logreport(report):
    _seconds_this_run[_test_file(report.nodeid)] = _seconds_this_run.get(_test_file(report.nodeid), 0.0) + report.duration


def _whole_suite_ran(session) -> bool:
    option = session.config.option
    return (
        session.config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not option.keyword
        and not option.markexpr
        and not option.maxfail  # -x stops early: its files' seconds would be short
        and session.shouldstop is False
    )


def _record_file_seconds(session) -> None:
    """The controller (or a single process) keeps each file's seconds (setup, call and teardown of its
    tests, on the worker that ran it) from a whole-suite run, for the next run's order."""
    if _is_xdist_worker(session.config) or not hasattr(session.config, "cache") or not _seconds_this_run or not _whole_suite_ran(session):
        return
    session.config.cache.set(FILE_SECONDS, {path: round(seconds, 1) for path, seconds in sorted(_seconds_this_run.items())})
