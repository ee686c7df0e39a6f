"""Defaults in one place; the environment overrides them (NEWSFLOW_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
DEFAULT_BATCH_SIZE = 256


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    warehouse_path: Path = field(
        default_factory=lambda: Path(_env("NEWSFLOW_WAREHOUSE", str(PROJECT_ROOT / "warehouse" / "news.duckdb")))
    )
    seeds_dir: Path = field(default_factory=lambda: Path(_env("NEWSFLOW_SEEDS", str(PROJECT_ROOT / "seeds"))))
    max_file_bytes: int = field(
        default_factory=lambda: int(_env("NEWSFLOW_MAX_FILE_BYTES", str(DEFAULT_MAX_FILE_BYTES)))
    )
    batch_size: int = field(default_factory=lambda: int(_env("NEWSFLOW_BATCH_SIZE", str(DEFAULT_BATCH_SIZE))))
    state_dir: Path = field(default_factory=lambda: Path(_env("NEWSFLOW_STATE", str(PROJECT_ROOT / ".state"))))


def load_settings() -> Settings:
    return Settings()
