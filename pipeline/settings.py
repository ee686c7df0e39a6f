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
# One WARC file of the raw store: small enough that letting go of a few pages (which rewrites the
# file without them) copies little, large enough that the bound of 1024 MB is a few dozen files.
DEFAULT_RAW_PAGES_WARC_MB = 32


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def raw_pages_warc_bytes() -> int:
    """NEWSFLOW_RAW_PAGES_WARC_MB in bytes: where the raw store starts its next WARC file."""
    return int(float(_env("NEWSFLOW_RAW_PAGES_WARC_MB", str(DEFAULT_RAW_PAGES_WARC_MB))) * 1024 * 1024)


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
    # ... kept as WARC files of at most about this size each: the next fetch starts a new file past it.
    raw_pages_warc_bytes: int = field(default_factory=raw_pages_warc_bytes)


def load_settings() -> Settings:
    return Settings()


@dataclass(frozen=True)
class Setting:
    """One NEWSFLOW_* environment variable, as docs/configuration.md lists it."""

    name: str
    default: str  # as a user would write it; prose when it depends on the machine or another setting
    meaning: str  # one line
    page: str  # the docs/ page that explains it


# Every NEWSFLOW_* variable the code reads (pipeline/, flows/, workbench/). The modules read their
# own variables; this is the list docs/configuration.md is generated from, and
# tests/pipeline/test_settings_reference.py checks it against the code both ways.
REFERENCE: tuple[Setting, ...] = (
    Setting(HOME_ENV, "the checkout, else the current folder", "where seeds/, warehouse/ and .state/ live", "configuration.md"),
    Setting("NEWSFLOW_SEEDS", "`<home>/seeds`", "the drop folder `newsflow ingest` and `serve` read", "adding-documents.md"),
    Setting("NEWSFLOW_WAREHOUSE", "`<home>/warehouse/news.duckdb`", "the DuckDB warehouse file", "querying.md"),
    Setting("NEWSFLOW_STATE", "`<home>/.state`", "local state: the Prefect server's files, fetched web pages, fetch credentials", "configuration.md"),
    Setting("NEWSFLOW_MAX_FILE_BYTES", str(DEFAULT_MAX_FILE_BYTES), "larger input files are rejected `too_large` (`--max-file-mb`)", "limits.md"),
    Setting("NEWSFLOW_BATCH_SIZE", str(DEFAULT_BATCH_SIZE), "at most this many documents per batch task; on several workers batches shrink toward the end of a run (`--batch-size`)", "scaling.md"),
    Setting("NEWSFLOW_WORKERS", "every core (in-process under 64 files)", "local worker processes for a run's stages; 1: in-process (`--workers`)", "scaling.md"),
    Setting("NEWSFLOW_DASK_ADDRESS", "none", "a Dask scheduler to run the stages on, `tcp://HOST:PORT` (`--dask-address`)", "scaling.md"),
    Setting("NEWSFLOW_TRANSLATE_DEVICE", "`auto`", "where CTranslate2 runs: `auto`, `cpu` or `cuda`", "scaling.md"),
    Setting("NEWSFLOW_TRANSLATE_THREADS", "cores / workers on the machine", "CTranslate2 threads per worker process on the CPU", "scaling.md"),
    Setting("NEWSFLOW_WORKERS_PER_HOST", "set by newsflow", "newsflow's workers on this machine, set on each worker; divides the cores for translation", "scaling.md"),
    Setting("NEWSFLOW_LOCK_TIMEOUT_S", "10 (readers), 60 (writers)", "seconds to wait for another process's hold on the warehouse", "querying.md"),
    Setting("NEWSFLOW_WAREHOUSE_MEMORY_LIMIT", "`128MB`", "DuckDB's memory in a process that writes the warehouse", "limits.md"),
    Setting("NEWSFLOW_SQL_TIMEOUT_S", "300", "seconds one query (`sql`, `export`, `search`) may run", "querying.md"),
    Setting("NEWSFLOW_SQL_MEMORY_LIMIT", "`2GB`", "DuckDB's memory on a read-only connection", "querying.md"),
    Setting("NEWSFLOW_SERVER_PORT", "4200", "port of the project's own Prefect server", "prefect.md"),
    Setting("NEWSFLOW_SERVER_IDLE_MINUTES", "30", "minutes unused before the background Prefect server stops; 0: none", "prefect.md"),
    Setting("NEWSFLOW_SERVER_START_TIMEOUT", "120", "seconds to wait for a Prefect server to start", "prefect.md"),
    Setting("NEWSFLOW_CRON", "`*/15 * * * *`", "schedule of `newsflow serve` (UTC; `--cron`)", "serve.md"),
    Setting("NEWSFLOW_MODEL_MAX_MB", "2048", "largest translation package file accepted (MB)", "translation.md"),
    Setting("NEWSFLOW_MODEL_MAX_UNPACKED_MB", "4096", "largest unpacked translation package accepted (MB)", "translation.md"),
    Setting("NEWSFLOW_CONTACT_URL", "none", "a page or address in the User-Agent, for site owners to reach you", "web.md"),
    Setting("NEWSFLOW_FETCH_DELAY", "1.0", "seconds between two requests to one host", "web.md"),
    Setting("NEWSFLOW_FETCH_CONCURRENCY", "8", "requests in flight at once, over all hosts", "web.md"),
    Setting("NEWSFLOW_FETCH_TIMEOUT", "20", "seconds for each connect, read and write", "web-safety.md"),
    Setting("NEWSFLOW_FETCH_DEADLINE", "60", "seconds for one request, connect to last byte", "web-safety.md"),
    Setting("NEWSFLOW_FETCH_RETRIES", "3", "retries of a request that failed in a passing way", "web.md"),
    Setting("NEWSFLOW_FETCH_MAX_BYTES", str(10 * 1024 * 1024), "largest response body read", "web.md"),
    Setting("NEWSFLOW_FETCH_ALLOW", "none", "addresses or networks (optional port) fetching may reach beyond public ones", "web-safety.md"),
    Setting("NEWSFLOW_FETCH_ALLOW_PRIVATE", "off", "`1`: fetching may reach loopback and private addresses", "web-safety.md"),
    Setting("NEWSFLOW_RAW_PAGES_MAX_MB", str(DEFAULT_RAW_PAGES_MAX_MB), "MB of raw web pages kept for `newsflow reextract`", "web-raw-pages.md"),
    Setting("NEWSFLOW_RAW_PAGES_WARC_MB", str(DEFAULT_RAW_PAGES_WARC_MB), "MB of one WARC file of raw web pages before the next one starts", "web-raw-pages.md"),
    Setting("NEWSFLOW_DEVDATA", "`workbench/data/devdata`", "labelled development data for `newsflow eval`", "quality.md"),
)

