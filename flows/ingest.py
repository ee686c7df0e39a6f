"""The `ingest` flow: seeds/ -> sources -> extract -> language -> translate -> warehouse.

Orchestration only: each task runs one pipeline stage over a batch of documents.
The warehouse is opened per write, so readers can query between batches and the
single-writer rule of DuckDB holds for every task.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from pipeline.extract import extract_document
from pipeline.language import detect_language
from pipeline.record import Document
from pipeline.settings import load_settings
from pipeline.sources import confining_folder, discover_files, input_folders, load_document
from pipeline.translate import WarehouseTranslationCache, install_hint, missing_model_languages, translate_documents
from pipeline.warehouse import (
    InterruptedRun,
    RunCounts,
    Warehouse,
    WarehouseBusyError,
    WarehouseDiskFullError,
    exclusive_run,
)

ProgressListener = Callable[[str, int], None]
_progress_listeners: list[ProgressListener] = []


def add_progress_listener(listener: ProgressListener) -> None:
    """Called as listener(event, n): ("discovered", total) once, then ("processed", k) per batch."""
    _progress_listeners.append(listener)


def remove_progress_listener(listener: ProgressListener) -> None:
    if listener in _progress_listeners:
        _progress_listeners.remove(listener)


def _report(event: str, n: int) -> None:
    for listener in list(_progress_listeners):
        listener(event, n)


@dataclass
class IngestSummary:
    run_id: str
    warehouse: str
    files_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    translation_statuses: dict[str, int] = field(default_factory=dict)
    missing_models: dict[str, int] = field(default_factory=dict)
    rejections: list[tuple[str, str, str]] = field(default_factory=list)
    translation_failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    interrupted_runs: list[InterruptedRun] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "completed"

    def counts(self) -> RunCounts:
        return RunCounts(
            files_seen=self.files_seen,
            inserted=self.inserted,
            updated=self.updated,
            unchanged=self.unchanged,
            rejected=self.rejected,
        )

    def install_commands(self) -> list[str]:
        return [install_hint(language) for language in sorted(self.missing_models)]


def retry_unless_a_person_must_act(task, task_run, state) -> bool:
    """Retry passing faults, not a full disk or a warehouse another process still holds after the
    wait (waiting again would only multiply the wait): those end the run with their message."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, (WarehouseDiskFullError, WarehouseBusyError))


