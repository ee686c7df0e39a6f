"""The lock files are the one tested set of versions: they agree with pyproject.toml, with each
other, and with what `make` installed into this environment."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
RUNTIME_LOCK = PROJECT_ROOT / "requirements.lock"
DEV_LOCK = PROJECT_ROOT / "requirements-dev.lock"
ARGOS_LOCK = PROJECT_ROOT / "requirements-argos.lock"
ARGOS_INPUT = PROJECT_ROOT / "requirements-argos.in"

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked_versions(lock_text: str) -> dict[str, tuple[Version, Marker | None]]:
    """name -> (version, marker) for every pin in a hashed lock file."""
    pins = {}
    for line in lock_text.splitlines():
        match = PIN.match(line)
        if match:
            name, version, marker = match.groups()
            pins[canonicalize_name(name)] = (Version(version), Marker(marker) if marker else None)
    return pins


def lock_disagreements(requirements: list[str], lock_text: str) -> list[str]:
    """Each requirement that applies here but the lock does not pin, or pins at a version outside
    the requirement's range."""
    pins = locked_versions(lock_text)
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{requirement} but the lock pins {pins[name][0]}")
    return problems


def _pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def test_runtime_lock_pins_every_dependency_of_pyproject_within_its_range():
    dependencies = _pyproject()["project"]["dependencies"]
    assert lock_disagreements(dependencies, RUNTIME_LOCK.read_text(encoding="utf-8")) == []


def test_dev_lock_pins_the_dev_extra_and_the_build_backend():
    project = _pyproject()
    wanted = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["dev"]
    wanted += project["build-system"]["requires"]
    assert lock_disagreements(wanted, DEV_LOCK.read_text(encoding="utf-8")) == []


def test_dev_lock_keeps_every_runtime_version():
    runtime = locked_versions(RUNTIME_LOCK.read_text(encoding="utf-8"))
    dev = locked_versions(DEV_LOCK.read_text(encoding="utf-8"))
    assert {name: dev.get(name, (None,))[0] for name in runtime} == {name: pin[0] for name, pin in runtime.items()}


def test_every_pin_carries_hashes_so_pip_installs_it_with_require_hashes():
    for lock in (RUNTIME_LOCK, DEV_LOCK, ARGOS_LOCK):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text(encoding="utf-8"))
        pinned = [block for block in blocks if PIN.match(block.splitlines()[0])]
        assert pinned and all("--hash=sha256:" in block for block in pinned), lock.name


def test_locks_are_complete_every_locked_package_finds_its_own_dependencies_in_the_lock():
    """A package added to pyproject.toml without `make lock` fails above; one whose dependency
    was never resolved (a hand-edited lock) fails here."""
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        pins = locked_versions(lock.read_text(encoding="utf-8"))
        missing = []
        for name, (version, marker) in pins.items():
            if marker and not marker.evaluate():
                continue
            requires = metadata.requires(name) or []
            for text in requires:
                requirement = Requirement(text)
                if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                    continue
                if canonicalize_name(requirement.name) not in pins:
                    missing.append(f"{name} needs {requirement}")
        assert missing == [], lock.name


def test_this_environment_is_exactly_the_locked_set():
    """`make` installed the lock, not whatever the resolver picks today."""
    pins = locked_versions(DEV_LOCK.read_text(encoding="utf-8")) | locked_versions(ARGOS_LOCK.read_text(encoding="utf-8"))
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in metadata.distributions()}
    wrong = {
        name: (str(version), str(installed.get(name)))
        for name, (version, marker) in pins.items()
        if (marker is None or marker.evaluate()) and installed.get(name) != version
    }
    assert wrong == {}
    unlocked = set(installed) - set(pins) - {"newsflow", "pip", "setuptools", "wheel"}
    assert unlocked == set(), "installed but not locked"


def test_argostranslate_is_locked_alone_and_matches_its_input():
    pins = locked_versions(ARGOS_LOCK.read_text(encoding="utf-8"))
    assert set(pins) == {"argostranslate"}
    wanted = [line for line in ARGOS_INPUT.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert lock_disagreements(wanted, ARGOS_LOCK.read_text(encoding="utf-8")) == []


def test_no_torch_or_cuda_in_any_lock():
    for lock in (RUNTIME_LOCK, DEV_LOCK, ARGOS_LOCK):
        names = set(locked_versions(lock.read_text(encoding="utf-8")))
        assert not {n for n in names if n in ("torch", "triton") or n.startswith("nvidia-")}, lock.name


def test_the_versions_this_project_chose():
    """Prefect 3.9.1's scheduler works with SQLAlchemy 2.1 (3.8.8's did not: no scheduled run was
    ever created), and the DuckDB library matches the DuckDB shell installed beside it."""
    pins = locked_versions(RUNTIME_LOCK.read_text(encoding="utf-8"))
    dev = locked_versions(DEV_LOCK.read_text(encoding="utf-8"))
    assert pins["prefect"][0] >= Version("3.9.1")
    assert pins["duckdb"][0] == Version("1.4.4")
    assert dev["duckdb-cli"][0].base_version == "1.4.4"


@pytest.mark.parametrize(
    ("requirement", "problem"),
    [
        ("prefect>=4", "but the lock pins"),
        ("a-package-nobody-locked>=1", "is not in the lock"),
        ("duckdb==1.5.0", "but the lock pins"),
    ],
)
def test_a_pyproject_change_without_make_lock_is_caught(requirement, problem):
    problems = lock_disagreements([requirement], RUNTIME_LOCK.read_text(encoding="utf-8"))
    assert len(problems) == 1 and problem in problems[0]


def test_markers_are_respected():
    lock = "pywin32==312 ; sys_platform == 'win32' \\\n    --hash=sha256:00\n"
    assert lock_disagreements(["pywin32>=300 ; sys_platform == 'win32'"], lock) == []
    assert locked_versions(lock)["pywin32"][1].evaluate({"sys_platform": "win32"})
