"""The batches of a run on their way through the stages: cut the inputs into batches, submit each
to the workers with a bounded number in flight, send on to translation what needs a model, and
write the finished batches in the order they were found."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Iterable, Iterator

from flows.ingest_progress import report_progress
from flows.ingest_stages import DocumentBatch, prepare_batch, translate_batch
from flows.ingest_summary import IngestSummary, tally_batch
from flows.ingest_warehouse import BatchWrite, cached_translations, stored_fingerprints, write_batches
from flows.interrupts import raise_if_stopped
from flows.task_runners import Done, submit_ahead_of_queued, workers_per_host
from pipeline.record import Document
from pipeline.sources import display_path
from pipeline.translate import list_installed_packages, translate_documents
from pipeline.translate.cache import PrefetchedTranslationCache
from pipeline.translate.stage import documents_needing_a_model, sentences_to_translate
from pipeline.warc import WarcRecord
from pipeline.web import FetchedPage


_END = object()
# Guided self-scheduling's divisor: each batch is at most this fraction of a worker's share of
# what is left (2: the first batches of a 588-file run on 2 workers are full, the last ones 16).
BATCHES_PER_WORKER = 2
# Below this a batch's fixed costs (a Prefect task run on a worker, a warehouse open to look up
# and one to write) weigh on its few documents.
SMALLEST_BATCH = 16


def guided_batch_size(left: int, workers: int, largest: int, smallest: int = SMALLEST_BATCH) -> int:
    """The size of the next batch when `left` inputs remain (guided self-scheduling): a
    `BATCHES_PER_WORKER`-th of each worker's share of what is left, at most `largest` and at least
    `smallest` (or what is left). Early batches are full; they shrink toward the end, so that the
    last ones are small and no worker is left to finish a large batch alone while the others wait.
    On one worker (or in-process), every batch is `largest`: nothing waits on another worker."""
    if workers <= 1:
        return min(left, largest)
    share = -(-left // (BATCHES_PER_WORKER * workers))
    return min(left, largest, max(share, min(smallest, largest)))


def batches_of(items: Iterable, largest: int, *, workers: int = 1, smallest: int = SMALLEST_BATCH) -> Iterator[list]:
    """`items` in lists of `guided_batch_size`. Only as many items as decide the sizes are read
    ahead: while more than `BATCHES_PER_WORKER * workers` full batches remain, a batch is full
    whatever the run's total, so a run that lists its files as it goes needs no count up front."""
    source = iter(items)
    ahead: deque = deque()
    read_ahead = largest * BATCHES_PER_WORKER * workers + 1 if workers > 1 else largest  # more left than this: a full batch
    finished = False
    while True:
        while not finished and len(ahead) < read_ahead:
            item = next(source, _END)
            if item is _END:
                finished = True
            else:
                ahead.append(item)
        if not ahead:
            return
        size = guided_batch_size(len(ahead), workers, largest, smallest) if finished else largest
        yield [ahead.popleft() for _ in range(size)]


@dataclass
class _InFlight:
    """One batch between submission and its write: its files, then its futures."""

    files: int
    source_paths: list[str]  # as stored
    prepared: object  # future of the language stage's DocumentBatch
    translated: object | None = None  # future of (DocumentBatch, PrefetchedTranslationCache), once submitted