@task(name="load files", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def load_files(paths: Sequence[Path], root: Path, max_bytes: int, folders: Sequence[Path] = ()) -> list[Document]:
    return [
        load_document(path, root=root, max_bytes=max_bytes, folder=confining_folder(path, folders)) for path in paths
    ]


@task(name="skip unchanged", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def drop_unchanged(docs: Sequence[Document], warehouse_path: Path) -> tuple[list[Document], int]:
    """Documents whose bytes are already stored as they are: no stage needs to see them again."""
    if not warehouse_path.exists():
        return list(docs), 0
    with Warehouse.open(warehouse_path) as warehouse:
        known = warehouse.known_fingerprints([doc.source_path for doc in docs])
    changed = [doc for doc in docs if doc.rejected or known.get(doc.source_path) != doc.content_sha256]
    return changed, len(docs) - len(changed)


@task(name="extract articles", cache_policy=NO_CACHE)
def extract_articles(docs: Sequence[Document]) -> list[Document]:
    # Nothing after extraction reads the raw page: let it go (for a large file, its whole size).
    return [extract_document(doc).replace(raw_text=None) for doc in docs]


@task(name="detect languages", cache_policy=NO_CACHE)
def detect_languages(docs: Sequence[Document]) -> list[Document]:
    return [detect_language(doc) for doc in docs]


@task(name="translate", retries=1, retry_delay_seconds=1, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def translate_batch(docs: Sequence[Document], warehouse_path: Path) -> list[Document]:
    cache = WarehouseTranslationCache(lambda: Warehouse.open(warehouse_path))
    return translate_documents(docs, target="en", cache=cache)


@task(name="write to warehouse", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def write_batch(docs: Sequence[Document], warehouse_path: Path, run_id: str):
    with Warehouse.open(warehouse_path) as warehouse:
        return warehouse.write_batch(docs, run_id=run_id, ingested_at=_now())


@task(name="record run", retries=3, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def record_run(warehouse_path: Path, summary: IngestSummary, started_at: datetime, finished: bool) -> list[InterruptedRun]:
    """Start or finish this run's row; starting also closes the rows of runs that were killed
    (under the run lock no other run is active, so a run still marked running is dead)."""
    with Warehouse.open(warehouse_path) as warehouse:
        if not finished:
            interrupted = warehouse.close_interrupted_runs(finished_at=_now())
            warehouse.start_run(summary.run_id, flow_run_id=_flow_run_id(), started_at=started_at)
            return interrupted
        warehouse.finish_run(summary.run_id, counts=summary.counts(), status=summary.status, finished_at=_now())
        return []


def _is_interrupt(error: BaseException) -> bool:
    """Ctrl-C or SIGTERM (Prefect turns SIGTERM into TerminationSignal while a flow runs)."""
    from prefect.exceptions import TerminationSignal

    return isinstance(error, (KeyboardInterrupt, TerminationSignal))


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _flow_run_id() -> str | None:
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def _describe_inputs(inputs: Sequence[str], shown: int = 3) -> str:
    more = f" and {len(inputs) - shown} more" if len(inputs) > shown else ""
    return ", ".join(inputs[:shown]) + more


def _batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _StageClock:
    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds

    def run(self, stage: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
        return result


def _tally(summary: IngestSummary, docs: Sequence[Document], counts) -> None:
    summary.inserted += counts.inserted
    summary.updated += counts.updated
    summary.unchanged += counts.unchanged
    summary.rejected += counts.rejected
    for doc in docs:
        if doc.rejected:
            summary.rejections.append((doc.source_path, doc.rejection.reason, doc.rejection.detail))
            continue
        summary.languages[doc.language] = summary.languages.get(doc.language, 0) + 1
        status = doc.translation_status or "unknown"
        summary.translation_statuses[status] = summary.translation_statuses.get(status, 0) + 1
        if doc.translation_failure:
            summary.translation_failures.append((doc.source_path, doc.translation_failure.reason))
    for language, n in missing_model_languages(docs).items():
        summary.missing_models[language] = summary.missing_models.get(language, 0) + n


@flow(name="ingest", log_prints=False, validate_parameters=False)
def ingest(
    paths: list[str] | None = None,
    warehouse: str | None = None,
    max_file_bytes: int | None = None,
    batch_size: int | None = None,
    confine_to: list[str] | None = None,
) -> IngestSummary:
    """`confine_to`: folders, besides those among `paths`, whose files may not link out of them
    (the served deployment names its drop folder, since it is given the files it saw arrive)."""
    settings = load_settings()
    warehouse_path = Path(warehouse) if warehouse else settings.warehouse_path
    inputs = list(paths) if paths else [str(settings.seeds_dir)]
    max_bytes = max_file_bytes or settings.max_file_bytes
    size = batch_size or settings.batch_size
    logger = get_run_logger()

    started = time.perf_counter()
    started_at = _now()
    summary = IngestSummary(run_id=_flow_run_id() or uuid.uuid4().hex, warehouse=str(warehouse_path))
    clock = _StageClock(summary.stage_seconds)

    files = clock.run("discover", discover_files, inputs)
    folders = input_folders(inputs) + [Path(folder) for folder in confine_to or []]
    summary.files_seen = len(files)
    _report("discovered", len(files))
    logger.info("Found %d files in %s", len(files), _describe_inputs(inputs))
    waiting = lambda: logger.warning("Waiting for another ingest run on %s to finish", warehouse_path)  # noqa: E731
    with exclusive_run(warehouse_path, on_wait=waiting):
        summary.interrupted_runs = record_run(warehouse_path, summary, started_at, finished=False)
        try:
            for batch in _batches(files, size):
                docs = clock.run("sources", load_files, batch, settings.home, max_bytes, folders)
                docs, unchanged = clock.run("skip unchanged", drop_unchanged, docs, warehouse_path)
                summary.unchanged += unchanged
                docs = clock.run("extract", extract_articles, docs)
                docs = clock.run("language", detect_languages, docs)
                docs = clock.run("translate", translate_batch, docs, warehouse_path)
                counts = clock.run("warehouse", write_batch, docs, warehouse_path, summary.run_id)
                _tally(summary, docs, counts)
                _report("processed", len(batch))
        except BaseException as error:
            summary.status = "interrupted" if _is_interrupt(error) else "failed"
            raise
        finally:
            summary.seconds = time.perf_counter() - started
            record_run(warehouse_path, summary, started_at, finished=True)
    create_markdown_artifact(key="ingest-summary", markdown=summary_markdown(summary), description="newsflow ingest run")
    for command in summary.install_commands():
        logger.warning("No translation model installed; to translate these articles run: %s", command)
    return summary


def interrupted_runs_note(runs: Sequence[InterruptedRun]) -> str:
    described = ", ".join(f"{run.run_id} ({run.articles_written} articles, {run.rejected} rejected)" for run in runs)
    return (
        f"{len(runs)} earlier run{'s' if len(runs) != 1 else ''} did not finish and {'are' if len(runs) != 1 else 'is'} "
        f"now marked interrupted: {described}; this run picked up the files {'they' if len(runs) != 1 else 'it'} had not reached."
    )


def summary_markdown(summary: IngestSummary) -> str:
    lines = [
        f"# newsflow ingest `{summary.run_id}`",
        "",
        f"Warehouse: `{summary.warehouse}` — status **{summary.status}** in {summary.seconds:.2f} s",
        "",
        "| files seen | inserted | updated | unchanged | rejected |",
        "|---:|---:|---:|---:|---:|",
        f"| {summary.files_seen} | {summary.inserted} | {summary.updated} | {summary.unchanged} | {summary.rejected} |",
        "",
        "| language | articles |",
        "|---|---:|",
        *[f"| {lang} | {n} |" for lang, n in sorted(summary.languages.items())],
        "",
        "| translation | articles |",
        "|---|---:|",
        *[f"| {status} | {n} |" for status, n in sorted(summary.translation_statuses.items())],
    ]
    if summary.interrupted_runs:
        lines += ["", interrupted_runs_note(summary.interrupted_runs)]
    if summary.missing_models:
        lines += ["", "Install the missing translation models with:", ""]
        lines += [f"    {command}" for command in summary.install_commands()]
    if summary.translation_failures:
        lines += ["", "| translation failed | why, and what to do |", "|---|---|"]
        lines += [f"| `{path}` | {reason} |" for path, reason in summary.translation_failures]
    if summary.rejections:
        lines += ["", "| rejected file | reason | what to do |", "|---|---|---|"]
        lines += [f"| `{path}` | {reason} | {detail} |" for path, reason, detail in summary.rejections]
    lines += ["", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {stage} | {seconds:.3f} |" for stage, seconds in summary.stage_seconds.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    ingest()
