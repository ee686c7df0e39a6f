"""Installed from its wheel, newsflow keeps seeds, the warehouse and Prefect state out of site-packages.

The wheel is built from this tree and installed into a fresh venv that sees .venv's packages
through a .pth file (no download); `newsflow` then runs from folders outside the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT, SEEDS_DIR

pytestmark = pytest.mark.server

TWO_SEEDS = ("000_c9229e0b42640eea.txt", "001_f168b2729dee8f19.txt")


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=300, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("installed")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", root / "wheel", PROJECT_ROOT])
    (wheel,) = (root / "wheel").glob("newsflow-*.whl")
    venv.create(root / "venv", with_pip=False)
    python = root / "venv" / "bin" / "python"
    site_packages = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site_packages / "dependencies-from-dot-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel])
    located = run([python, "-c", "import pipeline; print(pipeline.__file__)"], cwd=root).stdout.strip()
    assert Path(located).is_relative_to(site_packages), f"the installed package is not the one imported: {located}"
    return root / "venv"


@pytest.fixture
def user_env(prefect_env) -> dict[str, str]:
    """The test server and throwaway caches, but no NEWSFLOW_* paths and no PREFECT_HOME: the defaults decide."""
    env = {k: v for k, v in prefect_env.items() if not k.startswith("NEWSFLOW_")}
    for name in ("PREFECT_HOME", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def copy_two_seeds(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in TWO_SEEDS:
        shutil.copy(SEEDS_DIR / name, folder / name)
    return folder


def article_paths(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [row[0] for row in con.execute("select source_path from articles order by source_path").fetchall()]


def test_ingest_from_another_folder_writes_there_and_not_into_site_packages(installed_venv, user_env, tmp_path):
    inbox = copy_two_seeds(tmp_path / "inbox")
    workdir = tmp_path / "work"
    workdir.mkdir()
    before = listing(installed_venv)

    run([installed_venv / "bin" / "newsflow", "ingest", inbox], cwd=workdir, env=user_env)

    assert listing(installed_venv) == before
    assert article_paths(workdir / "warehouse" / "news.duckdb") == [str(inbox / name) for name in TWO_SEEDS]
    assert (workdir / ".state").is_dir()  # Prefect's client state
    assert sorted(os.listdir(tmp_path)) == ["inbox", "work"]


def test_newsflow_home_holds_the_default_seeds_and_the_warehouse(installed_venv, user_env, tmp_path):
    home = tmp_path / "home"
    copy_two_seeds(home / "seeds")
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    run([installed_venv / "bin" / "newsflow", "ingest"], cwd=workdir, env={**user_env, "NEWSFLOW_HOME": str(home)})

    assert article_paths(home / "warehouse" / "news.duckdb") == [f"seeds/{name}" for name in TWO_SEEDS]
    assert (home / ".state").is_dir()
    assert os.listdir(workdir) == []


def test_the_wheel_ships_the_product_and_not_the_workbench(installed_venv):
    (wheel,) = (installed_venv.parent / "wheel").glob("newsflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "pipeline/language_data/malay_indonesian_model.json.gz" in names  # what the workbench trains ships
    top_level = {name.split("/", 1)[0] for name in names if not name.startswith("newsflow-")}
    assert top_level == {"pipeline", "flows"}
    moved = ("evaluation", "duplicates_eval", "langid_eval", "language_training", "build_package", "dictionary_model", "news_site")
    assert not [name for name in names if Path(name).stem in moved]


def test_eval_from_an_installed_wheel_says_it_needs_a_source_checkout(installed_venv, user_env, tmp_path):
    result = subprocess.run(
        [installed_venv / "bin" / "newsflow", "eval"], cwd=tmp_path, env=user_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "needs a source checkout" in line
