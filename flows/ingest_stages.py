"""The stages as the workers run them: one Prefect task loads, extracts, identifies the language
and signs a batch; another translates the documents that need a model. What travels between the
flow and the workers is a `DocumentBatch`."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.task_runners import this_worker_host
from pipeline.extract import extract_document
from pipeline.language import detect_language
from pipeline.record import Document
from pipeline.sources import confining_folder, load_document
from pipeline.translate import translate_documents
from pipeline.translate.cache import PrefetchedTranslationCache
from pipeline.warc import WarcRecord, load_warc_record
from pipeline.web import FetchedPage
from pipeline.web.documents import page_document


class DocumentBatch:
    """A batch on its way through the stages, with what the summary needs to know about it.

    A plain class, not a dataclass, on purpose: Prefect walks dataclasses, lists and dicts given
    to a task looking for futures, field by field and document by document, which cost more
    than the stages themselves; an object of a plain class it passes as it is."""

    __slots__ = ("docs", "unchanged", "stage_seconds", "ran_on")

    def __init__(self, docs: list[Document], unchanged: int = 0, stage_seconds: dict[str, float] | None = None, ran_on: tuple[str, ...] = ()):
        self.docs = docs
        self.unchanged = unchanged  # files dropped because their bytes are stored as they are
        self.stage_seconds = dict(stage_seconds or {})  # summed over the processes that ran them
        self.ran_on = ran_on  # "host:pid" of each process that worked on it

    def after(self, stage: str, started: float, docs: list[Document]) -> "DocumentBatch":
        seconds = dict(self.stage_seconds)
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
        here = f"{socket.gethostname()}:{os.getpid()}"
        ran_on = self.ran_on if here in self.ran_on else (*self.ran_on, here)
        return DocumentBatch(docs, self.unchanged, seconds, ran_on)


def load_files(
    paths: Sequence[Path], drop_folder: Path, max_bytes: int, folders: Sequence[Path], stored: dict[str, str]
) -> DocumentBatch:
    """Read and decode; files whose bytes are `stored` (path -> sha256, read by the flow) as they
    are go no further: no stage needs to see them again."""
    started = time.perf_counter()
    docs = [
        page_document(path) if isinstance(path, FetchedPage)
        else load_warc_record(path, drop_folder=drop_folder, max_bytes=max_bytes) if isinstance(path, WarcRecord)
        else load_document(path, drop_folder=drop_folder, max_bytes=max_bytes, folder=confining_folder(path, folders))
        for path in paths
    ]
    changed = [doc for doc in docs if doc.rejected or stored.get(doc.source_path) != doc.content_sha256]
    return DocumentBatch([], unchanged=len(docs) - len(changed)).after("sources", started, changed)


def extract_articles(batch: DocumentBatch) -> DocumentBatch:
    started = time.perf_counter()
    # Nothing after extraction reads the raw page: let it go (for a large file, its whole size).
    return batch.after("extract", started, [extract_document(doc).replace(raw_text=None) for doc in batch.docs])


def detect_languages(batch: DocumentBatch) -> DocumentBatch:
    started = time.perf_counter()
    return batch.after("language", started, [detect_language(doc) for doc in batch.docs])


def sign_texts(batch: DocumentBatch) -> DocumentBatch:
    """Duplicate detection's signature of each text, made here, in parallel, instead of in the
    refresh after the run (which signs only what is left)."""
    from pipeline.duplicates import sign_document  # datasketch: imported once per worker, when there is work

    started = time.perf_counter()
    return batch.after("duplicate signatures", started, [sign_document(doc) for doc in batch.docs])


# One task for the four stages rather than a task each: a Prefect task run on a Dask worker
# costs a few hundred milliseconds of bookkeeping (measured: 100 empty tasks, 20 s on two
# workers), as much as the stages take for a small batch.
@task(name="load, extract, detect language, sign", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def prepare_batch(
    paths: Sequence[Path], drop_folder: Path, max_bytes: int, folders: Sequence[Path], stored: dict[str, str]
) -> DocumentBatch:
    return sign_texts(detect_languages(extract_articles(load_files(paths, drop_folder, max_bytes, folders, stored))))


@task(name="translate", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
def translate_batch(
    batch: DocumentBatch, cache: PrefetchedTranslationCache, workers_by_host: dict[str, int]
) -> tuple[DocumentBatch, PrefetchedTranslationCache]:
    """Translate with the cached sentences the flow read for this batch; the new translations
    travel back in the cache for the flow to store. Models load once per worker process."""
    started = time.perf_counter()
    host = this_worker_host()
    if host is not None:  # share this machine's cores with the other workers on it
        os.environ["NEWSFLOW_WORKERS_PER_HOST"] = str(workers_by_host.get(host, 1))
    docs = translate_documents(batch.docs, target="en", cache=cache)
    return sign_texts(batch.after("translate", started, docs)), cache
