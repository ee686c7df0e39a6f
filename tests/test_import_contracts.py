"""The import contracts of pyproject.toml [tool.importlinter] hold: pipeline imports nothing from
flows, the workbench, the benchmarks or the tests, and no Prefect; no import circles; the derived
tables build on the warehouse. `lint-imports` (import-linter) checks them on the source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path, *contracts: str) -> subprocess.CompletedProcess:
    """`lint-imports` run from the project's root, with that root first on the path (argostranslate
    installs a top-level `tests` package of its own)."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]), "COLUMNS": "200"}
    options = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *options],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )


def _importlinter() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def _contract(contract_id: str) -> dict:
    return next(contract for contract in _importlinter()["contracts"] if contract["id"] == contract_id)


def test_the_import_contracts_hold():
    result = lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_of_the_checkout_is_analysed():
    """A new top-level package (workbench/) joins root_packages, so its imports are checked too."""
    packages = {path.parent.name for path in PROJECT_ROOT.glob("*/__init__.py")}
    assert set(_importlinter()["root_packages"]) == packages


def test_every_subpackage_of_pipeline_is_checked_for_circles():
    """The circle check of pipeline's subpackages names them; a new one must be named too
    (flows is checked at every depth from its root)."""
    subpackages = {f"pipeline.{path.parent.name}" for path in (PROJECT_ROOT / "pipeline").glob("*/__init__.py")}
    assert subpackages <= set(_contract("pipeline-subpackages-acyclic")["ancestors"])
    assert _contract("flows-acyclic")["ancestors"] == ["flows"] and "depth" not in _contract("flows-acyclic")


def _copy_sources(destination: Path) -> None:
    for package in _importlinter()["root_packages"]:
        for source in (PROJECT_ROOT / package).rglob("*.py"):
            target = destination / source.relative_to(PROJECT_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    shutil.copyfile(PROJECT_ROOT / "pyproject.toml", destination / "pyproject.toml")


def test_the_contracts_catch_the_imports_they_forbid(tmp_path):
    """A copy of the sources with one forbidden import of each kind: each contract names it."""
    _copy_sources(tmp_path)
    with open(tmp_path / "pipeline" / "record.py", "a", encoding="utf-8") as module:
        module.write("\nimport prefect\nfrom flows import status\n")
    with open(tmp_path / "flows" / "status.py", "a", encoding="utf-8") as module:
        module.write("\nimport workbench.evaluation\n")
    (tmp_path / "pipeline" / "circle_one.py").write_text("from pipeline import circle_two\n")
    (tmp_path / "pipeline" / "circle_two.py").write_text("from pipeline import circle_one\n")

    result = lint_imports(tmp_path, "pipeline-stands-alone", "pipeline-without-prefect", "flows-without-workbench", "pipeline-acyclic")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "pipeline is not allowed to import prefect" in output
    assert "pipeline.record -> prefect" in output
    assert "pipeline.record -> flows.status" in output
    assert "flows.status -> workbench" in output
    assert ".circle_one -> .circle_two" in output or ".circle_two -> .circle_one" in output
    assert "Contracts: 0 kept, 4 broken." in output, output
