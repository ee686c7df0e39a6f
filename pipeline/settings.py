"""Defaults in one place; the environment overrides them (NEWSFLOW_*).

Seeds, the warehouse and the state folder default to folders under the project's home:
`NEWSFLOW_HOME` when set, else the checkout the code runs from (source tree or editable
install), else the current folder (an installed wheel: never inside site-packages).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HOME_ENV = "NEWSFLOW_HOME"
# The folder holding the `pipeline` package: the checkout, or site-packages once installed.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
# Small enough that batches stream and progress moves often; each batch costs a Prefect task run per
# stage and a warehouse transaction, which made 64 a 2-worker run 7% slower (bench.scale_bench's corpus).
DEFAULT_BATCH_SIZE = 128
DEFAULT_RAW_PAGES_MAX_MB = 1024


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def is_checkout(folder: Path) -> bool:
    """True when `folder` holds this project's pyproject.toml (a source tree, not site-packages)."""
    try:
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return project.get("name") == "newsflow"


CHECKOUT_ROOT: Path | None = PROJECT_ROOT if is_checkout(PROJECT_ROOT) else None


def project_home() -> Path:
    """`NEWSFLOW_HOME`, else the checkout the code runs from, else the current folder."""
    return Path(_env(HOME_ENV, str(CHECKOUT_ROOT or Path.cwd())))


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=project_home)  # stored source paths are relative to it
    warehouse_path: Path = field(
        default_factory=lambda: Path(_env("NEWSFLOW_WAREHOUSE", str(project_home() / "warehouse" / "news.duckdb")))
    )
    seeds_dir: Path = field(default_factory=lambda: Path(_env("NEWSFLOW_SEEDS", str(project_home() / "seeds"))))
    max_file_bytes: int = field(
        default_factory=lambda: int(_env("NEWSFLOW_MAX_FILE_BYTES", str(DEFAULT_MAX_FILE_BYTES)))
    )
    batch_size: int = field(default_factory=lambda: int(_env("NEWSFLOW_BATCH_SIZE", str(DEFAULT_BATCH_SIZE))))
    # Local worker processes for the stages (None: every core, once a run is big enough), or a
    # Dask scheduler to run them on instead.
    workers: int | None = field(default_factory=lambda: int(_env("NEWSFLOW_WORKERS", "0")) or None)
    dask_address: str | None = field(default_factory=lambda: _env("NEWSFLOW_DASK_ADDRESS", "") or None)
    state_dir: Path = field(default_factory=lambda: Path(_env("NEWSFLOW_STATE", str(project_home() / ".state"))))
    # Raw web pages kept for `newsflow reextract` (<state>/web): the oldest fetches go beyond this.
    raw_pages_max_bytes: int = field(
        default_factory=lambda: int(float(_env("NEWSFLOW_RAW_PAGES_MAX_MB", str(DEFAULT_RAW_PAGES_MAX_MB))) * 1024 * 1024)
    )


def load_settings() -> Settings:
    return Settings()