REFERENCE_DOC = PROJECT_ROOT / "docs" / "configuration.md"
REFERENCE_BEGIN = "<!-- generated by `python -m pipeline.settings --write-docs` from pipeline/settings.py; do not edit -->"
REFERENCE_END = "<!-- end of the generated reference -->"


def reference_markdown() -> str:
    """The settings table of docs/configuration.md, generated from REFERENCE."""
    lines = ["| setting | default | what it sets | more |", "|---|---|---|---|"]
    for setting in REFERENCE:
        lines.append(f"| `{setting.name}` | {setting.default} | {setting.meaning} | [{setting.page}]({setting.page}) |")
    return "\n".join(lines) + "\n"


def with_reference(document: str) -> str:
    """`document` with the text between REFERENCE_BEGIN and REFERENCE_END replaced by the table."""
    head, begin, rest = document.partition(REFERENCE_BEGIN)
    _, end, tail = rest.partition(REFERENCE_END)
    if not begin or not end:
        raise ValueError(f"{REFERENCE_DOC.name} lacks the markers {REFERENCE_BEGIN!r} and {REFERENCE_END!r}")
    return f"{head}{REFERENCE_BEGIN}\n{reference_markdown()}{REFERENCE_END}{tail}"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipeline.settings", description="The NEWSFLOW_* settings reference.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--markdown", action="store_true", help="print the reference table")
    action.add_argument("--write-docs", action="store_true", help=f"rewrite the table in {REFERENCE_DOC}")
    arguments = parser.parse_args()
    if arguments.markdown:
        print(reference_markdown(), end="")
    else:
        REFERENCE_DOC.write_text(with_reference(REFERENCE_DOC.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {REFERENCE_DOC}")
