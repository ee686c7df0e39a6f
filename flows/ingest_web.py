"""An ingest run's pages from the web: the addresses given, or what the due web sources list,
fetched politely in the flow's process before the stages run."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.ingest_warehouse import retry_unless_a_person_must_act, utc_now
from pipeline.warehouse import Warehouse
from pipeline.web import FetchedPage, FetchSettings, poll_sources, record_polls
from pipeline.web.credentials import credentials_for_fetching
from pipeline.web.documents import failure_document
from pipeline.web.store import warehouse_key


@dataclass
class WebFetch:
    """What a run fetched from the web: pages for the stages; failures already stored as rejections."""

    pages: list[FetchedPage]
    rejected: list[tuple[str, str, str]]  # (url, reason, what to do)
    skipped_known: int
    failing_sources: list[tuple[str, int, str]]  # (source URL, polls failed in a row, last detail)
    seconds: float = 0.0  # wall time, the warehouse's short opens included
    notes: list[str] = field(default_factory=list)  # limits reached, and what they left for the next poll


@task(name="fetch from the web", retries=1, retry_delay_seconds=2, retry_condition_fn=retry_unless_a_person_must_act, cache_policy=NO_CACHE)
def fetch_from_web(warehouse_path: Path, state_dir: Path, urls: list[str], refresh: bool, run_id: str) -> WebFetch:
    """The pages given (`urls`), else those the due web sources list, fetched politely in the
    flow process. The warehouse is not held while fetching, so `newsflow sql` can read it: it is
    opened read-only for what the poll needs to know, then once to record each source's poll and
    store the failed fetches as rejections."""
    started = time.perf_counter()
    result = poll_sources(
        lambda: _reading(warehouse_path),
        state_dir,
        urls=urls,
        due_only=True,
        refresh=refresh,
        known_urls=lambda candidates: _stored_urls(warehouse_path, candidates),
        settings=FetchSettings(),
        credentials=credentials_for_fetching(state_dir),
        warehouse=warehouse_key(warehouse_path),
    )
    with Warehouse.open(warehouse_path) as warehouse:
        record_polls(warehouse.connection, result)
        warehouse.write_batch([failure_document(failure) for failure in result.failures], run_id=run_id, ingested_at=utc_now())
    return WebFetch(
        pages=result.pages,
        rejected=[(failure.url, failure.reason, failure.detail) for failure in result.failures],
        skipped_known=result.skipped_known,
        failing_sources=[(source.url, source.consecutive_failures, source.detail) for source in result.failing_sources],
        seconds=time.perf_counter() - started,
        notes=list(result.notes),
    )


@contextmanager
def _reading(warehouse_path: Path):
    with Warehouse.open(warehouse_path, read_only=True) as warehouse:
        yield warehouse.connection


def _stored_urls(warehouse_path: Path, urls: list[str]) -> set[str]:
    with Warehouse.open(warehouse_path, read_only=True) as warehouse:
        return warehouse.stored_urls(urls)
