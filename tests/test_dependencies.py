"""Every package the code imports is declared in pyproject.toml, so none of them arrives only as
someone else's dependency (and leaves when that one stops needing it).

The product (pipeline/, flows/) may import [project].dependencies, plus what requirements-argos.in
names; tests/, bench/ and workbench/ may import those and the `dev` extra too. Imports are read
from the source (every `import` anywhere in a file, also inside functions), and each top-level
module is mapped to the distribution that installs it with importlib.metadata."""

from __future__ import annotations

import ast
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tests.conftest import PROJECT_ROOT

PRODUCTION = ("pipeline", "flows")
DEVELOPMENT = ("tests", "bench", "workbench")  # workbench/: evaluation and model builders, when present
# The project's own top-level packages (pipeline, flows, tests, bench, workbench...): never a
# distribution, even where one happens to ship a module of the same name (argostranslate ships `tests`).
OWN_PACKAGES = frozenset(
    {path.parent.name for path in PROJECT_ROOT.glob("*/__init__.py")} | {name for name in PRODUCTION + DEVELOPMENT if (PROJECT_ROOT / name).is_dir()}
)


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # the top-level name: `a` for `import a.b` and `from a.b import c`


def imports_in(path: Path) -> list[Import]:
    """The absolute imports of one file (relative ones stay inside the project)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [Import(path, node.lineno, name.partition(".")[0]) for name in names]
    return found


def _is_local(item: Import) -> bool:
    """A module beside the importing file (pytest puts a test folder without __init__.py on
    sys.path, so tests/pipeline/translate/ imports `translate_samples` by its bare name)."""
    folder = item.path.parent
    return (folder / f"{item.module}.py").is_file() or (folder / item.module / "__init__.py").is_file()


def undeclared_imports(folders: list[Path], allowed: set[str], own: frozenset[str] = OWN_PACKAGES) -> list[str]:
    """One line per import of a module that is neither the standard library, the project's own,
    nor installed by an allowed (declared) distribution."""
    distributions = metadata.packages_distributions()
    problems = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for item in imports_in(path):
                if item.module in sys.stdlib_module_names or item.module in own or _is_local(item):
                    continue
                where = f"{path.relative_to(folder.parent)}:{item.line} imports {item.module}"
                providers = {canonicalize_name(name) for name in distributions.get(item.module, [])}
                if not providers:
                    problems.append(f"{where}, which no installed distribution provides")
                elif not providers & allowed:
                    problems.append(f"{where} from {', '.join(sorted(providers))}, which is not declared")
    return problems


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


def _pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def production_allowed() -> set[str]:
    """[project].dependencies, and argostranslate: the Makefile (and the Dockerfile) install it
    from requirements-argos.lock with --no-deps, because its own declared dependencies (stanza,
    spaCy) pull torch with CUDA; in [project].dependencies pip would resolve and install those."""
    argos = PROJECT_ROOT / "requirements-argos.in"
    lines = [line.strip() for line in argos.read_text(encoding="utf-8").splitlines()]
    return _names(_pyproject()["project"]["dependencies"]) | _names([line for line in lines if line and not line.startswith("#")])


def development_allowed() -> set[str]:
    return production_allowed() | _names(_pyproject()["project"]["optional-dependencies"]["dev"])


def test_the_product_imports_only_declared_dependencies():
    assert undeclared_imports([PROJECT_ROOT / name for name in PRODUCTION], production_allowed()) == []


def test_tests_benchmarks_and_the_workbench_import_only_declared_or_dev_dependencies():
    folders = [PROJECT_ROOT / name for name in DEVELOPMENT if (PROJECT_ROOT / name).is_dir()]
    assert undeclared_imports(folders, development_allowed()) == []


def test_argostranslate_is_the_one_package_installed_apart():
    """If it ever moves into [project].dependencies, its torch-pulling dependencies come along."""
    assert "argostranslate" not in _names(_pyproject()["project"]["dependencies"])
    assert production_allowed() - _names(_pyproject()["project"]["dependencies"]) == {"argostranslate"}


def test_an_undeclared_import_is_reported_with_its_place_and_the_rest_is_not(tmp_path):
    package = tmp_path / "product"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sibling.py").write_text("")
    (package / "inner" / "__init__.py").write_text(
        "import json, os.path\n"
        "from . import x\n"
        "from product import sibling\n"
        "import duckdb\n"
        "def late():\n"
        "    from httpx import Client\n"
        "    import a_module_nobody_installed.sub\n"
    )
    (package / "uses_sibling.py").write_text("import sibling\n")
    problems = undeclared_imports([package], {"duckdb"}, own=frozenset({"product"}))
    assert problems == [
        "product/inner/__init__.py:6 imports httpx from httpx, which is not declared",
        "product/inner/__init__.py:7 imports a_module_nobody_installed, which no installed distribution provides",
    ]