class BatchPipeline:
    """Submits batches through the stages with at most `in_flight` of them unwritten, and writes
    them in the order they were submitted, so a run's result does not depend on which worker
    finishes first."""

    def __init__(self, runner, *, warehouse_path: Path, summary: IngestSummary, load_options: dict, skip_unchanged: bool = True):
        self.runner = runner
        self.skip_unchanged = skip_unchanged  # False: every input goes through the stages (re-extraction)
        self.warehouse_path = warehouse_path
        self.summary = summary
        self.load_options = load_options
        self.window: deque[_InFlight] = deque()
        self.workers_by_host = workers_per_host(runner)
        self._models = None
        self.written_since_indexing = 0  # documents written since the search index was last refreshed
        self.finishing = False  # every batch is submitted
        # Per worker: one batch running, one waiting to start, and one waiting for its translation
        # (submitted once the flow has read its cached sentences, so it mostly runs after the
        # worker's next batch) or for its write. With two per worker, the workers sat idle while
        # the flow wrote; more would only hold more documents in memory. In-process, a batch is
        # done when submitted: write it then.
        workers = sum(self.workers_by_host.values())
        self.workers = max(1, workers)
        self.in_flight = BATCHES_IN_FLIGHT_PER_WORKER * workers if workers else 1

    def add(self, paths: list, drop_folder: Path) -> None:
        """`paths`: files, and pages fetched from the web (FetchedPage)."""
        raise_if_stopped()
        source_paths = [_source_path(path, drop_folder) for path in paths]
        look_up = source_paths if self.skip_unchanged else []
        if len(self.window) >= self.in_flight:
            stored = self._write_ready_batches(then_look_up=look_up)  # one open of the warehouse for both
        elif look_up:
            clock = time.perf_counter()
            stored = stored_fingerprints(self.warehouse_path, look_up)
            self._flow_seconds("skip unchanged", clock)
        else:
            stored = {}
        prepared = self.runner.submit(prepare_batch, {"paths": paths, "drop_folder": drop_folder, "stored": stored, **self.load_options})
        self.window.append(_InFlight(files=len(paths), source_paths=source_paths, prepared=prepared))

    def finish(self) -> None:
        """Write what is still in flight. From here on, each write also indexes what was written
        since the last refresh: on local workers the flow would only wait for the last batches
        meanwhile, and the refresh after the run, which everything waits for, is left with little."""
        self.finishing = True
        while self.window:
            self._write_ready_batches()

    def _write_ready_batches(self, then_look_up: list[str] | None = None) -> dict[str, str]:
        """Write the oldest batch once it is through the stages, and with it the batches after it
        that are through too (one open of the warehouse for all: on local workers, batches often
        come back together); with `then_look_up`, also read the fingerprints stored for those
        paths (the next batch's) in the same open. While it waits, each batch the workers finish
        goes on to its translation at once, so that the workers always have the next step queued."""
        oldest = self.window[0]
        while True:
            raise_if_stopped()
            self._start_ready_translations()
            if oldest.translated is not None and _is_done(oldest.translated):
                break
            _wait_for_any([waiting.prepared for waiting in self.window if waiting.translated is None] + [oldest.translated])
        ready = list(takewhile(lambda waiting: waiting.translated is not None and _is_done(waiting.translated), self.window))
        writes = [BatchWrite(*waiting.translated.result(), waiting.source_paths) for waiting in ready]
        clock = time.perf_counter()
        self.written_since_indexing += sum(len(write.batch.docs) for write in writes)
        refresh_search = self.written_since_indexing >= SEARCH_INDEX_EVERY or self.finishing
        try:
            stored, indexed = write_batches(writes, self.warehouse_path, self.summary.run_id, then_look_up or [], refresh_search)
        finally:  # also when the task failed or was stopped after storing some of them: the run's counts are its rows
            self._tally_stored(ready, writes)
        if refresh_search:
            self.written_since_indexing = 0
        self._flow_seconds("warehouse", clock)
        self.summary.indexed_as_written += indexed
        return stored

    def _tally_stored(self, ready: list[_InFlight], writes: list[BatchWrite]) -> None:
        """Count the batches of `writes` that were stored (in order: a batch is stored only
        after the ones before it), and take them out of the window."""
        for waiting, write in zip(ready, writes):
            if write.counts is None:
                break
            self.window.popleft()
            tally_batch(self.summary, write.batch, write.counts)
            report_progress("processed", waiting.files)

    def _start_ready_translations(self) -> None:
        for waiting in self.window:
            if waiting.translated is None and _is_done(waiting.prepared):
                self._submit_translation(waiting)

    def _submit_translation(self, waiting: _InFlight) -> None:
        """Only the documents that need a model go to a worker; the flow settles the others itself
        (not needed, no model installed: statuses only, no model is loaded)."""
        batch: DocumentBatch = waiting.prepared.result()
        models = self._installed_models(batch)
        needing = documents_needing_a_model(batch.docs, target="en", models=models)
        clock = time.perf_counter()
        settled = translate_documents([doc for index, doc in enumerate(batch.docs) if index not in needing], models=models)
        self._flow_seconds("translate", clock)
        if not needing:
            waiting.translated = Done((DocumentBatch(settled, batch.unchanged, batch.stage_seconds, batch.ran_on), None))
            return
        part = [batch.docs[index] for index in needing]
        clock = time.perf_counter()
        cache = cached_translations(self.warehouse_path, sentences_to_translate(part, target="en", models=models))
        self._flow_seconds("read translation cache", clock)
        future = submit_ahead_of_queued(self.runner, translate_batch, {"batch": DocumentBatch(part), "cache": cache, "workers_by_host": self.workers_by_host})
        waiting.translated = _MergedTranslation(future, batch, needing, settled)

    def _installed_models(self, batch: DocumentBatch):
        """The installed packages, listed once per run and only once a batch needs a model
        (listing imports argostranslate); None lets the stage list them itself."""
        if self._models is None and any(doc.language not in (None, "en", "und") for doc in batch.docs if not doc.rejected):
            self._models = list_installed_packages()
        return self._models

    def _flow_seconds(self, stage: str, started: float) -> None:
        seconds = self.summary.stage_seconds
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started


