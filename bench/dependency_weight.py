"""What the heavy dependencies cost: installed size, what removing each would remove, import time,
and what newsflow's one use of each needs.

    python -m bench.dependency_weight [--json bench/results/dependency_weight.json] [--runs 5]

Sizes are the files each distribution's RECORD lists, as found in this environment (bytes, and
disk blocks like `du`). "removed_with" is what a runtime install would lose with the
distribution: it and every dependency no other runtime package needs (the graph from this
checkout's [project].dependencies through the installed metadata). Import times are medians
over fresh interpreters (`-X importtime`, the module's cumulative time); the vl-convert call and
the report's read of its shipped bundle are timed in the same run, so their ratio holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
WEIGHED = ("vl-convert-python", "datasketch", "scipy", "altair", "prefect", "duckdb", "pyarrow", "trafilatura", "ctranslate2", "distributed")
IMPORTS = ("vl_convert", "datasketch", "scipy.integrate", "altair", "pipeline.duplicates", "pipeline.report")
MB = 1_000_000


def installed_size(name: str) -> dict:
    """Bytes and du-style disk usage of the files a distribution installed."""
    files = [path for path in (metadata.distribution(name).files or []) if "__pycache__" not in path.parts]
    size = blocks = 0
    for file in files:
        located = Path(file.locate())
        if located.is_file():
            stat = located.stat()
            size += stat.st_size
            blocks += stat.st_blocks * 512
    return {"bytes": size, "disk_bytes": blocks, "files": len(files), "requires": sorted(_requires(name))}


def _requires(name: str) -> set[str]:
    needed = set()
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            needed.add(canonicalize_name(requirement.name))
    return needed


def _closure(roots: set[str]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _requires(name) - seen
    return seen


def runtime_roots() -> set[str]:
    """[project].dependencies of this checkout's pyproject.toml (not of whatever is installed)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {canonicalize_name(Requirement(text).name) for text in project["dependencies"]}


def removed_with(name: str) -> list[str]:
    """The distributions a runtime install loses when newsflow stops depending on `name`."""
    roots = runtime_roots()
    return sorted(_closure(roots) - _closure(roots - {canonicalize_name(name)}))


def import_seconds(module: str, runs: int) -> dict:
    """Median cumulative import time of `module` in fresh interpreters, and the heavy modules it loads."""
    times, loaded = [], {}
    probe = f"import sys, {module}; print(sorted(m for m in ('scipy', 'vl_convert', 'altair', 'prefect') if m in sys.modules))"
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-X", "importtime", "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
        rows = [line.split("|") for line in result.stderr.splitlines() if line.startswith("import time:") and "|" in line]
        cumulative = [int(row[1]) for row in rows if row[2].strip() == module]
        times.append(cumulative[-1] / 1e6)
        loaded = result.stdout.strip()
    return {"median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times], "also_loads": loaded}


def _timed_javascript(probe: str, runs: int) -> dict:
    """Median seconds of a probe printing (seconds, javascript bytes, gzipped bytes), in fresh interpreters."""
    seconds, size, gzipped = [], 0, 0
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        seconds.append(float(out[0]))
        size, gzipped = int(out[1]), int(out[2])
    return {"median_s": round(statistics.median(seconds), 3), "runs_s": [round(s, 3) for s in seconds], "bundle_bytes": size, "bundle_gzip_bytes": gzipped}


_PRINT = "print(time.perf_counter() - t, len(js.encode()), len(gzip.compress(js.encode(), mtime=0)))"


def vega_bundle_call(runs: int) -> dict:
    """vl-convert building the bundle the report inlines (the Vega-Lite version altair writes specs for)."""
    probe = (
        "import time, gzip, altair, vl_convert as v\n"
        "version = '.'.join(altair.SCHEMA_VERSION.lstrip('v').split('.')[:2])\n"
        "t = time.perf_counter(); js = v.javascript_bundle(vl_version=version if version in v.get_vegalite_versions() else None)\n" + _PRINT
    )
    return _timed_javascript(probe, runs)


def report_javascript(runs: int) -> dict:
    """What `newsflow report` spends getting the script it inlines (pipeline.report.vega_javascript)."""
    probe = "import time, gzip, pipeline.report as r\nt = time.perf_counter(); js = r.vega_javascript()\n" + _PRINT
    return _timed_javascript(probe, runs)


def datasketch_use() -> dict:
    """The datasketch names newsflow imports, and what datasketch itself imports scipy for."""
    source = (ROOT / "pipeline" / "duplicates.py").read_text(encoding="utf-8")
    names = sorted({name.strip() for line in re.findall(r"^from datasketch[.\w]* import (.+)$", source, re.M) for name in line.split(",")})
    package = Path(metadata.distribution("datasketch").locate_file("datasketch"))
    scipy_lines = sorted(
        f"{path.name}: {line.strip()}" for path in package.glob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"\s*(from|import) scipy", line)
    )
    return {"names_newsflow_imports": names, "datasketch_imports_scipy_in": scipy_lines}


def _machine() -> dict:
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), None)
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "memory_gib": round(int(memory) / 2**20, 1) if memory else None, "load_1min": os.getloadavg()[0]}


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return head + ("-dirty" if dirty else "")


def measure(runs: int) -> dict:
    sizes = {name: installed_size(name) for name in WEIGHED}
    alone = {}
    for name in ("vl-convert-python", "datasketch", "altair"):
        if canonicalize_name(name) not in runtime_roots():
            alone[name] = "not a runtime dependency"
            continue
        removed = removed_with(name)
        alone[name] = {"distributions": removed, "bytes": sum(installed_size(n)["bytes"] for n in removed)}
    runtime = _closure(runtime_roots())
    result = {
        "command": "python -m bench.dependency_weight", "commit": _commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
        "installed": sizes,
        "runtime_install": {"distributions": len(runtime), "bytes": sum(installed_size(n)["bytes"] for n in runtime)},
        "removed_with": alone,
        "import": {module: import_seconds(module, runs) for module in IMPORTS},
        "datasketch": datasketch_use(),
    }
    calls = max(1, runs // 2)
    for key, probe in (("vl_convert_bundle_call", vega_bundle_call), ("report_vega_javascript", report_javascript)):
        try:
            result[key] = probe(calls)
        except subprocess.CalledProcessError as error:  # vl-convert not installed here
            result[key] = {"error": error.stderr.strip().splitlines()[-1]}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per import time")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(args.runs)
    result["took_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
