from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import settings
from pipeline.settings import PROJECT_ROOT, is_checkout, load_settings

PATH_VARIABLES = ("NEWSFLOW_HOME", "NEWSFLOW_WAREHOUSE", "NEWSFLOW_SEEDS", "NEWSFLOW_STATE")


@pytest.fixture
def no_path_variables(monkeypatch):
    for name in PATH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def defaults() -> tuple[Path, Path, Path, Path]:
    current = load_settings()
    return current.home, current.seeds_dir, current.warehouse_path, current.state_dir


def test_this_source_tree_is_a_checkout_and_other_folders_are_not(tmp_path):
    assert is_checkout(PROJECT_ROOT)
    assert not is_checkout(tmp_path)  # site-packages: no pyproject.toml
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "someone-else"\n', encoding="utf-8")
    assert not is_checkout(tmp_path)
    (tmp_path / "pyproject.toml").write_text("not toml [", encoding="utf-8")
    assert not is_checkout(tmp_path)


def test_in_a_checkout_the_defaults_are_the_checkouts_from_any_folder(no_path_variables, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert defaults() == (PROJECT_ROOT, PROJECT_ROOT / "seeds", PROJECT_ROOT / "warehouse" / "news.duckdb", PROJECT_ROOT / ".state")


def test_installed_the_defaults_follow_the_current_folder(no_path_variables, monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "CHECKOUT_ROOT", None)  # what an installed wheel sees
    monkeypatch.chdir(tmp_path)
    assert defaults() == (tmp_path, tmp_path / "seeds", tmp_path / "warehouse" / "news.duckdb", tmp_path / ".state")


@pytest.mark.parametrize("checkout", [PROJECT_ROOT, None])
def test_newsflow_home_moves_every_default_and_each_variable_still_wins(no_path_variables, monkeypatch, tmp_path, checkout):
    monkeypatch.setattr(settings, "CHECKOUT_ROOT", checkout)
    home = tmp_path / "home"
    monkeypatch.setenv("NEWSFLOW_HOME", str(home))
    assert defaults() == (home, home / "seeds", home / "warehouse" / "news.duckdb", home / ".state")
    monkeypatch.setenv("NEWSFLOW_WAREHOUSE", str(tmp_path / "elsewhere.duckdb"))
    assert load_settings().warehouse_path == tmp_path / "elsewhere.duckdb"