# The search index is refreshed during a run after about this many documents are written, so that
# neither the refresh after the run nor any one step tokenises more than this many articles at
# once (memory), while each refresh's fixed cost (about ten statements over the index) is shared.
SEARCH_INDEX_EVERY = 1000


BATCHES_IN_FLIGHT_PER_WORKER = 3


@dataclass
class _MergedTranslation:
    """The translate task's future for the documents of `batch` at `needing`, put back in their
    places among the ones the flow `settled`, on `result()`."""

    future: object
    batch: DocumentBatch
    needing: list[int]
    settled: list[Document]

    @property
    def wrapped_future(self):
        """The future to wait on, as `_is_done` and `_wait_for_any` look for it in a Prefect one."""
        return _dask_future(self.future)

    def result(self) -> tuple[DocumentBatch, PrefetchedTranslationCache]:
        part, cache = self.future.result()
        translated, settled = iter(part.docs), iter(self.settled)
        needing = set(self.needing)
        docs = [next(translated) if index in needing else next(settled) for index in range(len(self.batch.docs))]
        seconds = dict(self.batch.stage_seconds)
        for stage, spent in part.stage_seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + spent
        ran_on = tuple(dict.fromkeys(self.batch.ran_on + part.ran_on))
        return DocumentBatch(docs, self.batch.unchanged, seconds, ran_on), cache


def _source_path(item, drop_folder: Path) -> str:
    """An input's place as stored: a fetched page's URL, a WARC record's file#offset, a file's path."""
    if isinstance(item, FetchedPage):
        return item.url
    if isinstance(item, WarcRecord):
        return item.source_path(drop_folder)
    return display_path(item, drop_folder)


def _is_done(future) -> bool:
    return _dask_future(future).done()


def _dask_future(future):
    """The Dask future inside a Prefect one (or a translation to merge), else the future itself."""
    return getattr(future, "wrapped_future", future)


def _wait_for_any(futures: list) -> None:
    """Until one of `futures` (None: no future yet) is done, or a stop was received (a stop whose
    exception was lost on the way, while the workers it also reached are gone, would otherwise
    leave the flow waiting for ever)."""
    pending = [_dask_future(future) for future in futures if future is not None]
    if pending and not any(future.done() for future in pending):
        from distributed import wait

        with pending[0].client.as_current():  # the client prefect-dask made is no process-wide default
            while True:
                try:
                    wait(pending, timeout=STOP_CHECK_S, return_when="FIRST_COMPLETED")
                    return
                except TimeoutError:
                    raise_if_stopped()


STOP_CHECK_S = 1.0
