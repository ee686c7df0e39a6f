"""`make bench`: SIGTERM and Ctrl-C at random moments of a `--workers 2` run, and what each leaves.

    python -m bench.stop_bench [--trials 10] [--documents 300] [--batch-size 20] [--tree OTHER_CHECKOUT] [--json FILE]

Each trial runs `newsflow ingest CORPUS --warehouse NEW --workers 2 --batch-size 20` over a
generated corpus (bench/corpus.py) against a Prefect server started for the benchmark, and stops
it at a random moment of a run's length (measured first, by runs left to finish; small batches
make many writes, so that many moments fall inside a warehouse statement): SIGTERM to the newsflow
process (as `kill PID` or a service manager sends it), Ctrl-C as a terminal sends it (SIGINT to
the whole process group: the flow process, the worker forkserver and the workers). Trials
alternate the two signals. Each must end with:

- exit code 143 (SIGTERM) or 130 (Ctrl-C), and one line on stderr, the interrupted message;
- the run's row `interrupted` (or no row, when the signal came before the run started; or
  `completed`, when the one line says the run had finished as the signal came), with its
  counts equal to its rows: inserted + updated = the articles the run wrote, rejected = its
  rejected_files rows, unchanged 0 and one article_sources row per article (the warehouse is
  new, so nothing was stored unchanged);
- no process left behind: every process seen under it (forkserver, workers) gone within 10 s.

Prints one line per trial and a table; `--json` writes every trial. `--tree` runs newsflow from
another checkout (e.g. the commit before a change), with this checkout's benchmark. A trial whose
run does not exit within 60 s of its signal has its stacks dumped (py-spy when installed, and\nPython's faulthandler into its stderr log) and is killed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from bench.corpus import PROJECT_ROOT, build_corpus
from bench.processes import ProcessTreeSampler

INTERRUPTED_LINE = "interrupted ({name}): what was stored is kept and the run is marked interrupted; run the same command again to load the rest."
# A signal that comes once the run is recorded complete (as it exits) stops the command all the same.
FINISHED_LINE = "interrupted ({name}): the run had finished: everything is stored and the run is marked completed."
SIGNALS = {"SIGTERM": (signal.SIGTERM, 143), "Ctrl-C": (signal.SIGINT, 130)}
EXIT_TIMEOUT_S = 60.0
LEFTOVER_TIMEOUT_S = 10.0


@dataclass
class Trial:
    signal: str
    at_s: float  # when the signal was sent, seconds after the start
    exit_code: int | None = None
    stop_s: float | None = None  # from the signal to the exit
    stderr_lines: list[str] = field(default_factory=list)
    run: dict | None = None  # the run's row: status and counts
    rows: dict | None = None  # what the run wrote: articles, rejected_files, article_sources
    leftover: list[str] = field(default_factory=list)  # processes still running after the exit
    problems: list[str] = field(default_factory=list)
    missed: bool = False  # the run had ended before the moment came: no signal was sent

    @property
    def ok(self) -> bool:
        return not self.problems


def ingest_command(corpus: Path, warehouse: Path, batch_size: int) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "ingest", str(corpus), "--warehouse", str(warehouse), "--workers", "2", "--batch-size", str(batch_size)]


def run_trial(env: dict[str, str], tree: Path, command: list[str], warehouse: Path, name: str, at_s: float, logs: Path) -> Trial:
    signum, code = SIGNALS[name]
    trial = Trial(signal=name, at_s=round(at_s, 2))
    with open(logs / f"{warehouse.stem}.stdout", "w") as stdout, open(logs / f"{warehouse.stem}.stderr", "w+") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, env={**env, "PYTHONFAULTHANDLER": "1"}, cwd=tree, stdout=stdout, stderr=stderr, start_new_session=True)
        with ProcessTreeSampler({process.pid: "flow"}, interval=0.1) as sampler:
            try:
                process.wait(max(0.0, started + at_s - time.monotonic()))
                trial.missed = True
                trial.exit_code = process.returncode
                return trial
            except subprocess.TimeoutExpired:
                if name == "Ctrl-C":
                    os.killpg(process.pid, signum)  # a terminal's Ctrl-C reaches the whole foreground group
                else:
                    process.send_signal(signum)
                signalled = time.monotonic()
                try:
                    process.wait(EXIT_TIMEOUT_S)
                    trial.stop_s = round(time.monotonic() - signalled, 2)
                except subprocess.TimeoutExpired:
                    trial.problems.append(f"still running {EXIT_TIMEOUT_S:.0f} s after the signal")
                    _dump_stacks(process.pid, logs / f"{warehouse.stem}.stacks")
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            sampler.sample()
        trial.exit_code = process.returncode
        deadline = time.monotonic() + LEFTOVER_TIMEOUT_S
        while sampler.still_running(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sampler.still_running(process.pid)
        trial.leftover = [f"{p.pid} {p.role}: {p.command[:80]}" for p in left]
        for p in left:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stderr.seek(0)
        trial.stderr_lines = [line.rstrip() for line in stderr if line.strip()]
    if trial.exit_code != code and not trial.problems:
        trial.problems.append(f"exit {trial.exit_code}, not {code}")
    finished = trial.stderr_lines == [FINISHED_LINE.format(name=name)]
    if trial.stderr_lines != [INTERRUPTED_LINE.format(name=name)] and not finished and trial.exit_code is not None:
        trial.problems.append(f"stderr is {len(trial.stderr_lines)} lines, not the one interrupted line")
    if trial.leftover:
        trial.problems.append(f"{len(trial.leftover)} processes left behind")
    trial.run, trial.rows = _run_and_rows(warehouse)
    trial.problems += count_problems(trial.run, trial.rows, "completed" if finished else "interrupted")
    return trial


def _run_and_rows(warehouse: Path) -> tuple[dict | None, dict | None]:
    if not warehouse.exists():
        return None, None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute("SELECT run_id, status, files_seen, inserted, updated, unchanged, rejected FROM ingest_runs").fetchall()
        if not runs:
            return None, None
        (run_id, *row), = runs
        run = dict(zip(("status", "files_seen", "inserted", "updated", "unchanged", "rejected"), row))
        articles, rejected, sources = con.execute(
            """
            SELECT (SELECT count(*) FROM articles WHERE run_id = $run), (SELECT count(*) FROM rejected_files WHERE run_id = $run),
                   (SELECT count(*) FROM article_sources)
            """,
            {"run": run_id},
        ).fetchone()
    return run, {"articles": articles, "rejected_files": rejected, "article_sources": sources}


def count_problems(run: dict | None, rows: dict | None, status: str = "interrupted") -> list[str]:
    """What in the run's row disagrees with the `status` the message gave or with the rows it
    wrote (a new warehouse)."""
    if run is None:
        return []
    problems = []
    if run["status"] != status:
        problems.append(f"run {run['status']}, not {status}")
    counted = (run["inserted"] + run["updated"], run["rejected"], run["unchanged"], rows["articles"])
    written = (rows["articles"], rows["rejected_files"], 0, rows["article_sources"])
    if counted != written:
        problems.append(
            f"counts (articles {counted[0]}, rejected {counted[1]}, unchanged {counted[2]}) != rows "
            f"(articles {written[0]}, rejected {written[1]}; {written[3]} article_sources)"
        )
    return problems


def _dump_stacks(pid: int, target: Path) -> None:
    """Every Python thread's stack of the hung run's processes, into `target`: with py-spy when
    it is installed (and can read them), else by Python's faulthandler (PYTHONFAULTHANDLER is
    set for the runs), which prints them to the run's stderr on SIGABRT."""
    py_spy = shutil.which("py-spy")
    processes = [*_descendants(pid), pid]
    if py_spy:
        with open(target, "w") as out:
            for each in processes:
                subprocess.run([py_spy, "dump", "--pid", str(each)], stdout=out, stderr=subprocess.STDOUT, timeout=30)
    for each in processes:
        try:
            os.kill(each, signal.SIGABRT)
        except ProcessLookupError:
            pass
    time.sleep(2)


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def full_run_seconds(env: dict[str, str], tree: Path, corpus: Path, work: Path, batch_size: int) -> float:
    """How long a whole run takes: the second of two (the first warms the file cache and the server)."""
    seconds = []
    for number in range(2):
        started = time.monotonic()
        result = subprocess.run(ingest_command(corpus, work / f"whole-{number}.duckdb", batch_size), env=env, cwd=tree, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"the run without a signal failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
        seconds.append(time.monotonic() - started)
    return seconds[-1]


def table(trials: list[Trial]) -> str:
    lines = [f"{'#':>3} {'signal':8} {'at s':>6} {'exit':>5} {'stop s':>7} {'status':12} {'ins':>4} {'rows':>5} {'left':>4}  result"]
    for number, trial in enumerate(trials, 1):
        run = trial.run or {}
        lines.append(
            f"{number:>3} {trial.signal:8} {trial.at_s:>6.1f} {trial.exit_code if trial.exit_code is not None else '-':>5} "
            f"{trial.stop_s if trial.stop_s is not None else '-':>7} {run.get('status', 'no run row'):12} "
            f"{run.get('inserted', '-'):>4} {(trial.rows or {}).get('articles', '-'):>5} {len(trial.leftover):>4}  "
            + ("ok" if trial.ok else "; ".join(trial.problems))
        )
    return "\n".join(lines)


def summary(trials: list[Trial]) -> dict:
    result = {}
    for name in SIGNALS:
        chosen = [t for t in trials if t.signal == name]
        stops = [t.stop_s for t in chosen if t.stop_s is not None]
        result[name] = {
            "ok": sum(t.ok for t in chosen),
            "trials": len(chosen),
            "median_stop_s": round(statistics.median(stops), 2) if stops else None,
            "max_stop_s": max(stops) if stops else None,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="trials per signal (default 10)")
    parser.add_argument("--documents", type=int, default=300, help="corpus size (default 300)")
    parser.add_argument("--batch-size", type=int, default=20, help="documents per batch (default 20)")
    parser.add_argument("--seed", type=int, default=22, help="seed of the random moments")
    parser.add_argument("--tree", type=Path, default=PROJECT_ROOT, help="the checkout to run newsflow from")
    parser.add_argument("--json", type=Path, help="write every trial here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, warehouses)")
    args = parser.parse_args()

    from bench.scale_bench import isolated_environment
    from flows.server import start_local_server

    tree = args.tree.resolve()
    work = Path(tempfile.mkdtemp(prefix="newsflow-stop-"))
    logs = work / "logs"
    logs.mkdir()
    server = start_local_server(work / "prefect-server", ui=False)
    try:
        env = isolated_environment(work, server.api_url)
        corpus = work / "corpus"
        build_corpus(corpus, args.documents)
        full_s = full_run_seconds(env, tree, corpus, work, args.batch_size)
        print(f"{args.documents} documents, --workers 2 --batch-size {args.batch_size}, from {tree}: a whole run takes {full_s:.1f} s; "
              f"signals at random moments in 0.5 .. {0.9 * full_s:.1f} s", flush=True)
        rng = random.Random(args.seed)
        trials = []
        missed = 0
        for number in range(args.trials):
            for name in SIGNALS:
                while True:  # a run that ended before its moment came is no trial: another moment
                    at_s = rng.uniform(0.5, 0.9 * full_s)
                    warehouse = work / f"trial-{number:02d}-{name}-{missed}.duckdb"
                    trial = run_trial(env, tree, ingest_command(corpus, warehouse, args.batch_size), warehouse, name, at_s, logs)
                    if not trial.missed:
                        break
                    missed += 1
                    print(f"{name:8} at {trial.at_s:5.1f} s: the run had ended (exit {trial.exit_code}); another moment", flush=True)
                trials.append(trial)
                print(f"{name:8} at {trial.at_s:5.1f} s: exit {trial.exit_code}, stopped in {trial.stop_s} s, "
                      f"{'ok' if trial.ok else '; '.join(trial.problems)}", flush=True)
        print()
        print(table(trials))
        totals = summary(trials)
        print()
        for name, figures in totals.items():
            print(f"{name}: {figures['ok']} of {figures['trials']} ok; from the signal to the exit: median {figures['median_stop_s']} s, "
                  f"max {figures['max_stop_s']} s")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({
                "command": " ".join([Path(sys.executable).name, "-m", "bench.stop_bench", *sys.argv[1:]]),
                "tree": str(tree),
                "commit": _commit(tree),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "documents": args.documents,
                "batch_size": args.batch_size,
                "whole_run_s": round(full_s, 2),
                "runs_ended_before_their_moment": missed,
                "summary": totals,
                "trials": [asdict(t) | {"ok": t.ok} for t in trials],
            }, indent=2) + "\n")
            print(f"wrote {args.json}")
        if any(not t.ok for t in trials):
            print(f"logs kept in {logs}")
            args.keep = True
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _commit(tree: Path) -> str:
    result = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return result.stdout.strip()


if __name__ == "__main__":
    main()
